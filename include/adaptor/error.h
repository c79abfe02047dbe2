/* Status codes and the last-error message.
 *
 * Every fallible function returns an int status (AD_OK == 0) and callers propagate it.
 * The function that detects a failure records one line of context (file, row, tensor or
 * key) with ad_fail(); the CLI prints that line once.  The message buffer is
 * thread-local, like errno, so concurrent threads cannot garble each other's messages. */
#ifndef ADAPTOR_ERROR_H
#define ADAPTOR_ERROR_H

#include <stddef.h>

enum {
    AD_OK = 0,
    AD_ERR_ARG,         /* bad argument / usage */
    AD_ERR_IO,          /* open, read, write, fsync, rename failed */
    AD_ERR_FORMAT,      /* malformed file contents */
    AD_ERR_CONFIG,      /* job file / override problem */
    AD_ERR_NOMEM,
    AD_ERR_MPI,
    AD_ERR_NUMERIC,     /* NaN / inf where a number was expected */
    AD_ERR_UNSUPPORTED,
    AD_ERR_INTERNAL,
    AD_ERR_PEER         /* another rank failed; that rank reports why */
};

#if defined(__GNUC__)
#define AD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AD_PRINTF(a, b)
#endif

/* Records "msg" as the current error and returns code (so `return ad_fail(...)` reads well). */
int ad_fail(int code, const char *fmt, ...) AD_PRINTF(2, 3);
/* Prefixes the current message with more context: "ctx: <previous message>". Returns code. */
int ad_fail_ctx(int code, const char *fmt, ...) AD_PRINTF(2, 3);
const char *ad_errmsg(void);
/* Attaches "what to do" to the current error (printed after it as "HINT: ..."); a later
 * ad_fail() clears it, ad_fail_ctx() keeps it. Returns code. */
int ad_set_hint(int code, const char *fmt, ...) AD_PRINTF(2, 3);
/* The current error's hint, or NULL. */
const char *ad_errhint(void);
void ad_clear_error(void);
const char *ad_strerror(int code);

/* Propagate a failure to the caller. */
#define AD_TRY(expr)                 \
    do {                             \
        int ad_rc_ = (expr);         \
        if (ad_rc_ != AD_OK)         \
            return ad_rc_;           \
    } while (0)

/* Propagate through a cleanup label: needs `int rc` in scope and a `done:` label. */
#define AD_CHECK(expr)               \
    do {                             \
        rc = (expr);                 \
        if (rc != AD_OK)             \
            goto done;               \
    } while (0)

/* Allocation helpers that record an error naming what was being allocated. */
void *ad_malloc(size_t n, const char *what);
void *ad_calloc(size_t count, size_t size, const char *what);
char *ad_strdup(const char *s);

#endif
