#include "adaptor/trainer.h"

#include "adaptor/adamw.h"
#include "adaptor/adaptor.h"
#include "adaptor/cache.h"
#include "adaptor/checkpoint.h"
#include "adaptor/dp.h"
#include "adaptor/error.h"
#include "adaptor/frozen.h"
#include "adaptor/fsutil.h"
#include "adaptor/job.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/metrics.h"
#include "adaptor/pipeline.h"
#include "adaptor/provenance.h"
#include "adaptor/resume.h"
#include "adaptor/runlock.h"
#include "adaptor/rng.h"
#include "adaptor/runstate.h"
#include "adaptor/safetensors.h"
#include "adaptor/schedule.h"
#include "adaptor/trainplan.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signals are process-wide by nature; the loop polls the flag at step boundaries. */
static volatile sig_atomic_t g_stop_requested = 0;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop_requested = 1;
}

void ad_trainer_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

typedef struct trainer {
    MPI_Comm comm;
    int rank, size;
    const ad_config *cfg;
    ad_job job;           /* the job's choices */
    ad_provenance *prov;  /* stamped on every output; config included */
    ad_runstate state;    /* rank 0: state.json of the run folder (state.stage "" until open) */
    char run_dir[4096];
    ad_cache *img, *txt;
    int64_t *pair_img, *pair_txt; /* sample k = image row pair_img[k], text row pair_txt[k] */
    int64_t N, G, spe, total;
    ad_train_plan plan;   /* steps per epoch, the partial last batch, T of the schedule */
    uint64_t seed;
    int64_t *order;
    int64_t order_key;    /* epoch whose order is in `order` (-1: none) */
    int64_t win_key, win_first, win_n; /* steps [first, first + n) of epoch win_key loaded */
    int64_t win_cap;      /* steps that fit in the buffers */
    int nloc;             /* this rank's share of a full global batch (the most it holds) */
    int online;           /* [train] source = online: the frozen encoders run every step */
    int augment;          /* online: random crops */
    ad_manifest *man;     /* online: the manifest, its training rows and the encoders */
    ad_selection sel;
    ad_frozen enc[2];
    const char *source;   /* what the samples come from, for messages */
    int dv, dt;           /* embedding sizes */
    int tv, tt;           /* tokens per image / report (0: pooled caches) */
    size_t row_v, row_t;  /* floats per sample in each cache */
    float *xv, *xt;       /* [win_cap * nloc, row] this rank's rows of the loaded steps */
    uint8_t *tmask;       /* [win_cap * nloc, tt] token mode */
    int64_t *orows;       /* online: [nloc] this step's manifest rows */
    ad_adaptor *m;
    ad_adamw *opt;
    ad_schedule sched;
    ad_dp *dp;
    ad_metrics *metrics;
    ad_runlock *lock;     /* rank 0: the run folder's lock */
    int64_t ckpt_every, keep, log_every;
    double *rank_times;   /* [size][3] gathered on rank 0 */
    /* Validation split (pooled or token caches beside the training ones; NULL: none). */
    ad_cache *vimg, *vtxt;
    int64_t *vpair_img, *vpair_txt, vN;
    ad_train_plan vplan;  /* the validation pass: batches of G, the last one partial */
    float *vxv, *vxt;     /* [nloc, row] one validation batch's rows (made at its first use) */
    uint8_t *vmask;       /* [nloc, tt] */
    int64_t *vrows;       /* [2 nloc] its cache rows, image then text */
} trainer;

/* The RNG streams of the run: all derive from [train] seed, keyed so that a stream never
 * depends on the rank count or on how the run was cut by resumes. */
static uint64_t order_stream(const trainer *t, int64_t epoch)
{
    return t->job.shuffle == AD_SHUFFLE_EPOCH ? 0x5348554646ull + (uint64_t)epoch : 0x5348554646ull;
}

static uint64_t step_stream(uint64_t kind, int64_t step, int rank)
{
    return kind ^ ((uint64_t)step << 20) ^ (uint64_t)rank;
}

#define METRICS_FLUSH_SECONDS 30.0
#define CROP_STREAM 0x43524f50ull
#define DROPOUT_STREAM 0x44524f50ull

static int build_order(trainer *t, int64_t epoch);

