/* AdamW and the learning-rate schedules against torch (tests/ref/adamw_ref.py, run by ctest as
 * the fixture ref.adamw_ref) and against hand-computed values. */
#include "testutil.h"

#include "adaptor/adamw.h"
#include "adaptor/error.h"
#include "adaptor/schedule.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Must match TENSORS in tests/ref/adamw_ref.py. */
enum { NT = 3 };
static const size_t t_numel[NT] = {64, 16, 1};
static const double t_scale[NT] = {1.0, 1e-3, 10.0};
static const size_t t_zeros[NT] = {0, 8, 0};

static float initial(int k, size_t i)
{
    if (k == 2)
        return 2.6592f;
    return (float)((double)((long)((i * 31 + (size_t)k * 17) % 23) - 11) / 10.0);
}

static float grad(int k, size_t i, int64_t step, double scale, size_t zeros)
{
    if (i < zeros)
        return 0.0f;
    uint64_t h = ((uint64_t)i * 2654435761u + (uint64_t)step * 40503u + (uint64_t)k * 97u) %
                 4294967296u;
    long u = (long)(h % 2001) - 1000;
    return (float)((double)u / 1000.0 * scale);
}

static FILE *open_ref(void)
{
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/optim/adamw_ref.txt", tmp ? tmp : "/tmp");
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "%s missing: run the ctest fixture ref.adamw_ref first", path);
    return fp;
}

static void check_run(FILE *fp, int run_id)
{
    int id, steps;
    double lr, b1, b2, eps, wd, clip, wfrac;
    char kind[32];
    ck_assert_int_eq(fscanf(fp, " run %d %lf %lf %lf %lf %lf %lf %31s %lf %d", &id, &lr, &b1, &b2,
                            &eps, &wd, &clip, kind, &wfrac, &steps),
                     10);
    ck_assert_int_eq(id, run_id);
    ad_sched_kind sk;
    tu_assert_ok(ad_schedule_parse_kind(kind, &sk));
    ad_schedule sched;
    tu_assert_ok(ad_schedule_init(&sched, sk, lr, steps, wfrac));
    ad_adamw_opts o = {.beta1 = b1, .beta2 = b2, .eps = eps, .weight_decay = wd,
                       .max_grad_norm = clip};
    size_t n = 0, off[NT];
    for (int k = 0; k < NT; k++) {
        off[k] = n;
        n += t_numel[k];
    }
    ad_adamw *opt = NULL;
    tu_assert_ok(ad_adamw_create(&opt, n, &o));
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *want = malloc(n * sizeof *want);
    for (int k = 0; k < NT; k++)
        for (size_t i = 0; i < t_numel[k]; i++)
            p[off[k] + i] = initial(k, i);
    double worst = 0;
    for (int step = 1; step <= steps; step++) {
        double ref_lr, ref_norm, norm = -1;
        ck_assert_int_eq(fscanf(fp, "%lf %lf", &ref_lr, &ref_norm), 2);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(fscanf(fp, "%f", &want[i]), 1);
        for (int k = 0; k < NT; k++)
            for (size_t i = 0; i < t_numel[k]; i++)
                g[off[k] + i] = grad(k, i, step, t_scale[k], t_zeros[k]);
        double our_lr = ad_schedule_lr(&sched, step);
        ck_assert_msg(fabs(our_lr - ref_lr) <= 1e-12 * lr,
                      "run %d update %d: lr %.17g, torch %.17g",
                      run_id, step, our_lr, ref_lr);
        tu_assert_ok(ad_adamw_step(opt, p, g, our_lr, &norm));
        ck_assert_msg(fabs(norm - ref_norm) <= 1e-6 * ref_norm,
                      "run %d update %d: norm %.9g, torch %.9g",
                      run_id, step, norm, ref_norm);
        for (int k = 0; k < NT; k++) {
            double e = tu_max_rel_err(p + off[k], want + off[k], t_numel[k]);
            if (e > worst)
                worst = e;
            ck_assert_msg(e <= 4e-7, "run %d update %d tensor %d: rel err %.3g", run_id, step, k,
                          e);
        }
    }
    ck_assert_int_eq(ad_adamw_step_count(opt), steps);
    fprintf(stderr, "adamw run %d: worst rel err vs torch over %d updates: %.3g\n", run_id, steps,
            worst);
    free(p);
    free(g);
    free(want);
    ad_adamw_destroy(opt);
}

START_TEST(test_adamw_vs_torch)
{
    FILE *fp = open_ref();
    check_run(fp, 1);
    check_run(fp, 2);
    fclose(fp);
}
END_TEST

