/* Retrieval ranks with one pass over S = V T^T.
 *
 * Every rank holds all of T (gathered) and its own rows of V, so it computes the rows of S
 * of its own images. Those rows give its images' i2t ranks directly, and each column
 * restricted to its images gives a partial t2i count that an all-reduce sums. Counting
 * needs the partner scores s_jj of every text first, so a first pass computes the diagonal
 * tiles and all-gathers them (B / N extra work). Because each tile is the same sgemm call
 * (same shape, same position of every row and column) on any rank count, s_jj from the
 * first pass is bitwise the s_jj of the second and every rank count sees the same floats. */
#include "adaptor/retrieval.h"

#include "adaptor/error.h"
#include "adaptor/nn.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = AD_RETRIEVAL_TILE };

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int check_k(const int *k, int nk)
{
    if (nk < 1 || nk > AD_RETRIEVAL_MAX_K)
        return ad_fail(AD_ERR_ARG, "retrieval: %d values of K (1 to %d allowed)", nk,
                       AD_RETRIEVAL_MAX_K);
    for (int j = 0; j < nk; j++)
        if (k[j] < 1)
            return ad_fail(AD_ERR_ARG, "retrieval: Recall@K with K = %d (must be >= 1)", k[j]);
    return AD_OK;
}

int ad_retrieval_summarise(const int64_t *ranks, int64_t n, const int *k, int nk,
                           ad_retrieval_dir *out)
{
    AD_TRY(check_k(k, nk));
    if (n < 1)
        return ad_fail(AD_ERR_ARG, "retrieval: no queries");
    int64_t *s = ad_malloc(sizeof *s * (size_t)n, "retrieval ranks");
    if (!s)
        return AD_ERR_NOMEM;
    memcpy(s, ranks, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    memset(out, 0, sizeof *out);
    /* Integer sums first: the same numbers on every rank and rank count. */
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += s[i];
    for (int j = 0; j < nk; j++) {
        int64_t hits = 0;
        for (int64_t i = 0; i < n && s[i] <= k[j]; i++)
            hits++;
        out->recall[j] = (double)hits / (double)n;
    }
    out->mean_rank = (double)sum / (double)n;
    out->median_rank = n % 2 ? (double)s[n / 2] : 0.5 * ((double)s[n / 2 - 1] + (double)s[n / 2]);
    free(s);
    return AD_OK;
}

static int first_bad_row(const float *x, int64_t n, int p)
{
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            if (!isfinite(x[i * p + j]))
                return (int)(i < INT_MAX ? i : INT_MAX);
    return -1;
}

/* Local checks, then agreement: every rank returns a failure if any rank had one. */
static int validate(MPI_Comm comm, const float *v, const float *t, int64_t n_local, int p,
                    int64_t lo, const int *k, int nk)
{
    int rc = check_k(k, nk);
    if (rc == AD_OK && (p < 1 || n_local < 0 || (n_local > 0 && (!v || !t))))
        rc = ad_fail(AD_ERR_ARG, "retrieval: bad shape [%lld, %d]", (long long)n_local, p);
    int bad;
    if (rc == AD_OK && (bad = first_bad_row(v, n_local, p)) >= 0)
        rc = ad_fail(AD_ERR_NUMERIC, "retrieval: image embedding row %lld is not finite",
                     (long long)(lo + bad));
    if (rc == AD_OK && (bad = first_bad_row(t, n_local, p)) >= 0)
        rc = ad_fail(AD_ERR_NUMERIC, "retrieval: text embedding row %lld is not finite",
                     (long long)(lo + bad));
    /* {failed, p, -p}: the maximum of p and of -p agree only when every rank has one p. */
    int flags[3] = {rc != AD_OK, p, -p};
    if (MPI_Allreduce(MPI_IN_PLACE, flags, 3, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "retrieval: MPI_Allreduce failed");
    if (rc != AD_OK)
        return rc;
    if (flags[0])
        return ad_fail(AD_ERR_PEER, "retrieval: another rank failed");
    if (flags[1] != -flags[2])
        return ad_fail(AD_ERR_ARG, "retrieval: ranks disagree on the embedding size (%d here)", p);
    return AD_OK;
}

/* Image tile `tile` of this rank's rows [lo, hi): rows outside are zero. */
static void image_tile(float *vt, const float *v, int64_t tile, int64_t lo, int64_t hi, int p)
{
    int64_t a0 = tile * B;
    for (int r = 0; r < B; r++) {
        int64_t i = a0 + r;
        if (i >= lo && i < hi)
            memcpy(vt + (size_t)r * p, v + (size_t)(i - lo) * p, sizeof(float) * (size_t)p);
        else
            memset(vt + (size_t)r * p, 0, sizeof(float) * (size_t)p);
    }
}

typedef struct work {
    int64_t n, lo, hi;
    int p;
    const float *v;
    const float *tall; /* [ntiles * B, p], zero rows past n */
    float *vt, *c;     /* [B, p], [B, B] */
} work;

/* c = (image tile in vt) x (text tile ttile)^T */
static void tile_scores(work *w, int64_t ttile)
{
    ad_gemm(0, 1, B, B, w->p, 1.0f, w->vt, w->p, w->tall + (size_t)ttile * B * w->p, w->p, 0.0f,
            w->c, B);
}

/* This rank's partner scores s_ii, from the diagonal tiles. */
static void diagonal(work *w, float *d)
{
    if (w->hi <= w->lo)
        return;
    for (int64_t tile = w->lo / B; tile * B < w->hi; tile++) {
        image_tile(w->vt, w->v, tile, w->lo, w->hi, w->p);
        tile_scores(w, tile);
        for (int64_t i = tile * B > w->lo ? tile * B : w->lo; i < (tile + 1) * B && i < w->hi;
             i++) {
            int r = (int)(i - tile * B);
            d[i - w->lo] = w->c[(size_t)r * B + r];
        }
    }
}

/* ge_i2t[i - lo] = #{j : s_ij >= s_ii}; ge_t2i[j] += #{own i : s_ij >= s_jj}. */
static void count(work *w, const float *dall, int64_t *ge_i2t, int64_t *ge_t2i)
{
    if (w->hi <= w->lo)
        return;
    int64_t ntiles = (w->n + B - 1) / B;
    for (int64_t tile = w->lo / B; tile * B < w->hi; tile++) {
        image_tile(w->vt, w->v, tile, w->lo, w->hi, w->p);
        int64_t i0 = tile * B > w->lo ? tile * B : w->lo;
        int64_t i1 = (tile + 1) * B < w->hi ? (tile + 1) * B : w->hi;
        for (int64_t tt = 0; tt < ntiles; tt++) {
            tile_scores(w, tt);
            int64_t j0 = tt * B;
            int nb = (int)(w->n - j0 < B ? w->n - j0 : B);
            const float *dcol = dall + j0;
            int64_t *gcol = ge_t2i + j0;
            for (int64_t i = i0; i < i1; i++) {
                const float *row = w->c + (size_t)(i - tile * B) * B;
                float di = dall[i];
                int64_t ge = 0;
                for (int b = 0; b < nb; b++) {
                    ge += row[b] >= di;
                    gcol[b] += row[b] >= dcol[b];
                }
                ge_i2t[i - w->lo] += ge;
            }
        }
    }
}

int ad_retrieval(MPI_Comm comm, const float *v, const float *t, int64_t n_local, int p,
                 const int *k, int nk, ad_retrieval_result *res, int64_t *ranks_i2t,
                 int64_t *ranks_t2i)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(res, 0, sizeof *res);
    int64_t *counts64 = calloc((size_t)size, sizeof *counts64);
    int *cnt = calloc((size_t)size, sizeof *cnt), *displ = calloc((size_t)size, sizeof *displ);
    if (!counts64 || !cnt || !displ) {
        free(counts64);
        free(cnt);
        free(displ);
        return ad_fail(AD_ERR_NOMEM, "retrieval: out of memory");
    }
    int rc = AD_OK;
    float *tall = NULL, *vt = NULL, *c = NULL, *dloc = NULL, *dall = NULL;
    int64_t *ge_i2t = NULL, *ge_t2i = NULL, *all_i2t = NULL;
    MPI_Datatype row = MPI_DATATYPE_NULL;
    if (MPI_Allgather(&n_local, 1, MPI_INT64_T, counts64, 1, MPI_INT64_T, comm) != MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "retrieval: MPI_Allgather failed");
        goto done;
    }
    int64_t n = 0, lo = 0;
    for (int r = 0; r < size; r++) {
        if (r == rank)
            lo = n;
        n += counts64[r];
    }
    AD_CHECK(validate(comm, v, t, n_local, p, lo, k, nk));
    if (n < 1 || n > INT_MAX) {
        rc =
            ad_fail(AD_ERR_ARG, "retrieval: %lld pairs (1 to %d supported)", (long long)n, INT_MAX);
        goto done;
    }
    for (int r = 0, off = 0; r < size; r++) {
        cnt[r] = (int)counts64[r];
        displ[r] = off;
        off += cnt[r];
    }
    int64_t ntiles = (n + B - 1) / B;
    work w = {.n = n, .lo = lo, .hi = lo + n_local, .p = p, .v = v};
    tall = ad_calloc((size_t)(ntiles * B), sizeof(float) * (size_t)p, "retrieval text embeddings");
    vt = ad_malloc(sizeof(float) * (size_t)B * p, "retrieval tile");
    c = ad_malloc(sizeof(float) * (size_t)B * B, "retrieval scores");
    dloc = ad_malloc(sizeof(float) * (size_t)(n_local + 1), "retrieval diagonal");
    dall = ad_malloc(sizeof(float) * (size_t)n, "retrieval diagonal");
    ge_i2t = ad_calloc((size_t)n_local + 1, sizeof *ge_i2t, "retrieval ranks");
    ge_t2i = ad_calloc((size_t)n, sizeof *ge_t2i, "retrieval ranks");
    all_i2t = ad_malloc(sizeof *all_i2t * (size_t)n, "retrieval ranks");
    if (!tall || !vt || !c || !dloc || !dall || !ge_i2t || !ge_t2i || !all_i2t)
        rc = AD_ERR_NOMEM;
    int any = rc != AD_OK;
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm);
    if (any) {
        if (rc == AD_OK)
            rc = ad_fail(AD_ERR_PEER, "retrieval: another rank failed");
        goto done;
    }
    w.tall = tall;
    w.vt = vt;
    w.c = c;
    if (MPI_Type_contiguous(p, MPI_FLOAT, &row) != MPI_SUCCESS ||
        MPI_Type_commit(&row) != MPI_SUCCESS ||
        MPI_Allgatherv(t, (int)n_local, row, tall, cnt, displ, row, comm) != MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "retrieval: gathering the text embeddings failed");
        goto done;
    }
    diagonal(&w, dloc);
    if (MPI_Allgatherv(dloc, (int)n_local, MPI_FLOAT, dall, cnt, displ, MPI_FLOAT, comm) !=
        MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "retrieval: gathering the partner scores failed");
        goto done;
    }
    count(&w, dall, ge_i2t, ge_t2i);
    if (MPI_Allgatherv(ge_i2t, (int)n_local, MPI_INT64_T, all_i2t, cnt, displ, MPI_INT64_T, comm) !=
            MPI_SUCCESS ||
        MPI_Allreduce(MPI_IN_PLACE, ge_t2i, (int)n, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "retrieval: reducing the ranks failed");
        goto done;
    }
    res->n = n;
    res->nk = nk;
    memcpy(res->k, k, sizeof *k * (size_t)nk);
    AD_CHECK(ad_retrieval_summarise(all_i2t, n, k, nk, &res->i2t));
    AD_CHECK(ad_retrieval_summarise(ge_t2i, n, k, nk, &res->t2i));
    if (ranks_i2t)
        memcpy(ranks_i2t, all_i2t, sizeof *all_i2t * (size_t)n);
    if (ranks_t2i)
        memcpy(ranks_t2i, ge_t2i, sizeof *ge_t2i * (size_t)n);
done:
    if (row != MPI_DATATYPE_NULL)
        MPI_Type_free(&row);
    free(counts64);
    free(cnt);
    free(displ);
    free(tall);
    free(vt);
    free(c);
    free(dloc);
    free(dall);
    free(ge_i2t);
    free(ge_t2i);
    free(all_i2t);
    return rc;
}