static int open_caches(trainer *t)
{
    char path[4096];
    AD_TRY(ad_cache_file(t->cfg, "image", "train", path, sizeof path));
    AD_TRY(ad_cache_open(path, &t->img));
    AD_TRY(ad_cache_file(t->cfg, "text", "train", path, sizeof path));
    AD_TRY(ad_cache_open(path, &t->txt));
    int64_t dropped;
    AD_TRY(ad_cache_pair_rows(t->img, t->txt, &t->pair_img, &t->pair_txt, &t->N, &dropped));
    if (dropped)
        ad_info("pretrain: %lld samples skipped as bad while embedding are left out",
                (long long)dropped);
    int tokens = t->job.tokens;
    const ad_cache *caches[2] = {t->img, t->txt};
    for (int i = 0; i < 2; i++)
        if ((ad_cache_tokens(caches[i]) > 0) != tokens)
            return ad_fail(AD_ERR_CONFIG, "%s: a %s cache, but [adaptor] mode = %s needs %s "
                           "embeddings (image_encoder.output / text_encoder.pooling = %s)",
                           ad_cache_path(caches[i]), tokens ? "pooled" : "token-level",
                           tokens ? "tokens" : "pooled", tokens ? "token" : "pooled",
                           tokens ? "tokens" : "cls / pooler");
    t->tv = ad_cache_tokens(t->img);
    t->tt = ad_cache_tokens(t->txt);
    t->dv = ad_cache_dim(t->img);
    t->dt = ad_cache_dim(t->txt);
    t->row_v = (size_t)(t->tv ? t->tv : 1) * (size_t)t->dv;
    t->row_t = (size_t)(t->tt ? t->tt : 1) * (size_t)t->dt;
    t->source = ad_cache_path(t->img);
    return AD_OK;
}

/* [train] source = online: the training rows of the manifest (the selection embed uses) and
 * both frozen encoders, run on every step's batch. */
static int open_online(trainer *t)
{
    int64_t dropped;
    AD_TRY(ad_manifest_open_config(t->cfg, AD_LABEL_UNCERTAIN, NULL, &t->man));
    AD_TRY(ad_select_rows(t->man, "train", &t->sel, &dropped));
    AD_TRY(ad_frozen_open(&t->enc[0], t->cfg, &t->job, 1, t->prov));
    AD_TRY(ad_frozen_open(&t->enc[1], t->cfg, &t->job, 0, t->prov));
    int tokens = t->job.tokens;
    if ((ad_frozen_tokens(&t->enc[0]) > 0) != tokens ||
        (ad_frozen_tokens(&t->enc[1]) > 0) != tokens)
        return ad_fail(AD_ERR_CONFIG, "%s: [adaptor] mode = %s needs image_encoder.output and "
                       "text_encoder.pooling = %s", ad_config_source(t->cfg),
                       tokens ? "tokens" : "pooled", tokens ? "tokens" : "cls / pooler / mean");
    t->N = t->sel.n;
    t->online = 1;
    t->augment = t->job.augment == AD_AUGMENT_RANDOM_CROP;
    t->tv = ad_frozen_tokens(&t->enc[0]);
    t->tt = ad_frozen_tokens(&t->enc[1]);
    t->dv = ad_frozen_dim(&t->enc[0]);
    t->dt = ad_frozen_dim(&t->enc[1]);
    t->row_v = (size_t)(t->tv ? t->tv : 1) * (size_t)t->dv;
    t->row_t = (size_t)(t->tt ? t->tt : 1) * (size_t)t->dt;
    t->source = ad_manifest_path(t->man);
    if (dropped)
        ad_info("pretrain: %lld training reports dropped by MGCA's rule", (long long)dropped);
    return AD_OK;
}

/* This rank's share of step k of a pass of plan p: the full batch's, or of the partial last
 * one (possibly empty; the rank still joins every collective of the step). */
static void step_share(const trainer *t, const ad_train_plan *p, int64_t k, int *first, int *n)
{
    int64_t f, c;
    ad_train_plan_share(p, k, t->rank, t->size, &f, &c);
    *first = (int)f;
    *n = (int)c;
}

/* One side of this rank's n rows through its frozen encoder, in the encoder's batch size. */
static int encode_side(trainer *t, int side, const int64_t *rows, int n, ad_rng *crop)
{
    return ad_frozen_encode_rows(&t->enc[side], &t->sel, rows, n,
                                 ad_manifest_path(t->man), crop, side == 0 ? t->xv : t->xt,
                                 side == 1 && t->tt ? t->tmask : NULL);
}

/* Online: this rank's share of step k's batch, encoded now (with a fresh random crop per
 * step and rank when augmenting). */
static int load_online(trainer *t, int64_t epoch, int64_t k, int64_t step)
{
    int64_t key = t->job.shuffle == AD_SHUFFLE_EPOCH ? epoch : 0;
    if (t->order_key != key) {
        AD_TRY(build_order(t, epoch));
        t->order_key = key;
    }
    int64_t *rows = t->orows;
    int first, n;
    step_share(t, &t->plan, k, &first, &n);
    for (int i = 0; i < n; i++)
        rows[i] = t->order[k * t->G + first + i];
    ad_rng crop;
    ad_rng_seed(&crop, t->seed, step_stream(CROP_STREAM, step, t->rank));
    AD_TRY(encode_side(t, 0, rows, n, t->augment ? &crop : NULL));
    return encode_side(t, 1, rows, n, NULL);
}

static int build_order(trainer *t, int64_t epoch)
{
    for (int64_t i = 0; i < t->N; i++)
        t->order[i] = i;
    if (t->job.shuffle == AD_SHUFFLE_NONE)
        return AD_OK;
    ad_rng r;
    ad_rng_seed(&r, t->seed, order_stream(t, epoch));
    ad_rng_shuffle(&r, t->order, t->N);
    return AD_OK;
}