START_TEST(test_restarts_vs_torch)
{
    FILE *fp = open_ref();
    char word[32];
    double lr, eta_min;
    int t0, n;
    /* Skip to the restarts section. */
    while (fscanf(fp, "%31s", word) == 1 && strcmp(word, "restarts") != 0)
        ;
    ck_assert_int_eq(fscanf(fp, "%lf %d %lf %d", &lr, &t0, &eta_min, &n), 4);
    ad_schedule s;
    tu_assert_ok(ad_schedule_init_restarts(&s, lr, t0, eta_min));
    for (int k = 1; k <= n; k++) {
        double want;
        ck_assert_int_eq(fscanf(fp, "%lf", &want), 1);
        double got = ad_schedule_lr(&s, k);
        ck_assert_msg(fabs(got - want) <= 1e-12 * lr, "update %d: %.17g, torch %.17g", k, got,
                      want);
    }
    fclose(fp);
}
END_TEST

static void assert_lr(const ad_schedule *s, int64_t k, double want)
{
    double got = ad_schedule_lr(s, k);
    ck_assert_msg(fabs(got - want) <= 1e-15, "k = %lld: %.17g, want %.17g", (long long)k, got,
                  want);
}

START_TEST(test_schedule_closed_form)
{
    ad_schedule s;
    /* T = 10, W = int(0.2 * 10) = 2. */
    tu_assert_ok(ad_schedule_init(&s, AD_SCHED_LINEAR, 1.0, 10, 0.2));
    ck_assert_int_eq(s.warmup, 2);
    assert_lr(&s, 1, 0.5);
    assert_lr(&s, 2, 1.0);
    assert_lr(&s, 6, 0.5);
    assert_lr(&s, 9, 0.125);
    assert_lr(&s, 10, 0.0);
    /* W = int(0.05 * 10) = 0: no warm-up, decay from the first update. */
    tu_assert_ok(ad_schedule_init(&s, AD_SCHED_LINEAR, 2.0, 10, 0.05));
    ck_assert_int_eq(s.warmup, 0);
    assert_lr(&s, 1, 1.8);
    /* SPEC default warm-up 0.02 of 1000 updates: W = 20. */
    tu_assert_ok(ad_schedule_init(&s, AD_SCHED_LINEAR, 1e-4, 1000, 0.02));
    ck_assert_int_eq(s.warmup, 20);
    assert_lr(&s, 19, 1e-4 * 19.0 / 20.0);
    assert_lr(&s, 20, 1e-4);
    assert_lr(&s, 510, 1e-4 * 0.5);
    tu_assert_ok(ad_schedule_init(&s, AD_SCHED_COSINE, 1.0, 10, 0.2));
    assert_lr(&s, 1, 0.5);
    assert_lr(&s, 2, 1.0);
    assert_lr(&s, 6, 0.5);
    assert_lr(&s, 4, 0.5 * (1.0 + sqrt(0.5)));
    assert_lr(&s, 10, 0.0);
    tu_assert_ok(ad_schedule_init(&s, AD_SCHED_CONSTANT, 0.3, 10, 0.5));
    assert_lr(&s, 1, 0.3);
    assert_lr(&s, 10, 0.3);
    /* reference: T = 10, W = 2, 3 updates per epoch; update k of epoch e sees lambda(k + e). */
    tu_assert_ok(ad_schedule_init_reference(&s, 1.0, 10, 0.2, 3));
    assert_lr(&s, 1, 0.5);   /* lambda(1) */
    assert_lr(&s, 3, 0.875); /* lambda(3) = 7/8, last of epoch 0 */
    assert_lr(&s, 4, 0.625); /* lambda(5): epoch 1 starts one scheduler step later */
    assert_lr(&s, 6, 0.375); /* lambda(7) */
    assert_lr(&s, 7, 0.125); /* lambda(9), epoch 2 */
    assert_lr(&s, 8, 0.0);   /* lambda(10) */
    assert_lr(&s, 10, 0.0);  /* lambda(13): 0 past T */
    /* T_0 = 4: T_cur = 0, 1, 2, 3, 0, ... */
    tu_assert_ok(ad_schedule_init_restarts(&s, 1.0, 4, 0.0));
    assert_lr(&s, 1, 1.0);
    assert_lr(&s, 3, 0.5);
    assert_lr(&s, 5, 1.0);
    assert_lr(&s, 7, 0.5);
}
END_TEST

