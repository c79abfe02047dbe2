/* Multi-head attention with separate query and key/value sequences (cross-attention), with
 * an optional key padding mask: the general form of ad_attention_forward (self-attention over
 * a fused QKV block). Row-major; q, k, v, out are [B, T, C] blocks with row strides.
 *
 *   S = Q_h K_h^T / sqrt(C/NH) + mask;  P = softmax_keys(S);  O_h = P V_h */
#ifndef ADAPTOR_MHA_H
#define ADAPTOR_MHA_H

typedef struct ad_mha_shape {
    int B, Tq, Tk, C, NH;
    int ldq, ldk, ldv, ldo; /* row strides (elements) of q, k, v and out / their gradients */
} ad_mha_shape;

/* key_mask: NULL or [B, Tk] additive (0 keep, large negative or -inf drop). att: NULL
 * (inference: scratch, Tq * Tk floats, is used) or [B, NH, Tq, Tk] receiving the
 * probabilities for the backward pass. */
void ad_mha_forward(const ad_mha_shape *s, float *out, float *att, float *scratch,
                    const float *q, const float *k, const float *v, const float *key_mask);
/* dq, dk, dv (same strides as q, k, v) are overwritten; scratch: Tq * Tk floats. */
void ad_mha_backward(const ad_mha_shape *s, float *dq, float *dk, float *dv, float *scratch,
                     const float *dout, const float *q, const float *k, const float *v,
                     const float *att);

#endif
