/* SPEC 7's main correctness property: R ranks with local batches give the same losses and
 * gradients, step after step, as one rank with the whole global batch (dropout off), for
 * even and uneven splits; local negatives give the average of per-rank losses; and every
 * rank ends each step with bitwise-identical weights. */
#include "mpitest.h"

#include "adaptor/adaptor.h"
#include "adaptor/dp.h"
#include "adaptor/error.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const ad_adaptor_config cfg = {.dv = 7, .dt = 9, .proj = 16, .ffn = 24, .heads = 4,
                                      .layers = 2, .dropout = 0.0f, .ln_eps = 1e-5f,
                                      .logit_scale_init = 2.6592f};

static float *batch(int n, int d, uint64_t seed)
{
    float *p = malloc(sizeof(float) * (size_t)n * d);
    ad_rng r;
    ad_rng_seed(&r, seed, 3);
    for (int i = 0; i < n * d; i++)
        p[i] = (float)ad_rng_normal(&r);
    return p;
}

/* tokens: 0 pooled, else token mode with TV image and TT text tokens (ragged reports). */
enum { TV = 3, TT = 4 };

static void run(int G, int global_neg, int steps, int tokens, int overlap)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_adaptor *m, *ref;
    ad_dp *dp, *dp1;
    ad_adaptor_config c = cfg;
    c.tokens = tokens;
    int tv = tokens ? TV : 1, tt = tokens ? TT : 1;
    if (ad_adaptor_create(&c, &m) || ad_adaptor_create(&c, &ref) ||
        ad_dp_create(MPI_COMM_WORLD, global_neg, 0.75f, &dp) ||
        ad_dp_create(MPI_COMM_SELF, 1, 0.75f, &dp1)) {
        MT_CHECK(0, "setup: %s", ad_errmsg());
        return;
    }
    ad_dp_set_overlap(dp, overlap);
    ad_adaptor_init(m, 42);
    ad_adaptor_init(ref, 42);
    int first, n;
    mt_share(G, size, rank, &first, &n);
    for (int s = 0; s < steps; s++) {
        float *xv = batch(G * tv, cfg.dv, 100 + s), *xt = batch(G * tt, cfg.dt, 200 + s);
        uint8_t *mask = malloc((size_t)G * tt);
        for (int i = 0; i < G * tt; i++)
            mask[i] = i % tt <= (i / tt) % tt; /* report i has 1 + i % TT real tokens */
        size_t rv = (size_t)tv * cfg.dv, rt = (size_t)tt * cfg.dt;
        ad_dp_stats st, st1;
        ad_adaptor_batch mine = {xv + first * rv, xt + first * rt, mask + (size_t)first * tt,
                                 tokens ? TV : 0, tokens ? TT : 0};
        ad_adaptor_batch all = {xv, xt, mask, mine.tv, mine.tt};
        int rc = ad_dp_step(dp, m, &mine, n, NULL, &st);
        MT_CHECK(rc == AD_OK, "dp step: %s", ad_errmsg());
        double want;
        if (global_neg) {
            rc = ad_dp_step(dp1, ref, &all, G, NULL, &st1);
            want = st1.loss;
        } else {
            /* Reference: each rank's own batch as a single-process loss; gradients and losses
             * averaged over ranks, weighted by rows as the 1/G normalisation implies. */
            float *acc = calloc(ref->nparams, sizeof(float));
            want = 0;
            for (int r = 0; r < size; r++) {
                int f, k;
                mt_share(G, size, r, &f, &k);
                ad_adaptor_batch part = {xv + f * rv, xt + f * rt, mask + (size_t)f * tt, mine.tv,
                                         mine.tt};
                rc |= ad_dp_step(dp1, ref, &part, k, NULL, &st1);
                want += st1.loss * k / G;
                for (size_t i = 0; i < ref->nparams; i++)
                    acc[i] += ref->grads[i] * (float)k / (float)G;
            }
            memcpy(ref->grads, acc, ref->nparams * sizeof(float));
            free(acc);
        }
        MT_CHECK(rc == AD_OK, "reference step: %s", ad_errmsg());
        MT_CHECK(fabs(st.loss - want) <= 1e-5 * fabs(want), "G=%d step %d: loss %.9g vs %.9g", G,
                 s, st.loss, want);
        MT_CHECK(st.global_batch == G, "global batch %d", st.global_batch);
        double e = tu_max_rel_err(m->grads, ref->grads, m->nparams);
        MT_CHECK(e < 5e-5, "G=%d neg=%s tokens=%d step %d: gradient rel. error %.3g", G,
                 global_neg ? "global" : "local", tokens, s, e);
        /* The same plain update everywhere; weights must stay identical across ranks.
         * (Round-off differences between the two runs grow with the steps, which is why
         * the per-step gradient tolerance sits above float32 epsilon.) */
        for (size_t i = 0; i < m->nparams; i++) {
            m->params[i] -= 0.05f * m->grads[i];
            ref->params[i] -= 0.05f * ref->grads[i];
        }
        float *w0 = malloc(m->nparams * sizeof(float));
        memcpy(w0, m->params, m->nparams * sizeof(float));
        MPI_Bcast(w0, (int)m->nparams, MPI_FLOAT, 0, MPI_COMM_WORLD);
        MT_CHECK(memcmp(w0, m->params, m->nparams * sizeof(float)) == 0,
                 "weights differ from rank 0's after step %d", s);
        free(w0);
        free(xv);
        free(xt);
        free(mask);
    }
    MT_CHECK(tu_max_rel_err(m->params, ref->params, m->nparams) < 1e-5, "final weights differ");
    ad_dp_destroy(dp);
    ad_dp_destroy(dp1);
    ad_adaptor_destroy(m);
    ad_adaptor_destroy(ref);
}

