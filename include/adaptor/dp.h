/* Data-parallel forward/backward of the Adaptor with global contrastive negatives (SPEC 7).
 *
 * Every rank holds a replica of the Adaptor and b_r rows of the global batch (G = sum b_r).
 * One step:
 *   1. forward of the local rows -> normalised v, t [b_r, P];
 *   2. all-gather of v and t -> [G, P] (global negatives) or nothing (local negatives);
 *   3. the rank's b_r text rows and b_r image columns of the two softmaxes against all G;
 *   4. gradients that landed on gathered rows go back to their owners (reduce-scatter) and
 *      are added to the local ones; backward through the local replica;
 *   5. one all-reduce (sum) of the whole gradient buffer and of the loss (or one per layer,
 *      overlapped with the backward pass: ad_dp_set_overlap).
 * The loss is normalised by G, so the summed gradient is the gradient of the single-process
 * loss over the same G pairs: R ranks with b rows each equal 1 rank with G = R b rows, up to
 * float32 round-off. With local negatives each rank's softmax only sees its own rows (the
 * reference's per-GPU loss) and the result is the average over ranks, as DDP would give. */
#ifndef ADAPTOR_DP_H
#define ADAPTOR_DP_H

#include "adaptor/adaptor.h"
#include "adaptor/rng.h"

#include <mpi.h>

typedef struct ad_dp_stats {
    double loss, loss_i2t, loss_t2i; /* global (identical on every rank) */
    int global_batch;
    double comm_seconds; /* this rank's time inside the step's collectives */
} ad_dp_stats;

typedef struct ad_dp ad_dp;

int ad_dp_create(MPI_Comm comm, int global_negatives, float image_weight, ad_dp **out);
void ad_dp_destroy(ad_dp *dp);

/* Forward + backward of one step on this rank's b rows (b may differ between ranks, and be
 * 0). The gradients in m->grads are overwritten with the sum over ranks; every rank ends with
 * the same gradients and stats. rng: dropout stream of this rank and step (NULL: no dropout). */
int ad_dp_step(ad_dp *dp, ad_adaptor *m, const ad_adaptor_batch *x, int b, ad_rng *rng,
               ad_dp_stats *st);

/* on: step 5 overlaps the backward pass: each layer's gradient slice is all-reduced
 * (MPI_Iallreduce) as soon as the backward is through it, progressed between the kernels that
 * follow, and waited for at the end of the step. The same sums; with 2 ranks bitwise the same
 * weights (a + b has one order), with more the reduction order of a slice may differ from the
 * whole-buffer all-reduce by round-off. Off by default. */
void ad_dp_set_overlap(ad_dp *dp, int on);

/* Forward only, for evaluation: the loss of the batch without touching the gradients. */
int ad_dp_eval(ad_dp *dp, ad_adaptor *m, const ad_adaptor_batch *x, int b, ad_dp_stats *st);

#endif
