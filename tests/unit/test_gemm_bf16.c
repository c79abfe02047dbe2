/* bf16 linear layers (oneDNN matmul) against an independent double-precision product of
 * the bf16-rounded operands: the only difference left is the order of the fp32
 * accumulation.  Also: strided rows, the bias, columns outside the output untouched, one
 * weight conversion per weight whatever the row count, and the refusal on a CPU without
 * the instructions (ONEDNN_MAX_CPU_ISA caps oneDNN's ISA in cli.bf16_no_isa). */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/gemm_bf16.h"
#include "adaptor/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double round_bf16(float v) { return (double)ad_bf16_to_f32(ad_f32_to_bf16(v)); }

/* y = x W^T + b in double over bf16-rounded x and W. */
static void reference(double *y, const float *x, int ldx, const float *w, const float *b, int n,
                      int in, int out)
{
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? (double)b[o] : 0.0;
            for (int i = 0; i < in; i++)
                s += round_bf16(x[(size_t)r * ldx + i]) * round_bf16(w[(size_t)o * in + i]);
            y[(size_t)r * out + o] = s;
        }
}

START_TEST(matches_rounded_reference)
{
    if (!ad_bf16_supported(NULL)) {
        tu_assert_fails(ad_bf16_gemm_create(&(ad_bf16_gemm *){NULL}), AD_ERR_UNSUPPORTED,
                        "precision = bf16");
        return;
    }
    ad_bf16_gemm *g;
    tu_assert_ok(ad_bf16_gemm_create(&g));
    const int in = 200, out = 72, ldx = 211, ldy = 80, rows[3] = {37, 5, 64};
    float *w = tu_rand_normal((size_t)out * in, 0.1f, 7, 0);
    float *b = tu_rand_normal((size_t)out, 0.5f, 7, 1);
    float *x = tu_rand_normal((size_t)64 * ldx, 1.0f, 7, 2);
    float *y = malloc(sizeof(float) * 64 * ldy);
    double *want = malloc(sizeof(double) * 64 * out);
    ck_assert(w && b && x && y && want);
    for (int k = 0; k < 3; k++) {
        int n = rows[k];
        const float *bias = k == 1 ? NULL : b;
        for (size_t i = 0; i < (size_t)64 * ldy; i++)
            y[i] = 12345.0f; /* padding columns must keep this */
        tu_assert_ok(ad_bf16_linear_forward(g, y, ldy, x, ldx, w, bias, n, in, out));
        reference(want, x, ldx, w, bias, n, in, out);
        double worst = 0, diff_fp32 = 0;
        for (int r = 0; r < n; r++) {
            for (int o = 0; o < out; o++) {
                double got = y[(size_t)r * ldy + o], e = want[(size_t)r * out + o];
                /* fp32 accumulation of 200 products of size ~0.1: |error| << 1e-4 */
                double err = fabs(got - e) / (1.0 + fabs(e));
                worst = err > worst ? err : worst;
                double exact = bias ? b[o] : 0.0;
                for (int i = 0; i < in; i++)
                    exact += (double)x[(size_t)r * ldx + i] * w[(size_t)o * in + i];
                diff_fp32 = fmax(diff_fp32, fabs(got - exact));
            }
            for (int o = out; o < ldy; o++)
                ck_assert_float_eq(y[(size_t)r * ldy + o], 12345.0f);
        }
        ck_assert_msg(worst < 2e-5, "rows %d: error %.3g against the bf16 reference", n, worst);
        /* the operands really were rounded to bf16 (an fp32 product would be ~1e-6 off) */
        ck_assert_msg(diff_fp32 > 1e-3, "rows %d: result equals the fp32 product (%.3g)", n,
                      diff_fp32);
        for (int r = n; r < 64; r++)
            ck_assert_float_eq(y[(size_t)r * ldy], 12345.0f);
    }
    ck_assert_int_eq(ad_bf16_gemm_packs(g), 1); /* converted once, reused at every row count */
    /* the same pointer as another shape is a caller bug, reported rather than misread */
    tu_assert_fails(ad_bf16_linear_forward(g, y, ldy, x, ldx, w, b, 4, in / 2, out),
                    AD_ERR_INTERNAL, "weight used as");
    ad_bf16_gemm_destroy(g);
    free(w), free(b), free(x), free(y), free(want);
}
END_TEST

START_TEST(precision_words)
{
    ad_precision p;
    tu_assert_ok(ad_precision_parse("bf16", &p));
    ck_assert_int_eq(p, AD_PREC_BF16);
    ck_assert_str_eq(ad_precision_name(p), "bf16");
    tu_assert_ok(ad_precision_parse("fp32", &p));
    ck_assert_int_eq(p, AD_PREC_FP32);
    tu_assert_fails(ad_precision_parse("fp16", &p), AD_ERR_ARG, "'fp16'");
}
END_TEST

/* Run by ctest with ONEDNN_MAX_CPU_ISA=AVX512_CORE: the instructions are gone, so creating
 * a context fails with one line and nothing is allocated. */
START_TEST(refused_without_isa)
{
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    if (!cap || strcmp(cap, "AVX512_CORE") != 0)
        return;
    const char *isa;
    ck_assert(!ad_bf16_supported(&isa));
    ad_bf16_gemm *g = (ad_bf16_gemm *)1;
    tu_assert_fails(ad_bf16_gemm_create(&g), AD_ERR_UNSUPPORTED, "AVX512_BF16");
    ck_assert_ptr_null(g);
    ck_assert(strstr(ad_errmsg(), "oneDNN ISA") != NULL);
    ck_assert(strchr(ad_errmsg(), '\n') == NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gemm_bf16");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, matches_rounded_reference);
    tcase_add_test(tc, precision_words);
    tcase_add_test(tc, refused_without_isa);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
