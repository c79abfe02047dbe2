/* Data-parallel head training for `adaptor classify`: every rank takes its share of each
 * global batch; one all-reduce of the gradient buffer; AdamW with cosine warm restarts. */
#include "classify_internal.h"

#include "adaptor/adamw.h"
#include "adaptor/error.h"
#include "adaptor/log.h"
#include "adaptor/losses.h"
#include "adaptor/mpiutil.h"
#include "adaptor/rng.h"
#include "adaptor/schedule.h"
#include "adaptor/share.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bufs {
    int64_t *perm;
    float *xb, *logits, *dlog, *vlog, *best_p, *best_run;
    int8_t *yb;
    int32_t *cls;
} bufs;

static void bufs_free(bufs *b)
{
    free(b->perm);
    free(b->xb);
    free(b->logits);
    free(b->dlog);
    free(b->vlog);
    free(b->best_p);
    free(b->best_run);
    free(b->yb);
    free(b->cls);
}

/* Loss and gradient of this rank's rows, normalised by the global batch. */
static double loss_grad(const cls_data *d, const bufs *b, int n, int64_t global, float *dlog)
{
    int K = d->nlab;
    if (d->task == AD_TASK_MULTICLASS)
        return ad_cross_entropy(b->logits, b->cls, (size_t)n, K, 1.0 / (double)global, dlog);
    return ad_bce_logits(b->logits, b->yb, (size_t)n * K, 1.0 / ((double)global * K), dlog);
}

