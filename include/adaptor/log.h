/* Rank-aware messages and progress lines.
 *
 * The process's rank is set once by main (ad_log_init); library code then calls ad_info()
 * for messages that rank 0 alone should print, ad_warn() for per-rank warnings. Messages
 * go to stderr so stdout stays clean for data (tokenize, info). Every line starts with the
 * local wall-clock time and the time since start, "2026-12-03T09:50:12 +0:01:05 ", so a
 * Slurm output file tells when each thing happened and how long the job had run. */
#ifndef ADAPTOR_LOG_H
#define ADAPTOR_LOG_H

#include "adaptor/error.h"

#include <stddef.h>
#include <stdint.h>

void ad_log_init(int rank, int size);
int ad_log_rank(void);
int ad_log_size(void);
/* Quiet mode silences ad_info (tests, inspection commands). */
void ad_log_set_quiet(int quiet);

void ad_info(const char *fmt, ...) AD_PRINTF(1, 2);
void ad_warn(const char *fmt, ...) AD_PRINTF(1, 2);
/* The failure line: "adaptor: error[ (rank r)]: <msg>; HINT: <hint>", one line, printed
 * by the caller's rank whatever its number (main picks one rank). rank < 0 omits it. */
void ad_log_error(int rank, const char *msg, const char *hint);
/* Writes the line prefix (time and elapsed time, with a trailing space) into buf. */
void ad_log_stamp(char *buf, size_t n);

/* Seconds between progress lines when stderr is not a terminal (a batch job's output
 * file); <= 0: the caller's unit cadence, as on a terminal. Default 30. */
void ad_log_set_progress_seconds(double s);

double ad_now(void); /* monotonic seconds */

/* A progress reporter: rank 0 prints "<label> i/n (pct) rate/s ETA" every `every` units
 * on a terminal; into a file or pipe, at the first `every` units and then every progress
 * interval (ad_log_set_progress_seconds), so a log neither floods nor falls silent.
 * Always at the end. */
typedef struct ad_progress {
    char label[64];
    const char *unit;
    int64_t total, done, every, next_print;
    int64_t first; /* units done before this process started (resume) */
    double t0, last;
    int printed;
} ad_progress;

void ad_progress_start(ad_progress *p, const char *label, const char *unit, int64_t total,
                       int64_t every);
/* The same for a run that continues at `done` of `total` (resume): lines show the global
 * count, the rate and ETA count only this process's units. */
void ad_progress_start_at(ad_progress *p, const char *label, const char *unit, int64_t total,
                          int64_t every, int64_t done);
/* Advances by n units; `extra` (may be NULL) is appended to the line, e.g. "loss 2.31". */
void ad_progress_step(ad_progress *p, int64_t n, const char *extra);
void ad_progress_finish(ad_progress *p, const char *extra);

#endif
