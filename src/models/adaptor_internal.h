/* Pieces of an Adaptor layer shared by the pooled (adaptor.c) and token-level
 * (adaptor_tokens.c) modes: everything after the attention output. */
#ifndef ADAPTOR_ADAPTOR_INTERNAL_H
#define ADAPTOR_ADAPTOR_INTERNAL_H

#include "adaptor/adaptor.h"
#include "adaptor/dropout.h"

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
/* dy = f > 0 ? dy * keep : 0: relu and inverted dropout together, from their output f. */
void ad_relu_scale_backward(float *dy, const float *f, size_t n, float keep);

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

#endif
