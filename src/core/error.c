#include "adaptor/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char g_msg[1024];
static _Thread_local char g_hint[512];

int ad_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    g_hint[0] = '\0';
    return code;
}

int ad_set_hint(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_hint, sizeof g_hint, fmt, ap);
    va_end(ap);
    return code;
}

const char *ad_errhint(void) { return g_hint[0] ? g_hint : NULL; }

int ad_fail_ctx(int code, const char *fmt, ...)
{
    char prev[sizeof g_msg], ctx[512];
    memcpy(prev, g_msg, sizeof prev);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    /* Built by hand: the message may legitimately be cut at the buffer's end. */
    size_t n = strlen(ctx);
    memcpy(g_msg, ctx, n + 1);
    if (prev[0] && n + 2 < sizeof g_msg) {
        memcpy(g_msg + n, ": ", 3);
        size_t room = sizeof g_msg - n - 3, len = strlen(prev);
        if (len > room)
            len = room;
        memcpy(g_msg + n + 2, prev, len);
        g_msg[n + 2 + len] = '\0';
    }
    return code;
}

const char *ad_errmsg(void) { return g_msg[0] ? g_msg : "unknown error"; }

void ad_clear_error(void)
{
    g_msg[0] = '\0';
    g_hint[0] = '\0';
}

const char *ad_strerror(int code)
{
    switch (code) {
    case AD_OK: return "ok";
    case AD_ERR_ARG: return "bad argument";
    case AD_ERR_IO: return "I/O error";
    case AD_ERR_FORMAT: return "bad file format";
    case AD_ERR_CONFIG: return "configuration error";
    case AD_ERR_NOMEM: return "out of memory";
    case AD_ERR_MPI: return "MPI error";
    case AD_ERR_NUMERIC: return "numerical error";
    case AD_ERR_UNSUPPORTED: return "unsupported";
    case AD_ERR_PEER: return "another rank failed";
    default: return "internal error";
    }
}

void *ad_malloc(size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        ad_fail(AD_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *ad_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        ad_fail(AD_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

char *ad_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ad_malloc(n, "string");
    if (p)
        memcpy(p, s, n);
    return p;
}
