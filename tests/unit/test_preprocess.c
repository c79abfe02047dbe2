/* Decoding and MGCA preprocessing against tests/ref/preprocess_ref.py (cv2 + numpy, run by
 * the ctest fixture into $ADAPTOR_TEST_TMP/preprocess_ref): decoded pixels and the padded
 * 8-bit image must match exactly, the normalised crop to float rounding. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image.h"
#include "adaptor/preprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_case {
    char path[1024], mode[8], prefix[1024];
    int resize, crop, w, h;
} ref_case;

static char manifest_path[1200];

static void setup(void)
{
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    snprintf(manifest_path, sizeof manifest_path, "%s/preprocess_ref/manifest.txt",
             tmp ? tmp : "/tmp");
}

static int load_cases(ref_case **out)
{
    FILE *fp = fopen(manifest_path, "r");
    ck_assert_msg(fp != NULL, "%s missing: the preprocess_ref fixture did not run", manifest_path);
    int n = 0, cap = 64;
    ref_case *c = malloc(sizeof *c * (size_t)cap);
    while (fscanf(fp, "%1023s %7s %d %d %d %d %1023s", c[n].path, c[n].mode, &c[n].resize,
                  &c[n].crop, &c[n].w, &c[n].h, c[n].prefix) == 7) {
        if (++n == cap)
            c = realloc(c, sizeof *c * (size_t)(cap *= 2));
    }
    fclose(fp);
    ck_assert_int_gt(n, 40);
    *out = c;
    return n;
}

static void *load_blob(const char *prefix, const char *ext, size_t expect)
{
    char p[1200];
    char *data;
    size_t len;
    snprintf(p, sizeof p, "%s%s", prefix, ext);
    ck_assert_msg(ad_read_file(p, &data, &len) == AD_OK, "%s", ad_errmsg());
    ck_assert_msg(len == expect, "%s: %zu bytes, expected %zu", p, len, expect);
    return data;
}

static ad_depth16 mode_of(const ref_case *c)
{
    return strcmp(c->mode, "max") == 0 ? AD_DEPTH16_MAX : AD_DEPTH16_HIGHBYTE;
}

START_TEST(decode_matches_cv2_imread)
{
    ref_case *cases;
    int n = load_cases(&cases);
    for (int i = 0; i < n; i++) {
        const ref_case *c = &cases[i];
        ad_image img;
        tu_assert_ok(ad_image_read_gray8(c->path, mode_of(c), &img));
        ck_assert_msg(img.width == c->w && img.height == c->h, "%s: %dx%d, cv2 %dx%d", c->path,
                      img.width, img.height, c->w, c->h);
        uint8_t *ref = load_blob(c->prefix, ".dec", (size_t)c->w * (size_t)c->h);
        size_t bad = 0;
        for (size_t k = 0; k < (size_t)c->w * (size_t)c->h; k++)
            bad += img.pixels[k] != ref[k];
        ck_assert_msg(bad == 0, "%s (%s): %zu decoded pixels differ from cv2.imread", c->path,
                      c->mode, bad);
        free(ref);
        ad_image_free(&img);
    }
    free(cases);
}
END_TEST

START_TEST(resize_pad_matches_mgca)
{
    ref_case *cases;
    int n = load_cases(&cases), failed = 0;
    for (int i = 0; i < n; i++) {
        const ref_case *c = &cases[i];
        size_t npix = (size_t)c->resize * (size_t)c->resize;
        ad_image src = {c->w, c->h, load_blob(c->prefix, ".dec", (size_t)c->w * (size_t)c->h)};
        uint8_t *ref = load_blob(c->prefix, ".pad", npix);
        ad_image pad;
        tu_assert_ok(ad_resize_pad(&src, c->resize, &pad));
        ck_assert_int_eq(pad.width, c->resize);
        ck_assert_int_eq(pad.height, c->resize);
        size_t bad = 0, first = 0;
        for (size_t k = 0; k < npix; k++)
            if (pad.pixels[k] != ref[k] && bad++ == 0)
                first = k;
        if (bad) {
            fprintf(stderr,
                    "%s -> %d: %zu of %zu resized pixels differ from cv2, first at (%zu,%zu): "
                    "%d vs %d\n",
                    c->path, c->resize, bad, npix, first / (size_t)c->resize,
                    first % (size_t)c->resize, pad.pixels[first], ref[first]);
            failed++;
        }
        free(ref);
        free(src.pixels);
        ad_image_free(&pad);
    }
    free(cases);
    ck_assert_msg(failed == 0, "%d of %d resized images differ from cv2 (listed above)", failed, n);
}
END_TEST

/* Runs `kind` on every case that has a reference file `ext` (the reference keeps its output
 * small) and compares all 3 planes with it: max |out - ref| <= rel * max |ref|. Returns the
 * number of cases compared. */
