/* Small netCDF helpers shared by the cache and metrics files (internal to src/io). */
#ifndef ADAPTOR_IO_NCUTIL_H
#define ADAPTOR_IO_NCUTIL_H

#include <mpi.h>
#include <stddef.h>

/* Records "<path>: <what>: <netCDF message>" and returns AD_ERR_IO. */
int ad_nc_fail(int status, const char *path, const char *what);
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

#include "adaptor/mpiutil.h"

#endif
