#include "adaptor/label_fraction.h"

#include "adaptor/error.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *task_names[] = {"binary", "multiclass", "multilabel"};

int ad_cls_task_parse(const char *name, ad_cls_task *out)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, task_names[i]) == 0) {
            *out = (ad_cls_task)i;
            return AD_OK;
        }
    return ad_fail(AD_ERR_CONFIG, "classify: unknown task '%s' (binary | multiclass | multilabel)",
                   name ? name : "(null)");
}

const char *ad_cls_task_name(ad_cls_task t) { return task_names[t]; }

int ad_cls_class_of(const int8_t *row, int nlab)
{
    for (int k = 0; k < nlab; k++)
        if (row[k] == 1)
            return k;
    return -1;
}

int ad_cls_check_labels(const int8_t *labels, int64_t n, int nlab, ad_cls_task task,
                        const char *const *names, const char *what, const int64_t *row_lines)
{
    if (task == AD_TASK_BINARY && nlab != 1)
        return ad_fail(AD_ERR_CONFIG, "classify: task binary needs exactly one label column, got %d",
                       nlab);
    if (task == AD_TASK_MULTICLASS && nlab < 2)
        return ad_fail(AD_ERR_CONFIG, "classify: task multiclass needs one-hot label columns "
                                      "(at least 2), got %d", nlab);
    if (task == AD_TASK_MULTILABEL && nlab > 64)
        return ad_fail(AD_ERR_CONFIG, "classify: at most 64 multi-label columns, got %d", nlab);
    for (int64_t i = 0; i < n; i++) {
        const int8_t *r = labels + i * nlab;
        int ones = 0;
        for (int k = 0; k < nlab; k++) {
            if (r[k] != 0 && r[k] != 1)
                return ad_fail(AD_ERR_FORMAT, "%s, line %lld: column %s: label %d is not 0 or 1",
                               what, (long long)(row_lines ? row_lines[i] : i + 1), names[k],
                               r[k]);
            ones += r[k];
        }
        if (task == AD_TASK_MULTICLASS && ones != 1)
            return ad_fail(AD_ERR_FORMAT, "%s, line %lld: %d of the one-hot columns are 1 "
                           "(multiclass needs exactly one)", what,
                           (long long)(row_lines ? row_lines[i] : i + 1), ones);
    }
    return AD_OK;
}

int ad_cls_check_classes(const int8_t *labels, const int64_t *sel, int64_t n, int nlab,
                         ad_cls_task task, const char *const *names, const char *what)
{
    int nc = task == AD_TASK_BINARY ? 2 : nlab;
    for (int c = 0; c < nc; c++) {
        int64_t seen = 0;
        for (int64_t i = 0; i < n && !seen; i++) {
            const int8_t *r = labels + (sel ? sel[i] : i) * nlab;
            seen = task == AD_TASK_BINARY ? r[0] == c : r[c] == 1;
        }
        if (!seen) {
            if (task == AD_TASK_BINARY)
                return ad_fail(AD_ERR_ARG, "%s: no example with %s = %d among its %lld rows",
                               what, names[0], c, (long long)n);
            return ad_fail(AD_ERR_ARG, "%s: no example of class %s among its %lld rows", what,
                           names[c], (long long)n);
        }
    }
    return AD_OK;
}

static uint64_t pattern(const int8_t *r, int nlab)
{
    uint64_t key = 0;
    for (int k = 0; k < nlab; k++)
        key |= (uint64_t)(r[k] == 1) << k;
    return key;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int ad_label_fraction(const int8_t *labels, int64_t n, int nlab, ad_cls_task task, double pct,
                      uint64_t seed, int64_t **sel, int64_t *nsel)
{
    (void)task; /* the label pattern is the class for binary and one-hot multi-class rows */
    *sel = NULL;
    *nsel = 0;
    if (!(pct > 0 && pct <= 1))
        return ad_fail(AD_ERR_CONFIG, "classify: data_pct %g is not in (0, 1]", pct);
    uint64_t *keys = ad_malloc((size_t)(n ? n : 1) * sizeof *keys, "label patterns");
    int64_t *grp = ad_malloc((size_t)(n ? n : 1) * sizeof *grp, "label groups");
    int64_t *order = ad_malloc((size_t)(n ? n : 1) * sizeof *order, "fraction order");
    uint64_t *gkey = ad_malloc((size_t)(n ? n : 1) * sizeof *gkey, "group keys");
    int64_t *gsize = ad_calloc((size_t)(n ? n : 1), sizeof *gsize, "group sizes");
    int64_t *gtake = ad_calloc((size_t)(n ? n : 1), sizeof *gtake, "group quotas");
    double *grem = ad_malloc((size_t)(n ? n : 1) * sizeof *grem, "group remainders");
    int rc = keys && grp && order && gkey && gsize && gtake && grem ? AD_OK : AD_ERR_NOMEM;
    int64_t ng = 0, k = 0;
    if (rc != AD_OK)
        goto done;
    /* Groups in order of first appearance (a linear scan per row: few patterns in practice). */
    for (int64_t i = 0; i < n; i++) {
        keys[i] = pattern(labels + i * nlab, nlab);
        int64_t g = 0;
        while (g < ng && gkey[g] != keys[i])
            g++;
        if (g == ng)
            gkey[ng++] = keys[i];
        grp[i] = g;
        gsize[g]++;
    }
    int64_t target = (int64_t)floor(pct * (double)n + 0.5), given = 0;
    for (int64_t g = 0; g < ng; g++) {
        double q = pct * (double)gsize[g];
        gtake[g] = (int64_t)floor(q);
        grem[g] = q - (double)gtake[g];
        given += gtake[g];
    }
    while (given < target) {
        int64_t best = -1;
        for (int64_t g = 0; g < ng; g++)
            if (gtake[g] < gsize[g] && (best < 0 || grem[g] > grem[best]))
                best = g;
        if (best < 0)
            break;
        gtake[best]++;
        grem[best] = -1;
        given++;
    }
    /* One seeded shuffle of all rows; each group takes its first gtake members in it. */
    ad_rng r;
    ad_rng_seed(&r, seed, 0xf4ac);
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    ad_rng_shuffle(&r, order, n);
    *sel = ad_malloc((size_t)(given ? given : 1) * sizeof **sel, "fraction rows");
    if (!*sel) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t g = grp[order[i]];
        if (gtake[g] > 0) {
            gtake[g]--;
            (*sel)[k++] = order[i];
        }
    }
    qsort(*sel, (size_t)k, sizeof **sel, cmp_i64);
    *nsel = k;
done:
    free(keys);
    free(grp);
    free(order);
    free(gkey);
    free(gsize);
    free(gtake);
    free(grem);
    return rc;
}
