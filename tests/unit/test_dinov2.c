/* DINOv2 encoder against tests/ref/vision_ref.py (plain-torch HF Dinov2Model, hub and HF
 * position interpolation, registers + SwiGLU with the antialiased convention). */
#include "testutil.h"
#include "vision_fixture.h"

#include "adaptor/blis_select.h"
#include "adaptor/dinov2.h"
#include "adaptor/image_encoder.h"
#include "adaptor/interp.h"

#include <math.h>
#include <string.h>

static ad_dinov2 *load(const char *name)
{
    char p[4096];
    vf_path(p, sizeof p, name);
    ad_dinov2 *m;
    tu_assert_ok(ad_dinov2_load(p, &m));
    return m;
}

/* Runs the model on the formula images and compares with expected tensor `name`. */
static void check(ad_dinov2 *m, int batch, int h, int w, ad_pos_interp pos,
                  ad_image_output what, const char *name)
{
    float *x = vf_images(batch, h, w);
    size_t n;
    float *want = vf_expected(name, &n);
    size_t per = (size_t)ad_dinov2_count(m, what, h, w) * ad_dinov2_get_config(m)->hidden;
    ck_assert_uint_eq(n % per, 0);
    int used = (int)(n / per); /* expectations may hold only the first images */
    float *got = malloc(sizeof(float) * per * batch);
    tu_assert_ok(ad_dinov2_forward(m, x, batch, h, w, pos, what, got));
    double err = tu_max_rel_err(got, want, (size_t)used * per);
    ck_assert_msg(err <= 1e-4, "%s: relative error %.3g", name, err);
    free(x);
    free(want);
    free(got);
}

START_TEST(test_conventions)
{
    ad_dinov2 *m = load("dinov2");
    const ad_dinov2_config *c = ad_dinov2_get_config(m);
    ck_assert_int_eq(c->hidden, 48);
    ck_assert_int_eq(c->mlp_hidden, 192);
    check(m, 2, 224, 224, AD_POS_HUB, AD_IMG_CLS, "dino_hub_cls_sq");
    check(m, 2, 224, 224, AD_POS_HUB, AD_IMG_MEAN, "dino_hub_mean_sq");
    check(m, 2, 224, 224, AD_POS_HF, AD_IMG_CLS, "dino_hf_cls_sq");
    check(m, 2, 224, 224, AD_POS_HF, AD_IMG_MEAN, "dino_hf_mean_sq");
    check(m, 2, 224, 168, AD_POS_HUB, AD_IMG_CLS, "dino_hub_cls_rect");
    check(m, 2, 224, 168, AD_POS_HF, AD_IMG_CLS, "dino_hf_cls_rect");
    check(m, 1, 224, 168, AD_POS_HUB, AD_IMG_TOKENS, "dino_hub_tokens_rect");
    check(m, 1, 224, 168, AD_POS_HF, AD_IMG_TOKENS, "dino_hf_tokens_rect");
    check(m, 1, 518, 518, AD_POS_HUB, AD_IMG_CLS, "dino_native_cls");
    ad_dinov2_destroy(m);
}
END_TEST

