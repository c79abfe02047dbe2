#include "adaptor/nn.h"

#include <math.h>

/* Per sequence and head, two small GEMMs straight on the strided q/k/v column blocks of
 * the fused projection (no head transposes or copies): S = Q K^T / sqrt(dh) + mask,
 * P = softmax(S), O = P V written into the head's columns of out. */
void ad_attention_forward(float *out, float *att, float *scratch, const float *qkv,
                          const float *key_mask, int B, int T, int C, int NH)
{
    int dh = C / NH, ld = 3 * C;
    float scale = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * ld;
        const float *mask = key_mask ? key_mask + (size_t)b * T : NULL;
        for (int h = 0; h < NH; h++) {
            float *p = att ? att + ((size_t)b * NH + h) * T * T : scratch;
            ad_gemm(0, 1, T, T, dh, scale, base + h * dh, ld, base + C + h * dh, ld, 0.0f, p, T);
            ad_softmax_masked_forward(p, p, mask, T, T, T);
            ad_gemm(0, 0, T, dh, T, 1.0f, p, T, base + 2 * C + h * dh, ld, 0.0f,
                    out + (size_t)b * T * C + h * dh, C);
        }
    }
}

void ad_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int NH)
{
    int dh = C / NH, ld = 3 * C;
    float scale = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * ld;
        float *dbase = dqkv + (size_t)b * T * ld;
        const float *dob = dout + (size_t)b * T * C;
        for (int h = 0; h < NH; h++) {
            const float *p = att + ((size_t)b * NH + h) * T * T;
            const float *q = base + h * dh, *k = base + C + h * dh, *v = base + 2 * C + h * dh;
            const float *dO = dob + h * dh;
            ad_gemm(1, 0, T, dh, T, 1.0f, p, T, dO, C, 0.0f, dbase + 2 * C + h * dh, ld);
            ad_gemm(0, 1, T, T, dh, 1.0f, dO, C, v, ld, 0.0f, scratch, T);
            ad_softmax_backward(scratch, scratch, p, T, T, T);
            ad_gemm(0, 0, T, dh, T, scale, scratch, T, k, ld, 0.0f, dbase + h * dh, ld);
            ad_gemm(1, 0, T, dh, T, scale, scratch, T, q, ld, 0.0f, dbase + C + h * dh, ld);
        }
    }
}