int cls_train_head(MPI_Comm comm, const cls_data *d, const int64_t *sel, int64_t nsel,
                   const cls_train_opts *o, ad_head *h, int64_t *best_epoch, double *best)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const cls_split *tr = &d->split[0], *va = &d->split[1];
    int D = tr->dim, K = d->nlab;
    int64_t G = o->batch < nsel ? o->batch : nsel;
    /* A last batch of one row cannot be batch-normalised: the mlp head drops it. */
    int drop_tail = h->cfg.kind == AD_HEAD_MLP && nsel % G == 1 && nsel > 1;
    int64_t spe = nsel / G + (nsel % G != 0 && !drop_tail), T = o->epochs * spe;
    int64_t T0 = (int64_t)(0.4 * (double)T);
    ad_schedule sch;
    ad_adamw *opt = NULL;
    ad_adamw_opts ao = ad_adamw_default_opts();
    ao.weight_decay = o->weight_decay;
    int rc = ad_schedule_init_restarts(&sch, o->lr, T0 > 0 ? T0 : 1, o->lr < 1e-8 ? o->lr : 1e-8);
    if (rc == AD_OK)
        rc = ad_adamw_create(&opt, h->nparams, &ao);
    bufs b = {0};
    size_t bmax = (size_t)(G / size + 1), H = h->running ? (size_t)h->cfg.hidden : 0;
    if (rc == AD_OK) {
        b.perm = ad_malloc((size_t)nsel * sizeof *b.perm, "order");
        b.xb = ad_malloc(bmax * D * sizeof(float), "batch");
        b.logits = ad_malloc(bmax * K * sizeof(float), "logits");
        b.dlog = ad_malloc(bmax * K * sizeof(float), "logit gradients");
        b.vlog = ad_malloc((size_t)(va->n ? va->n : 1) * K * sizeof(float), "validation logits");
        b.best_p = ad_malloc(h->nparams * sizeof(float), "best weights");
        b.best_run = ad_malloc((2 * H + 1) * sizeof(float), "best running statistics");
        b.yb = ad_malloc(bmax * K, "batch labels");
        b.cls = ad_malloc(bmax * sizeof(int32_t), "batch classes");
        if (!b.perm || !b.xb || !b.logits || !b.dlog || !b.vlog || !b.best_p || !b.best_run ||
            !b.yb || !b.cls)
            rc = AD_ERR_NOMEM;
    }
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc != AD_OK) {
        bufs_free(&b);
        ad_adamw_destroy(opt);
        return rc;
    }
    ad_head_init(h, o->seed);
    *best = -INFINITY;
    *best_epoch = -1;
    ad_progress prog;
    ad_progress_start(&prog, "classify train", "updates", T, spe);
    int64_t k = 0;
    char extra[128];
    double vm = NAN;
    for (int64_t ep = 0; ep < o->epochs && rc == AD_OK; ep++) {
        /* The same global order on every rank. */
        ad_rng sh;
        ad_rng_seed(&sh, o->seed, 0x5a000000u + (uint64_t)ep);
        memcpy(b.perm, sel, (size_t)nsel * sizeof *b.perm);
        ad_rng_shuffle(&sh, b.perm, nsel);
        double eloss = 0;
        for (int64_t s = 0; s < spe && rc == AD_OK; s++) {
            int64_t g0 = s * G, Gs = nsel - g0 < G ? nsel - g0 : G;
            int64_t first, cnt;
            ad_share(Gs, rank, size, &first, &cnt);
            first += g0;
            int n = (int)cnt;
            for (int i = 0; i < n; i++) {
                int64_t row = b.perm[first + i];
                memcpy(b.xb + (size_t)i * D, tr->x + (size_t)row * D, (size_t)D * sizeof(float));
                memcpy(b.yb + (size_t)i * K, tr->labels + (size_t)row * K, (size_t)K);
                b.cls[i] = ad_cls_class_of(tr->labels + (size_t)row * K, K);
            }
            k++;
            ad_rng dr;
            ad_rng_seed(&dr, o->seed, 0xd0000000u + (uint64_t)k * 4096u + (uint64_t)rank);
            memset(h->grads, 0, h->nparams * sizeof(float));
            rc = ad_head_forward(h, b.xb, n, b.logits, &dr, comm);
            double loss = 0;
            if (rc == AD_OK) {
                loss = loss_grad(d, &b, n, Gs, b.dlog);
                rc = ad_head_backward(h, b.dlog, comm);
            }
            rc = ad_mpi_agree(comm, rc, NULL);
            if (rc == AD_OK &&
                (MPI_Allreduce(MPI_IN_PLACE, h->grads, (int)h->nparams, MPI_FLOAT, MPI_SUM,
                               comm) != MPI_SUCCESS ||
                 MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS))
                rc = ad_fail(AD_ERR_MPI, "classify: gradient all-reduce failed");
            if (rc == AD_OK)
                rc = ad_adamw_step(opt, h->params, h->grads, ad_schedule_lr(&sch, k), NULL);
            eloss += loss;
            if (rc == AD_OK && s + 1 < spe) {
                snprintf(extra, sizeof extra, "epoch %lld loss %.4f", (long long)ep + 1, loss);
                ad_progress_step(&prog, 1, extra);
            }
        }
        /* Validation after the epoch: the same computation on every rank. */
        if (rc == AD_OK)
            rc = ad_head_forward(h, va->x, (int)va->n, b.vlog, NULL, comm);
        if (rc == AD_OK)
            rc = cls_metrics(d, va, b.vlog, 1, NULL, NULL, &vm);
        if (rc == AD_OK && vm > *best) {
            *best = vm;
            *best_epoch = ep + 1;
            memcpy(b.best_p, h->params, h->nparams * sizeof(float));
            if (H)
                memcpy(b.best_run, h->running, 2 * H * sizeof(float));
        }
        if (rc == AD_OK) {
            snprintf(extra, sizeof extra, "epoch %lld loss %.4f valid %s %.4f",
                     (long long)ep + 1, eloss / (double)spe,
                     d->task == AD_TASK_MULTICLASS ? "accuracy" : "auroc", vm);
            ad_progress_step(&prog, 1, extra);
        }
    }
    if (rc == AD_OK) {
        ad_progress_finish(&prog, extra);
        memcpy(h->params, b.best_p, h->nparams * sizeof(float));
        if (H)
            memcpy(h->running, b.best_run, 2 * H * sizeof(float));
    }
    bufs_free(&b);
    ad_adamw_destroy(opt);
    return rc;
}
