/* Data-parallel head training (as `adaptor classify` does it): R ranks with their shares of a
 * global batch, SyncBatchNorm and one all-reduce of the gradient buffer give the same loss,
 * gradients, running statistics and (after a few plain updates) weights as one rank with the
 * whole batch, for the linear (dropout off) and mlp heads, even and uneven splits. */
#include "mpitest.h"

#include "adaptor/error.h"
#include "adaptor/head.h"
#include "adaptor/losses.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { D = 7, HID = 9, K = 3, STEPS = 3 };

/* One step on rows [first, first + n) of the global batch; returns the global loss. */
static double step(ad_head *h, const float *x, const int8_t *y, int first, int n, int G,
                   MPI_Comm comm)
{
    float logits[64 * K], dlog[64 * K];
    ad_rng r;
    ad_rng_seed(&r, 1, 1);
    memset(h->grads, 0, h->nparams * sizeof(float));
    if (ad_head_forward(h, x + (size_t)first * D, n, logits, &r, comm) != AD_OK)
        return NAN;
    double loss = ad_bce_logits(logits, y + (size_t)first * K, (size_t)n * K,
                                1.0 / ((double)G * K), dlog);
    if (ad_head_backward(h, dlog, comm) != AD_OK)
        return NAN;
    MPI_Allreduce(MPI_IN_PLACE, h->grads, (int)h->nparams, MPI_FLOAT, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, comm);
    return loss;
}

static void run(ad_head_kind kind, int G)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_head_config c = {kind, D, HID, K, 0.0f, 1e-5f, 0.1f};
    ad_head *h, *ref;
    if (ad_head_create(&c, &h) || ad_head_create(&c, &ref)) {
        MT_CHECK(0, "setup: %s", ad_errmsg());
        return;
    }
    ad_head_init(h, 5);
    ad_head_init(ref, 5);
    int first, n;
    mt_share(G, size, rank, &first, &n);
    for (int s = 0; s < STEPS; s++) {
        float x[64 * D];
        int8_t y[64 * K];
        ad_rng r;
        ad_rng_seed(&r, 100 + (uint64_t)s, 0);
        for (int i = 0; i < G * D; i++)
            x[i] = (float)ad_rng_normal(&r) + 0.3f;
        for (int i = 0; i < G * K; i++)
            y[i] = (int8_t)ad_rng_below(&r, 2);
        double l = step(h, x, y, first, n, G, MPI_COMM_WORLD);
        double l1 = step(ref, x, y, 0, G, G, MPI_COMM_SELF);
        MT_CHECK(fabs(l - l1) <= 1e-6 * fabs(l1), "%s G=%d step %d: loss %.9g vs %.9g",
                 kind ? "mlp" : "linear", G, s, l, l1);
        double e = tu_max_rel_err(h->grads, ref->grads, h->nparams);
        MT_CHECK(e < 1e-5, "%s G=%d step %d: gradient rel. error %.3g", kind ? "mlp" : "linear",
                 G, s, e);
        for (size_t i = 0; i < h->nparams; i++) {
            h->params[i] -= 0.1f * h->grads[i];
            ref->params[i] -= 0.1f * ref->grads[i];
        }
    }
    MT_CHECK(tu_max_rel_err(h->params, ref->params, h->nparams) < 1e-5, "%s G=%d: weights differ",
             kind ? "mlp" : "linear", G);
    if (kind == AD_HEAD_MLP)
        MT_CHECK(tu_max_rel_err(h->running, ref->running, 2 * HID) < 1e-5,
                 "G=%d: running statistics differ", G);
    ad_head_destroy(h);
    ad_head_destroy(ref);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int kind = 0; kind < 2; kind++) {
        run((ad_head_kind)kind, 4 * size);     /* even */
        run((ad_head_kind)kind, 4 * size + 1); /* uneven */
    }
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