/* The two conventions must really differ at 224 (else the test above proves nothing). */
START_TEST(test_conventions_differ)
{
    size_t n1, n2;
    float *a = vf_expected("dino_hub_cls_sq", &n1), *b = vf_expected("dino_hf_cls_sq", &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(tu_max_rel_err(a, b, n1) > 1e-3, "hub and hf outputs coincide");
    free(a);
    free(b);
}
END_TEST

START_TEST(test_registers_swiglu)
{
    ad_dinov2 *m = load("dinov2_reg");
    const ad_dinov2_config *c = ad_dinov2_get_config(m);
    ck_assert_int_eq(c->registers, 2);
    ck_assert_int_eq(c->swiglu, 1);
    ck_assert_int_eq(c->mlp_hidden, 128); /* (int(192 * 2 / 3) + 7) // 8 * 8 */
    check(m, 2, 224, 168, AD_POS_AA, AD_IMG_CLS, "reg_aa_cls_rect");
    check(m, 2, 224, 168, AD_POS_AA, AD_IMG_MEAN, "reg_aa_mean_rect");
    check(m, 2, 224, 168, AD_POS_HUB, AD_IMG_CLS, "reg_hub_cls_rect");
    check(m, 2, 224, 168, AD_POS_HUB, AD_IMG_MEAN, "reg_hub_mean_rect");
    check(m, 1, 224, 224, AD_POS_AA, AD_IMG_TOKENS, "reg_aa_tokens_sq");
    ad_dinov2_destroy(m);
}
END_TEST

/* Bicubic resampling against a direct double-precision evaluation of the PyTorch formula
 * (source (dst + 0.5) * scale - 0.5, A = -0.75, clamped taps), upsampling and shrinking. */
static double keys(double x)
{
    const double A = -0.75;
    x = fabs(x);
    if (x <= 1)
        return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2)
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

START_TEST(test_bicubic_direct)
{
    int sizes[2][2] = {{5, 9}, {9, 4}};
    for (int s = 0; s < 2; s++) {
        int in = sizes[s][0], out = sizes[s][1];
        float src[9 * 9 * 2], dst[9 * 9 * 2];
        for (int i = 0; i < in * in * 2; i++)
            src[i] = (float)((i * 37) % 11) - 5.0f;
        tu_assert_ok(ad_bicubic_resize(dst, src, in, in, out, out, 2, 0, 0, AD_CUBIC_PLAIN));
        double scale = (double)in / out, worst = 0;
        for (int y = 0; y < out; y++)
            for (int x = 0; x < out; x++)
                for (int c = 0; c < 2; c++) {
                    double ry = (y + 0.5) * scale - 0.5, rx = (x + 0.5) * scale - 0.5, v = 0;
                    int fy = (int)floor(ry), fx = (int)floor(rx);
                    for (int j = -1; j <= 2; j++)
                        for (int i = -1; i <= 2; i++) {
                            int yy = fy + j < 0 ? 0 : fy + j >= in ? in - 1 : fy + j;
                            int xx = fx + i < 0 ? 0 : fx + i >= in ? in - 1 : fx + i;
                            v += keys(ry - (fy + j)) * keys(rx - (fx + i)) *
                                 src[(yy * in + xx) * 2 + c];
                        }
                    worst = fmax(worst, fabs(v - dst[(y * out + x) * 2 + c]));
                }
        ck_assert_msg(worst < 1e-4, "%d -> %d: error %g", in, out, worst);
    }
}
END_TEST

START_TEST(test_bad_input)
{
    char p[4096];
    ad_dinov2 *m = NULL;
    vf_path(p, sizeof p, "bad_dino_missing");
    tu_assert_fails(ad_dinov2_load(p, &m), AD_ERR_FORMAT, "'layernorm.bias' is missing");
    vf_path(p, sizeof p, "bad_dino_shape");
    tu_assert_fails(ad_dinov2_load(p, &m), AD_ERR_FORMAT, "encoder.layer.1.mlp.fc1.weight");
    vf_path(p, sizeof p, "bad_dino_json");
    tu_assert_fails(ad_dinov2_load(p, &m), AD_ERR_FORMAT, "config.json: malformed JSON");
    vf_path(p, sizeof p, "bad_dino_heads");
    tu_assert_fails(ad_dinov2_load(p, &m), AD_ERR_FORMAT, "num_attention_heads");
    vf_path(p, sizeof p, "no_such_model");
    ck_assert_int_ne(ad_dinov2_load(p, &m), AD_OK);
    ck_assert_ptr_null(m);

    m = load("dinov2");
    float x[3 * 13 * 20], out[48];
    memset(x, 0, sizeof x);
    tu_assert_fails(ad_dinov2_forward(m, x, 1, 13, 20, AD_POS_HUB, AD_IMG_CLS, out), AD_ERR_ARG,
                    "smaller than one 14x14 patch");
    ad_dinov2_destroy(m);

    ad_image_output o;
    ad_pos_interp pi;
    tu_assert_fails(ad_image_output_parse("pooler", &o), AD_ERR_ARG, "'pooler'");
    tu_assert_fails(ad_pos_interp_parse("bilinear", &pi), AD_ERR_ARG, "hub, hf, aa");
}
END_TEST

/* pos_interp = auto follows config.json's model_type; explicit words win; a missing model
 * keeps the old default hub and says it guessed; a broken config.json is an error. */
START_TEST(test_pos_interp_resolve)
{
    char reg[4096], plain[4096], bad[4096], none[4096];
    vf_path(reg, sizeof reg, "dinov2_reg");
    vf_path(plain, sizeof plain, "dinov2");
    vf_path(bad, sizeof bad, "bad_dino_json");
    vf_path(none, sizeof none, "no_such_model");
    ad_pos_interp pi = AD_POS_HF;
    int guessed = -1;
    tu_assert_ok(ad_pos_interp_resolve("auto", AD_ARCH_DINOV2, reg, &pi, &guessed));
    ck_assert_int_eq(pi, AD_POS_AA);
    ck_assert_int_eq(guessed, 0);
    ck_assert_str_eq(ad_pos_interp_name(pi), "aa");
    tu_assert_ok(ad_pos_interp_resolve("auto", AD_ARCH_DINOV2, plain, &pi, &guessed));
    ck_assert_int_eq(pi, AD_POS_HUB);
    tu_assert_ok(ad_pos_interp_resolve("hf", AD_ARCH_DINOV2, reg, &pi, &guessed));
    ck_assert_int_eq(pi, AD_POS_HF);
    tu_assert_ok(ad_pos_interp_resolve("hub", AD_ARCH_DINOV2, reg, &pi, &guessed));
    ck_assert_int_eq(pi, AD_POS_HUB);
    tu_assert_ok(ad_pos_interp_resolve("auto", AD_ARCH_RESNET, reg, &pi, &guessed));
    ck_assert_int_eq(pi, AD_POS_HUB);
    ck_assert_int_eq(guessed, 0);
    tu_assert_ok(ad_pos_interp_resolve("auto", AD_ARCH_DINOV2, none, &pi, &guessed));
    ck_assert_int_eq(pi, AD_POS_HUB);
    ck_assert_int_eq(guessed, 1);
    tu_assert_fails(ad_pos_interp_resolve("auto", AD_ARCH_DINOV2, bad, &pi, NULL), AD_ERR_FORMAT,
                    "config.json");
    tu_assert_fails(ad_pos_interp_resolve("bicubic", AD_ARCH_DINOV2, reg, &pi, NULL), AD_ERR_ARG,
                    "'bicubic'");
    /* a model path too long to name its config.json is an error, not a missing model */
    static char longdir[5000];
    memset(longdir, 'd', sizeof longdir - 1);
    guessed = -1;
    tu_assert_fails(ad_pos_interp_resolve("auto", AD_ARCH_DINOV2, longdir, &pi, &guessed), AD_ERR_ARG,
                    "path too long");
    ck_assert_int_eq(guessed, 0);
}
END_TEST

/* The generic interface gives the same numbers as the model itself. */
START_TEST(test_image_encoder)
{
    char p[4096];
    vf_path(p, sizeof p, "dinov2");
    ad_image_arch arch;
    tu_assert_ok(ad_image_arch_parse("dinov2", &arch));
    ad_image_encoder *e;
    tu_assert_ok(ad_image_encoder_load(p, arch, &e));
    ck_assert_int_eq(ad_image_encoder_dim(e), 48);
    int count;
    tu_assert_ok(ad_image_encoder_count(e, AD_IMG_TOKENS, 224, 168, &count));
    ck_assert_int_eq(count, 1 + 16 * 12);
    float *x = vf_images(2, 224, 168), got[2 * 48];
    size_t n;
    float *want = vf_expected("dino_hf_cls_rect", &n);
    tu_assert_ok(ad_image_encoder_forward(e, x, 2, 224, 168, AD_IMG_CLS, AD_POS_HF, got));
    ck_assert(tu_max_rel_err(got, want, n) <= 1e-4);
    free(x);
    free(want);
    ad_image_encoder_destroy(e);
}
END_TEST

int main(void)
{
    char msg[256];
    ad_blis_select(msg, sizeof msg);
    ad_blis_set_threads(1);
    Suite *s = suite_create("dinov2");
    TCase *tc = tcase_create("dinov2");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_conventions);
    tcase_add_test(tc, test_conventions_differ);
    tcase_add_test(tc, test_registers_swiglu);
    tcase_add_test(tc, test_bicubic_direct);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_pos_interp_resolve);
    tcase_add_test(tc, test_image_encoder);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
