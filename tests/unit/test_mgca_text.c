/* MGCA report preprocessing vs the Python port of MGCA's code (tests/ref/mgca_text.py,
 * real Python `re` and str.lower), whose output is committed in
 * tests/data/tokenizers/expected/mgca_{cases,iuxray}.tsv. */
#include "testutil.h"
#include "tok_reports.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/mgca_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lines "key \t count \t caption" of an expectation file; calls fn for each. */
typedef void (*line_fn)(const char *key, int count, const char *caption, void *ctx);

static int each_line(const char *name, line_fn fn, void *ctx)
{
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "tokenizers/expected/%s", name);
    tu_data_path(path, sizeof path, rel);
    char *data;
    size_t len;
    tu_assert_ok(ad_read_file(path, &data, &len));
    int n = 0;
    for (char *p = data; *p;) {
        char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        char *t1 = strchr(p, '\t');
        ck_assert_ptr_nonnull(t1);
        char *t2 = strchr(t1 + 1, '\t');
        ck_assert_ptr_nonnull(t2);
        *t1 = *t2 = '\0';
        fn(p, atoi(t1 + 1), t2 + 1, ctx);
        n++;
        p = nl + 1;
    }
    free(data);
    return n;
}

static void check_one(const char *text, int want_count, const char *want, const char *what)
{
    char *got;
    int n;
    tu_assert_ok(ad_mgca_caption(text, NULL, &got, &n));
    ck_assert_msg(n == want_count && strcmp(got, want) == 0,
                  "%s: '%s'\n got %d '%s'\nwant %d '%s'", what, text, n, got, want_count, want);
    free(got);
}

static void case_line(const char *hex, int count, const char *caption, void *ctx)
{
    size_t nhex = strlen(hex);
    char *text = malloc(nhex / 2 + 1);
    for (size_t i = 0; i < nhex / 2; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        text[i] = (char)v;
    }
    text[nhex / 2] = '\0';
    check_one(text, count, caption, "case");
    free(text);
}

START_TEST(hard_cases)
{
    ck_assert_int_ge(each_line("mgca_cases.tsv", case_line, NULL), 20);
}
END_TEST

static void report_line(const char *row, int count, const char *caption, void *ctx)
{
    tok_reports *r = ctx;
    int i = atoi(row);
    ck_assert(i >= 1 && i <= TOK_NREPORTS);
    check_one(r->text[i], count, caption, "report");
}

START_TEST(iuxray_reports)
{
    tok_reports r;
    tok_reports_load(&r);
    ck_assert_int_eq(each_line("mgca_iuxray.tsv", report_line, &r), TOK_NREPORTS);
    tok_reports_free(&r);
}
END_TEST

/* impression + " " + findings, NULL meaning empty. */
START_TEST(impression_and_findings)
{
    char *a, *b;
    int na, nb;
    tu_assert_ok(ad_mgca_caption("No effusion. Heart normal", "Lungs are clear. 2. Ok",
                                 &a, &na));
    tu_assert_ok(ad_mgca_caption("No effusion. Heart normal Lungs are clear. 2. Ok", NULL, &b,
                                 &nb));
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(na, nb);
    ck_assert_str_eq(a, "no effusion heart normal lungs are clear");
    free(a);
    free(b);
    tu_assert_ok(ad_mgca_caption(NULL, NULL, &a, &na));
    ck_assert_str_eq(a, "");
    ck_assert_int_eq(na, 0);
    free(a);
    tu_assert_fails(ad_mgca_caption("ok \xff here", NULL, &a, &na), AD_ERR_FORMAT,
                    "invalid UTF-8");
    ck_assert_ptr_null(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mgca_text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hard_cases);
    tcase_add_test(tc, iuxray_reports);
    tcase_add_test(tc, impression_and_findings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
