#include "adaptor/dp.h"

#include "adaptor/contrastive.h"
#include "adaptor/error.h"
#include "adaptor/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ad_dp {
    MPI_Comm comm;
    int rank, size;
    int global_negatives;
    float image_weight;
    int *counts, *displs;     /* rows per rank / first row, then x P for the collectives */
    int *rcounts, *rdispls;
    size_t cap_loc, cap_all, cap_ws;
    float *v, *t, *dv, *dt;   /* [b, P] */
    float *V, *T, *dV, *dT;   /* [G, P] */
    float *ws;
    /* Overlapped gradient all-reduce: one request per reported slice. */
    int overlap;
    MPI_Request *req;
    int nreq, cap_req, mpi_err;
    float *grads;
    double hook_seconds; /* time inside grad_ready this step */
};

int ad_dp_create(MPI_Comm comm, int global_negatives, float image_weight, ad_dp **out)
{
    *out = NULL;
    ad_dp *dp = ad_calloc(1, sizeof *dp, "data-parallel state");
    if (!dp)
        return AD_ERR_NOMEM;
    dp->comm = comm;
    MPI_Comm_rank(comm, &dp->rank);
    MPI_Comm_size(comm, &dp->size);
    dp->global_negatives = global_negatives;
    dp->image_weight = image_weight;
    dp->counts = ad_calloc((size_t)dp->size * 4, sizeof(int), "data-parallel counts");
    if (!dp->counts) {
        free(dp);
        return AD_ERR_NOMEM;
    }
    dp->displs = dp->counts + dp->size;
    dp->rcounts = dp->displs + dp->size;
    dp->rdispls = dp->rcounts + dp->size;
    *out = dp;
    return AD_OK;
}

void ad_dp_destroy(ad_dp *dp)
{
    if (!dp)
        return;
    float *bufs[] = {dp->v, dp->t, dp->dv, dp->dt, dp->V, dp->T, dp->dV, dp->dT, dp->ws};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    free(dp->counts);
    free(dp->req);
    free(dp);
}

void ad_dp_set_overlap(ad_dp *dp, int on) { dp->overlap = on; }

static int grow(float **p, size_t *cap, size_t n, const char *what)
{
    if (n <= *cap)
        return AD_OK;
    float *q = realloc(*p, n * sizeof(float));
    if (!q)
        return ad_fail(AD_ERR_NOMEM, "out of memory for %s (%zu floats)", what, n);
    *p = q;
    *cap = n;
    return AD_OK;
}

static int ensure(ad_dp *dp, int b, int G, int P)
{
    size_t loc = (size_t)b * P, all = (size_t)G * P, c;
    if (loc > dp->cap_loc) {
        float **l[] = {&dp->v, &dp->t, &dp->dv, &dp->dt};
        for (int i = 0; i < 4; i++) {
            c = dp->cap_loc;
            AD_TRY(grow(l[i], &c, loc, "local embeddings"));
        }
        dp->cap_loc = loc;
    }
    if (all > dp->cap_all) {
        float **a[] = {&dp->V, &dp->T, &dp->dV, &dp->dT};
        for (int i = 0; i < 4; i++) {
            c = dp->cap_all;
            AD_TRY(grow(a[i], &c, all, "gathered embeddings"));
        }
        dp->cap_all = all;
    }
    return grow(&dp->ws, &dp->cap_ws,
                ad_contrastive_workspace(b, dp->global_negatives ? G : b), "loss workspace");
}

static int mpi_check(int err, const char *what)
{
    if (err == MPI_SUCCESS)
        return AD_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    return ad_fail(AD_ERR_MPI, "%s failed: %s", what, msg);
}

