/* Rank shares and the seeded shuffle. Shares: for every n and rank count the blocks tile
 * [0, n) in rank order, sizes differ by at most one with the larger ones first (checked by
 * walking the blocks, not by the formula), and the MPI counts scale by the unit and refuse
 * int overflow. Shuffle: a permutation, and the same stream as the inline Fisher-Yates
 * loop (draw j in [0, i] for i = n-1 .. 1) that classify and label fractions used before,
 * so their selections and orders did not move. Batch plans (trainplan.h): walking the batches
 * of a pass and each batch's rank blocks visits rows 0 .. N-1 once each in order (drop_last:
 * the floor(N / G) G first), only the last batch smaller, ranks with no row included. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/rng.h"
#include "adaptor/share.h"
#include "adaptor/trainplan.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_blocks_tile)
{
    const int64_t ns[] = {0, 1, 2, 5, 7, 16, 17, 1023, 100003};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (int size = 1; size <= 9; size++) {
            int64_t n = ns[a], next = 0, prev = -1;
            for (int r = 0; r < size; r++) {
                int64_t first, count;
                ad_share(n, r, size, &first, &count);
                ck_assert_msg(first == next, "n %lld size %d rank %d: first %lld, want %lld",
                              (long long)n, size, r, (long long)first, (long long)next);
                ck_assert_msg(count >= 0 && (prev < 0 || count == prev || count == prev - 1),
                              "n %lld size %d rank %d: count %lld after %lld", (long long)n,
                              size, r, (long long)count, (long long)prev);
                /* no rank holds two more than the smallest share */
                ck_assert_msg(count * size <= n + size - 1 && (count + 1) * size > n - size + 1,
                              "n %lld size %d: unbalanced count %lld", (long long)n, size,
                              (long long)count);
                next += count;
                prev = count;
            }
            ck_assert_msg(next == n, "n %lld size %d: blocks cover %lld", (long long)n, size,
                          (long long)next);
        }
    /* The documented example: 10 rows on 4 ranks are 3, 3, 2, 2. */
    int64_t f, c;
    ad_share(10, 1, 4, &f, &c);
    ck_assert(f == 3 && c == 3);
    ad_share(10, 2, 4, &f, &c);
    ck_assert(f == 6 && c == 2);
}
END_TEST

START_TEST(test_counts)
{
    int cnt[5], displ[5];
    tu_assert_ok(ad_share_counts(13, 5, 7, cnt, displ, "x"));
    for (int r = 0; r < 5; r++) {
        int64_t f, c;
        ad_share(13, r, 5, &f, &c);
        ck_assert_int_eq(cnt[r], (int)(c * 7));
        ck_assert_int_eq(displ[r], (int)(f * 7));
    }
    /* Overflow is refused on the rank whose block ends past INT_MAX, not wrapped. */
    tu_assert_fails(ad_share_counts((int64_t)INT_MAX, 3, 2, cnt, displ, "big features"),
                    AD_ERR_ARG, "big features");
    tu_assert_ok(ad_share_counts((int64_t)INT_MAX, 3, 1, cnt, displ, "fits"));
    ck_assert_int_eq(displ[2] + cnt[2], INT_MAX);
}
END_TEST

START_TEST(test_shuffle_stream)
{
    enum { N = 1000 };
    static int64_t a[N], b[N];
    for (uint64_t seed = 1; seed < 4; seed++) {
        for (int64_t i = 0; i < N; i++)
            a[i] = b[i] = 3 * i + 1;
        ad_rng r1, r2;
        ad_rng_seed(&r1, seed, 0xf4ac);
        ad_rng_seed(&r2, seed, 0xf4ac);
        ad_rng_shuffle(&r1, a, N);
        for (int64_t i = N - 1; i > 0; i--) {
            int64_t j = (int64_t)ad_rng_below(&r2, (uint64_t)i + 1), t = b[i];
            b[i] = b[j];
            b[j] = t;
        }
        ck_assert_msg(memcmp(a, b, sizeof a) == 0, "seed %llu: shuffle stream differs",
                      (unsigned long long)seed);
        /* both streams consumed the same number of draws */
        ck_assert(ad_rng_u64(&r1) == ad_rng_u64(&r2));
        int seen[N] = {0}, moved = 0;
        for (int64_t i = 0; i < N; i++) {
            ck_assert(a[i] % 3 == 1 && a[i] / 3 < N && !seen[a[i] / 3]);
            seen[a[i] / 3] = 1;
            moved += a[i] != 3 * i + 1;
        }
        ck_assert_msg(moved > N / 2, "only %d of %d moved", moved, N);
    }
}
END_TEST

START_TEST(test_pass_covers_rows)
{
    /* One assertion per plan: Check's assertions cost a pipe write each in fork mode. */
    for (int64_t N = 1; N <= 25; N++)
        for (int64_t G = 1; G <= 11; G++)
            for (int drop = 0; drop <= (G <= N); drop++) {
                ad_train_plan p;
                tu_assert_ok(ad_train_plan_pass(N, G, drop, &p));
                int ok = 1;
                for (int size = 1; size <= 4; size++) {
                    int64_t next = 0;
                    for (int64_t k = 0; k < p.spe; k++) {
                        int64_t bk = ad_train_plan_batch(&p, k);
                        ok &= bk >= 1 && bk <= G && (bk == G || k == p.spe - 1);
                        for (int r = 0; r < size; r++) {
                            int64_t f, c;
                            ad_train_plan_share(&p, k, r, size, &f, &c);
                            ok &= c >= 0 && k * G + f == next;
                            next += c;
                        }
                    }
                    ok &= next == (drop ? N / G * G : N);
                }
                ck_assert_msg(ok, "N %lld G %lld drop %d: the batches' rank blocks do not walk "
                              "the rows once in order", (long long)N, (long long)G, drop);
            }
    ad_train_plan p;
    tu_assert_fails(ad_train_plan_pass(0, 4, 0, &p), AD_ERR_ARG, "0 pairs");
    tu_assert_fails(ad_train_plan_pass(3, 4, 1, &p), AD_ERR_ARG, "rest dropped");
    tu_assert_ok(ad_train_plan_pass(3, 4, 0, &p)); /* a split smaller than one batch */
    ck_assert(p.spe == 1 && p.last == 3 && ad_train_plan_batch(&p, 0) == 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("share");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_blocks_tile);
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_shuffle_stream);
    tcase_add_test(tc, test_pass_covers_rows);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
