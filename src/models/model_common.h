/* What the encoders (bert.c, dinov2.c, resnet.c) share, for src/models/ only: their
 * buffers (every weight in one allocation, sized and bound by one layout pass; a workspace
 * grown on demand) and the random initialisation of test-sized models. */
#ifndef ADAPTOR_MODEL_COMMON_H
#define ADAPTOR_MODEL_COMMON_H

#include "adaptor/gemm_bf16.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ad_model_buffers {
    float *params; /* every weight */
    size_t nparams;
    float *ws;     /* forward workspace */
    size_t ws_cap;
    ad_bf16_gemm *bf16; /* NULL: float32 matrix products */
} ad_model_buffers;

/* Consecutive blocks of the parameter buffer. With base NULL a layout only counts, so one
 * function both sizes the buffer and binds the pointers into it. */
typedef struct ad_carve {
    float *base;
    size_t off;
} ad_carve;

/* *ptr = the next n floats (left untouched while counting). */
static inline void ad_carve_take(ad_carve *c, float **ptr, size_t n)
{
    if (c->base)
        *ptr = c->base + c->off;
    c->off += n;
}

/* Runs layout(model, carve) once to count, allocates b->params zeroed (what names it in a
 * message), then runs it again to bind. */
int ad_model_params_alloc(ad_model_buffers *b, void *model,
                          void (*layout)(void *model, ad_carve *c), const char *what);
/* b->ws holds at least need floats (its contents are not kept when it grows). */
int ad_model_ws_reserve(ad_model_buffers *b, size_t need, const char *what);
void ad_model_buffers_free(ad_model_buffers *b);

/* Chooses the precision of the encoder's linear layers (fp32 by default); bf16 fails with
 * one line on a CPU without the instructions and leaves the model as it was. */
int ad_model_set_precision(ad_model_buffers *b, ad_precision p);
ad_precision ad_model_precision(const ad_model_buffers *b);
/* ad_linear_forward, or its bf16 twin when bf16 is set (weights packed on first use). */
int ad_model_linear(ad_bf16_gemm *bf16, float *y, int ldy, const float *x, int ldx,
                    const float *w, const float *bias, int n, int in, int out);

/* Every parameter uniform in [-0.0346, 0.0346) (std 0.02, BERT's initialiser) from stream 0
 * of seed; the caller then moves its LayerNorm gammas to 1. */
void ad_model_params_random(ad_model_buffers *b, uint64_t seed);

#endif
