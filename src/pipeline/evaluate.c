#include "adaptor/evaluate.h"

#include "adaptor/adaptor.h"
#include "adaptor/auroc.h"
#include "adaptor/bert.h"
#include "adaptor/cache.h"
#include "adaptor/checkpoint.h"
#include "adaptor/embfile.h"
#include "adaptor/error.h"
#include "adaptor/evalfile.h"
#include "adaptor/pca.h"
#include "adaptor/fsutil.h"
#include "adaptor/job.h"
#include "adaptor/l2norm.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/manifest.h"
#include "adaptor/nn.h"
#include "adaptor/pipeline.h"
#include "adaptor/retrieval.h"
#include "adaptor/runlock.h"
#include "adaptor/share.h"
#include "adaptor/table.h"
#include "adaptor/wordpiece.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V_PROJECTION, V_ADAPTOR, V_INIT_PROJECTION, V_INIT, NVARIANTS };
static const char *variant_name[NVARIANTS] = {"projection", "adaptor", "init_projection", "init"};
/* The untrained variants use the second model (initialised from [train] seed). */
static int untrained(int v) { return v == V_INIT || v == V_INIT_PROJECTION; }
static int projection_only(int v) { return v == V_PROJECTION || v == V_INIT_PROJECTION; }



/* One split's data on this rank: a contiguous block of the usable pairs. */
typedef struct block {
    ad_cache *img, *txt;
    int64_t N, first, n;
    int tv, tt;
    size_t row_v, row_t;
    float *xv, *xt;
    uint8_t *tmask;
    int64_t *ids; /* sample ids of the block's pairs */
} block;

static void block_free(block *b)
{
    ad_cache_close(b->img);
    ad_cache_close(b->txt);
    free(b->xv);
    free(b->xt);
    free(b->tmask);
    free(b->ids);
    memset(b, 0, sizeof *b);
}

static int block_load(block *b, const ad_config *cfg, const char *split, int rank, int size)
{
    char path[4096];
    int64_t *ri = NULL, *rt = NULL, dropped;
    AD_TRY(ad_cache_file(cfg, "image", split, path, sizeof path));
    AD_TRY(ad_cache_open(path, &b->img));
    AD_TRY(ad_cache_file(cfg, "text", split, path, sizeof path));
    AD_TRY(ad_cache_open(path, &b->txt));
    AD_TRY(ad_cache_pair_rows(b->img, b->txt, &ri, &rt, &b->N, &dropped));
    ad_share(b->N, rank, size, &b->first, &b->n);
    b->tv = ad_cache_tokens(b->img);
    b->tt = ad_cache_tokens(b->txt);
    b->row_v = (size_t)(b->tv ? b->tv : 1) * ad_cache_dim(b->img);
    b->row_t = (size_t)(b->tt ? b->tt : 1) * ad_cache_dim(b->txt);
    size_t n = (size_t)(b->n ? b->n : 1);
    b->xv = ad_malloc(n * b->row_v * sizeof(float), "image embeddings");
    b->xt = ad_malloc(n * b->row_t * sizeof(float), "text embeddings");
    b->tmask = ad_malloc(n * (size_t)(b->tt ? b->tt : 1), "text masks");
    b->ids = ad_malloc(n * sizeof *b->ids, "sample ids");
    int rc = b->xv && b->xt && b->tmask && b->ids ? AD_OK : AD_ERR_NOMEM;
    if (rc == AD_OK)
        rc = ad_cache_read_rows(b->img, ri + b->first, b->n, b->xv, NULL);
    if (rc == AD_OK)
        rc = ad_cache_read_rows(b->txt, rt + b->first, b->n, b->xt, b->tt ? b->tmask : NULL);
    for (int64_t i = 0; rc == AD_OK && i < b->n; i++)
        b->ids[i] = ad_cache_ids(b->img)[ri[b->first + i]];
    free(ri);
    free(rt);
    return rc;
}

