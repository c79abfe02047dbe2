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
#include "adaptor/mgca_text.h"
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
        free(d->split[s].before);
        free(d->split[s].ids);
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

/* The trained Adaptor's image path (SPEC 8) and, in token mode, its fixed text context
 * (SPEC 6): the frozen text encoder's tokens of [classify] prompt. NULL m: the baseline. */
typedef struct cls_adaptor {
    ad_adaptor *m;
    float *ctx;        /* [tt, dt] */
    uint8_t *ctx_mask; /* [tt] */
    int tt;
} cls_adaptor;

static void cls_adaptor_free(cls_adaptor *a)
{
    ad_adaptor_destroy(a->m);
    free(a->ctx);
    free(a->ctx_mask);
    memset(a, 0, sizeof *a);
}

/* The reference's fine-tuners feed a fixed "dummy text" beside every image; here it is the
 * prompt (default: the empty report), MGCA-normalised like the training reports and
 * encoded by the job's text encoder, pad tokens masked as in pre-training. */
static int text_context(const ad_config *cfg, const ad_job *job, const ad_provenance *prov,
                        cls_adaptor *a)
{
    if (job->pooling != AD_BERT_TOKENS)
        return ad_fail(AD_ERR_CONFIG, "%s: a token-mode Adaptor reads text tokens: set "
                       "[text_encoder] pooling = tokens (as in pre-training)",
                       ad_config_where(cfg, "text_encoder", "pooling"));
    const char *prompt = ad_config_get(cfg, "classify", "prompt");
    char *cap = NULL;
    int ntok = 0;
    AD_TRY(ad_mgca_caption(prompt ? prompt : "", NULL, &cap, &ntok));
    ad_frozen te;
    int rc = ad_frozen_open(&te, cfg, job, 0, prov);
    int64_t id = 0, line = 0, row = 0, bad = 0;
    ad_selection one = {.n = 1, .ids = &id, .caption = &cap, .line = &line};
    ad_embed_timers tm = {0};
    if (rc == AD_OK)
        rc = ad_frozen_encode(&te, &one, &row, 1, 0, "[classify] prompt", NULL, &id, &bad, &tm);
    if (rc == AD_OK && te.dim != a->m->cfg.dt)
        rc = ad_fail(AD_ERR_CONFIG, "%s: text encoder width %d, the Adaptor's text side takes %d",
                     ad_config_get(cfg, "text_encoder", "model"), te.dim, a->m->cfg.dt);
    if (rc == AD_OK) {
        a->tt = te.tokens;
        a->ctx = ad_malloc((size_t)te.tokens * te.dim * sizeof(float), "text context");
        a->ctx_mask = ad_malloc((size_t)te.tokens, "text context mask");
        rc = a->ctx && a->ctx_mask ? AD_OK : AD_ERR_NOMEM;
    }
    if (rc == AD_OK) {
        memcpy(a->ctx, te.out, (size_t)te.tokens * te.dim * sizeof(float));
        memcpy(a->ctx_mask, te.mask, (size_t)te.tokens);
        ad_info("classify: text context '%s' (%d tokens)", cap, te.lengths[0]);
    }
    ad_frozen_free(&te);
    free(cap);
    return rc;
}

static int cls_adaptor_load(const ad_config *cfg, const ad_job *job, const ad_provenance *prov,
                            const char *weights, int dv, cls_adaptor *a)
{
    memset(a, 0, sizeof *a);
    AD_TRY(ad_adaptor_load_trained(cfg, job->tokens, weights, dv, &a->m));
    return job->tokens ? text_context(cfg, job, prov, a) : AD_OK;
}

/* Rows [first, first + b) of the open cache c through the Adaptor into out [b, P]; before
 * [b, D] (may be NULL) receives what the Adaptor was given: the pooled embedding, or the
 * first (CLS) token. buf holds b cache rows. */
static int adapt_rows(const cls_adaptor *a, const ad_cache *c, int64_t first, int b, float *buf,
                      int64_t *rows, float *out, float *before)
{
    int T = ad_cache_tokens(c), D = ad_cache_dim(c), Tr = T ? T : 1;
    for (int i = 0; i < b; i++)
        rows[i] = first + i;
    AD_TRY(ad_cache_read_rows(c, rows, b, buf, NULL));
    for (int i = 0; before && i < b; i++)
        memcpy(before + (size_t)i * D, buf + (size_t)i * Tr * D, (size_t)D * sizeof(float));
    if (T)
        return ad_adaptor_image_tokens(a->m, buf, b, T, a->ctx, a->ctx_mask, a->tt, out);
    return ad_adaptor_image_pooled(a->m, buf, b, out);
}

/* Every row of the split through the Adaptor: each rank its block of rows in chunks that
 * bound the activation memory, then all-gathers so every rank holds all. */
