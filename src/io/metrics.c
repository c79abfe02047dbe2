/* metrics.nc: in-memory records, rewritten whole and atomically (layout in metrics.h). */
#include "adaptor/metrics.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/provenance.h"
#include "ncutil.h"

#include <math.h>
#include <netcdf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ad_metrics {
    char path[4096];
    const ad_provenance *prov; /* borrowed */
    int ranks, flush_every, since_flush;
    double flush_seconds, last_flush; /* time-based flushes (0: none); ad_now() of the last */
    ad_metrics_step *steps;
    int64_t nsteps, cap_steps;
    ad_metrics_eval *evals;
    int64_t nevals, cap_evals;
    int rt_cols;        /* rank columns of the time table: max(ranks, those of a reloaded file) */
    double *rt;         /* [step][rt_cols][3] */
    int64_t cap_rt;     /* steps rt holds */
};

static const char *const time_names[3] = {"compute_time", "comm_time", "data_time"};

/* The double columns of the step table, by name and place in ad_metrics_step. */
static const struct {
    const char *name;
    size_t off;
} step_cols[] = {
    {"loss", offsetof(ad_metrics_step, loss)},
    {"loss_i2t", offsetof(ad_metrics_step, loss_i2t)},
    {"loss_t2i", offsetof(ad_metrics_step, loss_t2i)},
    {"lr", offsetof(ad_metrics_step, lr)},
    {"grad_norm", offsetof(ad_metrics_step, grad_norm)},
    {"logit_scale", offsetof(ad_metrics_step, logit_scale)},
    {"samples_per_s", offsetof(ad_metrics_step, samples_per_s)},
    {"wall_time", offsetof(ad_metrics_step, wall_time)},
};
#define N_COLS ((int)(sizeof step_cols / sizeof step_cols[0]))
#define CHUNK 4096

static double *col(ad_metrics_step *s, int c)
{
    return (double *)(void *)((char *)s + step_cols[c].off);
}

int ad_metrics_create(const char *path, const ad_provenance *prov, int ranks, int flush_every,
                      ad_metrics **out)
{
    *out = NULL;
    ad_metrics *m = ad_calloc(1, sizeof *m, "metrics");
    if (!m)
        return AD_ERR_NOMEM;
    int w = snprintf(m->path, sizeof m->path, "%s", path);
    m->prov = prov;
    m->ranks = ranks;
    m->rt_cols = ranks > 0 ? ranks : 1;
    m->flush_every = flush_every;
    m->last_flush = ad_now();
    if (w < 0 || (size_t)w >= sizeof m->path) {
        ad_metrics_destroy(m);
        return ad_fail(AD_ERR_ARG, "path too long: %s", path);
    }
    *out = m;
    return AD_OK;
}

void ad_metrics_destroy(ad_metrics *m)
{
    if (!m)
        return;
    free(m->steps);
    free(m->evals);
    free(m->rt);
    free(m);
}

static int grow(void **buf, int64_t *cap, int64_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return AD_OK;
    int64_t nc = *cap ? *cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    void *nb = realloc(*buf, (size_t)nc * elem);
    if (!nb)
        return ad_fail(AD_ERR_NOMEM, "out of memory growing %s", what);
    *buf = nb;
    *cap = nc;
    return AD_OK;
}

int ad_metrics_append(ad_metrics *m, const ad_metrics_step *rec)
{
    if (m->nsteps && rec->step <= m->steps[m->nsteps - 1].step)
        return ad_fail(AD_ERR_ARG, "%s: step %lld recorded after step %lld", m->path,
                       (long long)rec->step, (long long)m->steps[m->nsteps - 1].step);
    AD_TRY(grow((void **)&m->steps, &m->cap_steps, m->nsteps + 1, sizeof *m->steps, m->path));
    AD_TRY(grow((void **)&m->rt, &m->cap_rt, m->nsteps + 1, (size_t)m->rt_cols * 3 * sizeof(double),
                m->path));
    double *row = m->rt + (size_t)m->nsteps * m->rt_cols * 3;
    for (int i = 0; i < m->rt_cols * 3; i++)
        row[i] = rec->rank_times && i < m->ranks * 3 ? rec->rank_times[i] : NAN;
    m->steps[m->nsteps] = *rec;
    m->steps[m->nsteps++].rank_times = NULL;
    if (m->flush_every > 0 && ++m->since_flush >= m->flush_every)
        return ad_metrics_flush(m);
    if (m->flush_seconds > 0 && ad_now() - m->last_flush >= m->flush_seconds)
        return ad_metrics_flush(m);
    return AD_OK;
}