/* Embeddings of the block under one variant, in chunks (activations stay small). */
static int embed_block(ad_adaptor *m, int variant, const block *b, float *v, float *t)
{
    int P = m->cfg.proj;
    const int chunk = 256;
    for (int64_t s = 0; s < b->n; s += chunk) {
        int nb = (int)(b->n - s < chunk ? b->n - s : chunk);
        const float *xv = b->xv + (size_t)s * b->row_v, *xt = b->xt + (size_t)s * b->row_t;
        float *vo = v + (size_t)s * P, *to = t + (size_t)s * P;
        if (projection_only(variant)) {
            /* The first token's row (the only one for pooled caches): leading dimension =
             * the whole sample. */
            ad_linear_forward(vo, P, xv, (int)b->row_v, m->w_img, NULL, nb, m->cfg.dv, P);
            ad_linear_forward(to, P, xt, (int)b->row_t, m->w_txt, NULL, nb, m->cfg.dt, P);
            ad_l2norm_forward(vo, NULL, vo, nb, P);
            ad_l2norm_forward(to, NULL, to, nb, P);
        } else {
            ad_adaptor_batch x = {xv, xt, b->tt ? b->tmask + (size_t)s * b->tt : NULL, b->tv, b->tt};
            AD_TRY(ad_adaptor_forward_pair(m, &x, nb, vo, to, NULL));
        }
    }
    return AD_OK;
}

/* "Pleural_Effusion" -> "pleural effusion" */
static void prompt_of(const char *label, char *out, size_t n)
{
    size_t i = 0;
    for (; label[i] && i + 1 < n; i++)
        out[i] = label[i] == '_' ? ' ' : (char)tolower((unsigned char)label[i]);
    out[i] = '\0';
}

/* Gathers every rank's n rows (the first `width` floats of rows `ld` apart) to rank 0, in
 * rank order, into a malloc'ed [N][width] buffer (and, with ids_out, their sample ids).
 * Collective; the outputs stay NULL on the other ranks. */
static int gather_rows(MPI_Comm comm, const float *x, size_t ld, int width, const int64_t *ids,
                       int64_t n, int64_t N, float **out, int64_t **ids_out)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    *out = NULL;
    if (ids_out)
        *ids_out = NULL;
    float *all = rank == 0 ? ad_malloc((size_t)(N ? N : 1) * width * sizeof(float), "embeddings") : NULL;
    int64_t *ids_all = rank == 0 && ids_out ? ad_malloc((size_t)(N ? N : 1) * sizeof(int64_t), "ids") : NULL;
    int *cnt = ad_malloc(2 * (size_t)size * sizeof(int), "counts");
    /* MPI_Gatherv sends contiguous rows: pack them when they are strided. */
    float *packed = ld == (size_t)width ? NULL : ad_malloc((size_t)(n ? n : 1) * width * sizeof(float), "rows");
    int lrc = (rank == 0 && (!all || (ids_out && !ids_all))) || !cnt || (ld != (size_t)width && !packed)
                  ? AD_ERR_NOMEM : AD_OK;
    int rc = ad_mpi_agree(comm, lrc, NULL);
    if (rc == AD_OK) {
        if (packed)
            for (int64_t i = 0; i < n; i++)
                memcpy(packed + (size_t)i * width, x + (size_t)i * ld, (size_t)width * sizeof(float));
        int mine = (int)n, *displ = cnt + size;
        MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, comm);
        if (rank == 0) {
            displ[0] = 0;
            for (int r = 1; r < size; r++)
                displ[r] = displ[r - 1] + cnt[r - 1];
        }
        if (ids_out)
            MPI_Gatherv(ids, mine, MPI_INT64_T, ids_all, cnt, displ, MPI_INT64_T, 0, comm);
        for (int r = 0; rank == 0 && r < size; r++) {
            cnt[r] *= width;
            displ[r] *= width;
        }
        MPI_Gatherv(packed ? packed : x, mine * width, MPI_FLOAT, all, cnt, displ, MPI_FLOAT, 0, comm);
        *out = all;
        if (ids_out)
            *ids_out = ids_all;
    } else {
        free(all);
        free(ids_all);
    }
    free(cnt);
    free(packed);
    return rc;
}

