/* Retrieval on one rank against a naive O(N^2) double loop: small-integer embeddings make
 * every dot product exact (so deliberate ties are exact ties in both computations and the
 * pessimistic ranks must agree exactly); random unit vectors must fall between the naive
 * optimistic and pessimistic ranks with a 1e-5 margin. The summary is checked by hand. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/retrieval.h"
#include "adaptor/rng.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static const int ks[] = {1, 5, 10};

/* Ranks of every query's partner in double: pess = #{c : s >= d - eps} (with eps = 0 the
 * pessimistic 1 + #greater + #equal-other), opt = 1 + #{c : s > d + eps}. */
static void naive(const float *v, const float *t, int n, int p, int i2t, double eps, int64_t *pess,
                  int64_t *opt)
{
    const float *q = i2t ? v : t, *c = i2t ? t : v;
    for (int a = 0; a < n; a++) {
        double d = 0;
        for (int x = 0; x < p; x++)
            d += (double)q[a * p + x] * c[a * p + x];
        int64_t ge = 0, gt = 1;
        for (int b = 0; b < n; b++) {
            double s = 0;
            for (int x = 0; x < p; x++)
                s += (double)q[a * p + x] * c[b * p + x];
            ge += s >= d - eps;
            gt += s > d + eps;
        }
        pess[a] = ge;
        if (opt)
            opt[a] = gt;
    }
}

static void int_data(float *v, float *t, int n, int p, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 0);
    for (int i = 0; i < n * p; i++) {
        v[i] = (float)((int)ad_rng_below(&r, 3) - 1);
        t[i] = (float)((int)ad_rng_below(&r, 3) - 1);
    }
    /* Exact duplicates: ties with the true partner on both sides. */
    for (int i = 0; i + 7 < n; i += 7) {
        memcpy(t + (size_t)(i + 3) * p, t + (size_t)i * p, sizeof(float) * p);
        memcpy(v + (size_t)(i + 5) * p, v + (size_t)i * p, sizeof(float) * p);
    }
}

static void check_exact(int n, int p, uint64_t seed)
{
    float *v = malloc(sizeof(float) * n * p), *t = malloc(sizeof(float) * n * p);
    int64_t *ri = malloc(sizeof(int64_t) * n), *rt = malloc(sizeof(int64_t) * n),
            *want = malloc(sizeof(int64_t) * n);
    int_data(v, t, n, p, seed);
    ad_retrieval_result res;
    tu_assert_ok(ad_retrieval(MPI_COMM_SELF, v, t, n, p, ks, 3, &res, ri, rt));
    ck_assert_int_eq(res.n, n);
    naive(v, t, n, p, 1, 0.0, want, NULL);
    for (int i = 0; i < n; i++)
        ck_assert_msg(ri[i] == want[i], "i2t query %d: rank %lld, naive %lld", i, (long long)ri[i],
                      (long long)want[i]);
    ad_retrieval_dir d;
    tu_assert_ok(ad_retrieval_summarise(want, n, ks, 3, &d));
    ck_assert(memcmp(&d, &res.i2t, sizeof d) == 0);
    naive(v, t, n, p, 0, 0.0, want, NULL);
    for (int i = 0; i < n; i++)
        ck_assert_msg(rt[i] == want[i], "t2i query %d: rank %lld, naive %lld", i, (long long)rt[i],
                      (long long)want[i]);
    tu_assert_ok(ad_retrieval_summarise(want, n, ks, 3, &d));
    ck_assert(memcmp(&d, &res.t2i, sizeof d) == 0);
    free(v);
    free(t);
    free(ri);
    free(rt);
    free(want);
}

START_TEST(exact_ties_small)
{
    check_exact(50, 4, 1);
}
END_TEST
/* Several tiles, the last partial. */
START_TEST(exact_ties_tiles)
{
    check_exact(2 * AD_RETRIEVAL_TILE + 37, 6, 2);
}
END_TEST

START_TEST(all_equal_scores_rank_last)
{
    enum { N = 40, P = 3 };
    float v[N * P], t[N * P];
    for (int i = 0; i < N * P; i++)
        v[i] = t[i] = (i % P == 0) ? 1.0f : 0.0f; /* every pair scores 1 */
    ad_retrieval_result res;
    int64_t ri[N];
    tu_assert_ok(ad_retrieval(MPI_COMM_SELF, v, t, N, P, ks, 3, &res, ri, NULL));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ri[i], N);
    ck_assert(res.i2t.recall[2] == 0.0 && res.t2i.recall[0] == 0.0);
    ck_assert(res.i2t.median_rank == N && res.t2i.mean_rank == N);
}
END_TEST