START_TEST(test_schedule_errors)
{
    ad_schedule s;
    ad_sched_kind k;
    tu_assert_fails(ad_schedule_init(&s, AD_SCHED_LINEAR, 1e-4, 0, 0.02), AD_ERR_ARG, "total");
    tu_assert_fails(ad_schedule_init(&s, AD_SCHED_LINEAR, 1e-4, 10, 1.0), AD_ERR_ARG, "warm-up");
    tu_assert_fails(ad_schedule_init(&s, AD_SCHED_LINEAR, NAN, 10, 0.0), AD_ERR_ARG,
                    "learning rate");
    tu_assert_fails(ad_schedule_init_restarts(&s, 1e-4, 0, 0.0), AD_ERR_ARG, "T_0");
    tu_assert_fails(ad_schedule_init_reference(&s, 1e-4, 10, 0.02, 0), AD_ERR_ARG, "per epoch");
    tu_assert_ok(ad_schedule_parse_kind("reference", &k));
    ck_assert_int_eq(k, AD_SCHED_REFERENCE);
    tu_assert_fails(ad_schedule_parse_kind("step", &k), AD_ERR_CONFIG, "'step'");
    tu_assert_ok(ad_schedule_parse_kind("cosine_restarts", &k));
    ck_assert_str_eq(ad_schedule_kind_name(k), "cosine_restarts");
}
END_TEST

START_TEST(test_adamw_first_step_by_hand)
{
    /* p = 1, g = 0.5, lr 0.1, wd 0.01: p -> 0.999, m = 0.05, v = 2.5e-4, bc1 = 0.1, bc2 = 1e-3,
     * p -> 0.999 - (0.1/0.1) * 0.05 / (sqrt(2.5e-4)/sqrt(1e-3) + 1e-8) = 0.899 (+2e-9). */
    ad_adamw *a = NULL;
    tu_assert_ok(ad_adamw_create(&a, 1, NULL));
    float p = 1.0f, g = 0.5f;
    tu_assert_ok(ad_adamw_step(a, &p, &g, 0.1, NULL));
    ck_assert_msg(fabs(p - 0.899) < 1e-6, "p = %.9g", p);
    ck_assert_msg(fabsf(ad_adamw_exp_avg(a)[0] - 0.05f) < 1e-8f, "m");
    ck_assert_msg(fabsf(ad_adamw_exp_avg_sq(a)[0] - 2.5e-4f) < 1e-10f, "v");
    ad_adamw_destroy(a);
}
END_TEST

START_TEST(test_clipping)
{
    float g[2] = {3.0f, 4.0f};
    double norm = 0;
    ad_clip_grad_norm(g, 2, 10.0, &norm);
    ck_assert(norm == 5.0 && g[0] == 3.0f && g[1] == 4.0f);
    ad_clip_grad_norm(g, 2, 1.0, &norm);
    double c = 1.0 / (5.0 + 1e-6);
    ck_assert_msg(fabs(g[0] - 3.0 * c) < 1e-7 && fabs(g[1] - 4.0 * c) < 1e-7, "%g %g", g[0], g[1]);
    ck_assert_msg(fabs(ad_grad_norm(g, 2) - 1.0) < 1e-6, "clipped norm");
}
END_TEST

START_TEST(test_adamw_errors)
{
    ad_adamw *a = NULL;
    ad_adamw_opts o = ad_adamw_default_opts();
    tu_assert_fails(ad_adamw_create(&a, 0, &o), AD_ERR_ARG, "empty");
    o.beta1 = 1.0;
    tu_assert_fails(ad_adamw_create(&a, 4, &o), AD_ERR_ARG, "beta1");
    ck_assert_ptr_null(a);
    tu_assert_ok(ad_adamw_create(&a, 2, NULL));
    float p[2] = {1.0f, 2.0f}, g[2] = {NAN, 1.0f};
    double norm;
    tu_assert_fails(ad_adamw_step(a, p, g, 0.1, &norm), AD_ERR_NUMERIC, "gradient norm");
    ck_assert(p[0] == 1.0f && p[1] == 2.0f && ad_adamw_step_count(a) == 0);
    tu_assert_fails(ad_adamw_step(a, p, g, -1.0, NULL), AD_ERR_ARG, "learning rate");
    tu_assert_fails(ad_adamw_set_step_count(a, -1), AD_ERR_ARG, "negative");
    tu_assert_ok(ad_adamw_set_step_count(a, 7));
    ck_assert_int_eq(ad_adamw_step_count(a), 7);
    ad_adamw_destroy(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adamw");
    TCase *tc = tcase_create("adamw");
    tcase_add_test(tc, test_adamw_vs_torch);
    tcase_add_test(tc, test_restarts_vs_torch);
    tcase_add_test(tc, test_schedule_closed_form);
    tcase_add_test(tc, test_schedule_errors);
    tcase_add_test(tc, test_adamw_first_step_by_hand);
    tcase_add_test(tc, test_clipping);
    tcase_add_test(tc, test_adamw_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
