#include "adaptor/nn.h"

#include "vmath.h"

AD_SIMD_CLONES
void ad_gelu_forward(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = ad_vgelu(x[i]);
}

AD_SIMD_CLONES
void ad_bias_gelu_forward(float *y, const float *bias, int n, int d)
{
    for (int r = 0; r < n; r++) {
        float *row = y + (size_t)r * d;
        for (int i = 0; i < d; i++)
            row[i] = ad_vgelu(row[i] + bias[i]);
    }
}

AD_SIMD_CLONES
void ad_gelu_backward(float *dx, const float *dy, const float *x, size_t count)
{
    /* gelu'(x) = Phi(x) + x phi(x) */
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        float cdf = 0.5f * ad_v1perf(v * 0.70710678118654752f);
        float pdf = 0.39894228040143268f * ad_vexp(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

AD_SIMD_CLONES
void ad_gelu_tanh_forward(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + ad_vtanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    }
}

AD_SIMD_CLONES
void ad_tanh_forward(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = ad_vtanh(x[i]);
}

void ad_tanh_backward(float *dx, const float *dy, const float *y, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void ad_relu_forward(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void ad_relu_backward(float *dx, const float *dy, const float *y, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dx[i] = y[i] > 0 ? dy[i] : 0.0f;
}

AD_SIMD_CLONES
void ad_relu_mask_backward(float *restrict dx, const float *restrict f, size_t count, float keep)
{
    for (size_t i = 0; i < count; i++)
        dx[i] = f[i] > 0 ? dx[i] * keep : 0.0f;
}
