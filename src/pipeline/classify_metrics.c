/* Scores of a split -> AUROC per label, mean AUROC, accuracy. */
#include "classify_internal.h"

#include "adaptor/auroc.h"
#include "adaptor/error.h"
#include "adaptor/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Multi-class: per-row softmax in place (monotone per row, not per column, so one-vs-rest
 * AUROC depends on it). */
static void softmax_rows(float *p, int64_t n, int k)
{
    for (int64_t i = 0; i < n; i++) {
        float *r = p + i * k, mx = r[0];
        double s = 0;
        for (int j = 1; j < k; j++)
            mx = fmaxf(mx, r[j]);
        for (int j = 0; j < k; j++)
            s += exp((double)r[j] - mx);
        for (int j = 0; j < k; j++)
            r[j] = (float)(exp((double)r[j] - mx) / s);
    }
}

int cls_metrics(const cls_data *d, const cls_split *s, const float *scores, int softmax,
                const char *model, ad_eval_records *R, double *select)
{
    int K = d->nlab;
    int64_t n = s->n;
    float *col = ad_malloc((size_t)(n ? n : 1) * sizeof(float) * (1 + (size_t)K), "scores");
    int8_t *lab = ad_malloc((size_t)(n ? n : 1), "labels");
    if (!col || !lab) {
        free(col);
        free(lab);
        return AD_ERR_NOMEM;
    }
    float *p = col + n;
    memcpy(p, scores, (size_t)n * K * sizeof(float));
    if (d->task == AD_TASK_MULTICLASS && softmax)
        softmax_rows(p, n, K);
    int rc = AD_OK, used = 0;
    double sum = 0;
    for (int k = 0; k < K && rc == AD_OK; k++) {
        for (int64_t i = 0; i < n; i++) {
            col[i] = p[i * K + k];
            lab[i] = s->labels[i * K + k];
        }
        double auc;
        rc = ad_auroc(col, lab, n, d->label_names[k], &auc);
        if (rc == AD_ERR_ARG) { /* one class only in this split: no AUROC for it */
            if (R) /* the final report, not every epoch's selection */
                ad_warn("classify %s: %s", s->name, ad_errmsg());
            ad_clear_error();
            rc = AD_OK;
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "auroc_%s", d->label_names[k]);
        if (rc == AD_OK && R)
            rc = ad_eval_records_add(R, s->name, model, name, auc);
        sum += auc;
        used++;
    }
    /* Accuracy: arg-max class (multiclass) or each label thresholded at logit 0 / score 0.5
     * (the probe regresses 0/1 targets). */
    int64_t hit = 0, tot = 0;
    for (int64_t i = 0; rc == AD_OK && i < n; i++) {
        const float *r = p + i * K;
        const int8_t *y = s->labels + i * K;
        if (d->task == AD_TASK_MULTICLASS) {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (r[k] > r[best])
                    best = k;
            hit += y[best] == 1;
            tot++;
        } else {
            float thr = softmax ? 0.0f : 0.5f;
            for (int k = 0; k < K; k++)
                hit += (r[k] > thr) == (y[k] == 1);
            tot += K;
        }
    }
    double acc = tot ? (double)hit / (double)tot : 0;
    double mean = used ? sum / used : NAN;
    if (rc == AD_OK && R && used)
        rc = ad_eval_records_add(R, s->name, model, "auroc_mean", mean);
    if (rc == AD_OK && R)
        rc = ad_eval_records_add(R, s->name, model, "accuracy", acc);
    if (rc == AD_OK && d->task != AD_TASK_MULTICLASS && !used)
        rc = ad_fail(AD_ERR_ARG, "classify %s: no label has both classes, so no AUROC", s->name);
    *select = d->task == AD_TASK_MULTICLASS ? acc : mean;
    free(col);
    free(lab);
    return rc;
}