/* This rank's rows for steps [k, k + win_cap) of the epoch, read in one pass over each
 * cache: the whole epoch at once for pooled embeddings, a few steps at a time for tokens.
 * Step s of the window starts at row (s - k) * nloc: only the epoch's last step may be
 * smaller, and it is the last of its window. */
static int load_window(trainer *t, int64_t epoch, int64_t k)
{
    int64_t key = t->job.shuffle == AD_SHUFFLE_EPOCH ? epoch : 0;
    if (t->win_key == key && k >= t->win_first && k < t->win_first + t->win_n)
        return AD_OK;
    if (t->order_key != key) {
        AD_TRY(build_order(t, epoch));
        t->order_key = key;
    }
    int64_t steps = t->spe - k < t->win_cap ? t->spe - k : t->win_cap;
    int last_first, last_n;
    step_share(t, &t->plan, k + steps - 1, &last_first, &last_n);
    int64_t n = (steps - 1) * t->nloc + last_n;
    int64_t *rows = ad_malloc((size_t)(n ? n : 1) * 2 * sizeof *rows, "row list");
    if (!rows)
        return AD_ERR_NOMEM;
    for (int64_t s = 0; s < steps; s++) {
        int first, cnt;
        step_share(t, &t->plan, k + s, &first, &cnt);
        for (int i = 0; i < cnt; i++) {
            int64_t sample = t->order[(k + s) * t->G + first + i];
            rows[s * t->nloc + i] = t->pair_img[sample];
            rows[n + s * t->nloc + i] = t->pair_txt[sample];
        }
    }
    int rc = ad_cache_read_rows(t->img, rows, n, t->xv, NULL);
    if (rc == AD_OK)
        rc = ad_cache_read_rows(t->txt, rows + n, n, t->xt, t->tt ? t->tmask : NULL);
    free(rows);
    if (rc == AD_OK) {
        t->win_key = key;
        t->win_first = k;
        t->win_n = steps;
    }
    return rc;
}

/* The valid split's caches, when embed wrote them: the loss on them is logged per epoch.
 * Caches without a usable pair (every sample skipped as bad, no rows) stop the run at once:
 * a validation loss over no pairs is undefined, and silently training without the curve the
 * user embedded the split for would waste the allocation. */
static int open_valid(trainer *t)
{
    char pi[4096], pt[4096];
    AD_TRY(ad_cache_file(t->cfg, "image", "valid", pi, sizeof pi));
    AD_TRY(ad_cache_file(t->cfg, "text", "valid", pt, sizeof pt));
    if (t->online || !ad_path_exists(pi) || !ad_path_exists(pt)) {
        ad_info("pretrain: no valid-split caches%s: no validation loss",
                t->online ? " (online training)" : "");
        return AD_OK;
    }
    int64_t dropped;
    int rc = ad_cache_open(pi, &t->vimg);
    if (rc == AD_OK)
        rc = ad_cache_open(pt, &t->vtxt);
    if (rc == AD_OK)
        rc = ad_cache_pair_rows(t->vimg, t->vtxt, &t->vpair_img, &t->vpair_txt, &t->vN,
                                &dropped);
    if (rc != AD_OK)
        return ad_set_hint(ad_fail_ctx(rc, "valid split (the validation loss)"), "re-embed the "
                           "valid split, or move its two caches out of [cache] dir to pre-train "
                           "without a validation loss");
    if (ad_cache_dim(t->vimg) != t->dv || ad_cache_dim(t->vtxt) != t->dt ||
        ad_cache_tokens(t->vimg) != t->tv || ad_cache_tokens(t->vtxt) != t->tt)
        return ad_fail(AD_ERR_FORMAT, "%s: embeddings of another shape than the training "
                       "caches (%s)", pi, t->source);
    if (dropped)
        ad_info("pretrain: %lld valid samples skipped as bad while embedding are left out of "
                "the validation loss", (long long)dropped);
    /* Never drop: every valid pair counts once, whatever [train] drop_last says. */
    return ad_train_plan_pass(t->vN, t->G, 0, &t->vplan);
}

/* The contrastive loss over every pair of the valid split, no dropout (SPEC 5, "Validation"):
 * the split in its stored order in batches of the global batch G, the last one holding the
 * vN mod G remaining pairs (or the whole split when vN < G), each batch split over the ranks
 * and its negatives those of the training ([train] negatives). Batch k's mean loss L_k over
 * its G_k pairs counts with weight G_k: the value is sum_k G_k L_k / vN, the mean over pairs
 * of each pair's loss terms within its batch -- what Lightning's epoch mean of the
 * reference's per-batch val_loss gives (weighted by batch size). */
