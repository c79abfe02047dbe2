/* Small netCDF helpers shared by the cache and metrics files (internal to src/io). */
#ifndef ADAPTOR_IO_NCUTIL_H
#define ADAPTOR_IO_NCUTIL_H

#include <mpi.h>
#include <stddef.h>

/* Records "<path>: <what>: <netCDF message>" and returns AD_ERR_IO. */
int ad_nc_fail(int status, const char *path, const char *what);
/* The same for a failed write to disk, with err = errno after the call (the caller zeroes
 * errno before it): netCDF-4 reports a full disk as "HDF error", "Can't open HDF5
 * attribute" or (nc_create) EACCES, but HDF5's failed write() leaves its errno behind, so a
 * storage error (ENOSPC, EDQUOT, EFBIG, EIO, EROFS) is named by strerror instead. */
int ad_nc_fail_errno(int status, int err, const char *path, const char *what);
/* Text attribute `name` of ncid's group as a malloc'ed NUL-terminated string; AD_ERR_FORMAT
 * "<path>: missing attribute <name>" when absent or not text. */
int ad_nc_get_text_att(int ncid, const char *path, const char *name, char **out);
/* Writes a text attribute (NULL -> ""). */
int ad_nc_put_text_att(int ncid, const char *path, const char *name, const char *value);
/* A temporary name beside path: "<path>.tmp.<pid>" (out must hold 4096 bytes). */
int ad_nc_tmp_name(char *out, size_t n, const char *path, long pid);
/* The end of an atomic write: closes nc (the file at tmp) and, if rc and the close are
 * AD_OK, fsyncs and renames it to path; otherwise removes tmp. Returns the first error. */
int ad_nc_commit(int nc, int rc, const char *tmp, const char *path);
/* Fills an open netCDF-4 file (path names it in messages). */
typedef int (*ad_nc_fill_fn)(int nc, const char *path, const void *ctx);
/* Writes path atomically with fill(). HDF5 cannot back out of a write that fails for space
 * (the half-flushed file crashes it later, when MPI_Finalize closes it), so the file is
 * first built in memory to learn its size and ad_check_space() makes sure that fits before
 * fill() runs again on "<path>.tmp.<pid>", which is then fsync'ed and renamed. */
int ad_nc_write_file(const char *path, ad_nc_fill_fn fill, const void *ctx);

#include "adaptor/mpiutil.h"

#endif
