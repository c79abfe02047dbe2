/* `adaptor segment`: training the decoder data-parallel, selecting it on the validation
 * Dice, scoring it on the test split (include/adaptor/segment.h). */
#include "adaptor/segment.h"

#include "segment_internal.h"

#include "adaptor/adamw.h"
#include "adaptor/error.h"
#include "adaptor/evalfile.h"
#include "adaptor/fsutil.h"
#include "adaptor/label_fraction.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/runlock.h"
#include "adaptor/schedule.h"
#include "adaptor/share.h"
#include "adaptor/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int record_scores(ad_eval_records *R, const char *split, const char *model, const ad_seg_counts *c)
{
    AD_TRY(ad_eval_records_add(R, split, model, "dice_mean", ad_seg_mean_dice(c)));
    AD_TRY(ad_eval_records_add(R, split, model, "dice_global", ad_seg_global_dice(c)));
    AD_TRY(ad_eval_records_add(R, split, model, "iou_mean", ad_seg_mean_iou(c)));
    AD_TRY(ad_eval_records_add(R, split, model, "iou_global", ad_seg_global_iou(c)));
    return ad_eval_records_add(R, split, model, "images", c->images);
}

/* A split's table: the decoder against the constant predictions. */
static int scores_table(const char *split, const char *model, const seg_scores *sc,
                        ad_table **t)
{
    static const ad_table_col cols[4] = {{"dice_mean", 4}, {"dice_global", 4}, {"iou_mean", 4},
                                         {"iou_global", 4}};
    const char *names[3] = {model, "all_background", "all_foreground"};
    const ad_seg_counts *c[3] = {&sc->model, &sc->bg, &sc->fg};
    char title[256];
    snprintf(title, sizeof title, "segmentation on %s (%.0f images; Dice and IoU per image "
             "(mean) and over all pixels (global))", split, sc->model.images);
    AD_TRY(ad_table_create(title, "model", cols, 4, t));
    for (int i = 0; i < 3; i++) {
        double row[4] = {ad_seg_mean_dice(c[i]), ad_seg_global_dice(c[i]), ad_seg_mean_iou(c[i]),
                         ad_seg_global_iou(c[i])};
        AD_TRY(ad_table_add(*t, names[i], row));
    }
    return AD_OK;
}

/* The training samples after [segment] data_pct, listed for the record: classification's
 * stratified fraction, with "the mask has foreground" as the label (so rows = all keeps the
 * share of empty masks). */
static int take_fraction(const ad_config *cfg, seg_split *train, size_t cc, const char *dir,
                         int rank, double *pct)
{
    int64_t seed, *idx, k;
    AD_TRY(ad_config_float(cfg, "segment", "data_pct", pct));
    AD_TRY(ad_config_int(cfg, "train", "seed", &seed));
    if (!(*pct > 0))
        return ad_fail(AD_ERR_CONFIG, "%s: [segment] data_pct must be above 0",
                       ad_config_where(cfg, "segment", "data_pct"));
    int8_t *fg = ad_calloc((size_t)train->n, 1, "foreground flags");
    if (!fg)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < train->n; i++)
        for (size_t p = 0; p < cc && !fg[i]; p++)
            fg[i] = train->mask[(size_t)i * cc + p] != 0;
    int rc = ad_label_fraction(fg, train->n, 1, AD_TASK_BINARY, *pct, (uint64_t)seed, &idx, &k);
    free(fg);
    AD_TRY(rc);
    if (k == 0) {
        free(idx);
        return ad_fail(AD_ERR_CONFIG, "%s: [segment] data_pct = %g of %lld training images "
                       "leaves none", ad_config_where(cfg, "segment", "data_pct"), *pct,
                       (long long)train->n);
    }
    rc = seg_split_keep(train, idx, k, cc);
    free(idx);
    if (rc != AD_OK || rank != 0)
        return rc;
    size_t cap = 64 + (size_t)train->n * 64, len = 0;
    for (int64_t i = 0; i < train->n; i++)
        cap += strlen(train->image[train->cand[i]]);
    char *text = ad_malloc(cap, "train_rows.csv"), path[4200];
    if (!text)
        return AD_ERR_NOMEM;
    len += (size_t)snprintf(text, cap, "row_id,line,image\n");
    for (int64_t i = 0; i < train->n; i++) {
        int64_t c = train->cand[i];
        len += (size_t)snprintf(text + len, cap - len, "%lld,%lld,%s\n", (long long)train->id[c],
                                (long long)train->line[c], train->image[c]);
    }
    rc = ad_path_join(path, sizeof path, dir, "train_rows.csv");
    if (rc == AD_OK)
        rc = ad_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

