/* What the encoders (bert.c, dinov2.c, resnet.c) share, for src/models/ only: their
 * buffers (every weight in one allocation, sized and bound by one layout pass; a workspace
 * grown on demand) and the random initialisation of test-sized models. */
#ifndef ADAPTOR_MODEL_COMMON_H
#define ADAPTOR_MODEL_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef struct ad_model_buffers {
    float *params; /* every weight */
    size_t nparams;
    float *ws;     /* forward workspace */
    size_t ws_cap;
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

/* Every parameter uniform in [-0.0346, 0.0346) (std 0.02, BERT's initialiser) from stream 0
 * of seed; the caller then moves its LayerNorm gammas to 1. */
void ad_model_params_random(ad_model_buffers *b, uint64_t seed);

#endif