static int compare_float_chain(const char *ext, ad_prep_kind kind, double rel)
{
    ref_case *cases;
    int n = load_cases(&cases), checked = 0;
    for (int i = 0; i < n; i++) {
        const ref_case *c = &cases[i];
        size_t plane = (size_t)c->crop * (size_t)c->crop;
        char p[1200];
        snprintf(p, sizeof p, "%s%s", c->prefix, ext);
        if (!ad_path_exists(p))
            continue;
        checked++;
        float *ref = load_blob(c->prefix, ext, plane * sizeof(float));
        float *out = malloc(3 * plane * sizeof(float));
        tu_assert_ok(ad_preprocess_file_as(kind, c->path, mode_of(c), c->resize, c->crop, NULL,
                                           out));
        double maxd = 0, maxr = 0;
        for (size_t k = 0; k < plane; k++) {
            maxr = fmax(maxr, fabs((double)ref[k]));
            for (int ch = 0; ch < 3; ch++)
                maxd = fmax(maxd, fabs((double)out[(size_t)ch * plane + k] - (double)ref[k]));
        }
        ck_assert_msg(maxd <= rel * maxr, "%s %d -> %d (%s): differs by %g (max %g)", c->path,
                      c->resize, c->crop, ext, maxd, maxr);
        free(out);
        free(ref);
    }
    free(cases);
    return checked;
}

/* Bit-exact 8-bit input makes the float chain exact too. */
START_TEST(center_crop_matches_torchvision)
{
    ck_assert_int_ge(compare_float_chain(".crop", AD_PREP_MGCA, 0.0), 15);
}
END_TEST

/* The names the caches' `preprocess` attribute records. */
START_TEST(prep_kind_names)
{
    ck_assert_str_eq(ad_prep_kind_name(AD_PREP_XRV), "xrv");
    ck_assert_str_eq(ad_prep_kind_name(AD_PREP_MGCA), "mgca");
}
END_TEST

/* resnet_ae's chain against the reference's torchxrayvision transforms (cv2 INTER_AREA on
 * float32): within 1e-4 of the largest value (measured: bit-exact with Debian's OpenCV
 * 4.6, integer factor included). */
START_TEST(xrv_matches_torchxrayvision)
{
    ck_assert_int_ge(compare_float_chain(".xrv", AD_PREP_XRV, 1e-4), 10);
    ad_image img = {300, 300, calloc(300 * 300, 1)};
    float *out = malloc(3 * 224 * 224 * sizeof(float));
    ad_rng r;
    ad_rng_seed(&r, 1, 0);
    tu_assert_fails(ad_preprocess_image_as(AD_PREP_XRV, &img, 256, 224, &r, out), AD_ERR_ARG,
                    "no random crop");
    free(out);
    free(img.pixels);
}
END_TEST

/* Independent properties of the chain (not tied to the reference files). */
START_TEST(center_offsets_round_half_even)
{
    /* int(round((H - crop) / 2.0)) in Python 3 */
    ck_assert_int_eq(ad_center_crop_offset(256, 224), 16);
    ck_assert_int_eq(ad_center_crop_offset(225, 224), 0);  /* round(0.5) = 0 */
    ck_assert_int_eq(ad_center_crop_offset(227, 224), 2);  /* round(1.5) = 2 */
    ck_assert_int_eq(ad_center_crop_offset(229, 224), 2);  /* round(2.5) = 2 */
    ck_assert_int_eq(ad_center_crop_offset(231, 224), 4);  /* round(3.5) = 4 */
    ck_assert_int_eq(ad_center_crop_offset(224, 224), 0);
}
END_TEST

