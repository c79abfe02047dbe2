/* Shared helpers of the libFuzzer targets: a per-process scratch folder in /dev/shm for the
 * code paths that take a file name, and a reader that turns fuzz bytes into choices. */
#ifndef ADAPTOR_FUZZUTIL_H
#define ADAPTOR_FUZZUTIL_H
#include <stddef.h>
#include <stdint.h>

/* The scratch folder (/dev/shm/adaptor-fuzz-<pid>, created on first use, removed with its
 * files at exit). */
const char *fz_dir(void);
/* Writes data[size] to <fz_dir()>/<name> (name may contain one sub-folder level, created
 * as needed) and puts the full path in path[n]. Aborts on failure: a fuzz run that cannot
 * write its input tests nothing. */
void fz_write(const char *name, const void *data, size_t size, char *path, size_t n);
/* Removes <fz_dir()>/<name> if present. */
void fz_remove(const char *name);
/* Aborts with a message when a property the code promises does not hold (a finding). */
void fz_assert(int cond, const char *what);

/* A clean failure: asserts that a message was recorded and, with FZ_VERBOSE set in the
 * environment, prints it (to see what a seed exercises). */
void fz_rejected(void);

/* Consumes the input front to back; past the end every read yields 0. */
typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;
uint8_t fz_u8(fz_reader *r);
uint32_t fz_u32(fz_reader *r);
/* One of values[0..count), chosen by the next byte. */
int64_t fz_pick(fz_reader *r, const int64_t *values, int count);
/* Up to max bytes as a NUL-terminated string in buf[max + 1] (length from the next byte). */
void fz_str(fz_reader *r, char *buf, size_t max);

#endif