typedef struct train_opts {
    int64_t batch, epochs, max_steps, eval_every, log_every, seed;
    double lr, wd;
    const ad_provenance *prov; /* stamped on the saved decoder */
} train_opts;

static int read_opts(const ad_config *cfg, train_opts *o)
{
    AD_TRY(ad_config_int(cfg, "segment", "batch_size", &o->batch));
    AD_TRY(ad_config_int(cfg, "segment", "epochs", &o->epochs));
    o->max_steps = 0;
    if (ad_config_is_set(cfg, "segment", "max_steps"))
        AD_TRY(ad_config_int(cfg, "segment", "max_steps", &o->max_steps));
    AD_TRY(ad_config_int(cfg, "segment", "eval_every", &o->eval_every));
    AD_TRY(ad_config_int(cfg, "segment", "log_every", &o->log_every));
    AD_TRY(ad_config_int(cfg, "train", "seed", &o->seed));
    AD_TRY(ad_config_float(cfg, "segment", "lr", &o->lr));
    return ad_config_float(cfg, "segment", "weight_decay", &o->wd);
}

/* The training loop's state: its plan, optimiser, order and what it reports. */
typedef struct seg_loop {
    int64_t G, spe, total; /* global batch, updates per epoch, updates */
    ad_schedule sched;
    ad_adamw *opt;
    size_t np;
    int64_t *perm; /* the epoch's order of the training images */
    double loss_sum, best, t_start, t_valid;
    int64_t nloss, best_step, images;
} seg_loop;

static void loop_free(seg_loop *L)
{
    free(L->perm);
    ad_adamw_destroy(L->opt);
}

/* The schedule (cosine warm restarts, T_0 = 40% of the updates), AdamW and the order buffer. */
static int loop_create(const train_opts *o, seg_model *m, const seg_split *tr, int size,
                       seg_loop *L)
{
    memset(L, 0, sizeof *L);
    L->G = o->batch < tr->n ? o->batch : tr->n;
    if (L->G < size)
        return ad_fail(AD_ERR_CONFIG, "segment: %lld training images for %d ranks: every rank "
                       "needs an image of each batch (raise [segment] data_pct or use fewer "
                       "ranks)", (long long)tr->n, size);
    L->spe = tr->n / L->G;
    L->total = o->epochs * L->spe;
    if (o->max_steps > 0 && o->max_steps < L->total)
        L->total = o->max_steps;
    int64_t t0 = (int64_t)(0.4 * (double)L->total);
    AD_TRY(ad_schedule_init_restarts(&L->sched, o->lr, t0 < 1 ? 1 : t0, o->lr < 1e-8 ? 0 : 1e-8));
    ad_adamw_opts ao = ad_adamw_default_opts();
    ao.weight_decay = o->wd;
    L->np = ad_segdec_nparams(m->dec);
    AD_TRY(ad_adamw_create(&L->opt, L->np, &ao));
    L->perm = ad_malloc((size_t)tr->n * sizeof *L->perm, "training order");
    if (!L->perm) {
        loop_free(L);
        return AD_ERR_NOMEM;
    }
    L->best = -1;
    ad_info("segment: %lld training images, global batch %lld, %lld updates (%lld per epoch), "
            "decoder %zu parameters, lr %g (cosine warm restarts, T_0 %lld)", (long long)tr->n,
            (long long)L->G, (long long)L->total, (long long)L->spe, L->np, o->lr,
            (long long)L->sched.period);
    return AD_OK;
}

