/* Segmentation decoders: forward / backward / running statistics / evaluation mode against
 * tests/ref/segdecoder_ref.py (PyTorch, same weights); whole-decoder gradients against
 * central finite differences (BatchNorm in training mode, padded and unpadded 3x3
 * convolutions, nearest upsampling, transposed convolutions, concatenated skips); file
 * round trips, shapes and bad input. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/rng.h"
#include "adaptor/safetensors.h"
#include "adaptor/segdecoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep in sync with VIT / UNET in tests/ref/segdecoder_ref.py. */
static ad_segdec_config vit_ref_cfg(void)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_VIT, .in_ch = 5, .grid = 6, .stem_ch = 6,
                          .ch = {8, 6, 4, 4}};
    return c;
}

static ad_segdec_config unet_ref_cfg(void)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_UNET, .in_ch = 6, .grid = 2, .nup = 3,
                          .ch = {8, 6, 4}, .skip_ch = {5, 3, 0}};
    return c;
}

static void ref_path(char *out, size_t n, const char *rel)
{
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    snprintf(out, n, "%s/segdecoder_ref/%s", tmp ? tmp : "/tmp", rel);
}

/* Tensor `name` of an open file as float32 (asserts presence). */
static float *get(const ad_safetensors *st, const char *name, size_t *n)
{
    const ad_st_tensor *t = ad_st_find(st, name);
    ck_assert_msg(t != NULL, "%s has no '%s'", ad_st_path(st), name);
    float *v = malloc(sizeof(float) * (size_t)t->numel);
    ck_assert_ptr_nonnull(v);
    tu_assert_ok(ad_st_read_f32(st, name, t->ndim, t->shape, v));
    if (n)
        *n = (size_t)t->numel;
    return v;
}

/* max |a - b| <= tol * max(max |b|, floor). */
static void assert_close(const float *a, const float *b, size_t n, double tol, double floor,
                         const char *what)
{
    double err = 0, scale = floor;
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    ck_assert_msg(err <= tol * scale, "%s: error %g, scale %g", what, err, scale);
}

/* Every tensor of `expect` whose name starts with `prefix` against the tensor of `got`
 * named by the rest. floor: relative to the largest value of all such tensors. */
static int compare_prefixed(const ad_safetensors *expect, const char *prefix,
                            const ad_safetensors *got, double tol)
{
    size_t lp = strlen(prefix);
    double big = 0;
    for (int pass = 0; pass < 2; pass++) {
        int matched = 0;
        for (size_t i = 0; i < ad_st_count(expect); i++) {
            const char *name = ad_st_at(expect, i)->name;
            if (strncmp(name, prefix, lp) != 0)
                continue;
            size_t n, m;
            float *e = get(expect, name, &n), *g = get(got, name + lp, &m);
            ck_assert_uint_eq(n, m);
            if (pass == 0)
                for (size_t k = 0; k < n; k++)
                    big = fmax(big, fabs(e[k]));
            else
                assert_close(g, e, n, tol, 1e-3 * big, name);
            free(e), free(g);
            matched++;
        }
        if (pass == 1)
            return matched;
    }
    return 0;
}

