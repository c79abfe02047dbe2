/* Learning-rate schedules, as a pure function of the update number k (1-based), so a resumed
 * run recomputes the same rate from the step it restarts at.
 *
 * Pre-training (SPEC 5), T total updates, W = int(warmup_frac * T):
 *   linear:  lr * k/W for k < W, else lr * max(0, (T-k)/(T-W))          (W = 0: no warm-up)
 *   cosine:  the same warm-up, then lr * 0.5 * (1 + cos(pi * (k-W)/(T-W)))
 * Classification (SPEC 8): cosine warm restarts, torch's CosineAnnealingWarmRestarts with
 * T_mult = 1 stepped once after every update, so update k sees T_cur = (k-1) mod T_0:
 *   eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_0)) / 2
 * constant: lr for every k.
 * reference: the linear schedule as the reference's Lightning loop applies it. Its LambdaLR is
 *   stepped inside training_step (before the update) and once more at every epoch end, so
 *   update k (1-based over the run) of epoch e = (k-1) div S (S steps per epoch) sees
 *   lambda(k + e), lambda being the linear warm-up/decay above (0 past T). */
#ifndef ADAPTOR_SCHEDULE_H
#define ADAPTOR_SCHEDULE_H

#include <stdint.h>

typedef enum {
    AD_SCHED_CONSTANT,
    AD_SCHED_LINEAR,
    AD_SCHED_COSINE,
    AD_SCHED_COSINE_RESTARTS,
    AD_SCHED_REFERENCE
} ad_sched_kind;

typedef struct ad_schedule {
    ad_sched_kind kind;
    double lr;       /* peak / base learning rate */
    int64_t total;   /* T: total updates (linear, cosine) */
    int64_t warmup;  /* W (linear, cosine) */
    int64_t period;  /* T_0 (cosine restarts) */
    double eta_min;  /* floor (cosine restarts) */
    int64_t epoch_steps; /* S: updates per epoch (reference) */
} ad_schedule;

/* kind: AD_SCHED_CONSTANT, AD_SCHED_LINEAR or AD_SCHED_COSINE; total >= 1,
 * 0 <= warmup_frac < 1 (ignored for constant). */
int ad_schedule_init(ad_schedule *s, ad_sched_kind kind, double lr, int64_t total,
                     double warmup_frac);
/* The reference's stepping of the linear schedule (T = total, W = int(warmup_frac * T)) over
 * epochs of epoch_steps >= 1 updates. */
int ad_schedule_init_reference(ad_schedule *s, double lr, int64_t total, double warmup_frac,
                               int64_t epoch_steps);
/* Cosine warm restarts with period T_0 >= 1 and floor eta_min (0 <= eta_min <= lr). */
int ad_schedule_init_restarts(ad_schedule *s, double lr, int64_t t0, double eta_min);
/* The rate of update k (k >= 1; k > T gives the schedule's value at T). */
double ad_schedule_lr(const ad_schedule *s, int64_t k);

/* "constant" | "linear" | "cosine" | "cosine_restarts" | "reference" <-> kind. */
int ad_schedule_parse_kind(const char *name, ad_sched_kind *out);
const char *ad_schedule_kind_name(ad_sched_kind kind);

#endif
