/* Scoring the probe's ridge sweep on a validation split: prediction, metrics, selection. */
#include "adaptor/probe.h"

#include "adaptor/auroc.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

int ad_probe_predict(const float *x, int64_t n, int d, const double *w, int k, float *scores)
{
    double *acc = ad_malloc(sizeof(double) * (size_t)k, "probe scores");
    if (!acc)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        for (int c = 0; c < k; c++)
            acc[c] = w[(size_t)d * k + c];
        for (int j = 0; j < d; j++) {
            double xj = x[i * d + j];
            const double *wj = w + (size_t)j * k;
            for (int c = 0; c < k; c++)
                acc[c] += xj * wj[c];
        }
        for (int c = 0; c < k; c++)
            scores[i * k + c] = (float)acc[c];
    }
    free(acc);
    return AD_OK;
}

static int argmax(const float *v, int k)
{
    int b = 0;
    for (int c = 1; c < k; c++)
        if (v[c] > v[b])
            b = c;
    return b;
}

int ad_probe_metric_accuracy(const float *scores, const float *y, int64_t n, int k, void *ctx,
                             double *value)
{
    if (n < 1)
        return ad_fail(AD_ERR_ARG, "probe: accuracy of an empty validation split");
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++)
        hit += argmax(scores + i * k, k) == argmax(y + i * k, k);
    *value = (double)hit / (double)n;
    return AD_OK;
}

int ad_probe_metric_mean_auroc(const float *scores, const float *y, int64_t n, int k,
                               void *ctx, double *value)
{
    float *s = ad_malloc(sizeof(float) * (size_t)(n ? n : 1), "probe AUROC");
    int8_t *lab = ad_malloc((size_t)(n ? n : 1), "probe AUROC");
    int rc = s && lab ? AD_OK : AD_ERR_NOMEM, used = 0;
    double sum = 0;
    for (int c = 0; c < k && rc == AD_OK; c++) {
        int64_t pos = 0, neg = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = y[i * k + c];
            s[i] = scores[i * k + c];
            lab[i] = v < 0 ? -1 : v >= 0.5f ? 1 : 0;
            pos += lab[i] == 1;
            neg += lab[i] == 0;
        }
        if (!pos || !neg)
            continue; /* AUROC is undefined for one class */
        char name[32];
        snprintf(name, sizeof name, "probe output %d", c);
        double auc;
        rc = ad_auroc(s, lab, n, name, &auc);
        sum += auc;
        used++;
    }
    free(s);
    free(lab);
    if (rc == AD_OK && !used)
        rc = ad_fail(AD_ERR_ARG, "probe: no output has both classes in the validation split");
    if (rc == AD_OK)
        *value = sum / used;
    return rc;
}

/* Allgatherv of [n_local, width] float rows in rank order; *full is malloc'ed. */
static int gather_rows(MPI_Comm comm, const float *local, int64_t n_local, int width,
                       int64_t n, float **full, int *cnt, int *dsp)
{
    int size;
    MPI_Comm_size(comm, &size);
    int mine = (int)(n_local * width);
    if (MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "probe: MPI_Allgather of validation counts failed");
    for (int r = 0, off = 0; r < size; r++) {
        dsp[r] = off;
        off += cnt[r];
    }
    *full = ad_malloc(sizeof(float) * (size_t)(n ? n : 1) * width, "validation rows");
    int rc = ad_mpi_agree(comm, *full ? AD_OK : AD_ERR_NOMEM, "probe");
    if (rc != AD_OK)
        return rc;
    if (MPI_Allgatherv(local, mine, MPI_FLOAT, *full, cnt, dsp, MPI_FLOAT, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "probe: MPI_Allgatherv of validation rows failed");
    return AD_OK;
}

int ad_probe_select(MPI_Comm comm, const float *xval_local, const float *yval_local,
                    int64_t nval_local, int d, int k, const double *w, int nl,
                    ad_probe_metric metric, void *ctx, double *value, int *best)
{
    int size, rc = AD_OK;
    MPI_Comm_size(comm, &size);
    long long mine = nval_local, n = 0;
    if (MPI_Allreduce(&mine, &n, 1, MPI_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "probe: counting validation rows failed");
    if (nl < 1 || d < 1 || k < 1 || !metric)
        return ad_fail(AD_ERR_ARG, "probe: selection needs weights, d, k >= 1 and a metric");
    if (n * (long long)(k > d ? k : d) > INT_MAX)
        return ad_fail(AD_ERR_UNSUPPORTED, "probe: %lld validation rows exceed one MPI message",
                       n);
    float *yfull = NULL, *sfull = NULL;
    float *sloc = ad_malloc(sizeof(float) * (size_t)(nval_local ? nval_local : 1) * k,
                            "validation scores");
    int *cnt = ad_malloc(sizeof(int) * 2 * (size_t)size, "gather counts");
    rc = ad_mpi_agree(comm, sloc && cnt ? AD_OK : AD_ERR_NOMEM, "probe");
    if (rc == AD_OK)
        rc = gather_rows(comm, yval_local, nval_local, k, n, &yfull, cnt, cnt + size);
    double top = 0;
    for (int l = 0; l < nl && rc == AD_OK; l++) {
        const double *wl = w + (size_t)l * (size_t)(d + 1) * k;
        rc = ad_mpi_agree(comm, ad_probe_predict(xval_local, nval_local, d, wl, k, sloc), "probe");
        free(sfull);
        sfull = NULL;
        if (rc == AD_OK)
            rc = gather_rows(comm, sloc, nval_local, k, n, &sfull, cnt, cnt + size);
        double v = 0;
        /* Every rank holds the same data, so every rank gets the same outcome. */
        if (rc == AD_OK)
            rc = metric(sfull, yfull, n, k, ctx, &v);
        if (rc == AD_OK) {
            if (value)
                value[l] = v;
            if (l == 0 || v > top) {
                top = v;
                *best = l;
            }
        }
    }
    free(sloc);
    free(cnt);
    free(yfull);
    free(sfull);
    return rc;
}