static void reference_case(const char *kind, ad_segdec_config cfg)
{
    char wpath[4096], iopath[4096], name[64], dir[4096], out[4200];
    snprintf(name, sizeof name, "seg_%s_weights.safetensors", kind);
    ref_path(wpath, sizeof wpath, name);
    snprintf(name, sizeof name, "seg_%s_io.safetensors", kind);
    ref_path(iopath, sizeof iopath, name);
    ad_segdec *d;
    ad_safetensors *io;
    tu_assert_ok(ad_segdec_create(&cfg, &d));
    tu_assert_ok(ad_segdec_load(d, wpath));
    tu_assert_ok(ad_st_open(iopath, &io));
    int nin = ad_segdec_ninputs(d), O = ad_segdec_out_size(d);
    float *feats[AD_SEGDEC_MAX_UP + 1] = {0}, *dfeats[AD_SEGDEC_MAX_UP + 1] = {0};
    size_t nf[AD_SEGDEC_MAX_UP + 1] = {0}, n;
    for (int i = 0; i < nin; i++) {
        int side, ch;
        ad_segdec_input_shape(d, i, &side, &ch);
        if (!ch)
            continue;
        snprintf(name, sizeof name, "feat%d", i);
        feats[i] = get(io, name, &nf[i]);
        ck_assert_uint_eq(nf[i], (size_t)2 * side * side * ch);
        dfeats[i] = malloc(sizeof(float) * nf[i]);
    }
    float *logits = malloc(sizeof(float) * 2 * O * O);
    float *ref = get(io, "logits", &n), *dl = get(io, "dlogits", NULL);
    ck_assert_uint_eq(n, (size_t)2 * O * O);
    tu_assert_ok(ad_segdec_forward(d, (const float *const *)feats, 2, logits, 1, MPI_COMM_NULL));
    assert_close(logits, ref, n, 1e-4, 0, "training logits");
    free(ref);
    ad_segdec_zero_grad(d);
    tu_assert_ok(ad_segdec_backward(d, dl, dfeats, MPI_COMM_NULL));
    for (int i = 0; i < nin; i++) {
        if (!feats[i])
            continue;
        snprintf(name, sizeof name, "dfeat%d", i);
        ref = get(io, name, NULL);
        assert_close(dfeats[i], ref, nf[i], 1e-4, 0, name);
        free(ref);
    }
    /* the running statistics, through the writer with PyTorch's names */
    tu_tmpdir(dir, sizeof dir, "segdec_ref");
    snprintf(out, sizeof out, "%s/after.safetensors", dir);
    tu_assert_ok(ad_segdec_save(d, out, NULL));
    ad_safetensors *got;
    tu_assert_ok(ad_st_open(out, &got));
    ck_assert_int_gt(compare_prefixed(io, "after.", got, 1e-5), 0);
    ad_st_close(got);
    ref = get(io, "eval_logits", NULL);
    tu_assert_ok(ad_segdec_forward(d, (const float *const *)feats, 2, logits, 0, MPI_COMM_NULL));
    assert_close(logits, ref, n, 1e-4, 0, "evaluation logits");
    free(ref);
    /* the gradients, written as if they were the weights (same names and layouts) */
    memcpy(ad_segdec_params(d), ad_segdec_grads(d), sizeof(float) * ad_segdec_nparams(d));
    tu_assert_ok(ad_segdec_save(d, out, NULL));
    tu_assert_ok(ad_st_open(out, &got));
    ck_assert_int_eq(compare_prefixed(io, "grad.", got, 2e-4), (int)ad_st_count(got) -
                     (cfg.kind == AD_SEGDEC_VIT ? 5 : 6) * 3); /* minus BN buffers */
    ad_st_close(got);
    for (int i = 0; i < nin; i++)
        free(feats[i]), free(dfeats[i]);
    free(logits), free(dl);
    ad_st_close(io);
    ad_segdec_destroy(d);
}

START_TEST(test_vit_reference)
{
    reference_case("vit", vit_ref_cfg());
}
END_TEST

START_TEST(test_unet_reference)
{
    reference_case("unet", unet_ref_cfg());
}
END_TEST

/* L = sum g * logits (in double) of a training forward. */
static double objective(ad_segdec *d, float *const *feats, int b, const float *g, float *logits)
{
    int O = ad_segdec_out_size(d);
    tu_assert_ok(ad_segdec_forward(d, (const float *const *)feats, b, logits, 1, MPI_COMM_NULL));
    double s = 0;
    for (size_t i = 0; i < (size_t)b * O * O; i++)
        s += (double)g[i] * logits[i];
    return s;
}

/* Distance of the analytic derivative `an` to the central, forward and backward differences
 * of L in the value *v, whichever is closest: the ReLUs make L piecewise smooth, and when a
 * kink falls inside [v - h, v + h] the difference on the other side is still exact to
 * O(h), while a wrong gradient matches none of the three. */
