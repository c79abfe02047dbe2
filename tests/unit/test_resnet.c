/* ResNet encoder against tests/ref/vision_ref.py (plain-torch torchvision Bottleneck ResNet
 * with layers [1, 2, 1, 1], width 8, BatchNorm with non-trivial running statistics). */
#include "testutil.h"
#include "vision_fixture.h"

#include "adaptor/blis_select.h"
#include "adaptor/image_encoder.h"
#include "adaptor/resnet.h"

static ad_resnet *load(const char *name)
{
    char p[4096];
    vf_path(p, sizeof p, name);
    ad_resnet *m;
    tu_assert_ok(ad_resnet_load(p, &m));
    return m;
}

static void check(ad_resnet *m, int batch, int h, int w, ad_image_output what, const char *name)
{
    float *x = vf_images(batch, h, w);
    size_t n;
    float *want = vf_expected(name, &n);
    float *got = malloc(sizeof(float) * n);
    tu_assert_ok(ad_resnet_forward(m, x, batch, h, w, what, got));
    double err = tu_max_rel_err(got, want, n);
    ck_assert_msg(err <= 1e-4, "%s: relative error %.3g", name, err);
    free(x);
    free(want);
    free(got);
}

START_TEST(test_forward)
{
    ad_resnet *m = load("resnet");
    ck_assert_int_eq(ad_resnet_dim(m), 256);
    check(m, 2, 224, 224, AD_IMG_CLS, "resnet_cls_sq");
    check(m, 2, 224, 224, AD_IMG_MEAN, "resnet_cls_sq");
    check(m, 2, 224, 168, AD_IMG_CLS, "resnet_cls_rect");
    check(m, 2, 112, 112, AD_IMG_TOKENS, "resnet_tokens_112");
    ad_resnet_destroy(m);
    m = load("resnet_noconfig"); /* config.json is optional */
    check(m, 2, 224, 224, AD_IMG_CLS, "resnet_cls_sq");
    ad_resnet_destroy(m);
}
END_TEST

/* Stage 4 of the stage outputs is the token output; stage shapes follow the strides. */
START_TEST(test_stages)
{
    ad_resnet *m = load("resnet");
    int h = 112, w = 112, oh, ow, c;
    float *st[5];
    static const int side[5] = {28, 28, 14, 7, 4}, ch[5] = {8, 32, 64, 128, 256};
    for (int s = 0; s < 5; s++) {
        tu_assert_ok(ad_resnet_stage_shape(m, s, h, w, &oh, &ow, &c));
        ck_assert_int_eq(oh, side[s]);
        ck_assert_int_eq(ow, side[s]);
        ck_assert_int_eq(c, ch[s]);
        st[s] = malloc(sizeof(float) * 2 * (size_t)oh * ow * c);
    }
    float *x = vf_images(2, h, w);
    tu_assert_ok(ad_resnet_forward_stages(m, x, 2, h, w, st));
    size_t n;
    float *want = vf_expected("resnet_tokens_112", &n);
    ck_assert(tu_max_rel_err(st[4], want, n) <= 1e-4);
    for (int s = 0; s < 5; s++)
        free(st[s]);
    free(want);
    free(x);
    ad_resnet_destroy(m);
}
END_TEST

START_TEST(test_bad_input)
{
    char p[4096];
    ad_resnet *m = NULL;
    vf_path(p, sizeof p, "bad_resnet_missing");
    tu_assert_fails(ad_resnet_load(p, &m), AD_ERR_FORMAT, "'layer2.1.bn2.running_var' is missing");
    vf_path(p, sizeof p, "bad_resnet_shape");
    tu_assert_fails(ad_resnet_load(p, &m), AD_ERR_FORMAT, "layer3.0.conv2.weight");
    vf_path(p, sizeof p, "dinov2"); /* a DINOv2 folder is no ResNet */
    tu_assert_fails(ad_resnet_load(p, &m), AD_ERR_FORMAT, "torchvision_resnet");
    ck_assert_ptr_null(m);
    m = load("resnet");
    float x[3 * 16 * 16], out[256];
    memset(x, 0, sizeof x);
    tu_assert_fails(ad_resnet_forward(m, x, 1, 0, 16, AD_IMG_CLS, out), AD_ERR_ARG,
                    "too small");
    tu_assert_fails(ad_resnet_forward(m, x, 0, 16, 16, AD_IMG_CLS, out), AD_ERR_ARG,
                    "batch 0");
    /* torchvision accepts any size >= 1: 16 x 16 ends as a 1 x 1 map */
    tu_assert_ok(ad_resnet_forward(m, x, 1, 16, 16, AD_IMG_CLS, out));
    ad_resnet_destroy(m);
}
END_TEST

START_TEST(test_image_encoder)
{
    char p[4096];
    vf_path(p, sizeof p, "resnet");
    ad_image_encoder *e;
    tu_assert_ok(ad_image_encoder_load(p, AD_ARCH_RESNET, &e));
    ck_assert_int_eq(ad_image_encoder_dim(e), 256);
    int count;
    tu_assert_ok(ad_image_encoder_count(e, AD_IMG_TOKENS, 112, 112, &count));
    ck_assert_int_eq(count, 16);
    float *x = vf_images(2, 224, 224), got[2 * 256];
    size_t n;
    float *want = vf_expected("resnet_cls_sq", &n);
    tu_assert_ok(ad_image_encoder_forward(e, x, 2, 224, 224, AD_IMG_CLS, AD_POS_HUB, got));
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
    Suite *s = suite_create("resnet");
    TCase *tc = tcase_create("resnet");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_forward);
    tcase_add_test(tc, test_stages);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_image_encoder);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
