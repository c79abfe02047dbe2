/* `adaptor classify` data: labelled manifest rows, cached frozen-encoder features and the
 * Adaptor's image path over them, identical on every rank. */
#include "classify_internal.h"


#include "adaptor/adaptor_image.h"
#include "adaptor/cache.h"
#include "adaptor/embed.h"
#include "adaptor/error.h"
#include "adaptor/frozen.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/manifest.h"
#include "adaptor/mpiutil.h"
#include "adaptor/pipeline.h"
#include "adaptor/safetensors.h"
#include "adaptor/share.h"

#include <stdlib.h>
#include <string.h>

void cls_data_free(cls_data *d)
{
    for (int s = 0; s < 3; s++) {
        free(d->split[s].x);
        free(d->split[s].labels);
    }
    free(d->label_names);
    memset(d, 0, sizeof *d);
}

/* The classification manifest needs no report column: only images, splits, views, labels. */
static int open_manifest(const ad_config *cfg, const cls_data *d, ad_manifest **m)
{
    char **views = NULL;
    int nviews = 0;
    ad_manifest_spec spec = {.label_policy = AD_LABEL_STRICT};
    AD_TRY(ad_config_require(cfg, "data", "manifest"));
    spec.image_root = ad_config_get(cfg, "data", "image_root");
    spec.split_column = ad_config_get(cfg, "data", "split_column");
    spec.view_column = ad_config_get(cfg, "data", "view_column");
    AD_TRY(ad_config_string(cfg, "data", "image_column", &spec.image_column));
    if (spec.view_column && *spec.view_column && ad_config_is_set(cfg, "data", "views"))
        AD_TRY(ad_config_list(cfg, "data", "views", &views, &nviews));
    spec.views = (const char *const *)views;
    spec.n_views = nviews;
    spec.label_columns = (const char *const *)d->label_names;
    spec.n_label_columns = d->nlab;
    int rc = ad_manifest_open(ad_config_get(cfg, "data", "manifest"), &spec, m);
    free(views);
    return rc;
}

/* "<cache dir>/classify-<dataset>-<embed's image cache name>". */
static int feature_path(const ad_config *cfg, const char *split, char *out, size_t n)
{
    char full[4096], name[4400];
    AD_TRY(ad_cache_file(cfg, "image", split, full, sizeof full));
    const char *base = strrchr(full, '/');
    base = base ? base + 1 : full;
    int w = snprintf(name, sizeof name, "classify-%s-%s", ad_config_get(cfg, "classify", "dataset"),
                     base);
    if (w < 0 || (size_t)w >= sizeof name)
        return ad_fail(AD_ERR_ARG, "classify: feature cache name too long for %s", base);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '_';
    return ad_path_join(out, n, ad_config_get(cfg, "cache", "dir"), name);
}

static int select_split(const ad_manifest *m, const char *split, ad_selection *s)
{
    memset(s, 0, sizeof *s);
    int64_t *idx = NULL, n = 0;
    AD_TRY(ad_manifest_select(m, split, NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n));
    s->ids = idx;
    s->image = ad_malloc((size_t)n * sizeof *s->image, "image paths");
    s->caption = ad_calloc((size_t)n, sizeof *s->caption, "captions");
    s->line = ad_malloc((size_t)n * sizeof *s->line, "lines");
    s->n = n;
    if (!s->image || !s->caption || !s->line)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        const ad_manifest_row *r = ad_manifest_row_at(m, idx[i]);
        s->image[i] = r->image;
        s->line[i] = r->line;
    }
    return AD_OK;
}