/* The same seeded order on every rank, a new one each epoch. */
static void epoch_order(uint64_t seed, int64_t epoch, int64_t *perm, int64_t n)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 0x5e6d0000ull + (uint64_t)epoch);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    ad_rng_shuffle(&r, perm, n);
}

/* One update k on this rank's b images idx: forward, loss, backward, gradient all-reduce,
 * AdamW. Collective. */
static int update(MPI_Comm comm, seg_model *m, seg_loop *L, const seg_split *tr,
                  const int64_t *idx, int b, int64_t k, ad_seg_loss_parts *lp)
{
    /* agreed first: the forward's BatchNorm is collective */
    int rc = ad_mpi_agree(comm, seg_prepare(m, tr, idx, b), NULL);
    double t1 = ad_now();
    ad_segdec_zero_grad(m->dec);
    if (rc == AD_OK)
        rc = ad_segdec_forward(m->dec, m->in, b, m->logits, 1, comm);
    ad_reduce red = ad_mpi_sum(&comm);
    if (rc == AD_OK)
        rc = ad_seg_mixed_loss(m->logits, m->target, (size_t)b * m->cc, 10.0f, 2.0f, m->dlogits,
                               lp, &red);
    if (rc == AD_OK)
        rc = ad_segdec_backward(m->dec, m->dlogits, NULL, comm);
    double t2 = ad_now();
    m->t_decoder += t2 - t1;
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK && MPI_Allreduce(MPI_IN_PLACE, ad_segdec_grads(m->dec), (int)L->np, MPI_FLOAT,
                                     MPI_SUM, comm) != MPI_SUCCESS)
        rc = ad_fail(AD_ERR_MPI, "segment: gradient all-reduce failed");
    m->t_comm += ad_now() - t2;
    if (rc == AD_OK)
        rc = ad_adamw_step(L->opt, ad_segdec_params(m->dec), ad_segdec_grads(m->dec),
                           ad_schedule_lr(&L->sched, k), NULL);
    return rc;
}

/* The progress line: the loss averaged since the last line. */
static void log_update(ad_progress *prog, seg_loop *L, const ad_seg_loss_parts *lp, int64_t k,
                       int64_t epoch, int64_t log_every)
{
    L->loss_sum += lp->loss;
    L->nloss++;
    L->images += L->G;
    char extra_text[128];
    snprintf(extra_text, sizeof extra_text, "loss %.4f (soft dice %.3f) lr %.2e epoch %lld",
             L->loss_sum / (double)L->nloss, lp->dice, ad_schedule_lr(&L->sched, k),
             (long long)epoch + 1);
    if (k % log_every == 0) {
        L->loss_sum = 0;
        L->nloss = 0;
    }
    ad_progress_step(prog, 1, extra_text);
}

/* The Dice on the validation split after update k; a new best decoder goes to best_path.
 * Its time is kept out of the training rate and split. Collective. */
static int validate(MPI_Comm comm, seg_model *m, seg_loop *L, const seg_split *va,
                    const char *best_path, int64_t k, const ad_provenance *prov)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    seg_scores sc;
    double keep[3] = {m->t_read, m->t_adaptor, m->t_decoder}, tv0 = ad_now();
    int rc = seg_score_split(comm, m, va, &sc);
    m->t_read = keep[0];
    m->t_adaptor = keep[1];
    m->t_decoder = keep[2];
    L->t_valid += ad_now() - tv0;
    double d = rc == AD_OK ? ad_seg_mean_dice(&sc.model) : 0;
    if (rc == AD_OK && d > L->best) {
        L->best = d;
        L->best_step = k;
        rc = ad_mpi_agree(comm, rank == 0 ? ad_segdec_save(m->dec, best_path, prov) : AD_OK, NULL);
    }
    if (rc == AD_OK)
        ad_info("segment: update %lld: %s Dice %.4f (best %.4f at update %lld)", (long long)k,
                va->name, d, L->best, (long long)L->best_step);
    return rc;
}