START_TEST(random_unit_vectors)
{
    enum { N = 900, P = 24 };
    float *v = malloc(sizeof(float) * N * P), *t = malloc(sizeof(float) * N * P);
    ad_rng r;
    ad_rng_seed(&r, 7, 1);
    for (int i = 0; i < N; i++) {
        double nv = 0, nt = 0;
        for (int x = 0; x < P; x++) {
            v[i * P + x] = (float)ad_rng_normal(&r);
            /* Correlated pairs, so ranks are spread and not all near N/2. */
            t[i * P + x] = v[i * P + x] + (float)(0.8 * ad_rng_normal(&r));
            nv += (double)v[i * P + x] * v[i * P + x];
            nt += (double)t[i * P + x] * t[i * P + x];
        }
        for (int x = 0; x < P; x++) {
            v[i * P + x] = (float)(v[i * P + x] / sqrt(nv));
            t[i * P + x] = (float)(t[i * P + x] / sqrt(nt));
        }
    }
    int64_t *ri = malloc(sizeof(int64_t) * N), *rt = malloc(sizeof(int64_t) * N),
            *pess = malloc(sizeof(int64_t) * N), *opt = malloc(sizeof(int64_t) * N);
    ad_retrieval_result res;
    tu_assert_ok(ad_retrieval(MPI_COMM_SELF, v, t, N, P, ks, 3, &res, ri, rt));
    naive(v, t, N, P, 1, 1e-5, pess, opt);
    int64_t ones = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_msg(opt[i] <= ri[i] && ri[i] <= pess[i], "i2t %d: %lld not in [%lld, %lld]", i,
                      (long long)ri[i], (long long)opt[i], (long long)pess[i]);
        ones += ri[i] == 1;
    }
    ck_assert(ones > 10 && ones < N); /* a meaningful spread */
    naive(v, t, N, P, 0, 1e-5, pess, opt);
    for (int i = 0; i < N; i++)
        ck_assert_msg(opt[i] <= rt[i] && rt[i] <= pess[i], "t2i %d: %lld not in [%lld, %lld]", i,
                      (long long)rt[i], (long long)opt[i], (long long)pess[i]);
    free(v);
    free(t);
    free(ri);
    free(rt);
    free(pess);
    free(opt);
}
END_TEST

START_TEST(summary_by_hand)
{
    ad_retrieval_dir d;
    const int k2[] = {1, 5};
    tu_assert_ok(ad_retrieval_summarise((const int64_t[]){10, 1, 3, 2}, 4, k2, 2, &d));
    ck_assert(d.recall[0] == 0.25 && d.recall[1] == 0.75);
    ck_assert(d.median_rank == 2.5 && d.mean_rank == 4.0);
    tu_assert_ok(ad_retrieval_summarise((const int64_t[]){7, 1, 4}, 3, k2, 2, &d));
    ck_assert(d.median_rank == 4.0 && d.mean_rank == 4.0);
    ck_assert(fabs(d.recall[1] - 2.0 / 3.0) < 1e-15);
    tu_assert_fails(ad_retrieval_summarise((const int64_t[]){1}, 1, (const int[]){0}, 1, &d),
                    AD_ERR_ARG, "K = 0");
}
END_TEST

START_TEST(bad_input)
{
    float v[6] = {1, 0, 0, 1, 0, 1}, t[6] = {1, 0, 0, 1, 1, 0};
    ad_retrieval_result res;
    v[3] = NAN;
    tu_assert_fails(ad_retrieval(MPI_COMM_SELF, v, t, 3, 2, ks, 3, &res, NULL, NULL),
                    AD_ERR_NUMERIC, "image embedding row 1 is not finite");
    v[3] = 1;
    tu_assert_fails(ad_retrieval(MPI_COMM_SELF, v, t, 0, 2, ks, 3, &res, NULL, NULL), AD_ERR_ARG,
                    "0 pairs");
    tu_assert_fails(ad_retrieval(MPI_COMM_SELF, v, t, 3, 2, ks, 0, &res, NULL, NULL), AD_ERR_ARG,
                    "values of K");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("retrieval");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exact_ties_small);
    tcase_add_test(tc, exact_ties_tiles);
    tcase_add_test(tc, all_equal_scores_rank_last);
    tcase_add_test(tc, random_unit_vectors);
    tcase_add_test(tc, summary_by_hand);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return tu_run_mpi_suite(&argc, &argv, suite()); }