int ad_metrics_append_eval(ad_metrics *m, int64_t step, int epoch, const char *split,
                           const char *metric, double value)
{
    if (strlen(split) >= sizeof m->evals->split || strlen(metric) >= sizeof m->evals->metric)
        return ad_fail(AD_ERR_ARG, "%s: eval name too long: %s/%s", m->path, split, metric);
    AD_TRY(grow((void **)&m->evals, &m->cap_evals, m->nevals + 1, sizeof *m->evals, m->path));
    ad_metrics_eval *e = &m->evals[m->nevals++];
    memset(e, 0, sizeof *e);
    e->step = step;
    e->epoch = epoch;
    snprintf(e->split, sizeof e->split, "%s", split);
    snprintf(e->metric, sizeof e->metric, "%s", metric);
    e->value = value;
    return AD_OK;
}

int64_t ad_metrics_nsteps(const ad_metrics *m) { return m->nsteps; }
const ad_metrics_step *ad_metrics_steps(const ad_metrics *m) { return m->steps; }
int64_t ad_metrics_nevals(const ad_metrics *m) { return m->nevals; }
const ad_metrics_eval *ad_metrics_evals(const ad_metrics *m) { return m->evals; }

/* ---- writing ---- */

static int def1(int g, const char *name, nc_type t, int dim, int *v)
{
    size_t chunk = CHUNK;
    int st = nc_def_var(g, name, t, 1, &dim, v);
    return st ? st : nc_def_var_chunking(g, *v, NC_CHUNKED, &chunk);
}

