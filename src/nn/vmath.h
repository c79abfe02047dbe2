/* Branch-free float math that GCC vectorises (glibc's expf / erff are scalar calls), and
 * per-ISA clones of the hot loops: the library is built for baseline x86-64 (SSE2), so
 * without clones the elementwise work would run 4 lanes wide beside AVX-512 GEMMs. */
#ifndef ADAPTOR_NN_VMATH_H
#define ADAPTOR_NN_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
/* ISA features, not arch= names: the resolver matches arch= by CPU model, which fails on
 * virtualised CPUs that report no known model (the same trap as BLIS's cpuid table). */
#define AD_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AD_SIMD_CLONES
#endif

/* GCC inlines into a target clone only when forced (the clone's -march differs). */
#if defined(__GNUC__)
#define AD_VINLINE static inline __attribute__((always_inline))
#else
#define AD_VINLINE static inline
#endif

/* exp(x) to ~2 ulp for x in [-86, 88.7]; 0 below (so additive -FLT_MAX masks give exact
 * zeros, as in PyTorch; results there would be subnormal, whose arithmetic costs ~100x),
 * clamped above. */
AD_VINLINE float ad_vexp(float x)
{
    const float lo = -86.0f, hi = 88.7f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick: exact for |n| < 2^22, no rintf call. */
    const float shifter = 12582912.0f;
    float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = xc - n * 0.693145751953125f;      /* ln 2 split: hi part exact in n * hi */
    r = r - n * 1.428606765330187e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    float y = p * scale;
    return x < lo ? 0.0f : y;
}

/* Phi-style helper: 1 + erf(z), accurate in absolute terms to ~2e-7 and without
 * cancellation for negative z (Abramowitz & Stegun 7.1.26 evaluates erfc(|z|) directly). */
AD_VINLINE float ad_v1perf(float z)
{
    float az = z < 0 ? -z : z;
    float t = 1.0f / (1.0f + 0.3275911f * az);
    float q = 1.061405429f;
    q = q * t - 1.453152027f;
    q = q * t + 1.421413741f;
    q = q * t - 0.284496736f;
    q = q * t + 0.254829592f;
    /* erfc(|z|); beyond |z| = 9 it is below 1e-36 and taken as 0 (no subnormals) */
    float azc = az < 9.0f ? az : 9.0f;
    q = q * t * ad_vexp(-azc * azc);
    q = az < 9.0f ? q : 0.0f;
    return z < 0 ? q : 2.0f - q;
}

AD_VINLINE float ad_vgelu(float x)
{
    return 0.5f * x * ad_v1perf(x * 0.70710678118654752f);
}

AD_VINLINE float ad_vtanh(float x)
{
    /* tanh = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); series near 0 where 1 - e cancels. */
    float ax = x < 0 ? -x : x;
    float e = ad_vexp(-2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = ax * ax;
    float small = ax * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
    float r = ax < 0.125f ? small : big;
    return x < 0 ? -r : r;
}

/* Horizontal reductions with explicit 16-lane vectors (GCC/clang vector extensions), as
 * compilers may not reorder float sums / max themselves without -ffast-math.  Inside an
 * AD_SIMD_CLONES function they compile to that clone's registers. */
typedef float ad_vf16 __attribute__((vector_size(64)));
typedef int32_t ad_vi16 __attribute__((vector_size(64)));

AD_VINLINE float ad_vsum(const float *x, int n)
{
    ad_vf16 acc = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        ad_vf16 v;
        memcpy(&v, x + i, sizeof v);
        acc += v;
    }
    float s = 0;
    for (; i < n; i++)
        s += x[i];
    for (int l = 0; l < 16; l++)
        s += acc[l];
    return s;
}

/* sum of (x - m)^2 */
AD_VINLINE float ad_vsqdev(const float *x, float m, int n)
{
    ad_vf16 acc = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        ad_vf16 v;
        memcpy(&v, x + i, sizeof v);
        v -= m;
        acc += v * v;
    }
    float s = 0;
    for (; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    for (int l = 0; l < 16; l++)
        s += acc[l];
    return s;
}

/* sum of x[i] y[i] in double over 8 lanes (a serial double sum is bound by the add
 * latency, ~4x slower than the loads). */
typedef double ad_vd8 __attribute__((vector_size(64)));

AD_VINLINE double ad_vdotd(const float *x, const float *y, size_t n)
{
    ad_vd8 acc = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += (double)x[i + l] * y[i + l];
    double s = 0;
    for (; i < n; i++)
        s += (double)x[i] * y[i];
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

AD_VINLINE float ad_vmax(const float *x, int n)
{
    float m = -INFINITY;
    int i = 0;
    if (n >= 16) {
        ad_vf16 acc;
        memcpy(&acc, x, sizeof acc);
        for (i = 16; i + 16 <= n; i += 16) {
            ad_vf16 v;
            memcpy(&v, x + i, sizeof v);
            ad_vi16 gt = v > acc, vi, ai;
            memcpy(&vi, &v, sizeof vi);
            memcpy(&ai, &acc, sizeof ai);
            ai = (vi & gt) | (ai & ~gt);
            memcpy(&acc, &ai, sizeof acc);
        }
        for (int l = 0; l < 16; l++)
            m = acc[l] > m ? acc[l] : m;
    }
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

#endif
