/* metrics.nc: periodic atomic rewrites, reload and resume, bad input. */
#include "testutil.h"

#include "../cache_fixture.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/metrics.h"

#include <dirent.h>
#include <math.h>
#include <mpi.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];

static void assert_rec(const ad_metrics_step *a, int64_t s)
{
    ad_metrics_step b = cf_metrics_step(s);
    ck_assert_int_eq(a->step, b.step);
    ck_assert_int_eq(a->epoch, b.epoch);
    ck_assert(a->loss == b.loss && a->loss_i2t == b.loss_i2t && a->loss_t2i == b.loss_t2i);
    ck_assert(a->lr == b.lr && a->grad_norm == b.grad_norm && a->logit_scale == b.logit_scale);
    ck_assert(a->samples_per_s == b.samples_per_s && a->wall_time == b.wall_time);
}

static int64_t steps_on_disk(const char *p)
{
    ad_metrics *m;
    tu_assert_ok(ad_metrics_open_existing(p, NULL, 1, 0, INT64_MAX, &m));
    int64_t n = ad_metrics_nsteps(m);
    for (int64_t i = 0; i < n; i++)
        assert_rec(&ad_metrics_steps(m)[i], i + 1);
    ad_metrics_destroy(m);
    return n;
}

static int dir_entries(const char *d)
{
    DIR *dp = opendir(d);
    int n = 0;
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL)
        n += e->d_name[0] != '.';
    if (dp)
        closedir(dp);
    return n;
}

START_TEST(periodic_flush_and_resume)
{
    tu_tmpdir(dir, sizeof dir, "metrics");
    char p[4096];
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "metrics.nc"));
    ad_metrics *m;
    ad_provenance *first, *second;
    tu_assert_ok(ad_prov_create_local("[train]\nlr = 1e-4\n", &first));
    tu_assert_ok(ad_prov_create_local("[train]\nlr = 2e-4\n", &second));
    tu_assert_ok(ad_metrics_create(p, first, 3, 4, &m));
    for (int64_t s = 1; s <= 10; s++) {
        ad_metrics_step r = cf_metrics_step(s);
        if (s == 1)
            ck_assert(!ad_path_exists(p));
        tu_assert_ok(ad_metrics_append(m, &r));
        if (s % 5 == 0) {
            tu_assert_ok(ad_metrics_append_eval(m, s, (int)(s / 4), "valid", "i2t_R@1", 0.01 * s));
            tu_assert_ok(ad_metrics_append_eval(m, s, (int)(s / 4), "valid", "loss", 5.0 - s));
        }
        /* The file always holds the records of the last flush (every 4 steps). */
        ck_assert_int_eq(s >= 4 ? steps_on_disk(p) : 0, (s / 4) * 4);
    }
    tu_assert_ok(ad_metrics_flush(m));
    ck_assert_int_eq(steps_on_disk(p), 10);
    ad_metrics_destroy(m);
    ck_assert_int_eq(dir_entries(dir), 1); /* no temporary left behind */

    /* Resume from step 6: steps 7.. and the eval of step 10 are dropped. */
    tu_assert_ok(ad_metrics_open_existing(p, second, 2, 0, 6, &m));
    ck_assert_int_eq(ad_metrics_nsteps(m), 6);
    ck_assert_int_eq(ad_metrics_nevals(m), 2);
    const ad_metrics_eval *e = ad_metrics_evals(m);
    ck_assert_int_eq(e[0].step, 5);
    ck_assert_str_eq(e[0].split, "valid");
    ck_assert_str_eq(e[0].metric, "i2t_R@1");
    ck_assert(e[0].value == 0.05);
    ck_assert_str_eq(e[1].metric, "loss");
    ck_assert(e[1].value == 0.0);
    ad_metrics_step r = cf_metrics_step(6);
    tu_assert_fails(ad_metrics_append(m, &r), AD_ERR_ARG, "step 6 recorded after step 6");
    for (int64_t s = 7; s <= 12; s++) {
        r = cf_metrics_step(s);
        tu_assert_ok(ad_metrics_append(m, &r));
    }
    tu_assert_ok(ad_metrics_flush(m));
    ad_metrics_destroy(m);
    ck_assert_int_eq(steps_on_disk(p), 12);

    /* The attributes are the resumed run's provenance, every pair of it. */
    int nc;
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &nc), NC_NOERR);
    for (size_t i = 0; i < ad_prov_count(second); i++) {
        char text[256] = {0};
        size_t len = 0;
        ck_assert_int_eq(nc_inq_attlen(nc, NC_GLOBAL, ad_prov_key(second, i), &len), NC_NOERR);
        ck_assert_uint_lt(len, sizeof text);
        ck_assert_int_eq(nc_get_att_text(nc, NC_GLOBAL, ad_prov_key(second, i), text), NC_NOERR);
        ck_assert_str_eq(text, ad_prov_value(second, i));
    }
    nc_close(nc);
    ck_assert_str_eq(ad_prov_config(second), "[train]\nlr = 2e-4\n");
    ad_prov_destroy(first);
    ad_prov_destroy(second);
}
END_TEST