/* The manifest's labels of the samples ids[N] into lab[N][nlab]. */
static int labels_of(const ad_manifest *man, const int64_t *ids, int64_t N, const char *split,
                     int8_t *lab)
{
    int nlab = ad_manifest_n_labels(man);
    for (int64_t i = 0; i < N; i++) {
        const ad_manifest_row *row = ad_manifest_row_at(man, ids[i]);
        if (!row)
            return ad_fail(AD_ERR_FORMAT, "%s: the cache's sample_id %lld is not a row of %s",
                           split, (long long)ids[i], ad_manifest_path(man));
        memcpy(lab + (size_t)i * nlab, row->labels, (size_t)nlab);
    }
    return AD_OK;
}

/* The zero-shot prompts ("finding", "no finding" per label column) through the frozen text
 * encoder. They depend on neither the split nor the model, so the tokenizer and BERT are
 * loaded once per run and released before any evaluation. Rank 0. */
typedef struct prompts {
    char **labels; /* one allocation (ad_config_list) */
    int nlab, np;
    float *pe; /* [np][the Adaptor's text width]: row 2k the finding, 2k + 1 its negation */
} prompts;

static void prompts_free(prompts *p)
{
    free(p->labels);
    free(p->pe);
    memset(p, 0, sizeof *p);
}

/* dt: the text width the Adaptor expects. */
static int prompts_encode(const ad_config *cfg, const ad_job *job, int dt, prompts *p)
{
    memset(p, 0, sizeof *p);
    AD_TRY(ad_config_list(cfg, "data", "label_columns", &p->labels, &p->nlab));
    const char *model = ad_config_get(cfg, "text_encoder", "model");
    ad_tokenizer *tok = NULL;
    ad_bert *bert = NULL;
    int64_t mw;
    int32_t *ids = NULL;
    int *len = NULL;
    p->np = 2 * p->nlab;
    int rc = ad_config_int(cfg, "data", "max_words", &mw);
    if (rc == AD_OK)
        rc = ad_tokenizer_load(model, &tok);
    if (rc == AD_OK)
        rc = ad_bert_load(model, &bert);
    if (rc == AD_OK) {
        ids = ad_malloc((size_t)p->np * mw * sizeof *ids, "prompt ids");
        len = ad_malloc((size_t)p->np * sizeof *len, "prompt lengths");
        p->pe = ad_malloc((size_t)p->np * dt * sizeof *p->pe, "prompt embeddings");
        if (!ids || !len || !p->pe)
            rc = AD_ERR_NOMEM;
    }
    for (int k = 0; rc == AD_OK && k < p->nlab; k++) {
        char pos[256], neg[300];
        prompt_of(p->labels[k], pos, sizeof pos);
        snprintf(neg, sizeof neg, "no %s", pos);
        rc = ad_tokenizer_encode(tok, pos, (int)mw, ids + (size_t)(2 * k) * mw, &len[2 * k]);
        if (rc == AD_OK)
            rc = ad_tokenizer_encode(tok, neg, (int)mw, ids + (size_t)(2 * k + 1) * mw,
                                     &len[2 * k + 1]);
    }
    if (rc == AD_OK && ad_bert_get_config(bert)->hidden != dt)
        rc = ad_fail(AD_ERR_CONFIG, "%s: text encoder size %d, the Adaptor expects %d", model,
                     ad_bert_get_config(bert)->hidden, dt);
    if (rc == AD_OK)
        rc = ad_bert_forward(bert, ids, len, p->np, (int)mw, job->pooling, p->pe);
    free(ids);
    free(len);
    ad_bert_destroy(bert);
    ad_tokenizer_destroy(tok);
    if (rc != AD_OK)
        prompts_free(p);
    return rc;
}

/* Zero-shot AUROC per finding (auc[nlab]) and their mean, on rank 0, from the gathered
 * image embeddings of one model (pooled mode). */