static double fd_error(ad_segdec *d, float *const *feats, int b, const float *g, float *logits,
                       float *v, double l0, double an)
{
    const float h = 5e-4f;
    float keep = *v;
    *v = keep + h;
    double lp = objective(d, feats, b, g, logits);
    *v = keep - h;
    double lm = objective(d, feats, b, g, logits);
    *v = keep;
    double hp = (double)(keep + h) - keep, hm = (double)keep - (keep - h);
    double c = fabs((lp - lm) / (hp + hm) - an), r = fabs((lp - l0) / hp - an);
    double l = fabs((l0 - lm) / hm - an);
    return fmin(c, fmin(r, l));
}

/* Finite differences of every parameter and of sampled inputs. */
static void fd_case(ad_segdec_config cfg, uint64_t seed)
{
    int b = 2;
    ad_segdec *d;
    tu_assert_ok(ad_segdec_create(&cfg, &d));
    ad_segdec_init(d, seed);
    float *p = ad_segdec_params(d);
    size_t np = ad_segdec_nparams(d);
    for (size_t i = 0; i < np; i++) /* BN gammas / betas off their 1 / 0 start */
        p[i] += 0.2f * (float)sin(1.0 + (double)i);
    int O = ad_segdec_out_size(d), nin = ad_segdec_ninputs(d);
    float *feats[AD_SEGDEC_MAX_UP + 1] = {0}, *dfeats[AD_SEGDEC_MAX_UP + 1] = {0};
    size_t nf[AD_SEGDEC_MAX_UP + 1] = {0};
    for (int i = 0; i < nin; i++) {
        int side, ch;
        ad_segdec_input_shape(d, i, &side, &ch);
        nf[i] = (size_t)b * side * side * ch;
        if (nf[i]) {
            feats[i] = tu_rand_normal(nf[i], 1.0f, seed + 10 + (uint64_t)i, 11);
            dfeats[i] = malloc(sizeof(float) * nf[i]);
        }
    }
    float *g = tu_rand_normal((size_t)b * O * O, 1.0f, seed + 99, 11);
    float *logits = malloc(sizeof(float) * b * O * O);
    objective(d, feats, b, g, logits);
    ad_segdec_zero_grad(d);
    tu_assert_ok(ad_segdec_backward(d, g, dfeats, MPI_COMM_NULL));
    float *grad = ad_segdec_grads(d);
    double scale = 1e-30;
    for (size_t i = 0; i < np; i++)
        scale = fmax(scale, fabs(grad[i]));
    double l0 = objective(d, feats, b, g, logits), worst = 0;
    for (size_t i = 0; i < np; i++)
        worst = fmax(worst, fd_error(d, feats, b, g, logits, &p[i], l0, grad[i]));
    ck_assert_msg(worst <= 5e-3 * scale, "parameter gradients: error %g (scale %g)", worst,
                  scale);
    for (int k = 0; k < nin; k++) {
        if (!feats[k])
            continue;
        double err = 0, sc = 1e-30;
        for (size_t i = 0; i < nf[k]; i++)
            sc = fmax(sc, fabs(dfeats[k][i]));
        for (size_t i = 0; i < nf[k]; i += 3)
            err = fmax(err, fd_error(d, feats, b, g, logits, &feats[k][i], l0, dfeats[k][i]));
        ck_assert_msg(err <= 5e-3 * sc, "input %d gradient: error %g (scale %g)", k, err, sc);
    }
    for (int i = 0; i < nin; i++)
        free(feats[i]), free(dfeats[i]);
    free(g), free(logits);
    ad_segdec_destroy(d);
}

START_TEST(test_vit_finite_differences)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_VIT, .in_ch = 2, .grid = 4, .stem_ch = 3,
                          .ch = {3, 2, 2, 2}};
    fd_case(c, 5);
}
END_TEST

START_TEST(test_unet_finite_differences)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_UNET, .in_ch = 3, .grid = 2, .nup = 2,
                          .ch = {3, 2}, .skip_ch = {2, 0}};
    fd_case(c, 6);
}
END_TEST

