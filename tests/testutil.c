#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/rng.h"

#include <mpi.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tu_data_path(char *out, size_t n, const char *rel)
{
    const char *root = getenv("ADAPTOR_TEST_DATA");
    snprintf(out, n, "%s/%s", root ? root : "tests/data", rel);
}

void tu_tmpdir(char *out, size_t n, const char *tag)
{
    static int counter = 0;
    const char *root = getenv("ADAPTOR_TEST_TMP");
    snprintf(out, n, "%s/%s.%ld.%d", root ? root : "/tmp", tag, (long)getpid(), counter++);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    if (system(cmd) != 0)
        ck_abort_msg("cannot clean %s", out);
    if (ad_mkdir_p(out) != AD_OK)
        ck_abort_msg("%s", ad_errmsg());
}

void tu_write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
}

double tu_max_rel_err(const float *a, const float *b, size_t n)
{
    double scale = 0, err = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)b[i]) > scale)
            scale = fabs((double)b[i]);
    if (scale < 1e-30)
        scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= err)) /* NaN counts as the worst error */
            err = isnan(d) ? INFINITY : d;
    }
    return err / scale;
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int tu_run_mpi_suite(int *argc, char ***argv, Suite *s)
{
    MPI_Init(argc, argv);
    setenv("CK_FORK", "no", 1);
    int rc = tu_run_suite(s);
    MPI_Finalize();
    return rc;
}

float *tu_rand_uniform(size_t n, float lo, float hi, uint64_t seed, uint64_t stream)
{
    ad_rng r;
    ad_rng_seed(&r, seed, stream);
    float *p = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * ad_rng_uniform(&r);
    return p;
}

float *tu_rand_normal(size_t n, float scale, uint64_t seed, uint64_t stream)
{
    ad_rng r;
    ad_rng_seed(&r, seed, stream);
    float *p = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)ad_rng_normal(&r) * scale;
    return p;
}
