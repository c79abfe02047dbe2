/* `adaptor classify` (include/adaptor/classify.h): wiring of data, fraction, head or probe,
 * metrics and eval.nc. */
#include "adaptor/classify.h"

#include "classify_internal.h"

#include "adaptor/error.h"
#include "adaptor/embfile.h"
#include "adaptor/evalfile.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/runlock.h"
#include "adaptor/table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [classify] adaptor: a weights file, or unset / "none" for the baseline. */
static const char *adaptor_weights(const ad_config *cfg)
{
    const char *a = ad_config_get(cfg, "classify", "adaptor");
    if (!a || !*a)
        return NULL;
    const char *base = strrchr(a, '/');
    base = base ? base + 1 : a;
    return strcmp(base, "none") == 0 ? NULL : a;
}

static int train_opts(const ad_config *cfg, const ad_job *job, const cls_data *d,
                      cls_train_opts *o)
{
    int64_t hidden, epochs, batch, seed;
    double dropout;
    memset(o, 0, sizeof *o);
    o->head.kind = job->head_kind;
    AD_TRY(ad_config_int(cfg, "classify", "hidden", &hidden));
    AD_TRY(ad_config_int(cfg, "classify", "epochs", &epochs));
    AD_TRY(ad_config_int(cfg, "classify", "batch_size", &batch));
    AD_TRY(ad_config_int(cfg, "classify", "seed", &seed));
    AD_TRY(ad_config_float(cfg, "classify", "dropout", &dropout));
    AD_TRY(ad_config_float(cfg, "classify", "lr", &o->lr));
    AD_TRY(ad_config_float(cfg, "classify", "weight_decay", &o->weight_decay));
    if (dropout >= 1)
        return ad_fail(AD_ERR_CONFIG, "[classify] dropout = %g: must be below 1", dropout);
    o->head.in = d->split[0].dim;
    o->head.hidden = (int)hidden;
    o->head.out = d->nlab;
    o->head.dropout = o->head.kind == AD_HEAD_LINEAR ? (float)dropout : 0.0f;
    o->head.bn_eps = 1e-5f;
    o->head.bn_momentum = 0.1f;
    o->epochs = epochs;
    o->batch = batch;
    o->seed = (uint64_t)seed;
    return AD_OK;
}

/* Scores of every row of a split with the trained head (evaluation mode). */
static int head_scores(ad_head *h, const cls_split *s, int K, float **out)
{
    *out = ad_malloc((size_t)(s->n ? s->n : 1) * K * sizeof(float), "scores");
    if (!*out)
        return AD_ERR_NOMEM;
    return ad_head_forward(h, s->x, (int)s->n, *out, NULL, MPI_COMM_NULL);
}

/* The model's records as one table: a row per metric, a column per evaluated split
 * (split[1], split[2]); the training split's records (rows used, the selected epoch or
 * ridge value) go into the title. */
static int print_table(const ad_eval_records *R, const char *model, const char *const split[3])
{
    char title[512];
    int len = snprintf(title, sizeof title, "classify %s", model), any = 0;
    for (size_t i = 0; i < R->n; i++) {
        if (strcmp(R->r[i].split, split[0]) != 0 || strcmp(R->r[i].model, model) != 0)
            continue;
        if (len < (int)sizeof title)
            len += any ? snprintf(title + len, sizeof title - (size_t)len, ",")
                       : snprintf(title + len, sizeof title - (size_t)len, " (%s:", split[0]);
        if (len < (int)sizeof title)
            len += snprintf(title + len, sizeof title - (size_t)len, " %s %g", R->r[i].metric,
                            R->r[i].value);
        any = 1;
    }
    if (any && len < (int)sizeof title)
        snprintf(title + len, sizeof title - (size_t)len, ")");
    const ad_table_col cols[2] = {{split[1], 4}, {split[2], 4}};
    ad_table *t;
    AD_TRY(ad_table_create(title, "metric", cols, 2, &t));
    int rc = AD_OK;
    /* the metrics in the order of the first evaluated split's records */
    for (size_t i = 0; i < R->n && rc == AD_OK; i++) {
        if (strcmp(R->r[i].split, split[1]) != 0 || strcmp(R->r[i].model, model) != 0)
            continue;
        double row[2] = {NAN, NAN};
        for (size_t j = 0; j < R->n; j++)
            for (int s = 1; s < 3; s++)
                if (strcmp(R->r[j].split, split[s]) == 0 && strcmp(R->r[j].model, model) == 0 &&
                    strcmp(R->r[j].metric, R->r[i].metric) == 0)
                    row[s - 1] = R->r[j].value;
        rc = ad_table_add(t, R->r[i].metric, row);
    }
    if (rc == AD_OK)
        rc = ad_table_print(t);
    ad_table_destroy(t);
    return rc;
}