/* Forward of both modalities, gathering, and the loss. Leaves the softmaxes in dp->ws. */
static int forward(ad_dp *dp, ad_adaptor *m, const ad_adaptor_batch *x, int b, ad_rng *rng,
                   ad_contrastive *c, ad_dp_stats *st)
{
    int P = m->cfg.proj;
    st->comm_seconds = 0;
    double t0 = ad_now();
    AD_TRY(mpi_check(MPI_Allgather(&b, 1, MPI_INT, dp->counts, 1, MPI_INT, dp->comm),
                     "MPI_Allgather of batch sizes"));
    st->comm_seconds += ad_now() - t0;
    int G = 0;
    for (int r = 0; r < dp->size; r++) {
        dp->displs[r] = G;
        G += dp->counts[r];
    }
    if (G == 0)
        return ad_fail(AD_ERR_ARG, "empty global batch");
    AD_TRY(ensure(dp, b, G, P));
    if (b > 0)
        AD_TRY(ad_adaptor_forward_pair(m, x, b, dp->v, dp->t, rng));
    for (int r = 0; r < dp->size; r++) {
        dp->rcounts[r] = dp->counts[r] * P;
        dp->rdispls[r] = dp->displs[r] * P;
    }
    const float *V = dp->v, *T = dp->t;
    int cols = b, offset = 0;
    if (dp->global_negatives) {
        t0 = ad_now();
        AD_TRY(mpi_check(MPI_Allgatherv(dp->v, b * P, MPI_FLOAT, dp->V, dp->rcounts, dp->rdispls,
                                        MPI_FLOAT, dp->comm), "MPI_Allgatherv of image embeddings"));
        AD_TRY(mpi_check(MPI_Allgatherv(dp->t, b * P, MPI_FLOAT, dp->T, dp->rcounts, dp->rdispls,
                                        MPI_FLOAT, dp->comm), "MPI_Allgatherv of text embeddings"));
        st->comm_seconds += ad_now() - t0;
        V = dp->V;
        T = dp->T;
        cols = G;
        offset = dp->displs[dp->rank];
    }
    *c = (ad_contrastive){.b = b, .G = cols, .d = P, .offset = offset,
                          .scale = expf(*m->logit_scale), .image_weight = dp->image_weight,
                          .norm = (float)G};
    double parts[2] = {0, 0}, sums[2];
    if (b > 0)
        ad_contrastive_forward(c, &parts[0], &parts[1], dp->t, dp->v, T, V, dp->ws);
    t0 = ad_now();
    AD_TRY(mpi_check(MPI_Allreduce(parts, sums, 2, MPI_DOUBLE, MPI_SUM, dp->comm),
                     "MPI_Allreduce of the loss"));
    st->comm_seconds += ad_now() - t0;
    st->loss_i2t = sums[0];
    st->loss_t2i = sums[1];
    st->loss = sums[0] + sums[1];
    st->global_batch = G;
    return AD_OK;
}

int ad_dp_eval(ad_dp *dp, ad_adaptor *m, const ad_adaptor_batch *x, int b, ad_dp_stats *st)
{
    ad_contrastive c;
    return forward(dp, m, x, b, NULL, &c, st);
}

/* ad_grad_hook of the overlapped path: a final slice starts its all-reduce at once, a
 * progress call tests the outstanding ones (Open MPI moves non-blocking collectives only
 * inside MPI calls). */
static void grad_ready(void *ctx, size_t off, size_t n)
{
    ad_dp *dp = ctx;
    double t0 = ad_now();
    int err = MPI_SUCCESS, flag;
    if (n > 0 && dp->nreq < dp->cap_req)
        err = MPI_Iallreduce(MPI_IN_PLACE, dp->grads + off, (int)n, MPI_FLOAT, MPI_SUM, dp->comm,
                             &dp->req[dp->nreq++]);
    else if (n > 0)
        err = MPI_ERR_COUNT; /* more slices than the layout has: cannot happen */
    else if (dp->nreq > 0)
        err = MPI_Testall(dp->nreq, dp->req, &flag, MPI_STATUSES_IGNORE);
    if (dp->mpi_err == MPI_SUCCESS)
        dp->mpi_err = err;
    dp->hook_seconds += ad_now() - t0;
}

/* Backward with the gradient all-reduce of each layer started as soon as the layer is done
 * (SPEC 7 step 5, overlapped): the same sums as one MPI_Allreduce, reduced per slice. */
