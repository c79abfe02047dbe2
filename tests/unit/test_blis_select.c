/* Kernel-family selection. BLIS reads BLIS_ARCH_TYPE once per process, and Check runs each
 * test in a fresh fork of a parent that never touched BLIS, so every test sees a clean start. */
#include "testutil.h"

#include "adaptor/blis_select.h"
#include "adaptor/error.h"

#include <stdlib.h>
#include <string.h>

START_TEST(picks_a_family_and_says_so)
{
    unsetenv("BLIS_ARCH_TYPE");
    char msg[256];
    tu_assert_ok(ad_blis_select(msg, sizeof msg));
    ck_assert(strstr(msg, ad_blis_arch_name()) != NULL);
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        ck_assert_str_eq(ad_blis_arch_name(), "skx");
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        ck_assert_str_ne(ad_blis_arch_name(), "generic");
#endif
}
END_TEST

START_TEST(user_choice_by_name_wins)
{
    setenv("BLIS_ARCH_TYPE", "haswell", 1);
    char msg[256];
    tu_assert_ok(ad_blis_select(msg, sizeof msg));
    ck_assert_str_eq(ad_blis_arch_name(), "haswell");
    ck_assert(strstr(msg, "set by the user") != NULL);
}
END_TEST

START_TEST(user_choice_by_number_wins)
{
    setenv("BLIS_ARCH_TYPE", "3", 1); /* BLIS_ARCH_HASWELL in BLIS 0.9's arch_t */
    char msg[256];
    tu_assert_ok(ad_blis_select(msg, sizeof msg));
    ck_assert_str_eq(ad_blis_arch_name(), "haswell");
}
END_TEST

START_TEST(bad_user_value_is_an_error_not_an_abort)
{
    char msg[256];
    setenv("BLIS_ARCH_TYPE", "9999", 1);
    tu_assert_fails(ad_blis_select(msg, sizeof msg), AD_ERR_CONFIG, "BLIS_ARCH_TYPE=9999");
    setenv("BLIS_ARCH_TYPE", "pentium", 1);
    tu_assert_fails(ad_blis_select(msg, sizeof msg), AD_ERR_CONFIG, "pentium");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blis_select");
    TCase *tc = tcase_create("blis_select");
    tcase_add_test(tc, picks_a_family_and_says_so);
    tcase_add_test(tc, user_choice_by_name_wins);
    tcase_add_test(tc, user_choice_by_number_wins);
    tcase_add_test(tc, bad_user_value_is_an_error_not_an_abort);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
