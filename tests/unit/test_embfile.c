/* embeddings.nc: the layout read back with the plain netCDF API, atomic commit, abort, bad
 * shapes and paths. (Its contents against the caches and the Adaptor: tests/ref/analysis_check.py.) */
#include "testutil.h"

#include "adaptor/embfile.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <mpi.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];

static int grp(int nc, const char *name)
{
    int g;
    ck_assert_int_eq(nc_inq_grp_ncid(nc, name, &g), NC_NOERR);
    return g;
}

static size_t dimlen(int g, const char *name)
{
    int d;
    size_t n;
    ck_assert_int_eq(nc_inq_dimid(g, name, &d), NC_NOERR);
    ck_assert_int_eq(nc_inq_dimlen(g, d, &n), NC_NOERR);
    return n;
}

static int varid(int g, const char *name)
{
    int v;
    ck_assert_msg(nc_inq_varid(g, name, &v) == NC_NOERR, "no variable %s", name);
    return v;
}

START_TEST(layout_round_trip)
{
    tu_tmpdir(dir, sizeof dir, "embfile");
    char p[4096], tmp[4200];
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "embeddings.nc"));
    enum { N = 5, D = 3, P = 2, K = 2 };
    int64_t ids[N] = {4, 9, 11, 20, 31};
    float before[N * D], after[N * P];
    for (int i = 0; i < N * D; i++)
        before[i] = 0.25f * (float)i - 1.0f;
    for (int i = 0; i < N * P; i++)
        after[i] = 1.0f / (float)(i + 1);
    int8_t labels[N * K] = {0, 1, 1, 1, -1, 0, 0, 0, 1, -1};
    const char *names[K] = {"Cardiomegaly", "Pleural Effusion"};
    ad_embfile *f;
    ad_provenance *prov;
    tu_assert_ok(ad_prov_create_local("[train]\nlr = 1\n", &prov));
    tu_assert_ok(ad_embfile_create(p, prov, &f));
    ad_emb_split test = {"test", N, ids, before, D, after, P, labels, names, K};
    tu_assert_ok(ad_embfile_put(f, &test));
    ad_emb_split valid = {"valid", 2, ids, before, D, after, P, NULL, NULL, 0};
    tu_assert_ok(ad_embfile_put(f, &valid));
    /* Nothing under the final name until the commit. */
    ck_assert(!ad_path_exists(p));
    tu_assert_ok(ad_embfile_commit(f));
    ck_assert(ad_path_exists(p));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ck_assert(!ad_path_exists(tmp));

    int nc, version = 0;
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &nc), NC_NOERR);
    ck_assert_int_eq(nc_get_att_int(nc, NC_GLOBAL, "adaptor_embeddings_version", &version), NC_NOERR);
    ck_assert_int_eq(version, AD_EMBEDDINGS_VERSION);
    char text[64] = {0};
    ck_assert_int_eq(nc_get_att_text(nc, NC_GLOBAL, "config", text), NC_NOERR);
    ck_assert_str_eq(text, "[train]\nlr = 1\n");
    char host[256] = {0};
    ck_assert_int_eq(nc_get_att_text(nc, NC_GLOBAL, "hosts", host), NC_NOERR);
    ck_assert_str_eq(host, ad_prov_get(prov, "hosts"));
    ad_prov_destroy(prov);
    int g = grp(nc, "test");
    ck_assert_uint_eq(dimlen(g, "sample"), N);
    ck_assert_uint_eq(dimlen(g, "dim_before"), D);
    ck_assert_uint_eq(dimlen(g, "dim_after"), P);
    ck_assert_uint_eq(dimlen(g, "label"), K);
    long long rid[N];
    float rb[N * D], ra[N * P];
    signed char rl[N * K];
    ck_assert_int_eq(nc_get_var_longlong(g, varid(g, "sample_id"), rid), NC_NOERR);
    ck_assert_int_eq(nc_get_var_float(g, varid(g, "image_before"), rb), NC_NOERR);
    ck_assert_int_eq(nc_get_var_float(g, varid(g, "image_after"), ra), NC_NOERR);
    ck_assert_int_eq(nc_get_var_schar(g, varid(g, "labels"), rl), NC_NOERR);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(rid[i], ids[i]);
    ck_assert(memcmp(rb, before, sizeof rb) == 0 && memcmp(ra, after, sizeof ra) == 0);
    ck_assert(memcmp(rl, labels, sizeof rl) == 0);
    char *rn[K];
    ck_assert_int_eq(nc_get_var_string(g, varid(g, "label_names"), rn), NC_NOERR);
    ck_assert_str_eq(rn[0], names[0]);
    ck_assert_str_eq(rn[1], names[1]);
    nc_free_string(K, rn);
    g = grp(nc, "valid");
    ck_assert_uint_eq(dimlen(g, "sample"), 2);
    ck_assert_uint_eq(dimlen(g, "label"), 0);
    nc_close(nc);
}
END_TEST

START_TEST(abort_and_bad_input)
{
    tu_tmpdir(dir, sizeof dir, "embfile_bad");
    char p[4096];
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "embeddings.nc"));
    ad_embfile *f;
    tu_assert_ok(ad_embfile_create(p, NULL, &f));
    int64_t id = 1;
    float x = 1;
    ad_emb_split s = {"test", 1, &id, &x, 0, &x, 1, NULL, NULL, 0};
    tu_assert_fails(ad_embfile_put(f, &s), AD_ERR_ARG, "split test");
    s.dim_before = 1;
    tu_assert_ok(ad_embfile_put(f, &s));
    tu_assert_fails(ad_embfile_put(f, &s), AD_ERR_IO, "test"); /* the same split twice */
    ad_embfile_abort(f);
    ck_assert(!ad_path_exists(p));
    ad_embfile_abort(NULL);

    tu_assert_ok(ad_path_join(p, sizeof p, dir, "nodir/embeddings.nc"));
    tu_assert_fails(ad_embfile_create(p, NULL, &f), AD_ERR_IO, "nodir/embeddings.nc");
    ck_assert_ptr_null(f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("embfile");
    TCase *tc = tcase_create("embfile");
    tcase_add_test(tc, layout_round_trip);
    tcase_add_test(tc, abort_and_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return tu_run_mpi_suite(&argc, &argv, suite()); }