/* Shapes, parameter counts (counted by hand from the layer list) and the documented sizes. */
START_TEST(test_shapes)
{
    ad_segdec *d;
    ad_segdec_config c = ad_segdec_vit_config(384, 16);
    tu_assert_ok(ad_segdec_create(&c, &d));
    ck_assert_int_eq(ad_segdec_out_size(d), 224);
    size_t conv = 0, bn = 0;
    int cin = 384, widths[5] = {384, 512, 256, 128, 64};
    for (int i = 0; i < 5; i++) {
        conv += (size_t)widths[i] * cin * 9 + widths[i];
        bn += 2 * (size_t)widths[i];
        cin = widths[i];
    }
    conv += 64 * 9 + 1;
    ck_assert_uint_eq(ad_segdec_nparams(d), conv + bn);
    /* 2 MACs per weight per output pixel: 14x14 stem, blocks at 14, 28, 56, 112, head 224 */
    int sides[5] = {14, 14, 28, 56, 112};
    double flops = 2.0 * 224 * 224 * 9 * 64;
    cin = 384;
    for (int i = 0; i < 5; i++) {
        flops += 2.0 * sides[i] * sides[i] * 9 * cin * widths[i];
        cin = widths[i];
    }
    ck_assert_double_eq_tol(ad_segdec_flops(d, 2), 2 * flops, 1e-6 * flops);
    ad_segdec_destroy(d);
    ad_segdec_config deep = {.kind = AD_SEGDEC_UNET, .in_ch = 3, .grid = 1,
                             .nup = AD_SEGDEC_MAX_UP, .ch = {2, 2, 2, 2, 2, 2}};
    tu_assert_ok(ad_segdec_create(&deep, &d));
    ck_assert_int_eq(ad_segdec_out_size(d), 1 << AD_SEGDEC_MAX_UP);
    ck_assert_double_gt(ad_segdec_flops(d, 1), 0);
    ad_segdec_destroy(d);
    c = ad_segdec_vit_config(384, 32); /* 448 / 14 */
    tu_assert_ok(ad_segdec_create(&c, &d));
    ck_assert_int_eq(ad_segdec_out_size(d), 480);
    ad_segdec_destroy(d);
    int stages[5] = {64, 256, 512, 1024, 2048};
    c = ad_segdec_unet_resnet_config(stages, 7);
    tu_assert_ok(ad_segdec_create(&c, &d));
    ck_assert_int_eq(ad_segdec_out_size(d), 224);
    ck_assert_int_eq(ad_segdec_ninputs(d), 6);
    int side, ch;
    ad_segdec_input_shape(d, 1, &side, &ch);
    ck_assert_int_eq(side, 14);
    ck_assert_int_eq(ch, 1024);
    ad_segdec_input_shape(d, 3, &side, &ch);
    ck_assert_int_eq(side, 56);
    ck_assert_int_eq(ch, 256);
    ad_segdec_input_shape(d, 4, &side, &ch);
    ck_assert_int_eq(ch, 0);
    ad_segdec_destroy(d);
}
END_TEST

/* Kaiming-normal (fan_out) convolution weights: their spread matches sqrt(2 / fan_out). */
START_TEST(test_init)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_VIT, .in_ch = 64, .grid = 4, .stem_ch = 32,
                          .ch = {8, 8, 8, 8}};
    ad_segdec *d;
    tu_assert_ok(ad_segdec_create(&c, &d));
    ad_segdec_init(d, 3);
    const float *w = ad_segdec_params(d); /* decoder_0.0.weight comes first */
    size_t n = (size_t)32 * 64 * 9;
    double s2 = 0;
    for (size_t i = 0; i < n; i++)
        s2 += (double)w[i] * w[i];
    double want = 2.0 / (32 * 9);
    ck_assert_msg(fabs(s2 / (double)n / want - 1) < 0.05, "variance %g, want %g", s2 / n, want);
    for (size_t i = n; i < n + 32; i++) /* its bias */
        ck_assert_float_eq(w[i], 0.0f);
    ck_assert_float_eq(w[n + 32], 1.0f); /* BN weight */
    ad_segdec_destroy(d);
}
END_TEST

