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

/* One named tensor of the parameter buffer (checkpoint names = the reference's). */
typedef struct ad_param_tensor {
    char name[96];
    size_t offset; /* in floats */
    int ndim;
    int64_t shape[2];
} ad_param_tensor;

typedef struct ad_adaptor_layer {
    float *in_w, *in_b;   /* [3P, P], [3P]: q | k | v blocks */
    float *out_w, *out_b; /* [P, P], [P] */
    float *l1_w, *l1_b;   /* [F, P], [F] */
    float *l2_w, *l2_b;   /* [P, F], [P] */
    float *n1_g, *n1_b, *n2_g, *n2_b;
} ad_adaptor_layer;

/* Activations of one modality's path, kept for the backward pass. Per-layer arrays hold
 * `layers` consecutive blocks. Dropout masks (0 or 1/(1-p)) are NULL when dropout is off. */
typedef struct ad_adaptor_acts {
    int b;                 /* rows of the last forward */
    int cap;               /* rows allocated */
    int folded;            /* the last forward used the folded attention (adaptor.c) */
    float *x;              /* input embeddings [b, D] */
    float *proj_n;         /* norms of x W^T [b] */
    float *h;              /* layer inputs [L+1][b, P]; h[0] = normalised projection */
    float *vv;             /* [L][b, P] V-projection of the layer input */
    float *mask_a;         /* [L][b, P] dropout after attention */
    float *s1, *x1;        /* [L][b, P] LN1 input (h + attention) and output */
    float *n1_mean, *n1_rstd;
    float *f;              /* [L][b, F] relu(linear1(x1)) after dropout (f > 0: kept) */
    float *mask_g;         /* [L][b, P] dropout after linear2 */
    float *s2;             /* [L][b, P] LN2 input */
    float *n2_mean, *n2_rstd;
    float *out, *out_n;    /* normalised output [b, P] and norms of h[L] [b] */
} ad_adaptor_acts;

/* Token-level mode (SPEC 6): the activations of one attention block (image or text side of
 * one layer) and of the whole pair of sequences. */
typedef struct ad_tok_block {
    float *q, *kv, *att, *o;  /* [n, P], [nc, 2P], [b, NH, Tx, Tc], [n, P] */
    float *mask_a, *s1, *x1, *n1_mean, *n1_rstd, *f, *mask_g, *s2, *n2_mean, *n2_rstd;
} ad_tok_block;

typedef struct ad_tok_acts {
    int b, tv, tt, cap_b, cap_tv, cap_tt;
    float *arena;
    float *xv, *xt;           /* inputs [b, T, D] */
    float *kmask;             /* text key mask, additive [b, Tt] */
    float *vn, *tn;           /* per-token norms of the projections [b, T] */
    float *V, *T;             /* sequences per layer: [L+1][b, T, P] */
    ad_tok_block *blk;        /* [L][2]: image block, text block */
    float *v_out, *t_out, *v_norm, *t_norm; /* read-out [b, P] and norms [b] */
    float *scratch;
    size_t scratch_n;
} ad_tok_acts;

typedef struct ad_adaptor {
    ad_adaptor_config cfg;
    size_t nparams;
    float *params, *grads;
    size_t ntensors;
    ad_param_tensor *tensors;
    /* views into params / grads */
    float *w_img, *w_txt, *logit_scale;
    ad_adaptor_layer *layer, *glayer;
    float *gw_img, *gw_txt, *glogit_scale;
    ad_adaptor_acts acts[2]; /* AD_IMAGE, AD_TEXT */
    float acts_dropout[2];   /* dropout used by the last forward of each modality */
    ad_tok_acts tok;         /* token-level mode */
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

/* Token-level mode itself (used by forward_pair when cfg.tokens). */
int ad_adaptor_tokens_forward(ad_adaptor *m, const ad_adaptor_batch *x, int b, float *v,
                              float *t, ad_rng *rng);
void ad_adaptor_tokens_backward(ad_adaptor *m, const float *dv, const float *dt);
void ad_adaptor_tokens_free(ad_adaptor *m);

#endif
