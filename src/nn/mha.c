#include "adaptor/mha.h"

#include "adaptor/nn.h"

#include <math.h>
#include <stddef.h>

/* Per sequence and head, two small GEMMs straight on the strided head columns (no head
 * transposes or copies). */
void ad_mha_forward(const ad_mha_shape *s, float *out, float *att, float *scratch,
                    const float *q, const float *k, const float *v, const float *key_mask)
{
    int dh = s->C / s->NH;
    float scale = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < s->B; b++) {
        const float *qb = q + (size_t)b * s->Tq * s->ldq, *kb = k + (size_t)b * s->Tk * s->ldk,
                    *vb = v + (size_t)b * s->Tk * s->ldv;
        const float *mask = key_mask ? key_mask + (size_t)b * s->Tk : NULL;
        for (int h = 0; h < s->NH; h++) {
            float *p = att ? att + ((size_t)b * s->NH + h) * s->Tq * s->Tk : scratch;
            ad_gemm(0, 1, s->Tq, s->Tk, dh, scale, qb + h * dh, s->ldq, kb + h * dh, s->ldk, 0.0f,
                    p, s->Tk);
            ad_softmax_masked_forward(p, p, mask, s->Tq, s->Tk, s->Tk);
            ad_gemm(0, 0, s->Tq, dh, s->Tk, 1.0f, p, s->Tk, vb + h * dh, s->ldv, 0.0f,
                    out + (size_t)b * s->Tq * s->ldo + h * dh, s->ldo);
        }
    }
}

void ad_mha_backward(const ad_mha_shape *s, float *dq, float *dk, float *dv, float *scratch,
                     const float *dout, const float *q, const float *k, const float *v,
                     const float *att)
{
    int dh = s->C / s->NH;
    float scale = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < s->B; b++) {
        size_t oq = (size_t)b * s->Tq, ok = (size_t)b * s->Tk;
        const float *qb = q + oq * s->ldq, *kb = k + ok * s->ldk, *vb = v + ok * s->ldv;
        const float *dob = dout + oq * s->ldo;
        float *dqb = dq + oq * s->ldq, *dkb = dk + ok * s->ldk, *dvb = dv + ok * s->ldv;
        for (int h = 0; h < s->NH; h++) {
            const float *p = att + ((size_t)b * s->NH + h) * s->Tq * s->Tk;
            int c = h * dh;
            /* dV = P^T dO;  dP = dO V^T;  dS = softmax'(dP);  dQ = s dS K;  dK = s dS^T Q */
            ad_gemm(1, 0, s->Tk, dh, s->Tq, 1.0f, p, s->Tk, dob + c, s->ldo, 0.0f, dvb + c, s->ldv);
            ad_gemm(0, 1, s->Tq, s->Tk, dh, 1.0f, dob + c, s->ldo, vb + c, s->ldv, 0.0f, scratch,
                    s->Tk);
            ad_softmax_backward(scratch, scratch, p, s->Tq, s->Tk, s->Tk);
            ad_gemm(0, 0, s->Tq, dh, s->Tk, scale, scratch, s->Tk, kb + c, s->ldk, 0.0f, dqb + c,
                    s->ldq);
            ad_gemm(1, 0, s->Tk, dh, s->Tq, scale, scratch, s->Tk, qb + c, s->ldq, 0.0f, dkb + c,
                    s->ldk);
        }
    }
}