static int validate(trainer *t, int64_t step, int64_t epoch)
{
    if (!t->vimg)
        return AD_OK;
    const ad_train_plan *vp = &t->vplan;
    if (!t->vxv) { /* a batch of vplan holds at most a full global batch's share, nloc */
        size_t cap = (size_t)t->nloc;
        t->vxv = ad_malloc(cap * t->row_v * sizeof(float), "valid embeddings");
        t->vxt = ad_malloc(cap * t->row_t * sizeof(float), "valid embeddings");
        t->vmask = ad_malloc(cap * (size_t)(t->tt ? t->tt : 1), "valid masks");
        t->vrows = ad_malloc(cap * 2 * sizeof *t->vrows, "valid rows");
    }
    float *xv = t->vxv, *xt = t->vxt;
    uint8_t *mask = t->vmask;
    int64_t *rows = t->vrows;
    int rc = ad_mpi_agree(t->comm, xv && xt && mask && rows ? AD_OK : AD_ERR_NOMEM, NULL);
    double sum[3] = {0, 0, 0};
    for (int64_t k = 0; k < vp->spe && rc == AD_OK; k++) {
        int first, n;
        step_share(t, vp, k, &first, &n);
        int64_t at = k * vp->G + first;
        for (int i = 0; i < n; i++) {
            rows[i] = t->vpair_img[at + i];
            rows[n + i] = t->vpair_txt[at + i];
        }
        rc = ad_cache_read_rows(t->vimg, rows, n, xv, NULL);
        if (rc == AD_OK)
            rc = ad_cache_read_rows(t->vtxt, rows + n, n, xt, t->tt ? mask : NULL);
        rc = ad_mpi_agree(t->comm, rc, NULL);
        ad_dp_stats st;
        ad_adaptor_batch batch = {xv, xt, t->tt ? mask : NULL, t->tv, t->tt};
        if (rc == AD_OK)
            rc = ad_dp_eval(t->dp, t->m, &batch, n, &st);
        if (rc == AD_OK) {
            double gk = (double)ad_train_plan_batch(vp, k);
            sum[0] += gk * st.loss;
            sum[1] += gk * st.loss_i2t;
            sum[2] += gk * st.loss_t2i;
        }
    }
    AD_TRY(rc);
    static const char *const names[3] = {"loss", "loss_i2t", "loss_t2i"};
    if (t->metrics)
        for (int i = 0; i < 3; i++)
            AD_TRY(ad_metrics_append_eval(t->metrics, step, (int)epoch, "valid", names[i],
                                          sum[i] / (double)t->vN));
    char how[96];
    if (vp->spe > 1 && vp->last != vp->G)
        snprintf(how, sizeof how, ": %lld batches of %lld, the last of %lld", (long long)vp->spe,
                 (long long)vp->G, (long long)vp->last);
    else
        snprintf(how, sizeof how, " in batches of %lld", (long long)ad_train_plan_batch(vp, 0));
    ad_info("epoch %lld: valid loss %.4f (%lld pairs%s)", (long long)epoch + 1,
            sum[0] / (double)t->vN, (long long)t->vN, how);
    return AD_OK;
}

static int build_model(trainer *t)
{
    const ad_config *c = t->cfg;
    double wimg;
    ad_adaptor_config ac;
    AD_TRY(ad_config_float(c, "adaptor", "image_weight", &wimg));
    AD_TRY(ad_adaptor_config_from(c, t->dv, t->dt, t->tv > 0, &ac));
    AD_TRY(ad_adaptor_create(&ac, &t->m));
    ad_adaptor_init(t->m, t->seed);
    if (ad_config_is_set(c, "adaptor", "init"))
        AD_TRY(ad_ckpt_load_weights(ad_config_get(c, "adaptor", "init"), &t->m->layout,
                                    t->m->params));
    AD_TRY(ad_dp_create(t->comm, t->job.negatives == AD_NEGATIVES_GLOBAL, (float)wimg, &t->dp));
    int overlap;
    AD_TRY(ad_config_bool(c, "train", "overlap_allreduce", &overlap));
    ad_dp_set_overlap(t->dp, overlap);

    ad_adamw_opts o = ad_adamw_default_opts();
    AD_TRY(ad_config_float(c, "train", "weight_decay", &o.weight_decay));
    AD_TRY(ad_config_float(c, "train", "grad_clip", &o.max_grad_norm));
    return ad_adamw_create(&t->opt, t->m->nparams, &o);
}

