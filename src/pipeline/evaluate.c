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
#include "adaptor/l2norm.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/manifest.h"
#include "adaptor/nn.h"
#include "adaptor/pipeline.h"
#include "adaptor/retrieval.h"
#include "adaptor/share.h"
#include "adaptor/wordpiece.h"

#include <ctype.h>
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

/* Zero-shot AUROC per finding on rank 0 from the gathered image embeddings (pooled mode). */
static int zero_shot(const ad_config *cfg, const ad_manifest *man, ad_adaptor *m,
                     const float *v_all, const int64_t *ids_all, int64_t N, const char *split,
                     const char *model, ad_eval_records *R, int *printed)
{
    char **labels;
    int nlab;
    AD_TRY(ad_config_list(cfg, "data", "label_columns", &labels, &nlab));
    ad_tokenizer *tok = NULL;
    ad_bert *bert = NULL;
    int P = m->cfg.proj, rc;
    int64_t mw;
    float *pe = NULL, *pt = NULL, *pos = NULL, *neg = NULL;
    int8_t *lab = NULL;
    double *auc = NULL, mean = 0;
    int32_t *ids = NULL;
    int *len = NULL;
    ad_bert_output what;
    rc = ad_config_int(cfg, "data", "max_words", &mw);
    if (rc == AD_OK)
        rc = ad_bert_output_parse(ad_config_get(cfg, "text_encoder", "pooling"), &what);
    if (rc == AD_OK)
        rc = ad_tokenizer_load(ad_config_get(cfg, "text_encoder", "model"), &tok);
    if (rc == AD_OK)
        rc = ad_bert_load(ad_config_get(cfg, "text_encoder", "model"), &bert);
    int np = 2 * nlab;
    if (rc == AD_OK) {
        ids = ad_malloc((size_t)np * mw * sizeof *ids, "prompt ids");
        len = ad_malloc((size_t)np * sizeof *len, "prompt lengths");
        pe = ad_malloc((size_t)np * m->cfg.dt * sizeof *pe, "prompt embeddings");
        pt = ad_malloc((size_t)np * P * sizeof *pt, "prompt embeddings");
        pos = ad_malloc((size_t)nlab * P * sizeof *pos, "prompts");
        neg = ad_malloc((size_t)nlab * P * sizeof *neg, "prompts");
        lab = ad_malloc((size_t)N * nlab, "labels");
        auc = ad_malloc((size_t)nlab * sizeof *auc, "AUROC");
        if (!ids || !len || !pe || !pt || !pos || !neg || !lab || !auc)
            rc = AD_ERR_NOMEM;
    }
    for (int k = 0; rc == AD_OK && k < nlab; k++) {
        char p[256], q[300];
        prompt_of(labels[k], p, sizeof p);
        snprintf(q, sizeof q, "no %s", p);
        rc = ad_tokenizer_encode(tok, p, (int)mw, ids + (size_t)(2 * k) * mw, &len[2 * k]);
        if (rc == AD_OK)
            rc = ad_tokenizer_encode(tok, q, (int)mw, ids + (size_t)(2 * k + 1) * mw, &len[2 * k + 1]);
    }
    if (rc == AD_OK && ad_bert_get_config(bert)->hidden != m->cfg.dt)
        rc = ad_fail(AD_ERR_CONFIG, "%s: text encoder size %d, the Adaptor expects %d",
                     ad_config_get(cfg, "text_encoder", "model"), ad_bert_get_config(bert)->hidden,
                     m->cfg.dt);
    if (rc == AD_OK)
        rc = ad_bert_forward(bert, ids, len, np, (int)mw, what, pe);
    if (rc == AD_OK) {
        if (strcmp(model, "projection") == 0) {
            ad_linear_forward(pt, P, pe, m->cfg.dt, m->w_txt, NULL, np, m->cfg.dt, P);
            ad_l2norm_forward(pt, NULL, pt, np, P);
        } else {
            rc = ad_adaptor_forward(m, AD_TEXT, pe, np, pt, NULL);
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
        rc = ad_zeroshot_auroc(v_all, N, P, pos, neg, lab, nlab, (const char *const *)labels, auc,
                               &mean);
    for (int k = 0; rc == AD_OK && k < nlab; k++) {
        char metric[64];
        snprintf(metric, sizeof metric, "zeroshot_auroc_%s", labels[k]);
        rc = ad_eval_records_add(R, split, model, metric, auc[k]);
    }
    if (rc == AD_OK)
        rc = ad_eval_records_add(R, split, model, "zeroshot_auroc_mean", mean);
    if (rc == AD_OK) {
        if (!*printed) {
            fprintf(stderr, "zero-shot AUROC (%s): ", split);
            for (int k = 0; k < nlab; k++)
                fprintf(stderr, "%s%s", k ? ", " : "", labels[k]);
            fprintf(stderr, "\n");
            *printed = 1;
        }
        fprintf(stderr, "  %-15s mean %.3f :", model, mean);
        for (int k = 0; k < nlab; k++)
            fprintf(stderr, " %.3f", auc[k]);
        fprintf(stderr, "\n");
    }
    free(ids);
    free(len);
    free(pe);
    free(pt);
    free(pos);
    free(neg);
    free(lab);
    free(auc);
    free(labels);
    ad_bert_destroy(bert);
    ad_tokenizer_destroy(tok);
    return rc;
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
static int pca_export(MPI_Comm comm, const ad_config *cfg, const char *config_text,
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
                          source, config_text);
    free(mean);
    free(comps);
    free(var);
    free(proj);
    return rc;
}

/* man: the manifest (rank 0, NULL without [data] label_columns); ef: embeddings.nc (rank 0). */
static int eval_split(MPI_Comm comm, const ad_config *cfg, const char *config_text,
                      const ad_manifest *man, ad_embfile *ef, ad_adaptor *models[2], block *b,
                      const char *split, ad_eval_records *R)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    char **ks;
    int nk;
    int k[AD_RETRIEVAL_MAX_K];
    AD_TRY(ad_config_list(cfg, "eval", "recall_k", &ks, &nk));
    if (nk > AD_RETRIEVAL_MAX_K)
        nk = AD_RETRIEVAL_MAX_K;
    for (int i = 0; i < nk; i++)
        k[i] = atoi(ks[i]);
    free(ks);
    int P = models[0]->cfg.proj;
    size_t n = (size_t)(b->n ? b->n : 1);
    float *v = ad_malloc(n * P * sizeof(float), "embeddings"), *t = ad_malloc(n * P * sizeof(float), "embeddings");
    if (!v || !t) {
        free(v);
        free(t);
        return AD_ERR_NOMEM;
    }
    int labels = ad_config_is_set(cfg, "data", "label_columns") && !models[0]->cfg.tokens;
    int rc = AD_OK, printed = 0;
    if (rank == 0) {
        fprintf(stderr, "\nretrieval on %s (%lld pairs; chance Recall@1 %.4f)\n", split,
                (long long)b->N, 1.0 / (double)b->N);
        fprintf(stderr, "  %-15s |", "model");
        for (int i = 0; i < nk; i++)
            fprintf(stderr, " i2t R@%-3d", k[i]);
        fprintf(stderr, " i2t medR |");
        for (int i = 0; i < nk; i++)
            fprintf(stderr, " t2i R@%-3d", k[i]);
        fprintf(stderr, " t2i medR\n");
    }
    for (int var = 0; var < NVARIANTS && rc == AD_OK; var++) {
        ad_adaptor *m = models[untrained(var) ? 1 : 0];
        rc = ad_mpi_agree(comm, embed_block(m, var, b, v, t), NULL);
        ad_retrieval_result res;
        if (rc == AD_OK)
            rc = ad_retrieval(comm, v, t, b->n, P, k, nk, &res, NULL, NULL);
        const char *name = variant_name[var];
        for (int i = 0; i < nk && rc == AD_OK; i++) {
            char metric[32];
            snprintf(metric, sizeof metric, "i2t_R@%d", k[i]);
            rc = ad_eval_records_add(R, split, name, metric, res.i2t.recall[i]);
            snprintf(metric, sizeof metric, "t2i_R@%d", k[i]);
            if (rc == AD_OK)
                rc = ad_eval_records_add(R, split, name, metric, res.t2i.recall[i]);
        }
        if (rc == AD_OK)
            rc = ad_eval_records_add(R, split, name, "i2t_median_rank", res.i2t.median_rank);
        if (rc == AD_OK)
            rc = ad_eval_records_add(R, split, name, "t2i_median_rank", res.t2i.median_rank);
        if (rc == AD_OK)
            rc = ad_eval_records_add(R, split, name, "i2t_mean_rank", res.i2t.mean_rank);
        if (rc == AD_OK)
            rc = ad_eval_records_add(R, split, name, "t2i_mean_rank", res.t2i.mean_rank);
        if (rc == AD_OK && rank == 0) {
            fprintf(stderr, "  %-15s |", name);
            for (int i = 0; i < nk; i++)
                fprintf(stderr, " %9.4f", res.i2t.recall[i]);
            fprintf(stderr, " %8.1f |", res.i2t.median_rank);
            for (int i = 0; i < nk; i++)
                fprintf(stderr, " %9.4f", res.t2i.recall[i]);
            fprintf(stderr, " %8.1f\n", res.t2i.median_rank);
        }
        if (rc == AD_OK && labels && !untrained(var)) {
            /* Zero-shot runs on rank 0 over every image of the split. */
            float *v_all;
            int64_t *ids_all;
            rc = gather_rows(comm, v, (size_t)P, P, b->ids, b->n, b->N, &v_all, &ids_all);
            if (rc == AD_OK)
                rc = ad_mpi_agree(comm,
                                  rank == 0 ? zero_shot(cfg, man, m, v_all, ids_all, b->N, split,
                                                        name, R, &printed)
                                            : AD_OK,
                                  NULL);
            free(v_all);
            free(ids_all);
        }
        if (rc == AD_OK && var == V_ADAPTOR)
            rc = save_embeddings(comm, man, ef, b, v, P, split);
        if (rc == AD_OK && var == V_ADAPTOR && !b->tv)
            rc = pca_export(comm, cfg, config_text, b, b->xv, ad_cache_dim(b->img), split, "frozen",
                            ad_cache_path(b->img));
        if (rc == AD_OK && var == V_ADAPTOR)
            rc = pca_export(comm, cfg, config_text, b, v, P, split, "adaptor", "Adaptor image output");
    }
    free(v);
    free(t);
    return rc;
}

static int embfile_create(const ad_config *cfg, const char *config_text, ad_embfile **ef)
{
    char out[4200];
    AD_TRY(ad_path_join(out, sizeof out, ad_config_get(cfg, "output", "dir"), "embeddings.nc"));
    return ad_embfile_create(out, config_text, ef);
}

int ad_evaluate(MPI_Comm comm, const ad_config *cfg, const char *weights)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    char **splits = NULL, *config_text = NULL, path[4200];
    int nsplits = 0;
    ad_adaptor *models[2] = {NULL, NULL};
    ad_manifest *man = NULL;
    ad_embfile *ef = NULL;
    ad_eval_records R = {0};
    int rc = ad_config_list(cfg, "eval", "splits", &splits, &nsplits);
    if (rc == AD_OK)
        rc = ad_config_dump(cfg, &config_text);
    if (rc == AD_OK)
        rc = ad_config_require(cfg, "output", "dir");
    if (rc == AD_OK && !weights) {
        rc = ad_path_join(path, sizeof path, ad_config_get(cfg, "output", "dir"), "model.safetensors");
        weights = path;
    }
    if (rc == AD_OK && rank == 0 && ad_config_is_set(cfg, "data", "label_columns"))
        rc = ad_manifest_open_config(cfg, AD_LABEL_UNCERTAIN, NULL, &man);
    rc = ad_mpi_agree(comm, rc, NULL);
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
                lrc = embfile_create(cfg, config_text, &ef);
            rc = ad_mpi_agree(comm, lrc, NULL);
        }
        ad_adaptor *per[2] = {models[0], models[1]};
        if (rc == AD_OK)
            rc = eval_split(comm, cfg, config_text, man, ef, per, &b, splits[s], &R);
        block_free(&b);
    }
    if (rc == AD_OK && rank == 0) {
        char out[4200];
        rc = ad_path_join(out, sizeof out, ad_config_get(cfg, "output", "dir"), "eval.nc");
        if (rc == AD_OK)
            rc = ad_evalfile_write(out, R.r, R.n, config_text);
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
    free(R.r);
    ad_adaptor_destroy(models[0]);
    ad_adaptor_destroy(models[1]);
    free(splits);
    free(config_text);
    return rc;
}
