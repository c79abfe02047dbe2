/* Test caches (and metrics records) whose every value follows a formula of (row, token, dim), so readers in C and
 * Python (tests/ref/cache_check.py) can check them without stored expectations. */
#ifndef ADAPTOR_TESTS_CACHE_FIXTURE_H
#define ADAPTOR_TESTS_CACHE_FIXTURE_H

#include "adaptor/cache.h"
#include "adaptor/error.h"
#include "adaptor/metrics.h"

#include <stdint.h>
#include <stdlib.h>

/* Exactly representable arithmetic in float32: (k mod 1009) / 1009 - 0.5. */
static inline float cf_value(int64_t row, int t, int d)
{
    return (float)((row * 131 + (int64_t)t * 17 + (int64_t)d * 7) % 1009) / 1009.0f - 0.5f;
}
static inline int64_t cf_id(int64_t row) { return 1000 + 3 * row; }
/* Token caches: row r has 1 + r % T real tokens, as a prefix. */
static inline int cf_length(int64_t row, int T) { return 1 + (int)(row % T); }

/* The provenance of the fixture caches: this process, config "[train]\nseed = 42\n" (made
 * once, kept to the end of the test). */
static inline const ad_provenance *cf_prov(void)
{
    static ad_provenance *p;
    if (!p && ad_prov_create_local("[train]\nseed = 42\n", &p) != AD_OK)
        return NULL;
    return p;
}

static inline ad_cache_meta cf_meta(const char *modality, int tokens)
{
    ad_cache_meta m = {modality,
                       modality[0] == 'i' ? "dinov2-tiny" : "bert-tiny",
                       "/models/x",
                       modality[0] == 'i' ? "dinov2" : "bert",
                       tokens ? "tokens" : (modality[0] == 'i' ? "cls" : "pooler"),
                       modality[0] == 'i' ? "resize=256 crop=224" : "max_words=112 mgca",
                       "train",
                       cf_prov(),
                       NULL};
    return m;
}

/* Fills rows [first, first + n) of a cache with the formula (T = 0: pooled). */
static inline int cf_fill(int64_t first, int64_t n, int D, int T, int64_t **ids, float **emb,
                          uint8_t **mask)
{
    int TT = T ? T : 1;
    *ids = malloc((size_t)(n ? n : 1) * sizeof **ids);
    *emb = malloc((size_t)(n ? n : 1) * (size_t)TT * (size_t)D * sizeof **emb);
    *mask = malloc((size_t)(n ? n : 1) * (size_t)TT);
    if (!*ids || !*emb || !*mask)
        return AD_ERR_NOMEM;
    for (int64_t r = 0; r < n; r++) {
        (*ids)[r] = cf_id(first + r);
        for (int t = 0; t < TT; t++) {
            (*mask)[r * TT + t] = t < cf_length(first + r, TT);
            for (int d = 0; d < D; d++)
                (*emb)[((size_t)r * (size_t)TT + (size_t)t) * (size_t)D + (size_t)d] =
                    cf_value(first + r, t, d);
        }
    }
    return AD_OK;
}

/* Writes rows [first, first + n) in `calls` collective calls (some possibly empty). */
static inline int cf_write_range(ad_cache_writer *w, int64_t first, int64_t n, int D, int T,
                                 int calls)
{
    int TT = T ? T : 1;
    int64_t *ids;
    float *emb;
    uint8_t *mask;
    int rc = cf_fill(first, n, D, T, &ids, &emb, &mask);
    for (int c = 0; c < calls && rc == AD_OK; c++) {
        int64_t a = n * c / calls, b = n * (c + 1) / calls;
        rc = ad_cache_write_rows(w, first + a, b - a, ids + a, emb + (size_t)a * TT * D,
                                 T ? mask + (size_t)a * TT : NULL);
    }
    free(ids);
    free(emb);
    free(mask);
    return rc;
}

/* Writes a whole cache of n rows from one rank (comm of size 1). */
static inline int cf_write_cache(MPI_Comm comm, const char *path, const char *modality,
                                 int64_t n, int D, int T)
{
    ad_cache_meta meta = cf_meta(modality, T);
    ad_cache_writer *w;
    int rc = ad_cache_create(comm, path, &meta, n, D, T, NULL, &w);
    if (rc != AD_OK)
        return rc;
    rc = cf_write_range(w, 0, n, D, T, 3);
    if (rc != AD_OK) {
        ad_cache_abort(w);
        return rc;
    }
    return ad_cache_commit(w);
}

/* Counts the rows of `rows` whose read-back values differ from the formula. */
static inline int64_t cf_count_bad(const int64_t *rows, int64_t n, int D, int T,
                                   const float *emb, const uint8_t *mask)
{
    int TT = T ? T : 1;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int ok = 1;
        for (int t = 0; t < TT; t++) {
            if (T && mask[i * TT + t] != (t < cf_length(rows[i], TT)))
                ok = 0;
            for (int d = 0; d < D; d++)
                if (emb[((size_t)i * (size_t)TT + (size_t)t) * (size_t)D + (size_t)d] !=
                    cf_value(rows[i], t, d))
                    ok = 0;
        }
        bad += !ok;
    }
    return bad;
}

/* A metrics record whose every field is a distinct function of the step. */
static inline ad_metrics_step cf_metrics_step(int64_t s)
{
    double x = (double)s;
    ad_metrics_step r = {s,          (int)(s / 4), 2.0 + 1.0 / x,    1.0 + x * 1e-3,
                         3.0 - x * 1e-3, 1e-4 * x, 0.5 * x, 2.6592 + x * 1e-4,
                         100.0 + x,  0.25 * x,         NULL};
    return r;
}

#endif