/* save -> load into a fresh decoder -> same evaluation outputs. */
START_TEST(test_roundtrip)
{
    ad_segdec_config c = unet_ref_cfg();
    ad_segdec *a, *b;
    tu_assert_ok(ad_segdec_create(&c, &a));
    tu_assert_ok(ad_segdec_create(&c, &b));
    ad_segdec_init(a, 17);
    float *p = ad_segdec_params(a);
    for (size_t i = 0; i < ad_segdec_nparams(a); i++)
        p[i] += 0.01f * (float)i;
    float *feats[4] = {tu_rand_normal(2 * 2 * 2 * 6, 1.0f, 1, 11),
                       tu_rand_normal(2 * 4 * 4 * 5, 1.0f, 2, 11),
                       tu_rand_normal(2 * 8 * 8 * 3, 1.0f, 3, 11), NULL};
    float la[2 * 16 * 16], lb[2 * 16 * 16];
    tu_assert_ok(ad_segdec_forward(a, (const float *const *)feats, 2, la, 1, MPI_COMM_NULL));
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir, "segdec_rt");
    snprintf(path, sizeof path, "%s/dec.safetensors", dir);
    tu_assert_ok(ad_segdec_save(a, path, NULL));
    tu_assert_ok(ad_segdec_load(b, path));
    tu_assert_ok(ad_segdec_forward(a, (const float *const *)feats, 2, la, 0, MPI_COMM_NULL));
    tu_assert_ok(ad_segdec_forward(b, (const float *const *)feats, 2, lb, 0, MPI_COMM_NULL));
    ck_assert_int_eq(memcmp(la, lb, sizeof la), 0);
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    ck_assert_ptr_nonnull(strstr(ad_st_metadata(st, "segdec_config"), "kind=unet"));
    ck_assert_ptr_nonnull(ad_st_find(st, "dec_0.4.num_batches_tracked"));
    ad_st_close(st);
    /* a file of the other architecture names the first tensor it lacks */
    ad_segdec_config v = vit_ref_cfg();
    ad_segdec *w;
    tu_assert_ok(ad_segdec_create(&v, &w));
    tu_assert_fails(ad_segdec_load(w, path), AD_ERR_FORMAT, "decoder_0.0.weight");
    ad_segdec_destroy(w);
    /* the same architecture with other widths: a shape mismatch names the tensor */
    c.ch[1] = 7;
    tu_assert_ok(ad_segdec_create(&c, &w));
    tu_assert_fails(ad_segdec_load(w, path), AD_ERR_FORMAT, "up_1.weight");
    ad_segdec_destroy(w);
    for (int i = 0; i < 3; i++)
        free(feats[i]);
    ad_segdec_destroy(a);
    ad_segdec_destroy(b);
}
END_TEST

START_TEST(test_bad_input)
{
    ad_segdec *d = (ad_segdec *)1;
    ad_segdec_config c = vit_ref_cfg();
    c.kind = 7;
    tu_assert_fails(ad_segdec_create(&c, &d), AD_ERR_ARG, "kind");
    ck_assert_ptr_null(d);
    c = vit_ref_cfg();
    c.grid = 2;
    tu_assert_fails(ad_segdec_create(&c, &d), AD_ERR_ARG, "grid");
    c = vit_ref_cfg();
    c.ch[2] = 0;
    tu_assert_fails(ad_segdec_create(&c, &d), AD_ERR_ARG, "ch[2]");
    c = unet_ref_cfg();
    c.nup = 9;
    tu_assert_fails(ad_segdec_create(&c, &d), AD_ERR_ARG, "nup");
    c = vit_ref_cfg();
    tu_assert_ok(ad_segdec_create(&c, &d));
    float g[1] = {0};
    tu_assert_fails(ad_segdec_backward(d, g, NULL, MPI_COMM_NULL), AD_ERR_ARG,
                    "training forward");
    const float *feats[1] = {g};
    tu_assert_fails(ad_segdec_forward(d, feats, 0, g, 1, MPI_COMM_NULL), AD_ERR_ARG, "batch");
    tu_assert_fails(ad_segdec_load(d, "/nonexistent/dec.safetensors"), AD_ERR_IO, "nonexistent");
    ad_segdec_destroy(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("segdecoder");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_vit_reference);
    tcase_add_test(tc, test_unet_reference);
    tcase_add_test(tc, test_vit_finite_differences);
    tcase_add_test(tc, test_unet_finite_differences);
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
