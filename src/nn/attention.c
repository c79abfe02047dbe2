#include "adaptor/nn.h"

#include "adaptor/mha.h"

/* Self-attention is cross-attention whose query, key and value blocks are the column
 * blocks of one fused [B, T, 3C] projection. */
static ad_mha_shape self_shape(int B, int T, int C, int NH)
{
    ad_mha_shape s = {B, T, T, C, NH, 3 * C, 3 * C, 3 * C, C};
    return s;
}

void ad_attention_forward(float *out, float *att, float *scratch, const float *qkv,
                          const float *key_mask, int B, int T, int C, int NH)
{
    ad_mha_shape s = self_shape(B, T, C, NH);
    ad_mha_forward(&s, out, att, scratch, qkv, qkv + C, qkv + 2 * C, key_mask);
}

void ad_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int NH)
{
    ad_mha_shape s = self_shape(B, T, C, NH);
    ad_mha_backward(&s, dqkv, dqkv + C, dqkv + 2 * C, scratch, dout, qkv, qkv + C, qkv + 2 * C,
                    att);
}