static int zero_shot(const prompts *pr, const ad_manifest *man, ad_adaptor *m, int variant,
                     const float *v_all, const int64_t *ids_all, int64_t N, const char *split,
                     double *auc, double *mean)
{
    int P = m->cfg.proj, nlab = pr->nlab, np = pr->np, rc = AD_OK;
    float *pt = ad_malloc((size_t)np * P * sizeof *pt, "prompt embeddings");
    float *pos = ad_malloc((size_t)nlab * P * sizeof *pos, "prompts");
    float *neg = ad_malloc((size_t)nlab * P * sizeof *neg, "prompts");
    int8_t *lab = ad_malloc((size_t)(N ? N : 1) * nlab, "labels");
    if (!pt || !pos || !neg || !lab)
        rc = AD_ERR_NOMEM;
    if (rc == AD_OK) {
        if (projection_only(variant)) {
            ad_linear_forward(pt, P, pr->pe, m->cfg.dt, m->w_txt, NULL, np, m->cfg.dt, P);
            ad_l2norm_forward(pt, NULL, pt, np, P);
        } else {
            rc = ad_adaptor_forward(m, AD_TEXT, pr->pe, np, pt, NULL);
        }
    }
    for (int k = 0; rc == AD_OK && k < nlab; k++) {
        memcpy(pos + (size_t)k * P, pt + (size_t)(2 * k) * P, P * sizeof(float));
        memcpy(neg + (size_t)k * P, pt + (size_t)(2 * k + 1) * P, P * sizeof(float));
    }
    int nl = rc == AD_OK ? ad_manifest_n_labels(man) : 0;
    if (rc == AD_OK && nl != nlab)
        rc = ad_fail(AD_ERR_INTERNAL, "label columns %d vs %d", nl, nlab);
    if (rc == AD_OK)
        rc = labels_of(man, ids_all, N, split, lab);
    if (rc == AD_OK)
        rc = ad_zeroshot_auroc(v_all, N, P, pos, neg, lab, nlab, (const char *const *)pr->labels,
                               auc, mean);
    free(pt);
    free(pos);
    free(neg);
    free(lab);
    return rc;
}

/* Rank 0: eval.nc's records of one model's zero-shot AUROC. */
static int record_zero_shot(ad_eval_records *R, const prompts *pr, const char *split,
                            const char *model, const double *auc, double mean)
{
    for (int k = 0; k < pr->nlab; k++) {
        char metric[64];
        snprintf(metric, sizeof metric, "zeroshot_auroc_%s", pr->labels[k]);
        AD_TRY(ad_eval_records_add(R, split, model, metric, auc[k]));
    }
    return ad_eval_records_add(R, split, model, "zeroshot_auroc_mean", mean);
}

/* The split's frozen image embeddings (the first row of each sample) and the trained
 * Adaptor's image output v, with their labels, as a group of embeddings.nc (rank 0). */
static int save_embeddings(MPI_Comm comm, const ad_manifest *man, ad_embfile *ef,
                           const block *b, const float *v, int P, const char *split)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int dv = ad_cache_dim(b->img);
    float *before = NULL, *after = NULL;
    int64_t *ids = NULL;
    int rc = gather_rows(comm, b->xv, b->row_v, dv, b->ids, b->n, b->N, &before, &ids);
    if (rc == AD_OK)
        rc = gather_rows(comm, v, (size_t)P, P, NULL, b->n, b->N, &after, NULL);
    if (rc == AD_OK) {
        int lrc = AD_OK, nlab = man ? ad_manifest_n_labels(man) : 0;
        int8_t *lab = NULL;
        const char **names = NULL;
        if (rank == 0) {
            lab = ad_malloc((size_t)(b->N ? b->N : 1) * (nlab ? nlab : 1), "labels");
            names = ad_malloc((size_t)(nlab ? nlab : 1) * sizeof *names, "label names");
            lrc = lab && names ? AD_OK : AD_ERR_NOMEM;
            for (int k = 0; k < nlab && lrc == AD_OK; k++)
                names[k] = ad_manifest_label_name(man, k);
            if (lrc == AD_OK && nlab)
                lrc = labels_of(man, ids, b->N, split, lab);
            ad_emb_split es = {split, b->N, ids, before, dv, after, P, lab, names, nlab};
            if (lrc == AD_OK)
                lrc = ad_embfile_put(ef, &es);
        }
        rc = ad_mpi_agree(comm, lrc, NULL);
        free(lab);
        free(names);
    }
    free(before);
    free(after);
    free(ids);
    return rc;
}