static int plan(trainer *t)
{
    const ad_config *c = t->cfg;
    int64_t seed;
    double lr, warm;
    AD_TRY(ad_config_int(c, "train", "batch_size", &t->G));
    AD_TRY(ad_config_int(c, "train", "seed", &seed));
    AD_TRY(ad_config_float(c, "train", "lr", &lr));
    AD_TRY(ad_config_float(c, "train", "warmup_frac", &warm));
    if (!(warm < 1))
        return ad_fail(AD_ERR_CONFIG, "%s: [train] warmup_frac = %g must be below 1",
                       ad_config_where(c, "train", "warmup_frac"), warm);
    AD_TRY(ad_config_int(c, "train", "checkpoint_every", &t->ckpt_every));
    AD_TRY(ad_config_int(c, "train", "keep_checkpoints", &t->keep));
    AD_TRY(ad_config_int(c, "train", "log_every", &t->log_every));
    t->seed = (uint64_t)seed;
    if (t->G > t->N)
        return ad_fail(AD_ERR_CONFIG, "%s: [train] batch_size = %lld is larger than the %lld "
                       "training samples in %s", ad_config_where(c, "train", "batch_size"),
                       (long long)t->G, (long long)t->N, t->source);
    if (t->G < t->size)
        return ad_fail(AD_ERR_CONFIG, "%s: [train] batch_size = %lld is smaller than the %d "
                       "ranks (every rank needs at least one pair)",
                       ad_config_where(c, "train", "batch_size"), (long long)t->G, t->size);
    AD_TRY(ad_train_plan_make(c, t->N, &t->plan));
    t->spe = t->plan.spe;
    t->total = t->plan.total;
    if (t->job.schedule == AD_SCHED_REFERENCE)
        AD_TRY(ad_schedule_init_reference(&t->sched, lr, t->plan.sched_total, warm, t->spe));
    else
        AD_TRY(ad_schedule_init(&t->sched, t->job.schedule, lr, t->plan.sched_total, warm));
    int first;
    step_share(t, &t->plan, 0, &first, &t->nloc); /* step 0 is always a full batch (G <= N) */
    /* Embeddings held per rank: the whole epoch when it fits in the budget (pooled caches),
     * else as many steps as fit (token caches are two orders of magnitude larger). */
    const double budget = 1 << 30;
    double per_step = (double)t->nloc * (double)(t->row_v + t->row_t) * sizeof(float);
    t->win_cap = per_step * (double)t->spe <= budget ? t->spe : (int64_t)(budget / per_step);
    if (t->online)
        t->win_cap = 1; /* encoded step by step */
    if (t->win_cap < 1)
        t->win_cap = 1;
    size_t rows = (size_t)(t->win_cap * t->nloc);
    t->order = ad_malloc((size_t)t->N * sizeof *t->order, "epoch order");
    t->xv = ad_malloc(rows * t->row_v * sizeof(float), "image embeddings");
    t->xt = ad_malloc(rows * t->row_t * sizeof(float), "text embeddings");
    t->tmask = ad_malloc(rows * (size_t)(t->tt ? t->tt : 1), "text masks");
    if (t->online)
        t->orows = ad_malloc((size_t)t->nloc * sizeof *t->orows, "online batch rows");
    if (!t->order || !t->xv || !t->xt || !t->tmask || (t->online && !t->orows))
        return AD_ERR_NOMEM;
    t->order_key = t->win_key = -1;
    return AD_OK;
}

/* The streams the run continues with after `step`: the epoch order and rank 0's dropout (and
 * crop) streams of the next step. Resume re-derives them from the seed; they are recorded
 * so that a checkpoint says which randomness produced it. */
static void record_streams(const trainer *t, int64_t step, ad_train_state *st)
{
    int64_t epoch = t->spe ? step / t->spe : 0;
    st->n_rng = 0;
    if (t->job.shuffle != AD_SHUFFLE_NONE) {
        snprintf(st->rng[st->n_rng].name, AD_CKPT_RNG_NAME, "order");
        ad_rng_seed(&st->rng[st->n_rng++].state, t->seed, order_stream(t, epoch));
    }
    snprintf(st->rng[st->n_rng].name, AD_CKPT_RNG_NAME, "dropout_rank0");
    ad_rng_seed(&st->rng[st->n_rng++].state, t->seed, step_stream(DROPOUT_STREAM, step + 1, 0));
    if (t->augment) {
        snprintf(st->rng[st->n_rng].name, AD_CKPT_RNG_NAME, "crop_rank0");
        ad_rng_seed(&st->rng[st->n_rng++].state, t->seed, step_stream(CROP_STREAM, step + 1, 0));
    }
}

static int save_checkpoint(trainer *t, int64_t step)
{
    int rc = AD_OK;
    if (t->rank == 0) {
        ad_train_state st = {.step = step, .epoch = t->spe ? step / t->spe : 0,
                             .epoch_pos = (t->spe ? step % t->spe : 0) * t->G,
                             .num_ranks = t->size, .global_batch = t->G, .seed = t->seed,
                             .prov = t->prov};
        record_streams(t, step, &st);
        ad_ckpt_buffers buf = {t->m->params, ad_adamw_exp_avg(t->opt),
                               ad_adamw_exp_avg_sq(t->opt), ad_adamw_step_count(t->opt)};
        char dir[4096];
        rc = ad_ckpt_save(t->run_dir, &t->m->layout, &buf, &st, dir, sizeof dir);
        if (rc == AD_OK)
            rc = ad_ckpt_prune(t->run_dir, (int)t->keep);
        if (rc == AD_OK && t->metrics)
            rc = ad_metrics_flush(t->metrics);
        if (rc == AD_OK)
            ad_info("checkpoint: %s", dir);
        t->state.step = step;
        if (rc == AD_OK)
            rc = ad_runstate_write(t->run_dir, &t->state, "running", NULL);
    }
    return ad_mpi_agree(t->comm, rc, NULL);
}