static int write_all(const ad_metrics *m, int nc, const char *p)
{
    int st, d_step, d_rec, g, v[N_COLS], v_step, v_epoch, e_step, e_epoch, e_split, e_metric,
        e_value, version = AD_METRICS_VERSION, d2[2], v_time[3];
    if ((st = nc_def_dim(nc, "step", NC_UNLIMITED, &d_step)) ||
        (st = def1(nc, "step", NC_INT64, d_step, &v_step)) ||
        (st = def1(nc, "epoch", NC_INT, d_step, &v_epoch)))
        return ad_nc_fail(st, p, "defining step records");
    d2[0] = d_step;
    if ((st = nc_def_dim(nc, "rank", (size_t)m->rt_cols, &d2[1])))
        return ad_nc_fail(st, p, "defining the rank dimension");
    for (int k = 0; k < 3; k++) {
        size_t chunk[2] = {CHUNK / 8, (size_t)m->rt_cols};
        double fill = NAN;
        if ((st = nc_def_var(nc, time_names[k], NC_DOUBLE, 2, d2, &v_time[k])) ||
            (st = nc_def_var_chunking(nc, v_time[k], NC_CHUNKED, chunk)) ||
            (st = nc_def_var_fill(nc, v_time[k], 0, &fill)))
            return ad_nc_fail(st, p, time_names[k]);
    }
    for (int c = 0; c < N_COLS; c++)
        if ((st = def1(nc, step_cols[c].name, NC_DOUBLE, d_step, &v[c])))
            return ad_nc_fail(st, p, step_cols[c].name);
    if ((st = nc_def_grp(nc, "eval", &g)) || (st = nc_def_dim(g, "record", NC_UNLIMITED, &d_rec)) ||
        (st = def1(g, "step", NC_INT64, d_rec, &e_step)) ||
        (st = def1(g, "epoch", NC_INT, d_rec, &e_epoch)) ||
        (st = def1(g, "split", NC_STRING, d_rec, &e_split)) ||
        (st = def1(g, "metric", NC_STRING, d_rec, &e_metric)) ||
        (st = def1(g, "value", NC_DOUBLE, d_rec, &e_value)) ||
        (st = nc_put_att_int(nc, NC_GLOBAL, "adaptor_metrics_version", NC_INT, 1, &version)))
        return ad_nc_fail(st, p, "defining eval records");
    AD_TRY(ad_prov_nc_put(nc, p, m->prov));
    if ((st = nc_enddef(nc)))
        return ad_nc_fail(st, p, "leaving define mode");

    int64_t n = m->nsteps, ne = m->nevals, big = n > ne ? n : ne;
    if (big == 0)
        return AD_OK;
    /* One column buffer serves every variable in turn. */
    union {
        long long *i64;
        int *i32;
        double *f64;
        const char **s;
    } buf;
    size_t per = (size_t)(m->rt_cols > 1 ? m->rt_cols : 1);
    void *mem = ad_malloc((size_t)big * per * sizeof(double), "metrics column");
    if (!mem)
        return AD_ERR_NOMEM;
    buf.f64 = mem;
    size_t s0 = 0, cn = (size_t)n, ce = (size_t)ne;
    st = NC_NOERR;
    if (n) {
        for (int64_t i = 0; i < n; i++)
            buf.i64[i] = m->steps[i].step;
        st = nc_put_vara_longlong(nc, v_step, &s0, &cn, buf.i64);
        for (int64_t i = 0; i < n; i++)
            buf.i32[i] = m->steps[i].epoch;
        if (!st)
            st = nc_put_vara_int(nc, v_epoch, &s0, &cn, buf.i32);
        for (int c = 0; c < N_COLS && !st; c++) {
            for (int64_t i = 0; i < n; i++)
                buf.f64[i] = *col(&m->steps[i], c);
            st = nc_put_vara_double(nc, v[c], &s0, &cn, buf.f64);
        }
        size_t start2[2] = {0, 0}, count2[2] = {cn, (size_t)m->rt_cols};
        for (int k = 0; k < 3 && !st; k++) {
            for (int64_t i = 0; i < n; i++)
                for (int r = 0; r < m->rt_cols; r++)
                    buf.f64[(size_t)i * m->rt_cols + r] = m->rt[((size_t)i * m->rt_cols + r) * 3 + k];
            st = nc_put_vara_double(nc, v_time[k], start2, count2, buf.f64);
        }
    }
    if (ne && !st) {
        for (int64_t i = 0; i < ne; i++)
            buf.i64[i] = m->evals[i].step;
        st = nc_put_vara_longlong(g, e_step, &s0, &ce, buf.i64);
        for (int64_t i = 0; i < ne; i++)
            buf.i32[i] = m->evals[i].epoch;
        if (!st)
            st = nc_put_vara_int(g, e_epoch, &s0, &ce, buf.i32);
        for (int64_t i = 0; i < ne; i++)
            buf.s[i] = m->evals[i].split;
        if (!st)
            st = nc_put_vara_string(g, e_split, &s0, &ce, buf.s);
        for (int64_t i = 0; i < ne; i++)
            buf.s[i] = m->evals[i].metric;
        if (!st)
            st = nc_put_vara_string(g, e_metric, &s0, &ce, buf.s);
        for (int64_t i = 0; i < ne; i++)
            buf.f64[i] = m->evals[i].value;
        if (!st)
            st = nc_put_vara_double(g, e_value, &s0, &ce, buf.f64);
    }
    free(mem);
    return st ? ad_nc_fail(st, p, "writing records") : AD_OK;
}

static int fill(int nc, const char *path, const void *m) { return write_all(m, nc, path); }

int ad_metrics_flush(ad_metrics *m)
{
    int rc = ad_nc_write_file(m->path, fill, m);
    if (rc != AD_OK)
        return rc;
    m->since_flush = 0;
    m->last_flush = ad_now();
    return AD_OK;
}

void ad_metrics_set_flush_seconds(ad_metrics *m, double seconds) { m->flush_seconds = seconds; }

/* ---- reading back ---- */

static int var_len(int g, const char *p, const char *name, nc_type type, int *v, size_t *len)
{
    int nd, dim;
    nc_type t;
    if (nc_inq_varid(g, name, v) || nc_inq_vartype(g, *v, &t) || t != type ||
        nc_inq_varndims(g, *v, &nd) || nd != 1)
        return ad_fail(AD_ERR_FORMAT, "%s: missing or malformed variable %s", p, name);
    nc_inq_vardimid(g, *v, &dim);
    nc_inq_dimlen(g, dim, len);
    return AD_OK;
}