/* Time-based flushes (a run followed live): a record that arrives after the interval
 * writes the file, one inside it does not; flushes every N records still happen. */
START_TEST(flush_on_time)
{
    tu_tmpdir(dir, sizeof dir, "metrics_time");
    char p[4096];
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "metrics.nc"));
    ad_metrics *m;
    const double interval = 0.5;
    tu_assert_ok(ad_metrics_create(p, NULL, 1, 0, &m));
    ad_metrics_set_flush_seconds(m, interval);
    /* Only what happened inside the interval is asserted as "not flushed": a loaded machine
     * (sanitizers) may stall between two calls. */
    double t0 = ad_now();
    ad_metrics_step r = cf_metrics_step(1);
    tu_assert_ok(ad_metrics_append(m, &r));
    if (ad_now() - t0 < interval)
        ck_assert(!ad_path_exists(p));
    usleep(600000);
    r = cf_metrics_step(2);
    tu_assert_ok(ad_metrics_append(m, &r));
    ck_assert_int_eq(steps_on_disk(p), 2);
    t0 = ad_now();
    r = cf_metrics_step(3);
    tu_assert_ok(ad_metrics_append(m, &r));
    if (ad_now() - t0 < interval)
        ck_assert_int_eq(steps_on_disk(p), 2); /* the interval restarts at each flush */
    usleep(600000);
    r = cf_metrics_step(4);
    tu_assert_ok(ad_metrics_append(m, &r));
    ck_assert_int_eq(steps_on_disk(p), 4);
    ad_metrics_destroy(m);
}
END_TEST

/* Per-rank times: written as (step, rank) variables read back with the plain netCDF API; a
 * run resumed on more ranks keeps the old rows and pads the ranks they lacked with NaN. */