/* Features of one split: from the cache, or encoded into it first. */
static int split_features(MPI_Comm comm, const ad_config *cfg, ad_frozen *e,
                          const ad_manifest *m, const ad_selection *sel, const char *split,
                          cls_split *out)
{
    char path[4096];
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = feature_path(cfg, split, path, sizeof path);
    int have = rc == AD_OK && ad_embed_cache_complete(path, sel, e->dim, 0, e->meta.preprocessing);
    /* Every rank must take the same branch: rank 0's view of the file decides. */
    MPI_Bcast(&have, 1, MPI_INT, 0, comm);
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK && !have) {
        if (rank == 0)
            rc = ad_mkdir_p(ad_config_get(cfg, "cache", "dir"));
        rc = ad_mpi_agree(comm, rc, NULL);
        e->meta.split = split;
        char label[96];
        snprintf(label, sizeof label, "classify features %s", split);
        int64_t part_rows;
        if (rc == AD_OK)
            rc = ad_config_int(cfg, "cache", "part_rows", &part_rows);
        if (rc == AD_OK)
            rc = ad_embed_selection(comm, e, sel, path, label, part_rows, 0, ad_manifest_path(m),
                                    NULL);
    } else if (rc == AD_OK) {
        ad_info("classify %s: features from %s", split, path);
    }
    ad_cache *c = NULL;
    int64_t *rows = NULL;
    int lrc = rc;
    if (lrc == AD_OK)
        lrc = ad_cache_open(path, &c);
    if (lrc == AD_OK && (ad_cache_rows(c) != sel->n || ad_cache_dim(c) != e->dim))
        lrc = ad_fail(AD_ERR_FORMAT, "%s: holds %lld rows of width %d, expected %lld of %d",
                      path, (long long)ad_cache_rows(c), ad_cache_dim(c), (long long)sel->n,
                      e->dim);
    if (lrc == AD_OK) {
        out->n = sel->n;
        out->dim = e->dim;
        out->x = ad_malloc((size_t)sel->n * e->dim * sizeof(float), "features");
        rows = ad_malloc((size_t)sel->n * sizeof *rows, "rows");
        lrc = out->x && rows ? AD_OK : AD_ERR_NOMEM;
    }
    for (int64_t i = 0; lrc == AD_OK && i < sel->n; i++)
        rows[i] = i;
    if (lrc == AD_OK)
        lrc = ad_cache_read_rows(c, rows, sel->n, out->x, NULL);
    free(rows);
    ad_cache_close(c);
    return rc == AD_OK ? ad_mpi_agree(comm, lrc, NULL) : rc;
}

/* The Adaptor's pooled image path over every split: each rank its block of rows, then an
 * all-gather so every rank holds all. */
static int adaptor_features(MPI_Comm comm, const ad_config *cfg, const ad_job *job,
                            const char *weights, cls_data *d)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ad_safetensors *st = NULL;
    ad_adaptor *m = NULL;
    ad_adaptor_config ac;
    int dt = 0, rc = ad_st_open(weights, &st);
    if (rc == AD_OK) {
        /* The text width is not known from the image side: the checkpoint says it. */
        const ad_st_tensor *t = ad_st_find(st, "projection.text_projection.weight");
        if (!t || t->ndim != 2)
            rc = ad_fail(AD_ERR_FORMAT, "%s: no 2-D tensor 'projection.text_projection.weight'",
                         weights);
        else
            dt = (int)t->shape[1];
    }
    ad_st_close(st);
    if (rc == AD_OK && job->tokens)
        rc = ad_fail(AD_ERR_UNSUPPORTED, "classify: [adaptor] mode = %s is not supported "
                     "(pooled Adaptors only)", ad_config_get(cfg, "adaptor", "mode"));
    if (rc == AD_OK)
        rc = ad_adaptor_config_from(cfg, d->split[0].dim, dt, 0, &ac);
    if (rc == AD_OK)
        rc = ad_adaptor_create(&ac, &m);
    if (rc == AD_OK)
        rc = ad_ckpt_load_weights(weights, &m->layout, m->params);
    rc = ad_mpi_agree(comm, rc, NULL);
    int *cnt = ad_malloc(2 * (size_t)size * sizeof(int), "counts"), *displ = cnt ? cnt + size : NULL;
    if (rc == AD_OK && !cnt)
        rc = AD_ERR_NOMEM;
    rc = ad_mpi_agree(comm, rc, NULL);
    for (int s = 0; s < 3 && rc == AD_OK; s++) {
        cls_split *sp = &d->split[s];
        int P = ac.proj;
        rc = ad_share_counts(sp->n, size, P, cnt, displ, "classify: Adaptor features");
        if (rc != AD_OK)
            break;
        float *out = ad_malloc((size_t)sp->n * P * sizeof(float), "adaptor features");
        int lrc = out ? AD_OK : AD_ERR_NOMEM;
        int64_t mine = cnt[rank] / P, at = displ[rank] / P;
        /* Chunks bound the activation memory. */
        for (int64_t i = 0; lrc == AD_OK && i < mine; i += 4096) {
            int b = (int)(mine - i < 4096 ? mine - i : 4096);
            lrc = ad_adaptor_image_pooled(m, sp->x + (size_t)(at + i) * sp->dim, b,
                                          out + (size_t)(at + i) * P);
        }
        rc = ad_mpi_agree(comm, lrc, NULL);
        if (rc == AD_OK && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, out, cnt, displ, MPI_FLOAT,
                                          comm) != MPI_SUCCESS)
            rc = ad_fail(AD_ERR_MPI, "classify: all-gather of the Adaptor features failed");
        if (rc == AD_OK) {
            free(sp->x);
            sp->x = out;
            sp->dim = P;
        } else {
            free(out);
        }
    }
    free(cnt);
    ad_adaptor_destroy(m);
    return rc;
}