static int write_final(trainer *t)
{
    if (t->rank != 0)
        return AD_OK;
    ad_st_writer *w;
    AD_TRY(ad_st_writer_create(&w));
    int rc = AD_OK;
    for (size_t i = 0; i < t->m->layout.count && rc == AD_OK; i++) {
        const ad_ckpt_tensor *T = &t->m->layout.tensors[i];
        rc = ad_st_writer_add(w, T->name, AD_DT_F32, T->ndim, T->shape, t->m->params + T->offset);
    }
    if (rc == AD_OK)
        rc = ad_st_writer_set_metadata(w, "format", "pt");
    if (rc == AD_OK)
        rc = ad_prov_st_put(w, t->prov);
    char path[4200];
    if (rc == AD_OK)
        rc = ad_path_join(path, sizeof path, t->run_dir, "model.safetensors");
    if (rc == AD_OK)
        rc = ad_st_writer_write(w, path);
    ad_st_writer_destroy(w);
    if (rc == AD_OK)
        ad_info("final weights: %s", path);
    return rc;
}

/* Restores weights, optimiser and position from the newest complete checkpoint. */
static int resume_from(trainer *t, int64_t *start)
{
    char dir[4096];
    int64_t step;
    *start = 0;
    AD_TRY(ad_ckpt_find_latest(t->run_dir, dir, sizeof dir, &step));
    if (step < 0) {
        ad_info("resume: no checkpoint in %s/checkpoints, starting from scratch", t->run_dir);
        return AD_OK;
    }
    ad_ckpt_buffers buf = {t->m->params, ad_adamw_exp_avg(t->opt), ad_adamw_exp_avg_sq(t->opt), 0};
    ad_train_state st;
    memset(&st, 0, sizeof st);
    AD_TRY(ad_ckpt_load(dir, &t->m->layout, &buf, &st));
    int rc = AD_OK;
    if (st.global_batch != t->G)
        rc = ad_fail(AD_ERR_CONFIG, "%s: saved with global batch %lld, this run has %lld "
                     "([train] batch_size must not change on resume)", dir,
                     (long long)st.global_batch, (long long)t->G);
    /* Rank 0 alone compares (one message); every rank has the same two texts. */
    char *changes = NULL;
    if (rc == AD_OK && t->rank == 0 && st.config_text && st.config_text[0])
        rc = ad_resume_check_config(st.config_text, dir, t->cfg, &changes);
    /* The position must fit this run's epochs: a guard behind the configuration check (a
     * checkpoint without its configuration, a plan cut another way). */
    int64_t pos = (st.step % t->spe) * t->G;
    if (rc == AD_OK && (st.epoch != st.step / t->spe || st.epoch_pos != pos))
        rc = ad_fail(AD_ERR_CONFIG, "%s: saved at step %lld in epoch %lld (sample %lld of its "
                     "order), but this run's plan of %lld steps per epoch ([train] drop_last = "
                     "%s) puts that step in epoch %lld at sample %lld: resume with the plan the "
                     "run started with (a run from before drop_last existed: drop_last = true)",
                     dir, (long long)st.step, (long long)st.epoch + 1, (long long)st.epoch_pos,
                     (long long)t->spe, t->plan.drop_last ? "true" : "false",
                     (long long)(st.step / t->spe) + 1, (long long)pos);
    if (rc == AD_OK)
        rc = ad_adamw_set_step_count(t->opt, buf.opt_step);
    if (rc == AD_OK && t->rank == 0)
        rc = ad_resume_record(t->run_dir, t->cfg, dir, st.step, t->size, changes ? changes : "");
    if (rc == AD_OK) {
        *start = st.step;
        ad_info("resume: %s (step %lld, saved by %d ranks, now %d)%s%s", dir, (long long)st.step,
                st.num_ranks, t->size, changes && changes[0] ? "; changed: " : "",
                changes && changes[0] ? changes : "");
    }
    free(changes);
    ad_train_state_clear(&st);
    return rc;
}

static int prepare_run_dir(trainer *t, int resume)
{
    const char *dir;
    AD_TRY(ad_config_string(t->cfg, "output", "dir", &dir));
    snprintf(t->run_dir, sizeof t->run_dir, "%s", dir);
    AD_TRY(ad_runlock_acquire_job(t->comm, dir, resume ? "pretrain --resume" : "pretrain",
                                  &t->lock));
    int rc = AD_OK;
    if (t->rank == 0) {
        char ck[4200];
        rc = ad_path_join(ck, sizeof ck, dir, "checkpoints");
        if (rc == AD_OK && !resume && ad_is_dir(ck))
            rc = ad_fail(AD_ERR_CONFIG, "%s already holds a training run (checkpoints/): "
                         "use --resume to continue it, or another [output] dir", dir);
        if (rc == AD_OK) /* a stop of an earlier run is handled by now */
            rc = ad_ckpt_clear_stopped(dir);
    }
    return ad_mpi_agree(t->comm, rc, NULL);
}