START_TEST(per_rank_times_and_resume_on_more_ranks)
{
    tu_tmpdir(dir, sizeof dir, "metrics_ranks");
    char p[4096];
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "metrics.nc"));
    ad_metrics *m;
    tu_assert_ok(ad_metrics_create(p, NULL, 2, 0, &m));
    for (int64_t s = 1; s <= 4; s++) {
        double t[6];
        for (int i = 0; i < 6; i++)
            t[i] = (double)s * 10 + i;
        ad_metrics_step r = cf_metrics_step(s);
        r.rank_times = t;
        tu_assert_ok(ad_metrics_append(m, &r));
    }
    tu_assert_ok(ad_metrics_flush(m));
    ad_metrics_destroy(m);

    int nc, v, dims[2];
    size_t len[2];
    double comm[8];
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &nc), NC_NOERR);
    ck_assert_int_eq(nc_inq_varid(nc, "comm_time", &v), NC_NOERR);
    nc_inq_vardimid(nc, v, dims);
    nc_inq_dimlen(nc, dims[0], &len[0]);
    nc_inq_dimlen(nc, dims[1], &len[1]);
    ck_assert_int_eq(len[0], 4);
    ck_assert_int_eq(len[1], 2);
    ck_assert_int_eq(nc_get_var_double(nc, v, comm), NC_NOERR);
    nc_close(nc);
    for (int s = 0; s < 4; s++)
        for (int r = 0; r < 2; r++) /* rank r's comm time is its element 3 r + 1 */
            ck_assert(comm[s * 2 + r] == (double)(s + 1) * 10 + 3 * r + 1);

    /* Resume after step 3 on 3 ranks. */
    tu_assert_ok(ad_metrics_open_existing(p, NULL, 3, 0, 3, &m));
    ck_assert_int_eq(ad_metrics_rank_columns(m), 3);
    ck_assert_int_eq(ad_metrics_nsteps(m), 3);
    const double *old = ad_metrics_rank_times(m, 2);
    ck_assert(old[3 * 1 + 2] == 35.0 && isnan(old[3 * 2]));
    double t3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ad_metrics_step r = cf_metrics_step(4);
    r.rank_times = t3;
    tu_assert_ok(ad_metrics_append(m, &r));
    tu_assert_ok(ad_metrics_flush(m));
    ad_metrics_destroy(m);
    double data[12];
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &nc), NC_NOERR);
    ck_assert_int_eq(nc_inq_varid(nc, "data_time", &v), NC_NOERR);
    ck_assert_int_eq(nc_get_var_double(nc, v, data), NC_NOERR);
    nc_close(nc);
    ck_assert(data[0] == 12.0 && data[1] == 15.0 && isnan(data[2])); /* step 1 */
    ck_assert(data[9] == 3.0 && data[10] == 6.0 && data[11] == 9.0); /* step 4, 3 ranks */
}
END_TEST

START_TEST(bad_files_are_named)
{
    tu_tmpdir(dir, sizeof dir, "metrics_bad");
    char p[4096];
    ad_metrics *m;
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "absent.nc"));
    tu_assert_fails(ad_metrics_open_existing(p, NULL, 1, 0, 5, &m), AD_ERR_IO, p);
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "text.nc"));
    tu_write_text(p, "step,loss\n1,2\n");
    tu_assert_fails(ad_metrics_open_existing(p, NULL, 1, 0, 5, &m), AD_ERR_FORMAT,
                    "not a netCDF file");
    /* Some other netCDF file. */
    int nc;
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "other.nc"));
    ck_assert_int_eq(nc_create(p, NC_NETCDF4, &nc), NC_NOERR);
    nc_close(nc);
    tu_assert_fails(ad_metrics_open_existing(p, NULL, 1, 0, 5, &m), AD_ERR_FORMAT,
                    "missing attribute adaptor_metrics_version");
    /* A metrics file lacking a column. */
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "nolr.nc"));
    tu_assert_ok(ad_metrics_create(p, NULL, 1, 0, &m));
    ad_metrics_step r = cf_metrics_step(1);
    tu_assert_ok(ad_metrics_append(m, &r));
    tu_assert_ok(ad_metrics_flush(m));
    ad_metrics_destroy(m);
    int v;
    ck_assert_int_eq(nc_open(p, NC_WRITE, &nc), NC_NOERR);
    nc_inq_varid(nc, "lr", &v);
    nc_redef(nc);
    ck_assert_int_eq(nc_rename_var(nc, v, "learning_rate"), NC_NOERR);
    nc_close(nc);
    tu_assert_fails(ad_metrics_open_existing(p, NULL, 1, 0, 5, &m), AD_ERR_FORMAT, "variable lr");

    /* A flush that cannot write keeps the existing file and leaves no temporary. */
    tu_assert_ok(ad_path_join(p, sizeof p, dir, "nodir/metrics.nc"));
    tu_assert_ok(ad_metrics_create(p, NULL, 1, 0, &m));
    tu_assert_fails(ad_metrics_flush(m), AD_ERR_IO, "nodir/metrics.nc");
    ad_metrics_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, periodic_flush_and_resume);
    tcase_add_test(tc, flush_on_time);
    tcase_add_test(tc, per_rank_times_and_resume_on_more_ranks);
    tcase_add_test(tc, bad_files_are_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return tu_run_mpi_suite(&argc, &argv, suite()); }
