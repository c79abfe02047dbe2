/* bf16 linear layers for the frozen encoders, through oneDNN's matmul primitive.
 *
 * Inputs and weights are rounded to bfloat16 (round to nearest even), products are
 * accumulated in float32 and the output is float32.  A weight is converted and reordered
 * into the layout the primitive asks for the first time it is used, and kept: the caller's
 * float32 weights must not change afterwards (frozen encoders).  Primitives are cached per
 * shape.  One context serves one model; it is not thread-safe. */
#ifndef ADAPTOR_GEMM_BF16_H
#define ADAPTOR_GEMM_BF16_H

typedef enum { AD_PREC_FP32, AD_PREC_BF16 } ad_precision;

/* "fp32" | "bf16" -> the enum; an error naming the word otherwise. */
int ad_precision_parse(const char *name, ad_precision *out);
const char *ad_precision_name(ad_precision p);

/* 1 when oneDNN's effective ISA executes bf16 dot products natively (AVX512_BF16 or AMX).
 * The effective ISA honours ONEDNN_MAX_CPU_ISA, so a test can take the instructions away.
 * isa (may be NULL) receives oneDNN's name for that ISA. */
int ad_bf16_supported(const char **isa);

typedef struct ad_bf16_gemm ad_bf16_gemm;

/* Fails with one line when the CPU lacks the instructions (no silent emulation). */
int ad_bf16_gemm_create(ad_bf16_gemm **out);
void ad_bf16_gemm_destroy(ad_bf16_gemm *g);

/* y[n,out] = x[n,in] W[out,in]^T + b[out], as ad_linear_forward (b may be NULL; ldx, ldy
 * row strides).  w identifies the weight: the same pointer must always hold the same
 * values. */
int ad_bf16_linear_forward(ad_bf16_gemm *g, float *y, int ldy, const float *x, int ldx,
                           const float *w, const float *b, int n, int in, int out);

/* Threads of the bf16 products (oneDNN's OpenMP pool), as ad_blis_set_threads for BLIS. */
void ad_bf16_set_threads(int n);

/* Weight conversions done so far (a weight reused at another row count is not repacked,
 * which the tests check). */
long ad_bf16_gemm_packs(const ad_bf16_gemm *g);

#endif
