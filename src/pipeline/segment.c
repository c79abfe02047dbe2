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
#include "adaptor/schedule.h"
#include "adaptor/share.h"

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

static void print_scores(const char *split, const char *model, const ad_seg_counts *c)
{
    ad_info("  %-8s %-26s dice %.4f (global %.4f)  iou %.4f (global %.4f)  %.0f images", split,
            model, ad_seg_mean_dice(c), ad_seg_global_dice(c), ad_seg_mean_iou(c),
            ad_seg_global_iou(c), c->images);
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
                       ad_config_source(cfg));
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
                       "leaves none", ad_config_source(cfg), *pct, (long long)train->n);
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

/* Trains the decoder; the best one on the validation split ends up in best_path (and in the
 * model). */
static int train(MPI_Comm comm, const train_opts *o, seg_model *m, const seg_split *tr,
                 const seg_split *va, const char *best_path)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int64_t G = o->batch < tr->n ? o->batch : tr->n;
    if (G < size)
        return ad_fail(AD_ERR_CONFIG, "segment: %lld training images for %d ranks: every rank "
                       "needs an image of each batch (raise [segment] data_pct or use fewer "
                       "ranks)", (long long)tr->n, size);
    int64_t spe = tr->n / G, total = o->epochs * spe;
    if (o->max_steps > 0 && o->max_steps < total)
        total = o->max_steps;
    ad_schedule sched;
    int64_t t0 = (int64_t)(0.4 * (double)total);
    AD_TRY(ad_schedule_init_restarts(&sched, o->lr, t0 < 1 ? 1 : t0, o->lr < 1e-8 ? 0 : 1e-8));
    ad_adamw_opts ao = ad_adamw_default_opts();
    ao.weight_decay = o->wd;
    ad_adamw *opt;
    size_t np = ad_segdec_nparams(m->dec);
    AD_TRY(ad_adamw_create(&opt, np, &ao));
    int64_t *perm = ad_malloc((size_t)tr->n * sizeof *perm, "training order");
    if (!perm) {
        ad_adamw_destroy(opt);
        return AD_ERR_NOMEM;
    }
    ad_info("segment: %lld training images, global batch %lld, %lld updates (%lld per epoch), "
            "decoder %zu parameters, lr %g (cosine warm restarts, T_0 %lld)", (long long)tr->n,
            (long long)G, (long long)total, (long long)spe, np, o->lr, (long long)sched.period);
    int64_t off, b;
    ad_share(G, rank, size, &off, &b);
    double best = -1, loss_sum = 0, t_valid = 0;
    int64_t best_step = 0, nloss = 0, images = 0;
    double t_start = ad_now();
    ad_progress prog;
    ad_progress_start(&prog, "segment: train", "updates", total, o->log_every);
    int rc = AD_OK;
    for (int64_t k = 1; k <= total && rc == AD_OK; k++) {
        int64_t epoch = (k - 1) / spe, pos = (k - 1) % spe;
        if (pos == 0) {
            ad_rng r;
            ad_rng_seed(&r, (uint64_t)o->seed, 0x5e6d0000ull + (uint64_t)epoch);
            for (int64_t i = 0; i < tr->n; i++)
                perm[i] = i;
            ad_rng_shuffle(&r, perm, tr->n);
        }
        int64_t idx[256];
        for (int64_t i = 0; i < b; i++)
            idx[i] = perm[pos * G + off + i];
        /* agreed first: the forward's BatchNorm is collective */
        rc = ad_mpi_agree(comm, seg_prepare(m, tr, idx, (int)b), NULL);
        double t1 = ad_now();
        ad_seg_loss_parts lp = {0};
        ad_segdec_zero_grad(m->dec);
        if (rc == AD_OK)
            rc = ad_segdec_forward(m->dec, m->in, (int)b, m->logits, 1, comm);
        ad_reduce red = ad_mpi_sum(&comm);
        if (rc == AD_OK)
            rc = ad_seg_mixed_loss(m->logits, m->target, (size_t)b * m->cc, 10.0f, 2.0f,
                                   m->dlogits, &lp, &red);
        if (rc == AD_OK)
            rc = ad_segdec_backward(m->dec, m->dlogits, NULL, comm);
        double t2 = ad_now();
        m->t_decoder += t2 - t1;
        rc = ad_mpi_agree(comm, rc, NULL);
        if (rc == AD_OK && MPI_Allreduce(MPI_IN_PLACE, ad_segdec_grads(m->dec), (int)np, MPI_FLOAT,
                                         MPI_SUM, comm) != MPI_SUCCESS)
            rc = ad_fail(AD_ERR_MPI, "segment: gradient all-reduce failed");
        m->t_comm += ad_now() - t2;
        if (rc == AD_OK)
            rc = ad_adamw_step(opt, ad_segdec_params(m->dec), ad_segdec_grads(m->dec),
                               ad_schedule_lr(&sched, k), NULL);
        if (rc != AD_OK)
            break;
        loss_sum += lp.loss;
        nloss++;
        images += G;
        char extra_text[128];
        snprintf(extra_text, sizeof extra_text, "loss %.4f (soft dice %.3f) lr %.2e epoch %lld",
                 loss_sum / (double)nloss, lp.dice, ad_schedule_lr(&sched, k), (long long)epoch);
        if (k % o->log_every == 0) {
            loss_sum = 0;
            nloss = 0;
        }
        ad_progress_step(&prog, 1, extra_text);
        int due = o->eval_every > 0 ? k % o->eval_every == 0 : pos == spe - 1;
        if (due || k == total) {
            /* validation time is kept out of the training rate and split */
            seg_scores sc;
            double keep[3] = {m->t_read, m->t_adaptor, m->t_decoder}, tv0 = ad_now();
            rc = seg_score_split(comm, m, va, &sc);
            m->t_read = keep[0];
            m->t_adaptor = keep[1];
            m->t_decoder = keep[2];
            t_valid += ad_now() - tv0;
            double d = rc == AD_OK ? ad_seg_mean_dice(&sc.model) : 0;
            if (rc == AD_OK && d > best) {
                best = d;
                best_step = k;
                rc = ad_mpi_agree(comm, rank == 0 ? ad_segdec_save(m->dec, best_path) : AD_OK,
                                  NULL);
            }
            if (rc == AD_OK)
                ad_info("segment: update %lld: %s Dice %.4f (best %.4f at update %lld)",
                        (long long)k, va->name, d, best, (long long)best_step);
        }
    }
    double secs = ad_now() - t_start - t_valid;
    if (rc == AD_OK) {
        ad_progress_finish(&prog, NULL);
        double tot = m->t_read + m->t_adaptor + m->t_decoder + m->t_comm;
        tot = tot > 0 ? tot : 1;
        ad_info("segment: trained in %.1f s (+ %.1f s validating), %.1f images/s (%d rank%s); "
                "rank 0's time: inputs %.0f%%, %s %.0f%%, decoder %.0f%%, gradient "
                "all-reduce %.0f%%", secs, t_valid, secs > 0 ? (double)images / secs : 0.0, size,
                size > 1 ? "s" : "",
                100 * m->t_read / tot, m->rn ? "frozen ResNet" : "Adaptor",
                100 * m->t_adaptor / tot, 100 * m->t_decoder / tot,
                100 * m->t_comm / tot);
        ad_info("segment: best %s Dice %.4f at update %lld", va->name, best, (long long)best_step);
        /* Every rank continues with the selected decoder. */
        MPI_Barrier(comm);
        rc = ad_mpi_agree(comm, ad_segdec_load(m->dec, best_path), NULL);
    }
    free(perm);
    ad_adamw_destroy(opt);
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
        int64_t idx[256];
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
    char dir[4200], best[4300], **splits = NULL, *config_text = NULL;
    int nsplits = 0, positive = strcmp(ad_config_get(cfg, "segment", "rows"), "positive") == 0;
    double pct = 1;
    train_opts o;
    int rc = output_dir(cfg, dir, sizeof dir);
    if (rc == AD_OK)
        rc = read_opts(cfg, &o);
    if (rc == AD_OK)
        rc = ad_config_dump(cfg, &config_text);
    if (rc == AD_OK)
        rc = ad_config_list(cfg, "segment", "splits", &splits, &nsplits);
    if (rc == AD_OK && nsplits != 3)
        rc = ad_fail(AD_ERR_CONFIG, "%s: [segment] splits needs 3 names (train, selection, test)",
                     ad_config_source(cfg));
    /* ResNet: the U-Net on the frozen stages; the Adaptor has no path over feature maps. */
    int resnet = strcmp(ad_config_get(cfg, "image_encoder", "arch"), "resnet") == 0;
    if (rc == AD_OK && resnet && strcmp(ad_config_get(cfg, "segment", "features"), "adaptor") == 0)
        rc = ad_fail(AD_ERR_CONFIG, "%s: [segment] features = adaptor needs [image_encoder] arch "
                     "= dinov2 (with arch = resnet the U-Net reads the frozen ResNet's stages: "
                     "set features = encoder)", ad_config_source(cfg));
    if (rc == AD_OK)
        rc = seg_source_open(cfg, &src);
    if (rc == AD_OK && rank == 0)
        rc = ad_mkdir_p(dir);
    if (rc == AD_OK && rank == 0)
        rc = ad_config_write(cfg, dir);
    rc = ad_mpi_agree(comm, rc, NULL);
    for (int s = 0; s < 3 && rc == AD_OK; s++) {
        rc = seg_split_load(comm, &src, splits[s], positive, &sp[s]);
        if (rc == AD_OK && s == 0)
            rc = ad_mpi_agree(comm, take_fraction(cfg, &sp[0], (size_t)src.crop * src.crop, dir,
                                                  rank, &pct), NULL);
        if (rc == AD_OK && !resnet)
            rc = seg_token_cache(comm, cfg, config_text, src.path, &sp[s]);
        if (rc == AD_OK)
            ad_info("segment: split %s: %lld images (%lld candidates)", splits[s],
                    (long long)sp[s].n, (long long)sp[s].ncand);
    }
    int size;
    MPI_Comm_size(comm, &size);
    int cap = rc == AD_OK ? (int)((o.batch + size - 1) / size) : 1;
    cap = cap > 256 ? 256 : cap;
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, seg_model_create(cfg, sp[0].cache, cap, src.crop, &m), NULL);
    const char *feat = ad_config_get(cfg, "segment", "features"), *model = seg_model_name(cfg);
    if (rc == AD_OK) {
        ad_segdec_init(m.dec, (uint64_t)o.seed);
        rc = ad_path_join(best, sizeof best, dir, "decoder.safetensors");
    }
    if (rc == AD_OK)
        rc = train(comm, &o, &m, &sp[0], &sp[1], best);
    for (int s = 1; s < 3 && rc == AD_OK; s++) {
        seg_scores sc;
        rc = seg_score_split(comm, &m, &sp[s], &sc);
        if (rc == AD_OK && s == 1)
            ad_info("segment: Dice per image (mean) and pooled over all pixels (global):");
        if (rc == AD_OK) {
            print_scores(splits[s], model, &sc.model);
            print_scores(splits[s], "all_background", &sc.bg);
            print_scores(splits[s], "all_foreground", &sc.fg);
            rc = record_scores(&R, splits[s], model, &sc.model);
        }
        if (rc == AD_OK)
            rc = record_scores(&R, splits[s], "all_background", &sc.bg);
        if (rc == AD_OK)
            rc = record_scores(&R, splits[s], "all_foreground", &sc.fg);
    }
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
                lrc = ad_evalfile_write_attrs(out, R.r, R.n, config_text, attrs, 4);
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
    free(config_text);
    return rc;
}
