/* The Adaptor (SPEC 5): projections of frozen image / text embeddings, L2 normalisation,
 * shared post-LN cross-attention layers and a learned logit scale.
 *
 * llm.c style: every parameter lives in one contiguous buffer laid out in the order of the
 * reference PyTorch state_dict, gradients in a second buffer of the same layout, so the
 * data-parallel trainer needs one all-reduce and AdamW one loop.
 *
 * Pooled mode (the reference): each sequence has one token, so attention over a single key
 * is exactly 1 and MHA(Q, K, V) = out_proj(V-projection(src)): the update of each modality
 * does not depend on the other. The Q and K blocks of in_proj therefore get exactly zero
 * gradient (they are still decayed by AdamW) and are not computed at all. */
#ifndef ADAPTOR_ADAPTOR_H
#define ADAPTOR_ADAPTOR_H

#include "adaptor/checkpoint.h"
#include "adaptor/rng.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ad_adaptor_config {
    int dv, dt;          /* frozen image / text embedding sizes */
    int proj;            /* P */
    int ffn;             /* F */
    int heads;
    int layers;
    float dropout;
    float ln_eps;        /* 1e-5 */
    float logit_scale_init;
    int tokens;          /* 0: pooled mode (SPEC 5), 1: token-level mode (SPEC 6) */
} ad_adaptor_config;

enum { AD_IMAGE = 0, AD_TEXT = 1 };

typedef struct ad_adaptor_layer {
    float *in_w, *in_b;   /* [3P, P], [3P]: q | k | v blocks */
    float *out_w, *out_b; /* [P, P], [P] */
    float *l1_w, *l1_b;   /* [F, P], [F] */
    float *l2_w, *l2_b;   /* [P, F], [P] */
    float *n1_g, *n1_b, *n2_g, *n2_b;
} ad_adaptor_layer;

/* Activations kept for the backward passes (pooled mode per modality, token mode), defined
 * in src/models/adaptor_internal.h: only the models use them. */
struct ad_adaptor_acts;
struct ad_tok_acts;

typedef struct ad_adaptor {
    ad_adaptor_config cfg;
    size_t nparams;
    float *params, *grads;
    size_t ntensors;
    ad_ckpt_tensor *tensors; /* the reference's state_dict names and order (SPEC 5) */
    char *names;             /* storage of the tensors' names */
    ad_ckpt_layout layout;   /* {tensors, ntensors, nparams}: what checkpoints save / load */
    /* views into params / grads */
    float *w_img, *w_txt, *logit_scale;
    ad_adaptor_layer *layer, *glayer;
    float *gw_img, *gw_txt, *glogit_scale;
    struct ad_adaptor_acts *acts; /* [2]: AD_IMAGE, AD_TEXT */
    float acts_dropout[2];   /* dropout used by the last forward of each modality */
    struct ad_tok_acts *tok; /* token-level mode */
    float tok_dropout;
    float *scratch;          /* backward workspace */
    size_t scratch_cap;
    /* Pooled attention folded into one product (see adaptor.c): per layer [P, P] weight
     * Wo Wv and [P] bias Wo bv + bo, and the gradients w.r.t. them pending conversion. */
    float *fold, *gfold;
    int gfold_pending;
} ad_adaptor;

/* Checks sizes, heads dividing the projection width and dropout (what create refuses). */
int ad_adaptor_config_check(const ad_adaptor_config *cfg);
int ad_adaptor_create(const ad_adaptor_config *cfg, ad_adaptor **out);
void ad_adaptor_destroy(ad_adaptor *m);
/* PyTorch's default initialisation (Linear: kaiming-uniform weights; MultiheadAttention:
 * xavier-uniform in_proj, zero biases; LayerNorm: ones / zeros; logit_scale_init), from a
 * seeded stream: the same weights on every rank. */
void ad_adaptor_init(ad_adaptor *m, uint64_t seed);
void ad_adaptor_zero_grad(ad_adaptor *m);

/* Forward of one modality for b rows: x [b, D] -> out [b, P] (normalised). rng: dropout
 * stream, or NULL for evaluation (no dropout). The activations are kept for the backward. */
int ad_adaptor_forward(ad_adaptor *m, int modality, const float *x, int b, float *out,
                       ad_rng *rng);
/* Backward of the last forward of that modality: dout [b, P] -> parameter gradients
 * (accumulated). */
void ad_adaptor_backward(ad_adaptor *m, int modality, const float *dout);

/* One batch of pairs for either mode. */
typedef struct ad_adaptor_batch {
    const float *xv;      /* [b, Dv] pooled, [b, Tv, Dv] tokens */
    const float *xt;      /* [b, Dt] pooled, [b, Tt, Dt] tokens */
    const uint8_t *tmask; /* tokens: [b, Tt], 1 = real text token (NULL: all real) */
    int tv, tt;           /* tokens per image / report (ignored in pooled mode) */
} ad_adaptor_batch;

/* Both modalities: v, t [b, P] normalised read-outs (the first token in token mode). */
int ad_adaptor_forward_pair(ad_adaptor *m, const ad_adaptor_batch *x, int b, float *v, float *t,
                            ad_rng *rng);
/* Backward of the last forward_pair: parameter gradients accumulated. */
void ad_adaptor_backward_pair(ad_adaptor *m, const float *dv, const float *dt);

/* What the backward pass tells a caller that overlaps communication with it: n > 0 when
 * grads[off, off + n) holds its final value of the step (each layer's contiguous slice as
 * soon as its last contribution is in, the last layer's slice including the logit scale,
 * then the two projections at [0, ...)); n == 0 between kernels, so that the caller can
 * progress non-blocking collectives. The slices cover the buffer exactly once. */
typedef void (*ad_grad_hook)(void *ctx, size_t off, size_t n);
/* backward_pair reporting to hook (NULL: none); the gradients are bitwise those of
 * backward_pair. In token mode the whole buffer is reported at the end. */
void ad_adaptor_backward_pair_hook(ad_adaptor *m, const float *dv, const float *dt,
                                   ad_grad_hook hook, void *ctx);
/* The slices backward_pair_hook reports, in the same order, without a backward pass (a rank
 * with no rows must start the same collectives). */
void ad_adaptor_grad_slices(const ad_adaptor *m, ad_grad_hook hook, void *ctx);

#endif