START_TEST(resize_dims_follow_mgca)
{
    int w, h;
    tu_assert_ok(ad_resize_dims(49, 49, 256, &w, &h)); /* 49 * (256/49.) = 255.99999 */
    ck_assert_int_eq(h, 256);
    ck_assert_int_eq(w, 255);
    tu_assert_ok(ad_resize_dims(3000, 2500, 256, &w, &h));
    ck_assert_int_eq(w, 256);
    ck_assert_int_eq(h, 213);
    tu_assert_fails(ad_resize_dims(3, 1000, 256, &w, &h), AD_ERR_FORMAT, "empty");
}
END_TEST

START_TEST(random_crop_is_seeded_and_inside)
{
    char p[1024];
    tu_data_path(p, sizeof p, "images/00000001_000.png");
    ad_image img, pad;
    tu_assert_ok(ad_image_read_gray8(p, AD_DEPTH16_HIGHBYTE, &img));
    tu_assert_ok(ad_resize_pad(&img, 256, &pad));
    size_t plane = 224 * 224;
    float *a = malloc(3 * plane * sizeof(float)), *b = malloc(3 * plane * sizeof(float));
    float *ref = malloc(3 * plane * sizeof(float));
    int distinct = 0;
    for (uint64_t s = 0; s < 8; s++) {
        ad_rng r1, r2;
        ad_rng_seed(&r1, 7, s);
        ad_rng_seed(&r2, 7, s);
        tu_assert_ok(ad_preprocess_image(&img, 256, 224, &r1, a));
        tu_assert_ok(ad_preprocess_image(&img, 256, 224, &r2, b));
        ck_assert(memcmp(a, b, 3 * plane * sizeof(float)) == 0);
        /* The same draws, done by hand, select the same window of the padded image. */
        ad_rng r3;
        ad_rng_seed(&r3, 7, s);
        int top = (int)ad_rng_below(&r3, 33), left = (int)ad_rng_below(&r3, 33);
        tu_assert_ok(ad_crop_normalize(&pad, 224, top, left, ref));
        ck_assert(memcmp(a, ref, 3 * plane * sizeof(float)) == 0);
        distinct += top != 16 || left != 16;
    }
    ck_assert_int_gt(distinct, 0);
    tu_assert_fails(ad_crop_normalize(&pad, 224, 33, 0, ref), AD_ERR_ARG, "does not fit");
    free(a);
    free(b);
    free(ref);
    ad_image_free(&img);
    ad_image_free(&pad);
}
END_TEST

START_TEST(crop_larger_than_resize_fails)
{
    char p[1024];
    tu_data_path(p, sizeof p, "images/1.jpg");
    float *out = malloc(3 * 300 * 300 * sizeof(float));
    tu_assert_fails(ad_preprocess_file(p, AD_DEPTH16_HIGHBYTE, 256, 300, NULL, out), AD_ERR_ARG,
                    "1.jpg");
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), "crop size 300"));
    free(out);
}
END_TEST

int main(void)
{
    setup();
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("reference");
    tcase_add_test(tc, decode_matches_cv2_imread);
    tcase_add_test(tc, resize_pad_matches_mgca);
    tcase_add_test(tc, center_crop_matches_torchvision);
    tcase_add_test(tc, xrv_matches_torchxrayvision);
    tcase_add_test(tc, prep_kind_names);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("properties");
    tcase_add_test(tp, center_offsets_round_half_even);
    tcase_add_test(tp, resize_dims_follow_mgca);
    tcase_add_test(tp, random_crop_is_seeded_and_inside);
    tcase_add_test(tp, crop_larger_than_resize_fails);
    suite_add_tcase(s, tp);
    return tu_run_suite(s);
}
