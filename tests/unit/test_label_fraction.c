/* Label fractions: sizes per class are the proportional shares of round(pct * n) (checked
 * against a naive count), the draw depends on the seed only, pct = 1 keeps every row,
 * multi-class one-hot rows and 0/1 values are validated, and a class missing from a fraction
 * is reported by name. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/label_fraction.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 1000 };

/* Binary labels: 1 for rows i % 10 == 3 (10% positives). */
static void binary_labels(int8_t *y)
{
    for (int i = 0; i < N; i++)
        y[i] = i % 10 == 3;
}

START_TEST(test_stratified_sizes)
{
    int8_t y[N];
    binary_labels(y);
    const double pcts[] = {0.01, 0.1, 0.35, 1.0};
    for (int p = 0; p < 4; p++) {
        int64_t *sel, n;
        tu_assert_ok(ad_label_fraction(y, N, 1, AD_TASK_BINARY, pcts[p], 42, &sel, &n));
        ck_assert_int_eq(n, (int64_t)floor(pcts[p] * N + 0.5));
        int64_t pos = 0;
        for (int64_t i = 0; i < n; i++) {
            pos += y[sel[i]];
            if (i)
                ck_assert_msg(sel[i] > sel[i - 1], "selection not ascending / repeated");
        }
        /* 100 positives: the share is exactly pct * 100 (integral here). */
        ck_assert_msg(pos == (int64_t)floor(pcts[p] * 100 + 0.5), "pct %g: %lld positives",
                      pcts[p], (long long)pos);
        free(sel);
    }
}
END_TEST

START_TEST(test_seeded)
{
    int8_t y[N];
    binary_labels(y);
    int64_t *a, *b, *c, na, nb, nc;
    tu_assert_ok(ad_label_fraction(y, N, 1, AD_TASK_BINARY, 0.1, 7, &a, &na));
    tu_assert_ok(ad_label_fraction(y, N, 1, AD_TASK_BINARY, 0.1, 7, &b, &nb));
    tu_assert_ok(ad_label_fraction(y, N, 1, AD_TASK_BINARY, 0.1, 8, &c, &nc));
    ck_assert(na == nb && na == nc);
    ck_assert(memcmp(a, b, (size_t)na * sizeof *a) == 0);
    ck_assert_msg(memcmp(a, c, (size_t)na * sizeof *a) != 0, "seed has no effect");
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_multilabel_patterns)
{
    /* Two labels, patterns 00 (600 rows), 10 (250), 01 (100), 11 (50). */
    static int8_t y[N * 2];
    for (int i = 0; i < N; i++) {
        int pat = i < 600 ? 0 : i < 850 ? 1 : i < 950 ? 2 : 3;
        y[2 * i] = pat & 1;
        y[2 * i + 1] = (pat >> 1) & 1;
    }
    int64_t *sel, n, cnt[4] = {0};
    tu_assert_ok(ad_label_fraction(y, N, 2, AD_TASK_MULTILABEL, 0.1, 1, &sel, &n));
    ck_assert_int_eq(n, 100);
    for (int64_t i = 0; i < n; i++)
        cnt[y[2 * sel[i]] | y[2 * sel[i] + 1] << 1]++;
    ck_assert(cnt[0] == 60 && cnt[1] == 25 && cnt[2] == 10 && cnt[3] == 5);
    const char *names[] = {"A", "B"};
    tu_assert_ok(ad_cls_check_classes(y, sel, n, 2, AD_TASK_MULTILABEL, names, "frac"));
    free(sel);
}
END_TEST

START_TEST(test_missing_class_and_bad_labels)
{
    int8_t y[N];
    binary_labels(y);
    const char *names[] = {"Effusion"};
    int64_t *sel, n;
    /* 0.4% of 100 positives rounds to none. */
    tu_assert_ok(ad_label_fraction(y, N, 1, AD_TASK_BINARY, 0.004, 42, &sel, &n));
    ck_assert_int_eq(n, 4);
    tu_assert_fails(ad_cls_check_classes(y, sel, n, 1, AD_TASK_BINARY, names, "the 0.4% fraction"),
                    AD_ERR_ARG, "no example with Effusion = 1");
    free(sel);
    int8_t oh[6] = {1, 0, 0, 1, 1, 1};
    const char *cls[] = {"a", "b", "c"};
    tu_assert_fails(ad_cls_check_labels(oh, 2, 3, AD_TASK_MULTICLASS, cls, "m.csv", NULL),
                    AD_ERR_FORMAT, "m.csv, line 2: 3 of the one-hot columns");
    tu_assert_fails(ad_cls_check_classes(oh, NULL, 1, 3, AD_TASK_MULTICLASS, cls, "tiny"),
                    AD_ERR_ARG, "no example of class b");
    int8_t two[2] = {0, 2};
    tu_assert_fails(ad_cls_check_labels(two, 2, 1, AD_TASK_BINARY, names, "m.csv", NULL),
                    AD_ERR_FORMAT, "label 2 is not 0 or 1");
    tu_assert_fails(ad_cls_check_labels(oh, 2, 3, AD_TASK_BINARY, cls, "m.csv", NULL),
                    AD_ERR_CONFIG, "exactly one label column");
    tu_assert_fails(ad_label_fraction(y, N, 1, AD_TASK_BINARY, 0.0, 1, &sel, &n), AD_ERR_CONFIG,
                    "data_pct 0");
    ad_cls_task t;
    tu_assert_fails(ad_cls_task_parse("regression", &t), AD_ERR_CONFIG, "regression");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("label_fraction");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_stratified_sizes);
    tcase_add_test(tc, test_seeded);
    tcase_add_test(tc, test_multilabel_patterns);
    tcase_add_test(tc, test_missing_class_and_bad_labels);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
