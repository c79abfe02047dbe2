/* The Adaptor's image paths (include/adaptor/adaptor_image.h) against plain PyTorch
 * (tests/ref/adaptor_image_ref.py wrote the weights, inputs and expected outputs). */
#include "testutil.h"

#include "adaptor/adaptor_image.h"
#include "adaptor/checkpoint.h"
#include "adaptor/error.h"
#include "adaptor/pipeline.h"
#include "adaptor/safetensors.h"

#include <stdlib.h>
#include <string.h>

enum { DV = 10, DT = 12, P = 16, FF = 24, HEADS = 4, LAYERS = 2, B = 3, TV = 5, TT = 4 };

static ad_adaptor *load(int tokens)
{
    ad_adaptor_config c = {.dv = DV, .dt = DT, .proj = P, .ffn = FF, .heads = HEADS,
                           .layers = LAYERS, .dropout = 0.1f, .ln_eps = 1e-5f,
                           .logit_scale_init = 2.6592f, .tokens = tokens};
    ad_adaptor *m;
    tu_assert_ok(ad_adaptor_create(&c, &m));
    char path[4096];
    tu_data_path(path, sizeof path, "adaptor_image/weights.safetensors");
    tu_assert_ok(ad_ckpt_load_weights(path, &m->layout, m->params));
    return m;
}

static float *get(ad_safetensors *st, const char *name, int ndim, int64_t d0, int64_t d1,
                  int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    size_t n = (size_t)d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    float *p = malloc(n * sizeof(float));
    tu_assert_ok(ad_st_read_f32(st, name, ndim, shape, p));
    return p;
}

static ad_safetensors *io(void)
{
    char path[4096];
    tu_data_path(path, sizeof path, "adaptor_image/io.safetensors");
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    return st;
}

START_TEST(test_pooled)
{
    ad_adaptor *m = load(0);
    ad_safetensors *st = io();
    float *x = get(st, "x_pooled", 2, B, DV, 0), *want = get(st, "out_pooled", 2, B, P, 0);
    float got[B * P];
    tu_assert_ok(ad_adaptor_image_pooled(m, x, B, got));
    double e = tu_max_rel_err(got, want, B * P);
    ck_assert_msg(e < 1e-5, "pooled: relative error %.3g", e);
    free(x);
    free(want);
    ad_st_close(st);
    ad_adaptor_destroy(m);
}
END_TEST

START_TEST(test_tokens_fixed_text)
{
    ad_adaptor *m = load(1);
    ad_safetensors *st = io();
    float *x = get(st, "x_tokens", 3, B, TV, DV), *ctx = get(st, "ctx", 2, TT, DT, 0);
    float *want = get(st, "out_tokens", 2, B, P, 0), *mk = get(st, "ctx_mask", 1, TT, 0, 0);
    uint8_t mask[TT];
    for (int j = 0; j < TT; j++)
        mask[j] = mk[j] != 0;
    ck_assert(mask[0] && !mask[TT - 1]); /* padding really exercised */
    float got[B * P];
    tu_assert_ok(ad_adaptor_image_tokens(m, x, B, TV, ctx, mask, TT, got));
    double e = tu_max_rel_err(got, want, B * P);
    ck_assert_msg(e < 1e-5, "tokens: relative error %.3g", e);
    free(x);
    free(ctx);
    free(want);
    free(mk);
    ad_st_close(st);
    ad_adaptor_destroy(m);
}
END_TEST

START_TEST(test_selfattn)
{
    for (int tokens = 0; tokens < 2; tokens++) {
        ad_adaptor *m = load(tokens);
        ad_safetensors *st = io();
        float *x = get(st, "x_tokens", 3, B, TV, DV), *want = get(st, "out_selfattn", 3, B, TV, P);
        float got[B * TV * P];
        tu_assert_ok(ad_adaptor_image_selfattn(m, x, B, TV, got));
        double e = tu_max_rel_err(got, want, B * TV * P);
        ck_assert_msg(e < 1e-5, "self-attention (tokens=%d): relative error %.3g", tokens, e);
        free(x);
        free(want);
        ad_st_close(st);
        ad_adaptor_destroy(m);
    }
}
END_TEST

START_TEST(test_bad_arguments)
{
    ad_adaptor *m = load(0);
    float x[DV * TV] = {0}, out[P * TV];
    tu_assert_fails(ad_adaptor_image_tokens(m, x, 1, TV, x, NULL, 1, out), AD_ERR_ARG,
                    "token-mode model");
    tu_assert_fails(ad_adaptor_image_selfattn(m, x, 1, 0, out), AD_ERR_ARG, "0 tokens");
    ad_adaptor_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adaptor_image");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pooled);
    tcase_add_test(tc, test_tokens_fixed_text);
    tcase_add_test(tc, test_selfattn);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
