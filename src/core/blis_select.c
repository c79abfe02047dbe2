#include "adaptor/blis_select.h"

#include "adaptor/error.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The best family for this CPU that Debian's x86_64 BLIS build contains, or -1 to let
 * BLIS decide. */
static int preferred_arch(const char **why)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        *why = "CPU has AVX-512 F/DQ/CD/BW/VL";
        return BLIS_ARCH_SKX;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        if (__builtin_cpu_is("amd")) {
            *why = "AMD CPU with AVX2+FMA";
            return BLIS_ARCH_ZEN3;
        }
        *why = "CPU has AVX2+FMA";
        return BLIS_ARCH_HASWELL;
    }
    if (__builtin_cpu_supports("avx")) {
        *why = "CPU has AVX";
        return BLIS_ARCH_SANDYBRIDGE;
    }
#endif
    *why = "no better family known for this CPU";
    return -1;
}

const char *ad_blis_arch_name(void) { return bli_arch_string(bli_arch_query_id()); }

/* BLIS wants a numeric id; users may also write the family name ("skx", "zen3"). BLIS
 * aborts the process on an id out of range, so that is checked here first. */
static int normalise_user_arch(const char *user)
{
    char *end;
    long v = strtol(user, &end, 10);
    if (*end == '\0') {
        if (v < 0 || v >= BLIS_NUM_ARCHS)
            return ad_fail(AD_ERR_CONFIG, "BLIS_ARCH_TYPE=%s is not a BLIS kernel family id "
                           "(0..%d, or a name such as skx, haswell, zen3, generic)",
                           user, BLIS_NUM_ARCHS - 1);
        return AD_OK;
    }
    for (int i = 0; i < BLIS_NUM_ARCHS; i++) {
        if (strcmp(bli_arch_string((arch_t)i), user) == 0) {
            char val[16];
            snprintf(val, sizeof val, "%d", i);
            return setenv("BLIS_ARCH_TYPE", val, 1) == 0
                       ? AD_OK
                       : ad_fail(AD_ERR_INTERNAL, "cannot set BLIS_ARCH_TYPE");
        }
    }
    return ad_fail(AD_ERR_CONFIG, "BLIS_ARCH_TYPE=%s names no BLIS kernel family", user);
}

int ad_blis_select(char *msg, size_t n)
{
    const char *user = getenv("BLIS_ARCH_TYPE");
    if (user && user[0]) {
        char given[64];
        snprintf(given, sizeof given, "%s", user);
        AD_TRY(normalise_user_arch(given));
        user = given;
        bli_init();
        snprintf(msg, n, "BLIS kernels: %s (BLIS_ARCH_TYPE=%s set by the user)",
                 ad_blis_arch_name(), user);
        return AD_OK;
    }
    const char *why = "";
    int id = preferred_arch(&why);
    if (id >= 0) {
        char val[16];
        snprintf(val, sizeof val, "%d", id);
        if (setenv("BLIS_ARCH_TYPE", val, 1) != 0)
            return ad_fail(AD_ERR_INTERNAL, "cannot set BLIS_ARCH_TYPE");
    }
    bli_init();
    int got = (int)bli_arch_query_id();
    if (id >= 0 && got != id)
        return ad_fail(AD_ERR_INTERNAL, "asked BLIS for kernel family %s but it chose %s",
                       bli_arch_string((arch_t)id), bli_arch_string((arch_t)got));
    snprintf(msg, n, "BLIS kernels: %s (%s; set BLIS_ARCH_TYPE to override)",
             ad_blis_arch_name(), why);
    return AD_OK;
}

void ad_blis_set_threads(int n) { bli_thread_set_num_threads(n > 0 ? n : 1); }

int ad_blis_get_threads(void)
{
    int n = (int)bli_thread_get_num_threads();
    return n > 0 ? n : 1;
}