/* PCA (ScaLAPACK, over the ranks' own rows) of the split's image embeddings x [n, d] ->
 * <output dir>/pca-<split>-<what>.nc for the analysis maps. Needs a row on every rank. */
static int pca_export(MPI_Comm comm, const ad_config *cfg, const ad_provenance *prov,
                      const block *b, const float *x, int d, const char *split, const char *what,
                      const char *source)
{
    int64_t m;
    int size;
    MPI_Comm_size(comm, &size);
    AD_TRY(ad_config_int(cfg, "eval", "pca_components", &m));
    if (m > d)
        m = d;
    if (m <= 0 || b->N < 2 || b->N < size) {
        if (m > 0)
            ad_info("eval: no PCA of %s (%lld samples for %d ranks)", split, (long long)b->N,
                    size);
        return AD_OK;
    }
    char name[128], path[4200];
    snprintf(name, sizeof name, "pca-%s-%s.nc", split, what);
    AD_TRY(ad_path_join(path, sizeof path, ad_config_get(cfg, "output", "dir"), name));
    double *mean = ad_malloc((size_t)d * sizeof *mean, "pca"),
           *comps = ad_malloc((size_t)m * d * sizeof *comps, "pca"),
           *var = ad_malloc((size_t)m * sizeof *var, "pca"), total = 0;
    float *proj = ad_malloc((size_t)(b->n ? b->n : 1) * m * sizeof *proj, "pca");
    int rc = mean && comps && var && proj ? AD_OK : AD_ERR_NOMEM;
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK)
        rc = ad_pca_fit(comm, x, b->n, d, (int)m, 0, 0, mean, comps, var, &total, proj);
    if (rc == AD_OK)
        rc = ad_pca_write(comm, path, d, (int)m, mean, comps, var, total, proj, b->ids, b->n,
                          source, prov);
    free(mean);
    free(comps);
    free(var);
    free(proj);
    return rc;
}

/* One split's figures, kept until the split is done so that each table prints whole. */
typedef struct split_figures {
    ad_retrieval_result ret[NVARIANTS];
    int zs[NVARIANTS];   /* zero-shot ran for the variant (rank 0) */
    double zs_mean[NVARIANTS];
    double *zs_auc;      /* [NVARIANTS][nlab] (rank 0) */
} split_figures;

static int record_retrieval(ad_eval_records *R, const char *split, const char *name,
                            const ad_retrieval_result *res, const int *k, int nk)
{
    for (int i = 0; i < nk; i++) {
        char metric[32];
        snprintf(metric, sizeof metric, "i2t_R@%d", k[i]);
        AD_TRY(ad_eval_records_add(R, split, name, metric, res->i2t.recall[i]));
        snprintf(metric, sizeof metric, "t2i_R@%d", k[i]);
        AD_TRY(ad_eval_records_add(R, split, name, metric, res->t2i.recall[i]));
    }
    AD_TRY(ad_eval_records_add(R, split, name, "i2t_median_rank", res->i2t.median_rank));
    AD_TRY(ad_eval_records_add(R, split, name, "t2i_median_rank", res->t2i.median_rank));
    AD_TRY(ad_eval_records_add(R, split, name, "i2t_mean_rank", res->i2t.mean_rank));
    return ad_eval_records_add(R, split, name, "t2i_mean_rank", res->t2i.mean_rank);
}