static int adapt_split(MPI_Comm comm, const cls_adaptor *a, const ad_cache *c, int keep_before,
                       cls_split *sp)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int P = a->m->cfg.proj, D = ad_cache_dim(c), T = ad_cache_tokens(c);
    int64_t n = ad_cache_rows(c), chunk = T ? 64 : 4096;
    int *cnt = ad_malloc(4 * (size_t)size * sizeof(int), "counts");
    float *out = ad_malloc((size_t)n * P * sizeof(float), "adaptor features");
    float *before = keep_before ? ad_malloc((size_t)n * D * sizeof(float), "features") : NULL;
    float *buf = ad_malloc((size_t)chunk * (T ? T : 1) * D * sizeof(float), "cache rows");
    int64_t *rows = ad_malloc((size_t)chunk * sizeof *rows, "rows");
    int rc = cnt && out && (before || !keep_before) && buf && rows ? AD_OK : AD_ERR_NOMEM;
    int *displ = cnt ? cnt + size : NULL, *cntb = cnt ? cnt + 2 * size : NULL,
        *displb = cnt ? cnt + 3 * size : NULL;
    if (rc == AD_OK)
        rc = ad_share_counts(n, size, P, cnt, displ, "classify: Adaptor features");
    if (rc == AD_OK)
        rc = ad_share_counts(n, size, D, cntb, displb, "classify: encoder features");
    int64_t mine = rc == AD_OK ? cnt[rank] / P : 0, at = rc == AD_OK ? displ[rank] / P : 0;
    for (int64_t i = 0; rc == AD_OK && i < mine; i += chunk) {
        int b = (int)(mine - i < chunk ? mine - i : chunk);
        rc = adapt_rows(a, c, at + i, b, buf, rows, out + (size_t)(at + i) * P,
                        before ? before + (size_t)(at + i) * D : NULL);
    }
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK && (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, out, cnt, displ, MPI_FLOAT,
                                       comm) != MPI_SUCCESS ||
                        (before && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, before, cntb,
                                                  displb, MPI_FLOAT, comm) != MPI_SUCCESS)))
        rc = ad_fail(AD_ERR_MPI, "classify: all-gather of the Adaptor features failed");
    if (rc == AD_OK) {
        free(sp->x);
        sp->x = out;
        sp->dim = P;
        sp->before = before;
        sp->dim_before = D;
    } else {
        free(out);
        free(before);
    }
    free(cnt);
    free(buf);
    free(rows);
    return rc;
}

/* Features of one split: from the cache, or encoded into it first; through the Adaptor
 * unless a->m is NULL. */
static int split_features(MPI_Comm comm, const ad_config *cfg, ad_frozen *e,
                          const ad_manifest *m, const ad_selection *sel, const char *split,
                          const cls_adaptor *a, int keep_before, cls_split *out)
{
    char path[4096];
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = feature_path(cfg, split, path, sizeof path);
    int have = rc == AD_OK && ad_embed_cache_complete(path, sel, e->dim, e->tokens,
                                                      e->meta.preprocessing);
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
    if (lrc == AD_OK && (ad_cache_rows(c) != sel->n || ad_cache_dim(c) != e->dim ||
                         ad_cache_tokens(c) != e->tokens))
        lrc = ad_fail(AD_ERR_FORMAT, "%s: holds %lld rows of %d x %d, expected %lld of %d x %d",
                      path, (long long)ad_cache_rows(c), ad_cache_tokens(c), ad_cache_dim(c),
                      (long long)sel->n, e->tokens, e->dim);
    if (lrc == AD_OK) {
        out->n = sel->n;
        out->ids = ad_malloc((size_t)sel->n * sizeof *out->ids, "sample ids");
        lrc = out->ids ? AD_OK : AD_ERR_NOMEM;
    }
    if (lrc == AD_OK)
        memcpy(out->ids, sel->ids, (size_t)sel->n * sizeof *out->ids);
    if (lrc == AD_OK && !a->m) {
        out->dim = e->dim;
        out->x = ad_malloc((size_t)sel->n * e->dim * sizeof(float), "features");
        rows = ad_malloc((size_t)sel->n * sizeof *rows, "rows");
        lrc = out->x && rows ? AD_OK : AD_ERR_NOMEM;
        for (int64_t i = 0; lrc == AD_OK && i < sel->n; i++)
            rows[i] = i;
        if (lrc == AD_OK)
            lrc = ad_cache_read_rows(c, rows, sel->n, out->x, NULL);
        free(rows);
    }
    rc = rc == AD_OK ? ad_mpi_agree(comm, lrc, NULL) : rc;
    if (rc == AD_OK && a->m)
        rc = adapt_split(comm, a, c, keep_before, out);
    ad_cache_close(c);
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
    cls_adaptor a;
    memset(&a, 0, sizeof a);
    int have_e = 0, keep_before = 0;
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
        rc = ad_config_bool(cfg, "classify", "embeddings", &keep_before);
    if (rc == AD_OK)
        rc = ad_config_require(cfg, "cache", "dir");
    if (rc == AD_OK)
        rc = open_manifest(cfg, d, &m);
    /* Image tokens feed only a token-mode Adaptor, which reads nothing else (SPEC 6). */
    int tokens_in = job->image_output == AD_IMG_TOKENS, tokens_ad = adaptor && job->tokens;
    if (rc == AD_OK && tokens_in != tokens_ad)
        rc = ad_fail(AD_ERR_UNSUPPORTED, "%s: classify: %s",
                     ad_config_where(cfg, "image_encoder", "output"),
                     tokens_ad ? "a token-mode Adaptor ([adaptor] mode = tokens) reads image "
                                 "tokens: set [image_encoder] output = tokens"
                               : "[image_encoder] output = tokens needs a token-mode Adaptor "
                                 "([classify] adaptor and [adaptor] mode = tokens); the baseline "
                                 "and pooled Adaptors use cls or mean");
    if (rc == AD_OK)
        rc = ad_frozen_open(&e, cfg, job, 1, prov);
    have_e = rc == AD_OK;
    if (rc == AD_OK && adaptor)
        rc = cls_adaptor_load(cfg, job, prov, adaptor, e.dim, &a);
    d->keep_before = keep_before;
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
            rc = split_features(comm, cfg, &e, m, &sel, splits[s], &a, keep_before, sp);
        ad_selection_free(&sel);
    }
    cls_adaptor_free(&a);
    if (have_e)
        ad_frozen_free(&e);
    ad_manifest_close(m);
    free(splits);
    if (rc != AD_OK)
        cls_data_free(d);
    return rc;
}