/* config.ini is the configuration the run started with: written by a run that starts from
 * step 0, never replaced by a resume (which records itself in resumes.log instead). */
static int write_start_config(trainer *t, int64_t start)
{
    return ad_mpi_agree(t->comm, t->rank == 0 && start == 0 ? ad_config_write(t->cfg, t->run_dir)
                                                            : AD_OK, NULL);
}

static int open_metrics(trainer *t, int64_t start)
{
    if (t->rank != 0)
        return AD_OK;
    char path[4200];
    AD_TRY(ad_path_join(path, sizeof path, t->run_dir, "metrics.nc"));
    int flush = (int)(t->ckpt_every > 0 ? t->ckpt_every : 100);
    if (start > 0 && ad_path_exists(path))
        AD_TRY(ad_metrics_open_existing(path, t->prov, t->size, flush, start, &t->metrics));
    else
        AD_TRY(ad_metrics_create(path, t->prov, t->size, flush, &t->metrics));
    /* Often enough to follow a run live (`adaptor status`), rarely enough to cost nothing
     * measurable: a rewrite of the whole file takes milliseconds. */
    ad_metrics_set_flush_seconds(t->metrics, METRICS_FLUSH_SECONDS);
    ad_runstate_begin(&t->state, "pretrain", start, t->total);
    return ad_runstate_write(t->run_dir, &t->state, "running", NULL);
}

static int train_loop(trainer *t, int64_t start)
{
    ad_progress prog;
    ad_progress_start_at(&prog, "pretrain step", "steps", t->total, t->log_every, start);
    double t0 = ad_now();
    int64_t last_saved = start;
    for (int64_t step = start + 1; step <= t->total; step++) {
        int64_t epoch = (step - 1) / t->spe, k = (step - 1) % t->spe;
        double td = ad_now();
        int lrc = t->online ? load_online(t, epoch, k, step) : load_window(t, epoch, k);
        td = ad_now() - td;
        AD_TRY(ad_mpi_agree(t->comm, lrc, NULL));
        double lr = ad_schedule_lr(&t->sched, step);
        ad_rng drop;
        ad_rng_seed(&drop, t->seed, step_stream(DROPOUT_STREAM, step, t->rank));
        ad_dp_stats st;
        double ts = ad_now();
        size_t at = t->online ? 0 : (size_t)(k - t->win_first) * t->nloc;
        ad_adaptor_batch batch = {t->xv + at * t->row_v, t->xt + at * t->row_t,
                                  t->tt ? t->tmask + at * t->tt : NULL, t->tv, t->tt};
        int first, n;
        step_share(t, &t->plan, k, &first, &n);
        double pairs = (double)ad_train_plan_batch(&t->plan, k);
        AD_TRY(ad_dp_step(t->dp, t->m, &batch, n, t->m->cfg.dropout > 0 ? &drop : NULL, &st));
        if (!isfinite(st.loss) && t->metrics)
            ad_metrics_flush(t->metrics); /* the history up to the failure, for diagnosis */
        if (!isfinite(st.loss))
            return ad_fail(AD_ERR_NUMERIC, "loss is %g at step %lld (epoch %lld); stopped without "
                           "saving; the last good checkpoint is step %lld", st.loss,
                           (long long)step, (long long)epoch + 1, (long long)last_saved);
        double gnorm = 0;
        AD_TRY(ad_adamw_step(t->opt, t->m->params, t->m->grads, lr, &gnorm));
        double dt = ad_now() - ts;
        /* Every rank's compute / communication / data seconds, for the load-balance plots. */
        double mine[3] = {dt - st.comm_seconds, st.comm_seconds, td};
        if (MPI_Gather(mine, 3, MPI_DOUBLE, t->rank_times, 3, MPI_DOUBLE, 0, t->comm) !=
            MPI_SUCCESS) /* a collective: every rank fails alike, no agreement needed */
            return ad_fail(AD_ERR_MPI, "MPI_Gather of step times failed");
        if (t->metrics) {
            ad_metrics_step rec = {.step = step, .epoch = (int)epoch, .loss = st.loss,
                                   .loss_i2t = st.loss_i2t, .loss_t2i = st.loss_t2i, .lr = lr,
                                   .grad_norm = gnorm, .logit_scale = *t->m->logit_scale,
                                   .samples_per_s = pairs / dt,
                                   .wall_time = ad_now() - t0, .rank_times = t->rank_times};
            AD_TRY(ad_metrics_append(t->metrics, &rec));
        }
        if (step % t->spe == 0 || step == t->total)
            AD_TRY(validate(t, step, epoch));
        char extra[160];
        snprintf(extra, sizeof extra, "epoch %lld  loss %.4f  lr %.3g  |g| %.3g  %.0f samples/s",
                 (long long)epoch + 1, st.loss, lr, gnorm, pairs / dt);
        ad_progress_step(&prog, 1, extra);
        int stop = g_stop_requested, any_stop;
        MPI_Allreduce(&stop, &any_stop, 1, MPI_INT, MPI_MAX, t->comm);
        if ((t->ckpt_every > 0 && step % t->ckpt_every == 0) || step == t->total || any_stop) {
            AD_TRY(save_checkpoint(t, step));
            last_saved = step;
        }
        if (any_stop && step < t->total) {
            /* The checkpoint is durable: only now may a batch script requeue on the marker. */
            AD_TRY(ad_mpi_agree(t->comm, t->rank == 0 ? ad_ckpt_mark_stopped(t->run_dir, step)
                                                      : AD_OK, NULL));
            ad_info("stopped by a signal after step %lld of %lld; continue with --resume",
                    (long long)step, (long long)t->total);
            return AD_STOPPED;
        }
    }
    char extra[64];
    snprintf(extra, sizeof extra, "%lld updates%s", (long long)(t->total - start),
             start > 0 ? " in this run" : "");
    ad_progress_finish(&prog, extra);
    return AD_OK;
}