/* Rank 0: the split's retrieval table, then its zero-shot table. */
static int print_split(const char *split, int64_t N, const split_figures *f, const int *k,
                       int nk, const prompts *pr)
{
    char title[256], names[2 * AD_RETRIEVAL_MAX_K + 2][32];
    ad_table_col cols[2 * AD_RETRIEVAL_MAX_K + 2];
    double row[2 * AD_RETRIEVAL_MAX_K + 2];
    int nc = 0;
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < nk; i++, nc++) {
            snprintf(names[nc], sizeof names[nc], "%s R@%d", d ? "t2i" : "i2t", k[i]);
            cols[nc] = (ad_table_col){names[nc], 4};
        }
        snprintf(names[nc], sizeof names[nc], "%s medR", d ? "t2i" : "i2t");
        cols[nc] = (ad_table_col){names[nc], 1};
        nc++;
    }
    snprintf(title, sizeof title, "retrieval on %s (%lld pairs; chance Recall@1 %.4f)", split,
             (long long)N, 1.0 / (double)N);
    ad_table *t;
    AD_TRY(ad_table_create(title, "model", cols, nc, &t));
    int rc = AD_OK;
    for (int var = 0; var < NVARIANTS && rc == AD_OK; var++) {
        const ad_retrieval_result *res = &f->ret[var];
        for (int d = 0, c = 0; d < 2; d++) {
            const ad_retrieval_dir *dir = d ? &res->t2i : &res->i2t;
            for (int i = 0; i < nk; i++)
                row[c++] = dir->recall[i];
            row[c++] = dir->median_rank;
        }
        rc = ad_table_add(t, variant_name[var], row);
    }
    if (rc == AD_OK)
        rc = ad_table_print(t);
    ad_table_destroy(t);
    if (rc != AD_OK || !pr)
        return rc;
    ad_table_col *zc = ad_malloc((size_t)(pr->nlab + 1) * sizeof *zc, "table columns");
    double *zr = ad_malloc((size_t)(pr->nlab + 1) * sizeof *zr, "table row");
    rc = zc && zr ? AD_OK : AD_ERR_NOMEM;
    t = NULL;
    if (rc == AD_OK)
        zc[0] = (ad_table_col){"mean", 3};
    for (int j = 0; rc == AD_OK && j < pr->nlab; j++)
        zc[j + 1] = (ad_table_col){pr->labels[j], 3};
    snprintf(title, sizeof title, "zero-shot AUROC on %s (prompts \"finding\" vs \"no finding\")",
             split);
    if (rc == AD_OK)
        rc = ad_table_create(title, "model", zc, pr->nlab + 1, &t);
    for (int var = 0; var < NVARIANTS && rc == AD_OK; var++) {
        if (!f->zs[var])
            continue;
        zr[0] = f->zs_mean[var];
        memcpy(zr + 1, f->zs_auc + (size_t)var * pr->nlab, (size_t)pr->nlab * sizeof *zr);
        rc = ad_table_add(t, variant_name[var], zr);
    }
    if (rc == AD_OK)
        rc = ad_table_print(t);
    ad_table_destroy(t);
    free(zc);
    free(zr);
    return rc;
}

/* man: the manifest (rank 0, NULL without [data] label_columns); pr: the encoded zero-shot
 * prompts (rank 0, NULL without zero-shot); ef: embeddings.nc (rank 0). */
