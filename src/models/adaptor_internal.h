/* The Adaptor's insides, for src/models/ only: the activations kept for the backward
 * passes, the token-level mode's entry points, and the pieces of a layer shared by the
 * pooled (adaptor.c) and token-level (adaptor_tokens.c) modes: everything after the
 * attention output. */
#ifndef ADAPTOR_ADAPTOR_INTERNAL_H
#define ADAPTOR_ADAPTOR_INTERNAL_H

#include "adaptor/adaptor.h"
#include "adaptor/dropout.h"

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

/* Activations of "x1 = LN1(s1); y = LN2(x1 + drop(linear2(drop(relu(linear1(x1))))))" for n
 * rows. mask_g is NULL when dropout is off; the FFN's own dropout needs no mask (f > 0 marks
 * the units both relu and dropout kept). */
typedef struct ad_sublayer {
    float *s1, *x1, *n1_mean, *n1_rstd, *f, *mask_g, *s2, *n2_mean, *n2_rstd;
} ad_sublayer;

/* s1 must already hold the residual sum x + dropout(attention output). */
void ad_sublayer_forward(const ad_adaptor *m, const ad_adaptor_layer *L, const ad_sublayer *a,
                         int n, float *y, float p, ad_rng *rng);
/* dy -> ds1 (overwritten); parameter gradients accumulated into G. bufp: n*P floats,
 * buff: n*F floats of scratch; buff may alias dy (read only before buff is written).
 * p: the dropout probability of the forward pass (0: none). */
void ad_sublayer_backward(const ad_adaptor *m, const ad_adaptor_layer *L, ad_adaptor_layer *G,
                          const ad_sublayer *a, int n, const float *dy, float *ds1, float *bufp,
                          float *buff, float p);

void ad_add_inplace(float *y, const float *x, size_t n);

/* Lays out the buffers of one token-mode block for (b, Tx, Tc) from base (NULL: only
 * count) and returns the floats used. drop: dropout masks too. */
size_t ad_tok_block_layout(ad_tok_block *k, float *base, int b, int Tx, int Tc, int P, int F,
                           int NH, int drop);
/* One attention block of token mode: y[b, Tx, P] = layer(x attending to ctx[b, Tc, P]).
 * kmask: additive key mask [b, Tc] or NULL. k must be laid out for (b, Tx, Tc) (its q, kv,
 * att, o and sublayer buffers); ctx == x gives self-attention. */
void ad_tok_block_forward(const ad_adaptor *m, const ad_adaptor_layer *L, ad_tok_block *k,
                          const float *x, int Tx, const float *ctx, int Tc, const float *kmask,
                          int b, float *y, float p, ad_rng *rng);

/* Token-level mode itself (forward_pair calls it when cfg.tokens; adaptor_image.c too). */
int ad_adaptor_tokens_forward(ad_adaptor *m, const ad_adaptor_batch *x, int b, float *v,
                              float *t, ad_rng *rng);
void ad_adaptor_tokens_backward(ad_adaptor *m, const float *dv, const float *dt);
void ad_adaptor_tokens_free(ad_adaptor *m);

#endif