static int overlapped_backward(ad_dp *dp, ad_adaptor *m, int b, ad_dp_stats *st)
{
    int need = m->cfg.layers + 1; /* the layers, the projections (token mode: 1) */
    if (need > dp->cap_req) {
        MPI_Request *q = realloc(dp->req, (size_t)need * sizeof *q);
        if (!q)
            return ad_fail(AD_ERR_NOMEM, "out of memory for %d MPI requests", need);
        dp->req = q;
        dp->cap_req = need;
    }
    dp->nreq = 0;
    dp->mpi_err = MPI_SUCCESS;
    dp->grads = m->grads;
    dp->hook_seconds = 0;
    if (b > 0)
        ad_adaptor_backward_pair_hook(m, dp->dv, dp->dt, grad_ready, dp);
    else /* no rows: every slice is final now, started in the order the others start them */
        ad_adaptor_grad_slices(m, grad_ready, dp);
    double t0 = ad_now();
    int err = MPI_Waitall(dp->nreq, dp->req, MPI_STATUSES_IGNORE);
    st->comm_seconds += dp->hook_seconds + (ad_now() - t0);
    AD_TRY(mpi_check(dp->mpi_err, "MPI_Iallreduce of the gradients"));
    return mpi_check(err, "MPI_Waitall of the gradient all-reduces");
}

int ad_dp_step(ad_dp *dp, ad_adaptor *m, const ad_adaptor_batch *x, int b, ad_rng *rng,
               ad_dp_stats *st)
{
    ad_contrastive c;
    AD_TRY(forward(dp, m, x, b, rng, &c, st));
    int P = m->cfg.proj;
    size_t loc = (size_t)b * P;
    ad_adaptor_zero_grad(m);
    double dls = 0;
    if (b > 0)
        ad_contrastive_backward(&c, dp->dt, dp->dv, dp->dT, dp->dV, &dls, dp->t, dp->v,
                                dp->global_negatives ? dp->T : dp->t,
                                dp->global_negatives ? dp->V : dp->v);
    else if (dp->global_negatives) {
        /* No rows here (a partial batch): this rank adds nothing to the reduce-scatter, not
         * the previous step's gradients left in the buffers. */
        memset(dp->dV, 0, (size_t)st->global_batch * P * sizeof(float));
        memset(dp->dT, 0, (size_t)st->global_batch * P * sizeof(float));
    }
    if (!dp->global_negatives) {
        /* The "gathered" matrices were the local ones: both parts are ours. */
        for (size_t i = 0; i < loc; i++) {
            dp->dv[i] += dp->dV[i];
            dp->dt[i] += dp->dT[i];
        }
    }
    double t0 = ad_now();
    if (dp->global_negatives) {
        /* Gradients on other ranks' rows go home; the receive buffer is the first b rows of
         * the (now free) gathered matrices. */
        AD_TRY(mpi_check(MPI_Reduce_scatter(dp->dV, dp->V, dp->rcounts, MPI_FLOAT, MPI_SUM,
                                            dp->comm), "MPI_Reduce_scatter of image gradients"));
        AD_TRY(mpi_check(MPI_Reduce_scatter(dp->dT, dp->T, dp->rcounts, MPI_FLOAT, MPI_SUM,
                                            dp->comm), "MPI_Reduce_scatter of text gradients"));
        for (size_t i = 0; i < loc; i++) {
            dp->dv[i] += dp->V[i];
            dp->dt[i] += dp->T[i];
        }
    }
    st->comm_seconds += ad_now() - t0;
    /* The logit scale's gradient goes in first: the backward pass reports it with the last
     * layer's slice. */
    *m->glogit_scale += (float)dls;
    if (dp->overlap)
        return overlapped_backward(dp, m, b, st);
    if (b > 0)
        ad_adaptor_backward_pair(m, dp->dv, dp->dt);
    t0 = ad_now();
    int rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, m->grads, (int)m->nparams, MPI_FLOAT, MPI_SUM,
                                     dp->comm), "MPI_Allreduce of the gradients");
    st->comm_seconds += ad_now() - t0;
    return rc;
}