static int eval_split(MPI_Comm comm, const ad_config *cfg, const ad_provenance *prov,
                      const ad_manifest *man, const prompts *pr, ad_embfile *ef,
                      ad_adaptor *models[2], block *b, const char *split, ad_eval_records *R)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    char **ks;
    int nk;
    int k[AD_RETRIEVAL_MAX_K];
    AD_TRY(ad_config_list(cfg, "eval", "recall_k", &ks, &nk));
    int krc = nk > AD_RETRIEVAL_MAX_K
                  ? ad_fail(AD_ERR_CONFIG, "%s: [eval] recall_k lists %d values (at most %d)",
                            ad_config_where(cfg, "eval", "recall_k"), nk, AD_RETRIEVAL_MAX_K)
                  : AD_OK;
    for (int i = 0; i < nk && krc == AD_OK; i++) {
        char *end;
        long v = strtol(ks[i], &end, 10);
        if (*end || v < 1 || v > INT_MAX)
            krc = ad_fail(AD_ERR_CONFIG, "%s: [eval] recall_k: '%s' is not a K >= 1",
                          ad_config_where(cfg, "eval", "recall_k"), ks[i]);
        else
            k[i] = (int)v;
    }
    free(ks);
    AD_TRY(krc);
    int P = models[0]->cfg.proj;
    size_t n = (size_t)(b->n ? b->n : 1);
    split_figures f;
    memset(&f, 0, sizeof f);
    float *v = ad_malloc(n * P * sizeof(float), "embeddings"), *t = ad_malloc(n * P * sizeof(float), "embeddings");
    if (rank == 0 && pr)
        f.zs_auc = ad_malloc((size_t)NVARIANTS * pr->nlab * sizeof *f.zs_auc, "AUROC");
    int labels = ad_config_is_set(cfg, "data", "label_columns") && !models[0]->cfg.tokens;
    int rc = ad_mpi_agree(comm, v && t && (rank != 0 || !pr || f.zs_auc) ? AD_OK : AD_ERR_NOMEM,
                          NULL);
    for (int var = 0; var < NVARIANTS && rc == AD_OK; var++) {
        ad_adaptor *m = models[untrained(var) ? 1 : 0];
        const char *name = variant_name[var];
        rc = ad_mpi_agree(comm, embed_block(m, var, b, v, t), NULL);
        if (rc == AD_OK)
            rc = ad_retrieval(comm, v, t, b->n, P, k, nk, &f.ret[var], NULL, NULL);
        if (rc == AD_OK)
            rc = record_retrieval(R, split, name, &f.ret[var], k, nk);
        if (rc == AD_OK && labels && !untrained(var)) {
            /* Zero-shot runs on rank 0 over every image of the split. */
            float *v_all;
            int64_t *ids_all;
            rc = gather_rows(comm, v, (size_t)P, P, b->ids, b->n, b->N, &v_all, &ids_all);
            int lrc = AD_OK;
            if (rc == AD_OK && rank == 0) {
                double *auc = f.zs_auc + (size_t)var * pr->nlab;
                lrc = zero_shot(pr, man, m, var, v_all, ids_all, b->N, split, auc, &f.zs_mean[var]);
                if (lrc == AD_OK)
                    lrc = record_zero_shot(R, pr, split, name, auc, f.zs_mean[var]);
                f.zs[var] = lrc == AD_OK;
            }
            if (rc == AD_OK)
                rc = ad_mpi_agree(comm, lrc, NULL);
            free(v_all);
            free(ids_all);
        }
        if (rc == AD_OK && var == V_ADAPTOR)
            rc = save_embeddings(comm, man, ef, b, v, P, split);
        if (rc == AD_OK && var == V_ADAPTOR && !b->tv)
            rc = pca_export(comm, cfg, prov, b, b->xv, ad_cache_dim(b->img), split, "frozen",
                            ad_cache_path(b->img));
        if (rc == AD_OK && var == V_ADAPTOR)
            rc = pca_export(comm, cfg, prov, b, v, P, split, "adaptor", "Adaptor image output");
    }
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, rank == 0 ? print_split(split, b->N, &f, k, nk, pr) : AD_OK, NULL);
    free(f.zs_auc);
    free(v);
    free(t);
    return rc;
}

static int embfile_create(const ad_config *cfg, const ad_provenance *prov, ad_embfile **ef)
{
    char out[4200];
    AD_TRY(ad_path_join(out, sizeof out, ad_config_get(cfg, "output", "dir"), "embeddings.nc"));
    return ad_embfile_create(out, prov, ef);
}

