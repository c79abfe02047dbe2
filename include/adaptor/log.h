/* Rank-aware messages and progress lines.
 *
 * The process's rank is set once by main (ad_log_init); library code then calls ad_info()
 * for messages that rank 0 alone should print, ad_warn() for per-rank warnings. Messages
 * go to stderr so stdout stays clean for data (tokenize, info). */
#ifndef ADAPTOR_LOG_H
#define ADAPTOR_LOG_H

#include "adaptor/error.h"

#include <stdint.h>

void ad_log_init(int rank, int size);
int ad_log_rank(void);
int ad_log_size(void);
/* Quiet mode silences ad_info (tests, inspection commands). */
void ad_log_set_quiet(int quiet);

void ad_info(const char *fmt, ...) AD_PRINTF(1, 2);
void ad_warn(const char *fmt, ...) AD_PRINTF(1, 2);

double ad_now(void); /* monotonic seconds */

/* A progress reporter: rank 0 prints "<label> i/n (pct) rate/s ETA" every `every` units
 * and at the end. */
typedef struct ad_progress {
    char label[64];
    const char *unit;
    int64_t total, done, every, next_print;
    int64_t first; /* units done before this process started (resume) */
    double t0;
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