static void trainer_free(trainer *t)
{
    ad_cache_close(t->img);
    ad_cache_close(t->txt);
    ad_cache_close(t->vimg);
    ad_cache_close(t->vtxt);
    free(t->vpair_img);
    free(t->vpair_txt);
    free(t->vxv);
    free(t->vxt);
    free(t->vmask);
    free(t->vrows);
    free(t->rank_times);
    ad_adaptor_destroy(t->m);
    ad_adamw_destroy(t->opt);
    ad_dp_destroy(t->dp);
    ad_metrics_destroy(t->metrics);
    free(t->order);
    free(t->xv);
    free(t->xt);
    free(t->tmask);
    free(t->orows);
    free(t->pair_img);
    free(t->pair_txt);
    ad_frozen_free(&t->enc[0]);
    ad_frozen_free(&t->enc[1]);
    ad_selection_free(&t->sel);
    ad_manifest_close(t->man);
    ad_prov_destroy(t->prov);
    ad_runlock_release(t->lock);
}

/* Rank 0: how the stage ended, in state.json (not over a failure's message). */
static void record_end(trainer *t, int rc)
{
    if (t->rank != 0 || !t->state.stage[0])
        return;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rc == AD_ERR_PEER ? "another rank failed (see its error)"
                                    : rc != AD_OK && rc != AD_STOPPED ? ad_errmsg() : "");
    const char *state = rc == AD_OK ? "finished" : rc == AD_STOPPED ? "stopped" : "failed";
    if (ad_runstate_write(t->run_dir, &t->state, state, msg) != AD_OK && rc != AD_OK)
        ad_fail(rc, "%s", msg);
}

int ad_pretrain(MPI_Comm comm, const ad_config *cfg, int resume)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.comm = comm;
    t.cfg = cfg;
    MPI_Comm_rank(comm, &t.rank);
    MPI_Comm_size(comm, &t.size);
    int rc = ad_job_parse(cfg, &t.job);
    rc = ad_mpi_agree(comm, rc == AD_OK ? ad_prov_create(comm, cfg, &t.prov) : rc, NULL);
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, t.job.source == AD_SOURCE_ONLINE
                                    ? open_online(&t)
                                    : open_caches(&t), NULL);
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, plan(&t), NULL);
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, open_valid(&t), NULL);
    if (rc == AD_OK && !(t.rank_times = ad_calloc((size_t)t.size * 3, sizeof(double), "step times")))
        rc = AD_ERR_NOMEM;
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, build_model(&t), NULL);
    if (rc == AD_OK)
        rc = prepare_run_dir(&t, resume);
    int64_t start = 0;
    if (rc == AD_OK && resume)
        rc = ad_mpi_agree(comm, resume_from(&t, &start), NULL);
    if (rc == AD_OK)
        rc = write_start_config(&t, start);
    if (rc == AD_OK) {
        ad_info("pretrain: %lld pairs, global batch %lld (%d per rank on %d ranks), %lld steps "
                "per epoch (last %lld pairs%s), %lld updates, schedule %s over %lld, %zu "
                "parameters", (long long)t.N, (long long)t.G, t.nloc, t.size, (long long)t.spe,
                (long long)t.plan.last, t.plan.drop_last && t.N % t.G ? ", rest dropped" : "",
                (long long)t.total, ad_schedule_kind_name(t.job.schedule),
                (long long)t.plan.sched_total, t.m->nparams);
        rc = ad_mpi_agree(comm, open_metrics(&t, start), NULL);
    }
    if (rc == AD_OK && start >= t.total)
        ad_info("pretrain: already finished (step %lld)", (long long)start);
    else if (rc == AD_OK)
        rc = train_loop(&t, start);
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, write_final(&t), NULL);
    if (rc == AD_OK && t.metrics)
        rc = ad_metrics_flush(t.metrics);
    if (rc == AD_OK)
        t.state.step = t.total;
    record_end(&t, rc);
    trainer_free(&t);
    return rc;
}