static int load_steps(ad_metrics *m, int nc, const char *p, int64_t resume_step)
{
    int v;
    size_t n, s0 = 0, len;
    AD_TRY(var_len(nc, p, "step", NC_INT64, &v, &n));
    AD_TRY(grow((void **)&m->steps, &m->cap_steps, (int64_t)n, sizeof *m->steps, p));
    double *d = ad_malloc((n ? n : 1) * sizeof *d, "metrics column");
    long long *ll = ad_malloc((n ? n : 1) * sizeof *ll, "metrics column");
    int *ii = ad_malloc((n ? n : 1) * sizeof *ii, "metrics column");
    int rc = d && ll && ii ? AD_OK : AD_ERR_NOMEM, st = NC_NOERR;
    if (rc == AD_OK && n) {
        st = nc_get_vara_longlong(nc, v, &s0, &n, ll);
        if (!st && (rc = var_len(nc, p, "epoch", NC_INT, &v, &len)) == AD_OK && len != n)
            rc = ad_fail(AD_ERR_FORMAT, "%s: variable epoch has %zu records, step has %zu", p,
                         len, n);
        if (!st && rc == AD_OK)
            st = nc_get_vara_int(nc, v, &s0, &n, ii);
        for (size_t i = 0; i < n; i++) {
            m->steps[i].step = ll[i];
            m->steps[i].epoch = ii[i];
        }
        for (int c = 0; c < N_COLS && rc == AD_OK && !st; c++) {
            if ((rc = var_len(nc, p, step_cols[c].name, NC_DOUBLE, &v, &len)) == AD_OK &&
                len != n)
                rc = ad_fail(AD_ERR_FORMAT, "%s: variable %s has %zu records, step has %zu", p,
                             step_cols[c].name, len, n);
            if (rc == AD_OK && !(st = nc_get_vara_double(nc, v, &s0, &n, d)))
                for (size_t i = 0; i < n; i++)
                    *col(&m->steps[i], c) = d[i];
        }
    }
    if (rc == AD_OK && st)
        rc = ad_nc_fail(st, p, "reading step records");
    for (size_t i = 0; rc == AD_OK && i < n && m->steps[i].step <= resume_step; i++)
        m->nsteps = (int64_t)i + 1;
    free(d);
    free(ll);
    free(ii);
    return rc;
}

/* The per-rank times of the kept step records (files without them: NaN). The table gets
 * max(file's ranks, this run's) columns. */
static int load_rank_times(ad_metrics *m, int nc, const char *p)
{
    int v[3], dims[2], nd;
    size_t nr = 0, len = 0;
    int have = 1;
    for (int k = 0; k < 3; k++)
        if (nc_inq_varid(nc, time_names[k], &v[k]) || nc_inq_varndims(nc, v[k], &nd) || nd != 2)
            have = 0;
    if (have && !nc_inq_vardimid(nc, v[0], dims)) {
        nc_inq_dimlen(nc, dims[0], &len);
        nc_inq_dimlen(nc, dims[1], &nr);
    }
    if (have && (int64_t)len < m->nsteps)
        return ad_fail(AD_ERR_FORMAT, "%s: %s has %zu records, step has %lld", p, time_names[0],
                       len, (long long)m->nsteps);
    if (have && (int)nr > m->rt_cols)
        m->rt_cols = (int)nr;
    int64_t n = m->nsteps;
    AD_TRY(grow((void **)&m->rt, &m->cap_rt, n > 0 ? n : 1, (size_t)m->rt_cols * 3 * sizeof(double), p));
    for (size_t i = 0; i < (size_t)n * m->rt_cols * 3; i++)
        m->rt[i] = NAN;
    if (!have || n == 0 || nr == 0)
        return AD_OK;
    double *d = ad_malloc((size_t)n * nr * sizeof *d, "metrics times");
    if (!d)
        return AD_ERR_NOMEM;
    size_t start[2] = {0, 0}, count[2] = {(size_t)n, nr};
    int st = NC_NOERR;
    for (int k = 0; k < 3 && !st; k++) {
        st = nc_get_vara_double(nc, v[k], start, count, d);
        for (int64_t i = 0; !st && i < n; i++)
            for (size_t r = 0; r < nr; r++)
                m->rt[((size_t)i * m->rt_cols + r) * 3 + k] = d[(size_t)i * nr + r];
    }
    free(d);
    return st ? ad_nc_fail(st, p, "reading per-rank times") : AD_OK;
}

