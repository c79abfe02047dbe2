/* Inverted dropout, as torch.nn.Dropout in training mode: kept units are scaled by
 * 1/(1-p) so evaluation needs no rescaling. The mask comes from a seeded ad_rng stream,
 * so a run is reproducible for a given (seed, stream), not bit-equal to torch's. */
#ifndef ADAPTOR_DROPOUT_H
#define ADAPTOR_DROPOUT_H

#include <stddef.h>

#include "adaptor/rng.h"

/* y *= mask in place, mask[i] in {0, 1/(1-p)}; mask (may be NULL when the backward pass can
 * recover it, e.g. from a following relu) receives it. 0 <= p < 1. Consumes ceil(n / 4)
 * draws of rng (in chunks: element i takes bits 16 (i % 4) of the (i / 4)-th draw); p = 0
 * draws nothing and keeps every unit (mask, if given, is all 1). */
void ad_dropout_forward(float *y, float *mask, size_t n, float p, ad_rng *rng);
/* dy *= mask in place: the gradient through the forward's mask. */
void ad_dropout_backward(float *dy, const float *mask, size_t n);

#endif