/* The overlapped gradient all-reduce (per-layer MPI_Iallreduce during the backward pass)
 * against the blocking one, step after step with dropout on: bitwise the same gradients and
 * weights on 2 ranks (one addition per element), within 1e-6 relative on more. The blocking
 * and overlapped steps alternate between two replicas so that the same collectives interleave
 * with the other's (a mismatched slice order would hang or corrupt). */
static void overlap_matches(int G, int steps, int tokens, int last_empty)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_adaptor_config c = cfg;
    c.tokens = tokens;
    c.dropout = 0.1f;
    ad_adaptor *m[2];
    ad_dp *dp[2];
    for (int k = 0; k < 2; k++) {
        if (ad_adaptor_create(&c, &m[k]) || ad_dp_create(MPI_COMM_WORLD, 1, 0.75f, &dp[k])) {
            MT_CHECK(0, "setup: %s", ad_errmsg());
            return;
        }
        ad_adaptor_init(m[k], 7);
    }
    ad_dp_set_overlap(dp[1], 1);
    int tv = tokens ? TV : 1, tt = tokens ? TT : 1, first, n;
    mt_share(G, size, rank, &first, &n);
    if (last_empty) { /* 3 rows on every rank but the last, which has none */
        G = 3 * (size - 1);
        first = 3 * rank;
        n = rank < size - 1 ? 3 : 0;
    }
    size_t np = m[0]->nparams;
    for (int s = 0; s < steps; s++) {
        float *xv = batch(G * tv, cfg.dv, 300 + s), *xt = batch(G * tt, cfg.dt, 400 + s);
        size_t rv = (size_t)tv * cfg.dv, rt = (size_t)tt * cfg.dt;
        ad_adaptor_batch mine = {xv + first * rv, xt + first * rt, NULL, tokens ? TV : 0,
                                 tokens ? TT : 0};
        ad_dp_stats st[2];
        for (int k = 0; k < 2; k++) {
            ad_rng drop;
            ad_rng_seed(&drop, 9, (uint64_t)(s * 100 + rank));
            MT_CHECK(ad_dp_step(dp[k], m[k], &mine, n, &drop, &st[k]) == AD_OK, "step: %s",
                     ad_errmsg());
            for (size_t i = 0; i < np; i++)
                m[k]->params[i] -= 0.05f * m[k]->grads[i];
        }
        MT_CHECK(size == 2 ? st[0].loss == st[1].loss
                           : fabs(st[0].loss - st[1].loss) <= 1e-6 * fabs(st[0].loss),
                 "G=%d step %d: losses %.9g vs %.9g", G, s, st[0].loss, st[1].loss);
        double e = tu_max_rel_err(m[1]->params, m[0]->params, np);
        if (size == 2)
            MT_CHECK(memcmp(m[0]->params, m[1]->params, np * sizeof(float)) == 0,
                     "G=%d tokens=%d step %d: overlapped weights not bitwise equal (rel %.3g)",
                     G, tokens, s, e);
        else
            MT_CHECK(e <= 1e-6, "G=%d tokens=%d step %d: overlapped weights rel. error %.3g", G,
                     tokens, s, e);
        free(xv);
        free(xt);
    }
    for (int k = 0; k < 2; k++) {
        ad_dp_destroy(dp[k]);
        ad_adaptor_destroy(m[k]);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    run(12, 1, 6, 0, 0);       /* even split for 2 and 3 ranks */
    run(13, 1, 4, 0, 0);       /* uneven */
    run(size * 4, 0, 4, 0, 0); /* local negatives, equal shares */
    run(12, 1, 4, 1, 0);       /* token-level mode with padded reports */
    run(13, 1, 4, 0, 1);       /* overlapped all-reduce equals 1 rank too */
    overlap_matches(40, 4, 0, 0); /* 2 b > P on every rank: folded attention */
    overlap_matches(12, 4, 0, 0); /* unfolded */
    overlap_matches(0, 3, 0, 1);  /* one rank without rows */
    overlap_matches(12, 2, 1, 0); /* token mode */
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
