/* Classification heads on fixed features (SPEC 8), trained data-parallel:
 *
 *   linear  logits = Linear(dropout(x))                       [in -> out]
 *   mlp     logits = Linear(ReLU(BN(Linear(x))))              [in -> hidden -> out]
 *           (BN: SyncBatchNorm over the communicator, include/adaptor/batchnorm.h)
 *
 * Parameters live in one buffer, in state_dict order ("0.weight", "0.bias", ...: see
 * ad_head_tensor_name), gradients in a second one of the same layout, so the trainer needs
 * one all-reduce and AdamW one loop. BN running statistics are buffers outside it (not
 * trained, not decayed). */
#ifndef ADAPTOR_HEAD_H
#define ADAPTOR_HEAD_H

#include "adaptor/batchnorm.h"
#include "adaptor/rng.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { AD_HEAD_LINEAR = 0, AD_HEAD_MLP = 1 } ad_head_kind;

typedef struct ad_head_config {
    ad_head_kind kind;
    int in, hidden, out; /* hidden: mlp only */
    float dropout;       /* linear only: before the Linear */
    float bn_eps, bn_momentum;
} ad_head_config;

typedef struct ad_head {
    ad_head_config cfg;
    size_t nparams;
    float *params, *grads;
    float *w1, *b1, *bn_g, *bn_b, *w2, *b2; /* bn_*, w2, b2: mlp only */
    float *running;                          /* mlp: [2, hidden] running mean, variance */
    /* activations of the last forward (cap rows) */
    int b, cap, train;
    float *x, *mask, *h, *a;
    ad_batchnorm_cache bn;
    float *scratch;
} ad_head;

int ad_head_parse_kind(const char *name, ad_head_kind *out);
int ad_head_create(const ad_head_config *cfg, ad_head **out);
void ad_head_destroy(ad_head *h);
/* PyTorch's defaults: Linear weights and biases U(-1/sqrt(in), 1/sqrt(in)), BN weight 1,
 * bias 0, running mean 0, variance 1; from a seeded stream (the same on every rank). */
void ad_head_init(ad_head *h, uint64_t seed);
/* x [b, in] -> logits [b, out]. rng != NULL: training mode (dropout from rng, BN batch
 * statistics synchronised over comm, a collective even with b == 0); NULL: evaluation
 * (no dropout, BN running statistics, no communication). */
int ad_head_forward(ad_head *h, const float *x, int b, float *logits, ad_rng *rng,
                    MPI_Comm comm);
/* Backward of the last training forward: gradients ACCUMULATED into h->grads (this rank's
 * rows; the caller all-reduces). Collective over comm for the mlp head. */
int ad_head_backward(ad_head *h, const float *dlogits, MPI_Comm comm);

#endif
