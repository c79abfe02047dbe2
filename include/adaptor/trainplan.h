/* The length of a pre-training run (SPEC 5), shared by pretrain and check, and the batches
 * of one pass over a split (a training epoch, the validation pass).
 *
 * N pairs in global batches of G: an epoch has ceil(N / G) steps whose last one holds the
 * N mod G remaining pairs (the reference's drop_last = False), or floor(N / G) full steps
 * with [train] drop_last = true. Updates = epochs x steps, capped by [train] max_steps.
 * The schedule's T is the number of updates, or, with [train] schedule_batch = B, the
 * reference's own count epochs x ceil(N / B) (floor with drop_last), not capped.
 * Every batch is split over the ranks in the contiguous shares of core/share (SPEC 7). */
#ifndef ADAPTOR_TRAINPLAN_H
#define ADAPTOR_TRAINPLAN_H

#include "adaptor/config.h"

#include <stdint.h>

typedef struct ad_train_plan {
    int64_t G;           /* global batch */
    int64_t spe;         /* steps per epoch */
    int64_t last;        /* pairs in an epoch's last step (G when N mod G = 0 or dropped) */
    int64_t total;       /* updates of the run */
    int64_t sched_total; /* T of the learning-rate schedule */
    int drop_last;
} ad_train_plan;

/* One pass over N >= 1 pairs in batches of G >= 1 (with drop_last, G <= N): G, spe, last and
 * drop_last; total = sched_total = spe. G > N without drop_last is one batch of N. */
int ad_train_plan_pass(int64_t N, int64_t G, int drop_last, ad_train_plan *p);

/* From [train] batch_size, epochs, drop_last, max_steps, schedule_batch for N training pairs.
 * The caller has checked 1 <= batch_size <= N. */
int ad_train_plan_make(const ad_config *cfg, int64_t N, ad_train_plan *p);

/* Pairs in step k (0-based) of an epoch. */
int64_t ad_train_plan_batch(const ad_train_plan *p, int64_t k);

/* This rank's block [*first, *first + *count) of step k's batch (possibly empty: the rank still
 * joins every collective of the step). */
void ad_train_plan_share(const ad_train_plan *p, int64_t k, int rank, int size, int64_t *first,
                         int64_t *count);

#endif