static int load_evals(ad_metrics *m, int nc, const char *p, int64_t resume_step)
{
    int g, v[5];
    size_t n, len[5], s0 = 0;
    if (nc_inq_grp_ncid(nc, "eval", &g))
        return ad_fail(AD_ERR_FORMAT, "%s: missing group eval", p);
    AD_TRY(var_len(g, p, "step", NC_INT64, &v[0], &len[0]));
    AD_TRY(var_len(g, p, "epoch", NC_INT, &v[1], &len[1]));
    AD_TRY(var_len(g, p, "split", NC_STRING, &v[2], &len[2]));
    AD_TRY(var_len(g, p, "metric", NC_STRING, &v[3], &len[3]));
    AD_TRY(var_len(g, p, "value", NC_DOUBLE, &v[4], &len[4]));
    n = len[0];
    for (int i = 1; i < 5; i++)
        if (len[i] != n)
            return ad_fail(AD_ERR_FORMAT, "%s: eval variables differ in length", p);
    if (n == 0)
        return AD_OK;
    long long *ll = ad_malloc(n * sizeof *ll, "eval steps");
    int *ii = ad_malloc(n * sizeof *ii, "eval epochs");
    double *d = ad_malloc(n * sizeof *d, "eval values");
    char **sp = ad_calloc(n, sizeof *sp, "eval splits"), **mt = ad_calloc(n, sizeof *mt, "names");
    int rc = ll && ii && d && sp && mt ? AD_OK : AD_ERR_NOMEM, st = NC_NOERR, got_s = 0, got_m = 0;
    if (rc == AD_OK) {
        st = nc_get_vara_longlong(g, v[0], &s0, &n, ll);
        if (!st)
            st = nc_get_vara_int(g, v[1], &s0, &n, ii);
        if (!st && !(st = nc_get_vara_string(g, v[2], &s0, &n, sp)))
            got_s = 1;
        if (!st && !(st = nc_get_vara_string(g, v[3], &s0, &n, mt)))
            got_m = 1;
        if (!st)
            st = nc_get_vara_double(g, v[4], &s0, &n, d);
        if (st)
            rc = ad_nc_fail(st, p, "reading eval records");
    }
    for (size_t i = 0; rc == AD_OK && i < n; i++)
        if (ll[i] <= resume_step)
            rc = ad_metrics_append_eval(m, ll[i], ii[i], sp[i] ? sp[i] : "", mt[i] ? mt[i] : "",
                                        d[i]);
    if (got_s)
        nc_free_string(n, sp);
    if (got_m)
        nc_free_string(n, mt);
    free(ll);
    free(ii);
    free(d);
    free(sp);
    free(mt);
    return rc;
}

int ad_metrics_open_existing(const char *path, const ad_provenance *prov, int ranks,
                             int flush_every, int64_t resume_step, ad_metrics **out)
{
    ad_metrics *m;
    AD_TRY(ad_metrics_create(path, prov, ranks, flush_every, &m));
    int nc, version = 0, st = nc_open(path, NC_NOWRITE, &nc), rc;
    if (st) {
        rc = st > 0 ? ad_nc_fail(st, path, "cannot open")
                    : ad_fail(AD_ERR_FORMAT, "%s: not a netCDF file (%s)", path, nc_strerror(st));
    } else {
        if (nc_get_att_int(nc, NC_GLOBAL, "adaptor_metrics_version", &version))
            rc = ad_fail(AD_ERR_FORMAT, "%s: missing attribute adaptor_metrics_version", path);
        else if (version != AD_METRICS_VERSION)
            rc = ad_fail(AD_ERR_FORMAT, "%s: adaptor_metrics_version is %d, this build reads %d",
                         path, version, AD_METRICS_VERSION);
        else if ((rc = load_steps(m, nc, path, resume_step)) == AD_OK &&
                 (rc = load_rank_times(m, nc, path)) == AD_OK)
            rc = load_evals(m, nc, path, resume_step);
        nc_close(nc);
    }
    if (rc != AD_OK) {
        ad_metrics_destroy(m);
        return rc;
    }
    *out = m;
    return AD_OK;
}

int ad_metrics_rank_columns(const ad_metrics *m) { return m->rt_cols; }

const double *ad_metrics_rank_times(const ad_metrics *m, int64_t i)
{
    return m->rt + (size_t)i * m->rt_cols * 3;
}
