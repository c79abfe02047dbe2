/* Data-parallel segmentation decoders: R ranks holding parts of a global batch (SyncBatchNorm
 * over the communicator, MGCA's loss with global sums) give the logits, loss, summed
 * parameter gradients, input gradients and afterwards running statistics (seen through an
 * evaluation forward) of one process holding the whole batch. Even and uneven splits, ViT
 * and U-Net decoders. */
#include "mpitest.h"

#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "adaptor/rng.h"
#include "adaptor/seg_loss.h"
#include "adaptor/segdecoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *normals(size_t n, uint64_t seed)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    ad_rng r;
    ad_rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)ad_rng_normal(&r);
    return p;
}

typedef struct run_out {
    float *logits, *eval, *dfeat0;
    double loss;
} run_out;

/* One training step (forward, loss, backward) then an evaluation forward, for images
 * [first, first + n) of the global inputs. */
static int step(ad_segdec *d, float *const *gfeats, const float *masks, int first, int n,
                MPI_Comm comm, run_out *o)
{
    int nin = ad_segdec_ninputs(d), O = ad_segdec_out_size(d);
    const float *feats[AD_SEGDEC_MAX_UP + 1] = {0};
    float *dfeats[AD_SEGDEC_MAX_UP + 1] = {0};
    size_t per0 = 0;
    for (int i = 0; i < nin; i++) {
        int side, ch;
        ad_segdec_input_shape(d, i, &side, &ch);
        size_t per = (size_t)side * side * ch;
        if (i == 0)
            per0 = per;
        if (gfeats[i])
            feats[i] = gfeats[i] + (size_t)first * per;
    }
    size_t hw = (size_t)O * O;
    o->logits = malloc(sizeof(float) * n * hw);
    o->eval = malloc(sizeof(float) * n * hw);
    o->dfeat0 = malloc(sizeof(float) * n * per0);
    dfeats[0] = o->dfeat0;
    float *dl = malloc(sizeof(float) * n * hw);
    ad_seg_loss_parts parts;
    ad_segdec_zero_grad(d);
    int rc = ad_segdec_forward(d, feats, n, o->logits, 1, comm);
    ad_reduce red = ad_mpi_sum(&comm);
    if (rc == AD_OK)
        rc = ad_seg_mixed_loss(o->logits, masks + (size_t)first * hw, (size_t)n * hw, 10.0f,
                               2.0f, dl, &parts, &red);
    if (rc == AD_OK)
        rc = ad_segdec_backward(d, dl, dfeats, comm);
    if (rc == AD_OK)
        rc = ad_segdec_forward(d, feats, n, o->eval, 0, comm);
    o->loss = parts.loss;
    free(dl);
    return rc;
}

static void run(ad_segdec_config cfg, int G, const char *what)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_segdec *m, *ref;
    if (ad_segdec_create(&cfg, &m) || ad_segdec_create(&cfg, &ref)) {
        MT_CHECK(0, "%s: create: %s", what, ad_errmsg());
        return;
    }
    ad_segdec_init(m, 42);
    ad_segdec_init(ref, 42);
    int nin = ad_segdec_ninputs(m), O = ad_segdec_out_size(m);
    float *gfeats[AD_SEGDEC_MAX_UP + 1] = {0};
    size_t per[AD_SEGDEC_MAX_UP + 1] = {0};
    for (int i = 0; i < nin; i++) {
        int side, ch;
        ad_segdec_input_shape(m, i, &side, &ch);
        per[i] = (size_t)side * side * ch;
        if (ch)
            gfeats[i] = normals((size_t)G * per[i], 100 + (uint64_t)i);
    }
    size_t hw = (size_t)O * O;
    float *masks = normals((size_t)G * hw, 300);
    for (size_t i = 0; i < (size_t)G * hw; i++)
        masks[i] = masks[i] > 0.3f;
    int first, n;
    mt_share(G, size, rank, &first, &n);
    run_out a = {0}, r = {0};
    int rc = step(m, gfeats, masks, first, n, MPI_COMM_WORLD, &a);
    MT_CHECK(rc == AD_OK, "%s: distributed step: %s", what, ad_errmsg());
    rc = step(ref, gfeats, masks, 0, G, MPI_COMM_NULL, &r);
    MT_CHECK(rc == AD_OK, "%s: single step: %s", what, ad_errmsg());
    size_t np = ad_segdec_nparams(m);
    float *gsum = malloc(sizeof(float) * np);
    MPI_Allreduce(ad_segdec_grads(m), gsum, (int)np, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double e_logit = tu_max_rel_err(a.logits, r.logits + (size_t)first * hw, (size_t)n * hw);
    double e_eval = tu_max_rel_err(a.eval, r.eval + (size_t)first * hw, (size_t)n * hw);
    double e_dx = tu_max_rel_err(a.dfeat0, r.dfeat0 + (size_t)first * per[0], (size_t)n * per[0]);
    double e_grad = tu_max_rel_err(gsum, ad_segdec_grads(ref), np);
    MT_CHECK(e_logit < 1e-5, "%s: training logits differ by %g", what, e_logit);
    MT_CHECK(fabs(a.loss - r.loss) < 1e-6 * fabs(r.loss), "%s: loss %.9g vs %.9g", what, a.loss,
             r.loss);
    MT_CHECK(e_grad < 1e-4, "%s: summed parameter gradients differ by %g", what, e_grad);
    MT_CHECK(e_dx < 1e-4, "%s: input gradients differ by %g", what, e_dx);
    MT_CHECK(e_eval < 1e-5, "%s: evaluation logits (running statistics) differ by %g", what,
             e_eval);
    free(gsum), free(masks);
    free(a.logits), free(a.eval), free(a.dfeat0), free(r.logits), free(r.eval), free(r.dfeat0);
    for (int i = 0; i < nin; i++)
        free(gfeats[i]);
    ad_segdec_destroy(m);
    ad_segdec_destroy(ref);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_segdec_config vit = {.kind = AD_SEGDEC_VIT, .in_ch = 6, .grid = 4, .stem_ch = 8,
                            .ch = {8, 6, 4, 4}};
    ad_segdec_config unet = {.kind = AD_SEGDEC_UNET, .in_ch = 8, .grid = 2, .nup = 3,
                             .ch = {8, 6, 4}, .skip_ch = {4, 3, 0}};
    run(vit, 2 * size, "vit even");
    run(vit, 2 * size + 1, "vit uneven");
    run(unet, 2 * size, "unet even");
    run(unet, size + 1, "unet uneven");
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