/* Where the time went (rank 0's timers), then every rank continues with the best decoder. */
static int finish(MPI_Comm comm, seg_model *m, const seg_loop *L, const seg_split *va,
                  const char *best_path)
{
    int size;
    MPI_Comm_size(comm, &size);
    double secs = ad_now() - L->t_start - L->t_valid;
    double tot = m->t_read + m->t_adaptor + m->t_decoder + m->t_comm;
    tot = tot > 0 ? tot : 1;
    ad_info("segment: trained in %.1f s (+ %.1f s validating), %.1f images/s (%d rank%s); "
            "rank 0's time: inputs %.0f%%, %s %.0f%%, decoder %.0f%%, gradient "
            "all-reduce %.0f%%", secs, L->t_valid, secs > 0 ? (double)L->images / secs : 0.0,
            size, size > 1 ? "s" : "", 100 * m->t_read / tot,
            m->rn ? "frozen ResNet" : "Adaptor", 100 * m->t_adaptor / tot,
            100 * m->t_decoder / tot, 100 * m->t_comm / tot);
    ad_info("segment: best %s Dice %.4f at update %lld", va->name, L->best,
            (long long)L->best_step);
    MPI_Barrier(comm);
    return ad_mpi_agree(comm, ad_segdec_load(m->dec, best_path), NULL);
}

/* Trains the decoder; the best one on the validation split ends up in best_path (and in the
 * model). */
static int train(MPI_Comm comm, const train_opts *o, seg_model *m, const seg_split *tr,
                 const seg_split *va, const char *best_path)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    seg_loop L;
    AD_TRY(loop_create(o, m, tr, size, &L));
    int64_t G = L.G;
    int64_t off, b;
    ad_share(G, rank, size, &off, &b);
    L.t_start = ad_now();
    ad_progress prog;
    ad_progress_start(&prog, "segment: train", "updates", L.total, o->log_every);
    int rc = AD_OK;
    for (int64_t k = 1; k <= L.total && rc == AD_OK; k++) {
        int64_t epoch = (k - 1) / L.spe, pos = (k - 1) % L.spe;
        if (pos == 0)
            epoch_order((uint64_t)o->seed, epoch, L.perm, tr->n);
        int64_t *idx = m->idx;
        for (int64_t i = 0; i < b; i++)
            idx[i] = L.perm[pos * G + off + i];
        ad_seg_loss_parts lp = {0};
        rc = update(comm, m, &L, tr, idx, (int)b, k, &lp);
        if (rc != AD_OK)
            break;
        log_update(&prog, &L, &lp, k, epoch, o->log_every);
        int due = o->eval_every > 0 ? k % o->eval_every == 0 : pos == L.spe - 1;
        if (due || k == L.total)
            rc = validate(comm, m, &L, va, best_path, k, o->prov);
    }
    if (rc == AD_OK) {
        ad_progress_finish(&prog, NULL);
        rc = finish(comm, m, &L, va, best_path);
    }
    loop_free(&L);
    return rc;
}

/* Rank 0: predictions for the first overlays of the test split. */
static int overlays(const ad_config *cfg, const seg_source *src, seg_model *m,
                    const seg_split *te, const char *dir)
{
    int64_t want;
    AD_TRY(ad_config_int(cfg, "segment", "overlays", &want));
    int n = (int)(want < te->n ? want : te->n);
    if (n == 0)
        return AD_OK;
    float *logits = ad_malloc((size_t)n * m->cc * sizeof(float), "overlay predictions");
    if (!logits)
        return AD_ERR_NOMEM;
    int rc = AD_OK;
    for (int at = 0; rc == AD_OK && at < n; at += m->cap) {
        int nb = n - at < m->cap ? n - at : m->cap;
        int64_t *idx = m->idx;
        for (int i = 0; i < nb; i++)
            idx[i] = at + i;
        rc = seg_prepare(m, te, idx, nb);
        if (rc == AD_OK)
            rc = ad_segdec_forward(m->dec, m->in, nb, logits + (size_t)at * m->cc, 0,
                                   MPI_COMM_NULL);
    }
    if (rc == AD_OK)
        rc = seg_write_overlays(dir, src, te, logits, n);
    free(logits);
    return rc;
}

