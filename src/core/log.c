#include "adaptor/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide by nature: one rank per process, set once by main. */
static int g_rank = 0, g_size = 1, g_quiet = 0, g_tty = 0;
static double g_t0 = -1, g_progress_s = 30;

void ad_log_init(int rank, int size)
{
    g_rank = rank;
    g_size = size;
    g_tty = isatty(STDERR_FILENO);
    g_t0 = ad_now();
}

void ad_log_set_progress_seconds(double s) { g_progress_s = s; }

void ad_log_stamp(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    long el = g_t0 < 0 ? 0 : (long)(ad_now() - g_t0);
    snprintf(buf, n, "%s +%ld:%02ld:%02ld ", when, el / 3600, el / 60 % 60, el % 60);
}

/* One stdio call per line: lines of different ranks sharing a pipe stay whole. */
static void emit(const char *head, const char *msg, const char *tail)
{
    char stamp[64];
    ad_log_stamp(stamp, sizeof stamp);
    fprintf(stderr, "%s%s%s%s\n", stamp, head, msg, tail);
    fflush(stderr);
}

int ad_log_rank(void) { return g_rank; }
int ad_log_size(void) { return g_size; }
void ad_log_set_quiet(int quiet) { g_quiet = quiet; }

void ad_info(const char *fmt, ...)
{
    if (g_rank != 0 || g_quiet)
        return;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit("", buf, "");
}

void ad_warn(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char head[64];
    if (g_size > 1)
        snprintf(head, sizeof head, "adaptor: warning (rank %d): ", g_rank);
    else
        snprintf(head, sizeof head, "adaptor: warning: ");
    emit(head, buf, "");
}

void ad_log_error(int rank, const char *msg, const char *hint)
{
    char head[64], tail[600] = "";
    if (rank >= 0)
        snprintf(head, sizeof head, "adaptor: error (rank %d): ", rank);
    else
        snprintf(head, sizeof head, "adaptor: error: ");
    if (hint)
        snprintf(tail, sizeof tail, "; HINT: %s", hint);
    emit(head, msg, tail);
}

double ad_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ad_progress_start(ad_progress *p, const char *label, const char *unit, int64_t total,
                       int64_t every)
{
    ad_progress_start_at(p, label, unit, total, every, 0);
}

void ad_progress_start_at(ad_progress *p, const char *label, const char *unit, int64_t total,
                          int64_t every, int64_t done)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->every = every > 0 ? every : 1;
    p->done = p->first = done;
    p->next_print = (done / p->every + 1) * p->every;
    p->t0 = p->last = ad_now();
}

static void format_eta(double s, char *out, size_t n)
{
    if (s < 0 || s != s) {
        snprintf(out, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60)
        snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, n, "%lds", t);
}

static void progress_print(const ad_progress *p, const char *extra, int final)
{
    double el = ad_now() - p->t0;
    double rate = el > 0 ? (double)(p->done - p->first) / el : 0.0;
    char eta[32];
    format_eta(final ? el : (rate > 0 ? (double)(p->total - p->done) / rate : -1), eta,
               sizeof eta);
    ad_info("%s %lld/%lld (%.0f%%) %.1f %s/s %s %s%s%s", p->label, (long long)p->done,
            (long long)p->total, p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 100.0,
            rate, p->unit, final ? "elapsed" : "ETA", eta, extra ? "  " : "", extra ? extra : "");
}

void ad_progress_step(ad_progress *p, int64_t n, const char *extra)
{
    p->done += n;
    if (p->done >= p->total)
        return; /* the finish line follows */
    int due;
    if (g_tty || g_progress_s <= 0) {
        due = p->done >= p->next_print;
    } else {
        /* Time-based in a log file; the first `every` units still print early so the
         * file shows the rate soon after start. */
        double now = ad_now();
        due = now - p->last >= g_progress_s || (!p->printed && p->done >= p->next_print);
    }
    if (due) {
        progress_print(p, extra, 0);
        p->printed = 1;
        p->last = ad_now();
    }
    while (p->next_print <= p->done)
        p->next_print += p->every;
}

void ad_progress_finish(ad_progress *p, const char *extra) { progress_print(p, extra, 1); }