int cls_data_load(MPI_Comm comm, const ad_config *cfg, const ad_job *job,
                  const ad_provenance *prov, const char *adaptor, cls_data *d)
{
    memset(d, 0, sizeof *d);
    char **splits = NULL;
    int nsplits = 0;
    ad_manifest *m = NULL;
    ad_frozen e;
    int have_e = 0;
    int rc = ad_config_require(cfg, "classify", "labels");
    if (rc == AD_OK)
        rc = ad_config_list(cfg, "classify", "labels", &d->label_names, &d->nlab);
    d->task = job->task;
    if (rc == AD_OK)
        rc = ad_config_list(cfg, "classify", "splits", &splits, &nsplits);
    if (rc == AD_OK && nsplits != 3)
        rc = ad_fail(AD_ERR_CONFIG, "[classify] splits: need train, valid and test names, got %d",
                     nsplits);
    if (rc == AD_OK)
        rc = ad_config_require(cfg, "cache", "dir");
    if (rc == AD_OK)
        rc = open_manifest(cfg, d, &m);
    if (rc == AD_OK && job->image_output == AD_IMG_TOKENS)
        rc = ad_fail(AD_ERR_UNSUPPORTED, "classify: [image_encoder] output = tokens is not "
                                         "supported (use cls or mean)");
    if (rc == AD_OK)
        rc = ad_frozen_open(&e, cfg, job, 1, prov);
    have_e = rc == AD_OK;
    rc = ad_mpi_agree(comm, rc, NULL);
    for (int s = 0; s < 3 && rc == AD_OK; s++) {
        cls_split *sp = &d->split[s];
        snprintf(sp->name, sizeof sp->name, "%s", splits[s]);
        ad_selection sel;
        char what[4200];
        rc = select_split(m, splits[s], &sel);
        if (rc == AD_OK) {
            sp->labels = ad_malloc((size_t)sel.n * d->nlab, "labels");
            rc = sp->labels ? AD_OK : AD_ERR_NOMEM;
        }
        for (int64_t i = 0; rc == AD_OK && i < sel.n; i++)
            memcpy(sp->labels + i * d->nlab, ad_manifest_row_at(m, sel.ids[i])->labels,
                   (size_t)d->nlab);
        snprintf(what, sizeof what, "%s split %s", ad_manifest_path(m), splits[s]);
        if (rc == AD_OK)
            rc = ad_cls_check_labels(sp->labels, sel.n, d->nlab, d->task,
                                     (const char *const *)d->label_names, what, sel.line);
        rc = ad_mpi_agree(comm, rc, NULL);
        if (rc == AD_OK)
            rc = split_features(comm, cfg, &e, m, &sel, splits[s], sp);
        ad_selection_free(&sel);
    }
    if (have_e)
        ad_frozen_free(&e);
    ad_manifest_close(m);
    free(splits);
    if (rc == AD_OK && adaptor)
        rc = adaptor_features(comm, cfg, job, adaptor, d);
    if (rc != AD_OK)
        cls_data_free(d);
    return rc;
}
