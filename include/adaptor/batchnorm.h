/* Batch normalisation over channels-last activations, with statistics synchronised across
 * ranks (SyncBatchNorm semantics) through a reduction the caller supplies.
 *
 * x is [rows, C] with rows = batch (BatchNorm1d) or batch x h x w (BatchNorm2d over NHWC).
 * Training mode normalises with the biased mean / variance over the rows of ALL ranks that
 * red sums over (one reduction of per-channel sums), so R ranks with b rows each equal one
 * rank with R*b rows; running statistics follow PyTorch (momentum 0.1, unbiased variance
 * over the global count). Evaluation mode uses the running statistics. red may be NULL
 * (this rank's rows only); the layer that owns the communicator passes ad_mpi_sum(&comm). */
#ifndef ADAPTOR_BATCHNORM_H
#define ADAPTOR_BATCHNORM_H

#include <stddef.h>

#include "adaptor/reduce.h"

typedef struct ad_batchnorm_cache {
    float *xhat;  /* [rows, C] normalised input */
    float *mean;  /* [C] batch mean */
    float *rstd;  /* [C] 1 / sqrt(var + eps) */
    double count; /* rows over all ranks */
} ad_batchnorm_cache;

/* Training forward: y = xhat * gamma + beta (y may alias x). running_mean / running_var
 * (may be NULL) are updated in place. Returns AD_OK or the reduction's failure. */
int ad_batchnorm_forward_train(float *y, ad_batchnorm_cache *c, const float *x,
                               const float *gamma, const float *beta, float *running_mean,
                               float *running_var, size_t rows, int C, float eps,
                               float momentum, const ad_reduce *red);
/* Evaluation forward with the running statistics (no communication). */
void ad_batchnorm_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                               const float *running_mean, const float *running_var,
                               size_t rows, int C, float eps);
/* dx overwritten (may alias dy); dgamma, dbeta accumulated with THIS rank's rows only (the
 * trainer's gradient all-reduce sums them); the per-channel sums the input gradient needs
 * are summed with red. */
int ad_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const ad_batchnorm_cache *c, const float *gamma, size_t rows, int C,
                          const ad_reduce *red);

#endif
