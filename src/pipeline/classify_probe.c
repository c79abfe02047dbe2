/* The ridge probe (include/adaptor/probe.h) on the classification features: targets 0/1
 * per label (one-hot for multiclass), lambda chosen on the validation split. */
#include "classify_internal.h"

#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "adaptor/probe.h"
#include "adaptor/share.h"

#include <stdlib.h>
#include <string.h>

enum { NLAMBDA = 10 };

static float *targets(const int8_t *labels, const int64_t *rows, int64_t n, int K)
{
    float *y = ad_malloc((size_t)(n ? n : 1) * K * sizeof(float), "probe targets");
    for (int64_t i = 0; y && i < n; i++)
        for (int k = 0; k < K; k++)
            y[i * K + k] = labels[(rows ? rows[i] : i) * K + k];
    return y;
}

static int scores_of(const cls_split *s, const double *w, int K, float **out)
{
    *out = ad_malloc((size_t)(s->n ? s->n : 1) * K * sizeof(float), "probe scores");
    if (!*out)
        return AD_ERR_NOMEM;
    return ad_probe_predict(s->x, s->n, s->dim, w, K, *out);
}

int cls_probe(MPI_Comm comm, const cls_data *d, const int64_t *sel, int64_t nsel,
              double *best_lambda, float **valid_scores, float **test_scores)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const cls_split *tr = &d->split[0], *va = &d->split[1];
    int D = tr->dim, K = d->nlab, best = 0;
    double lambdas[NLAMBDA] = {0};
    *valid_scores = *test_scores = NULL;
    int64_t first, cnt, vfirst, vcnt;
    ad_share(nsel, rank, size, &first, &cnt);
    ad_share(va->n, rank, size, &vfirst, &vcnt);
    float *x = ad_malloc((size_t)(cnt ? cnt : 1) * D * sizeof(float), "probe rows");
    float *y = targets(tr->labels, sel + first, cnt, K);
    float *yv = targets(va->labels + vfirst * K, NULL, vcnt, K);
    double *w = ad_malloc((size_t)NLAMBDA * (D + 1) * K * sizeof(double), "probe weights");
    int rc = x && y && yv && w ? AD_OK : AD_ERR_NOMEM;
    for (int64_t i = 0; rc == AD_OK && i < cnt; i++)
        memcpy(x + i * D, tr->x + sel[first + i] * D, (size_t)D * sizeof(float));
    if (rc == AD_OK)
        rc = ad_probe_log_grid(1e-6, 1e3, NLAMBDA, lambdas);
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rc == AD_OK)
        rc = ad_probe_fit(comm, x, cnt, D, y, K, lambdas, NLAMBDA, 0, 0, w);
    if (rc == AD_OK)
        rc = ad_probe_select(comm, va->x + vfirst * D, yv, vcnt, D, K, w, NLAMBDA,
                             d->task == AD_TASK_MULTICLASS ? ad_probe_metric_accuracy
                                                           : ad_probe_metric_mean_auroc,
                             NULL, NULL, &best);
    const double *wb = w ? w + (size_t)best * (D + 1) * K : NULL;
    if (rc == AD_OK)
        rc = scores_of(va, wb, K, valid_scores);
    if (rc == AD_OK)
        rc = scores_of(&d->split[2], wb, K, test_scores);
    rc = ad_mpi_agree(comm, rc, NULL);
    *best_lambda = lambdas[best];
    free(x);
    free(y);
    free(yv);
    free(w);
    if (rc != AD_OK) {
        free(*valid_scores);
        free(*test_scores);
        *valid_scores = *test_scores = NULL;
    }
    return rc;
}
