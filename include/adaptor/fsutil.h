/* Files: whole-file reads, directory creation and atomic replacement.
 *
 * Outputs that a crash must not leave half-written (checkpoints, caches, configs) are
 * written to "<path>.tmp.<pid>", fsync'ed, renamed over <path>, and the directory is
 * fsync'ed so the rename itself survives a power cut. */
#ifndef ADAPTOR_FSUTIL_H
#define ADAPTOR_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

/* Reads a whole file into a NUL-terminated buffer (caller frees). */
int ad_read_file(const char *path, char **data, size_t *len);
/* mkdir -p */
int ad_mkdir_p(const char *path);
int ad_path_exists(const char *path);
/* An optional file: *present = 0 only when nothing is at `path` (ENOENT); 1 when it is a
 * readable-looking regular file. Anything else there (a folder, a dangling or looping
 * symlink, a path that cannot be searched) is an error naming it, not a silent default. */
int ad_optional_file(const char *path, int *present);
int ad_is_dir(const char *path);
/* Joins a and b with one '/' into out (error if it does not fit). */
int ad_path_join(char *out, size_t n, const char *a, const char *b);

/* Atomic replacement of a file. */
typedef struct ad_atomic_file {
    FILE *fp;
    char path[4096];
    char tmp[4096];
} ad_atomic_file;

int ad_atomic_open(ad_atomic_file *af, const char *path);
/* Flushes, fsyncs, renames over the target; on failure the target is untouched. */
int ad_atomic_commit(ad_atomic_file *af);
/* Discards the temporary file. */
void ad_atomic_abort(ad_atomic_file *af);
/* Whole buffer in one go. */
int ad_write_file_atomic(const char *path, const void *data, size_t len);
/* Batches of many files (a synthetic corpus): the same temp-file-and-rename, so no reader
 * ever sees a partial file under its final name, but without the per-file fsync; the
 * writer then makes the whole batch durable at once with ad_sync_fs() before it writes
 * the (fsync'ed) file that marks the batch complete. */
int ad_write_file_replace(const char *path, const void *data, size_t len);
/* syncfs() of the file system holding `path`. */
int ad_sync_fs(const char *path);
/* fsync a file by name and its directory (for files written by other libraries, e.g. netCDF,
 * into a temporary name), then rename. */
int ad_fsync_rename(const char *tmp, const char *path);
/* Checks that `bytes` more fit on the file system (and quota) of `probe`, a free name that
 * it creates, allocates (fallocate) and removes again: for writers, such as HDF5, that cannot
 * recover from a write failing half-way. AD_ERR_IO "<name>: No space left on device (...)" if
 * not; AD_OK also where the file system cannot preallocate (nothing known). */
int ad_check_space(const char *probe, const char *name, long long bytes);

#endif