int ad_evaluate(MPI_Comm comm, const ad_config *cfg, const char *weights)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    char **splits = NULL, path[4200];
    int nsplits = 0;
    ad_adaptor *models[2] = {NULL, NULL};
    ad_manifest *man = NULL;
    ad_embfile *ef = NULL;
    ad_eval_records R = {0};
    ad_provenance *prov = NULL;
    ad_runlock *lock = NULL;
    prompts pr;
    int zero_shot_on = 0; /* rank 0: pr holds the encoded prompts */
    memset(&pr, 0, sizeof pr);
    ad_job job;
    int rc = ad_job_parse(cfg, &job);
    if (rc == AD_OK)
        rc = ad_prov_create(comm, cfg, &prov); /* collective: on every rank */
    if (rc == AD_OK)
        rc = ad_config_list(cfg, "eval", "splits", &splits, &nsplits);
    if (rc == AD_OK)
        rc = ad_config_require(cfg, "output", "dir");
    if (rc == AD_OK && !weights) {
        rc = ad_path_join(path, sizeof path, ad_config_get(cfg, "output", "dir"), "model.safetensors");
        weights = path;
    }
    if (rc == AD_OK && rank == 0 && ad_config_is_set(cfg, "data", "label_columns"))
        rc = ad_manifest_open_config(cfg, AD_LABEL_UNCERTAIN, NULL, &man);
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK)
        rc = ad_runlock_acquire_job(comm, ad_config_get(cfg, "output", "dir"), "eval", &lock);
    for (int s = 0; s < nsplits && rc == AD_OK; s++) {
        block b;
        memset(&b, 0, sizeof b);
        rc = ad_mpi_agree(comm, block_load(&b, cfg, splits[s], rank, ad_log_size()), NULL);
        if (rc == AD_OK && !models[0]) {
            ad_adaptor_config ac;
            int64_t seed;
            int lrc = ad_adaptor_config_from(cfg, ad_cache_dim(b.img), ad_cache_dim(b.txt), b.tv > 0, &ac);
            if (lrc == AD_OK)
                lrc = ad_config_int(cfg, "train", "seed", &seed);
            if (lrc == AD_OK)
                lrc = ad_adaptor_create(&ac, &models[0]);
            if (lrc == AD_OK)
                lrc = ad_adaptor_create(&ac, &models[1]);
            if (lrc == AD_OK)
                lrc = ad_ckpt_load_weights(weights, &models[0]->layout, models[0]->params);
            if (lrc == AD_OK)
                ad_adaptor_init(models[1], (uint64_t)seed);
            if (lrc == AD_OK && rank == 0)
                lrc = embfile_create(cfg, prov, &ef);
            if (lrc == AD_OK && rank == 0 && man && !ac.tokens) {
                lrc = prompts_encode(cfg, &job, ac.dt, &pr);
                zero_shot_on = lrc == AD_OK;
            }
            rc = ad_mpi_agree(comm, lrc, NULL);
        }
        ad_adaptor *per[2] = {models[0], models[1]};
        if (rc == AD_OK)
            rc = eval_split(comm, cfg, prov, man, zero_shot_on ? &pr : NULL, ef, per, &b,
                            splits[s], &R);
        block_free(&b);
    }
    if (rc == AD_OK && rank == 0) {
        char out[4200];
        rc = ad_path_join(out, sizeof out, ad_config_get(cfg, "output", "dir"), "eval.nc");
        if (rc == AD_OK)
            rc = ad_evalfile_write(out, R.r, R.n, prov);
        if (rc == AD_OK)
            ad_info("\neval: %zu numbers written to %s", R.n, out);
        if (rc == AD_OK && ef) {
            rc = ad_embfile_commit(ef);
            ef = NULL;
            if (rc == AD_OK)
                ad_info("eval: image embeddings before and after the Adaptor in %s/embeddings.nc",
                        ad_config_get(cfg, "output", "dir"));
        }
    }
    rc = ad_mpi_agree(comm, rc, NULL);
    ad_embfile_abort(ef);
    ad_manifest_close(man);
    prompts_free(&pr);
    free(R.r);
    ad_adaptor_destroy(models[0]);
    ad_adaptor_destroy(models[1]);
    free(splits);
    ad_prov_destroy(prov);
    ad_runlock_release(lock);
    return rc;
}
