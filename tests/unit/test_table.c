/* The console table layout against text written out by hand: aligned columns sized by the
 * widest header or cell, the columns' digits, NaN as "-", rows in insertion order. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(layout_by_hand)
{
    const ad_table_col cols[] = {{"R@1", 4}, {"median rank", 1}, {"n", 0}};
    ad_table *t;
    tu_assert_ok(ad_table_create("retrieval on test", "model", cols, 3, &t));
    const double a[] = {0.5, 3.0, 24}, b[] = {0.04166, 12.25, 7}, c[] = {1, NAN, 123456};
    tu_assert_ok(ad_table_add(t, "projection", a));
    tu_assert_ok(ad_table_add(t, "init", b));
    tu_assert_ok(ad_table_add(t, "a", c));
    ck_assert_int_eq(ad_table_rows(t), 3);
    char *text;
    tu_assert_ok(ad_table_format(t, &text));
    const char *want = "retrieval on test\n"
                       "  model          R@1  median rank       n\n"
                       "  ----------  ------  -----------  ------\n"
                       "  projection  0.5000          3.0      24\n"
                       "  init        0.0417         12.2       7\n"
                       "  a           1.0000            -  123456\n";
    ck_assert_msg(strcmp(text, want) == 0, "got\n%s\nwant\n%s", text, want);
    free(text);
    ad_table_destroy(t);
}
END_TEST

START_TEST(empty_and_errors)
{
    const ad_table_col cols[] = {{"value", 3}};
    ad_table *t;
    tu_assert_fails(ad_table_create("x", "metric", cols, 0, &t), AD_ERR_ARG, "no columns");
    tu_assert_ok(ad_table_create("nothing yet", "metric", cols, 1, &t));
    char *text;
    tu_assert_ok(ad_table_format(t, &text));
    ck_assert_str_eq(text, "nothing yet\n  metric  value\n  ------  -----\n");
    free(text);
    /* many rows: the row store grows */
    for (int i = 0; i < 100; i++) {
        double v = i;
        tu_assert_ok(ad_table_add(t, i == 57 ? "a_long_row_name" : "r", &v));
    }
    tu_assert_ok(ad_table_format(t, &text));
    ck_assert_ptr_nonnull(strstr(text, "\n  a_long_row_name  57.000\n"));
    ck_assert_ptr_nonnull(strstr(text, "\n  r                99.000\n"));
    free(text);
    ad_table_destroy(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, layout_by_hand);
    tcase_add_test(tc, empty_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