static int output_dir(const ad_config *cfg, char *out, size_t n)
{
    if (ad_config_is_set(cfg, "segment", "dir")) {
        snprintf(out, n, "%s", ad_config_get(cfg, "segment", "dir"));
        return AD_OK;
    }
    AD_TRY(ad_config_require(cfg, "output", "dir"));
    return ad_path_join(out, n, ad_config_get(cfg, "output", "dir"), "segment");
}

static void dataset_name(const ad_config *cfg, const seg_source *src, char *out, size_t n)
{
    if (ad_config_is_set(cfg, "segment", "dataset")) {
        snprintf(out, n, "%s", ad_config_get(cfg, "segment", "dataset"));
        return;
    }
    /* the name of the manifest's folder */
    const char *p = src->path, *end = strrchr(p, '/'), *start = p;
    if (!end) {
        snprintf(out, n, ".");
        return;
    }
    for (const char *q = p; q < end; q++)
        if (*q == '/')
            start = q + 1;
    size_t len = (size_t)(end - start);
    len = len < n - 1 ? len : n - 1;
    memcpy(out, start, len);
    out[len] = '\0';
}

int ad_segment(MPI_Comm comm, const ad_config *cfg)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    seg_source src;
    seg_split sp[3];
    seg_model m;
    ad_eval_records R = {0};
    memset(sp, 0, sizeof sp);
    memset(&m, 0, sizeof m);
    memset(&src, 0, sizeof src);
    char dir[4200], best[4300], **splits = NULL;
    int nsplits = 0;
    double pct = 1;
    train_opts o;
    ad_provenance *prov = NULL;
    ad_job job;
    int rc = ad_job_parse(cfg, &job);
    int positive = job.seg_rows == AD_SEG_ROWS_POSITIVE;
    if (rc == AD_OK)
        rc = ad_prov_create(comm, cfg, &prov); /* collective: on every rank */
    if (rc == AD_OK)
        rc = output_dir(cfg, dir, sizeof dir);
    if (rc == AD_OK)
        rc = read_opts(cfg, &o);
    o.prov = prov;
    if (rc == AD_OK)
        rc = ad_config_list(cfg, "segment", "splits", &splits, &nsplits);
    if (rc == AD_OK && nsplits != 3)
        rc = ad_fail(AD_ERR_CONFIG, "%s: [segment] splits needs 3 names (train, selection, test)",
                     ad_config_where(cfg, "segment", "splits"));
    /* ResNet: the U-Net on the frozen stages; the Adaptor has no path over feature maps. */
    int resnet = job.arch == AD_ARCH_RESNET;
    if (rc == AD_OK && resnet && job.seg_features == AD_SEG_FEATURES_ADAPTOR)
        rc = ad_fail(AD_ERR_CONFIG, "%s: [segment] features = adaptor needs [image_encoder] arch "
                     "= dinov2 (with arch = resnet the U-Net reads the frozen ResNet's stages: "
                     "set features = encoder)", ad_config_where(cfg, "segment", "features"));
    if (rc == AD_OK && job.arch == AD_ARCH_RESNET_AE)
        rc = ad_fail(AD_ERR_CONFIG, "%s: segment does not support arch = resnet_ae (its 3 x 3 "
                     "feature map fits neither decoder)",
                     ad_config_where(cfg, "image_encoder", "arch"));
    if (rc == AD_OK)
        rc = seg_source_open(cfg, &job, &src);
    rc = ad_mpi_agree(comm, rc, NULL);
    ad_runlock *lock = NULL;
    if (rc == AD_OK)
        rc = ad_runlock_acquire_job(comm, dir, "segment", &lock);
    if (rc == AD_OK && rank == 0)
        rc = ad_config_write(cfg, dir);
    rc = ad_mpi_agree(comm, rc, NULL);
    for (int s = 0; s < 3 && rc == AD_OK; s++) {
        rc = seg_split_load(comm, &src, splits[s], positive, &sp[s]);
        if (rc == AD_OK && s == 0)
            rc = ad_mpi_agree(comm, take_fraction(cfg, &sp[0], (size_t)src.crop * src.crop, dir,
                                                  rank, &pct), NULL);
        if (rc == AD_OK && !resnet)
            rc = seg_token_cache(comm, cfg, prov, src.path, &sp[s]);
        if (rc == AD_OK)
            ad_info("segment: split %s: %lld images (%lld candidates)", splits[s],
                    (long long)sp[s].n, (long long)sp[s].ncand);
    }
    int size;
    MPI_Comm_size(comm, &size);
    int cap = rc == AD_OK ? (int)((o.batch + size - 1) / size) : 1;
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, seg_model_create(cfg, &job, sp[0].cache, cap, src.crop, &m), NULL);
    const char *feat = ad_config_get(cfg, "segment", "features"), *model = seg_model_name(&job);
    if (rc == AD_OK) {
        ad_segdec_init(m.dec, (uint64_t)o.seed);
        rc = ad_path_join(best, sizeof best, dir, "decoder.safetensors");
    }
    if (rc == AD_OK)
        rc = train(comm, &o, &m, &sp[0], &sp[1], best);
    ad_table *tables[3] = {NULL, NULL, NULL};
    for (int s = 1; s < 3 && rc == AD_OK; s++) {
        seg_scores sc;
        rc = seg_score_split(comm, &m, &sp[s], &sc);
        if (rc == AD_OK)
            rc = ad_mpi_agree(comm, scores_table(splits[s], model, &sc, &tables[s]), NULL);
        if (rc == AD_OK)
            rc = record_scores(&R, splits[s], model, &sc.model);
        if (rc == AD_OK)
            rc = record_scores(&R, splits[s], "all_background", &sc.bg);
        if (rc == AD_OK)
            rc = record_scores(&R, splits[s], "all_foreground", &sc.fg);
    }
    for (int s = 1; s < 3 && rc == AD_OK; s++)
        rc = ad_table_print(tables[s]);
    rc = ad_mpi_agree(comm, rc, NULL);
    for (int s = 1; s < 3; s++)
        ad_table_destroy(tables[s]);
    if (rc == AD_OK) {
        int lrc = AD_OK;
        if (rank == 0) {
            char out[4300], dataset[256], pcts[32];
            dataset_name(cfg, &src, dataset, sizeof dataset);
            snprintf(pcts, sizeof pcts, "%g", pct);
            ad_eval_attr attrs[] = {{"task", "segment"}, {"dataset", dataset}, {"data_pct", pcts},
                                    {"features", feat}};
            lrc = ad_eval_records_add(&R, splits[0], model, "images", (double)sp[0].n);
            if (lrc == AD_OK)
                lrc = ad_path_join(out, sizeof out, dir, "eval.nc");
            if (lrc == AD_OK)
                lrc = ad_evalfile_write_attrs(out, R.r, R.n, prov, attrs, 4);
            if (lrc == AD_OK)
                lrc = overlays(cfg, &src, &m, &sp[2], dir);
            if (lrc == AD_OK)
                ad_info("segment: %zu numbers written to %s; overlays in %s/overlays", R.n, out, dir);
        }
        rc = ad_mpi_agree(comm, lrc, NULL);
    }
    free(R.r);
    seg_model_free(&m);
    for (int s = 0; s < 3; s++)
        seg_split_free(&sp[s]);
    seg_source_close(&src);
    free(splits);
    ad_prov_destroy(prov);
    ad_runlock_release(lock);
    return rc;
}