/* [classify] embeddings: every split's head input (image_after) beside what the Adaptor was
 * given (image_before; the same features for the baseline), for maps of the embedding
 * space and for checking the Adaptor's image path from outside. Rank 0. */
static int write_embeddings(const ad_config *cfg, const cls_data *d, const ad_provenance *prov)
{
    char path[4200];
    AD_TRY(ad_path_join(path, sizeof path, ad_config_get(cfg, "output", "dir"), "embeddings.nc"));
    ad_embfile *f;
    AD_TRY(ad_embfile_create(path, prov, &f));
    int rc = AD_OK;
    for (int s = 0; s < 3 && rc == AD_OK; s++) {
        const cls_split *sp = &d->split[s];
        ad_emb_split e = {sp->name, sp->n, sp->ids, sp->before ? sp->before : sp->x,
                          sp->before ? sp->dim_before : sp->dim, sp->x, sp->dim, sp->labels,
                          (const char *const *)d->label_names, d->nlab};
        rc = ad_embfile_put(f, &e);
    }
    if (rc != AD_OK) {
        ad_embfile_abort(f);
        return rc;
    }
    AD_TRY(ad_embfile_commit(f));
    ad_info("classify: embeddings written to %s", path);
    return AD_OK;
}

int ad_classify(MPI_Comm comm, const ad_config *cfg)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    cls_data d;
    memset(&d, 0, sizeof d);
    ad_eval_records R = {0};
    cls_train_opts o;
    ad_head *h = NULL;
    int64_t *sel = NULL, nsel = 0;
    float *vs = NULL, *ts = NULL;
    ad_provenance *prov = NULL;
    char model[32], path[4200];
    const char *weights = adaptor_weights(cfg);
    const char *head = ad_config_get(cfg, "classify", "head");
    double pct, sel_metric = 0;
    ad_job job;
    int rc = ad_job_parse(cfg, &job);
    int probe = job.probe;
    if (rc == AD_OK)
        rc = ad_prov_create(comm, cfg, &prov);
    if (rc == AD_OK)
        rc = ad_config_require(cfg, "output", "dir");
    if (rc == AD_OK)
        rc = ad_config_float(cfg, "classify", "data_pct", &pct);
    snprintf(model, sizeof model, "%s+%s", weights ? "adaptor" : "baseline", head ? head : "?");
    rc = ad_mpi_agree(comm, rc, NULL);
    ad_runlock *lock = NULL;
    if (rc == AD_OK)
        rc = ad_runlock_acquire_job(comm, ad_config_get(cfg, "output", "dir"), "classify", &lock);
    if (rc == AD_OK)
        rc = cls_data_load(comm, cfg, &job, prov, weights, &d);
    if (rc == AD_OK) {
        /* The fraction is drawn from the global training rows, before any sharding. */
        int64_t seed;
        char what[128];
        rc = ad_config_int(cfg, "classify", "seed", &seed);
        if (rc == AD_OK)
            rc = ad_label_fraction(d.split[0].labels, d.split[0].n, d.nlab, d.task, pct,
                                   (uint64_t)seed, &sel, &nsel);
        snprintf(what, sizeof what, "classify: the %g%% training fraction (split %s)", 100 * pct,
                 d.split[0].name);
        if (rc == AD_OK && nsel == 0)
            rc = ad_fail(AD_ERR_ARG, "%s: no rows (%lld training rows)", what,
                         (long long)d.split[0].n);
        if (rc == AD_OK)
            rc = ad_cls_check_classes(d.split[0].labels, sel, nsel, d.nlab, d.task,
                                      (const char *const *)d.label_names, what);
        if (rc == AD_OK && nsel < size)
            rc = ad_fail(AD_ERR_ARG, "classify: %d ranks but only %lld training rows in the "
                         "%g%% fraction (use at most %lld ranks)", size, (long long)nsel,
                         100 * pct, (long long)nsel);
        if (rc == AD_OK)
            ad_info("classify: %lld of %lld training rows (%g%%), %lld valid, %lld test; "
                    "features %d, %s, %s", (long long)nsel, (long long)d.split[0].n, 100 * pct,
                    (long long)d.split[1].n, (long long)d.split[2].n, d.split[0].dim,
                    ad_cls_task_name(d.task), model);
        rc = ad_mpi_agree(comm, rc, NULL);
    }
    if (rc == AD_OK && !probe) {
        int64_t best_epoch = -1;
        rc = train_opts(cfg, &job, &d, &o);
        if (rc == AD_OK)
            rc = ad_head_create(&o.head, &h);
        rc = ad_mpi_agree(comm, rc, NULL);
        if (rc == AD_OK)
            rc = cls_train_head(comm, &d, sel, nsel, &o, h, &best_epoch, &sel_metric);
        if (rc == AD_OK)
            rc = head_scores(h, &d.split[1], d.nlab, &vs);
        if (rc == AD_OK)
            rc = head_scores(h, &d.split[2], d.nlab, &ts);
        if (rc == AD_OK)
            rc = ad_eval_records_add(&R, d.split[0].name, model, "best_epoch", (double)best_epoch);
        rc = ad_mpi_agree(comm, rc, NULL);
    } else if (rc == AD_OK) {
        double lambda = 0;
        rc = cls_probe(comm, &d, sel, nsel, &lambda, &vs, &ts);
        if (rc == AD_OK)
            rc = ad_eval_records_add(&R, d.split[0].name, model, "best_lambda", lambda);
    }
    if (rc == AD_OK)
        rc = ad_eval_records_add(&R, d.split[0].name, model, "train_rows", (double)nsel);
    double m;
    if (rc == AD_OK)
        rc = cls_metrics(&d, &d.split[1], vs, !probe, model, &R, &m);
    if (rc == AD_OK)
        rc = cls_metrics(&d, &d.split[2], ts, !probe, model, &R, &m);
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK && rank == 0) {
        char pct_s[32];
        snprintf(pct_s, sizeof pct_s, "%g", pct);
        ad_eval_attr attrs[] = {{"task", "classify"},
                                {"dataset", ad_config_get(cfg, "classify", "dataset")},
                                {"data_pct", pct_s}};
        rc = ad_mkdir_p(ad_config_get(cfg, "output", "dir"));
        if (rc == AD_OK)
            rc = ad_path_join(path, sizeof path, ad_config_get(cfg, "output", "dir"), "eval.nc");
        if (rc == AD_OK)
            rc = ad_evalfile_write_attrs(path, R.r, R.n, prov, attrs, 3);
        const char *names[3] = {d.split[0].name, d.split[1].name, d.split[2].name};
        if (rc == AD_OK)
            rc = print_table(&R, model, names);
        if (rc == AD_OK)
            ad_info("classify: %zu numbers written to %s", R.n, path);
        if (rc == AD_OK && d.keep_before)
            rc = write_embeddings(cfg, &d, prov);
    }
    rc = ad_mpi_agree(comm, rc, NULL);
    free(vs);
    free(ts);
    free(sel);
    free(R.r);
    ad_head_destroy(h);
    cls_data_free(&d);
    ad_prov_destroy(prov);
    ad_runlock_release(lock);
    return rc;
}
