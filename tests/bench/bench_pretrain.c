/* One Adaptor training step (forward, global-negative loss, backward, gradient all-reduce,
 * AdamW) at the reference shapes, against the BLIS sgemm rate measured in the same run and,
 * on one rank when /usr/bin/python3 has torch, against the same step in PyTorch.
 *
 * usage: [mpirun -np R] bench_pretrain [--image-dim 384] [--text-dim 768] [--batch 1024]
 *                                      [--reps 5] [--no-torch]
 * Prints medians of the per-step times (CPU time of rank 0, wall time beside it). */
#include "adaptor/nn.h"

#include "benchutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* FLOPs of one step on b local rows with G columns: the products this implementation
 * performs (no Q/K projections: they cannot change a one-key softmax; when the 2b rows of a
 * step exceed P the attention is folded into one [P, P] product, see adaptor.c). */
static double step_flops(const ad_adaptor_config *c, double b, double G)
{
    double P = c->proj, F = c->ffn, L = c->layers, rows = 2 * b;
    double ffn = 2 * rows * 2 * P * F; /* linear1, linear2 */
    double attn_f, attn_b;
    if (rows > P) {
        attn_f = 2 * P * P * P + 2 * rows * P * P;             /* fold, one product */
        attn_b = 2 * (2 * rows * P * P) + 2 * (2 * P * P * P); /* dW, dx; unfold */
    } else {
        attn_f = 2 * (2 * rows * P * P);                        /* V, out */
        attn_b = 2 * attn_f;
    }
    double fwd = 2 * b * (c->dv + c->dt) * P + L * (ffn + attn_f);
    double bwd = 2 * b * (c->dv + c->dt) * P + L * (2 * ffn + attn_b); /* no dx for projections */
    /* logits and both backward products; one rank: the two directions share them */
    double loss = (b == G ? 3 : 6) * (2 * b * G * P);
    return fwd + bwd + loss;
}

/* sgemm rate on the step's dominant shape (b x F x P and b x P x P products). */
static double sgemm_rate(int b, int P, int F, int reps)
{
    float *x = calloc((size_t)b * F, sizeof(float)), *w = calloc((size_t)F * P, sizeof(float)),
          *y = calloc((size_t)b * F, sizeof(float));
    for (size_t i = 0; i < (size_t)b * F; i++)
        x[i] = (float)(i % 7) * 0.1f;
    double r[16];
    for (int k = 0; k < reps; k++) {
        double t0 = bu_cpu_now();
        ad_gemm(0, 1, b, F, P, 1.0f, x, P, w, P, 0.0f, y, F);
        ad_gemm(0, 1, b, P, F, 1.0f, x, F, w, F, 0.0f, y, P);
        ad_gemm(0, 1, b, P, P, 1.0f, x, P, w, P, 0.0f, y, P);
        r[k] = 2.0 * b * ((double)F * P * 2 + (double)P * P) / (bu_cpu_now() - t0) / 1e9;
    }
    free(x);
    free(w);
    free(y);
    return bu_median(r, reps);
}

static double torch_rate(const ad_adaptor_config *c, int batch, int reps, int skx)
{
    char args[256];
    snprintf(args, sizeof args, "%d %d %d %d %d %d %d", c->dv, c->dt, c->proj, c->ffn, c->layers,
             batch, reps);
    return bu_torch_rate(skx, "bench_pretrain_torch.py", args, "samples/s");
}

int main(int argc, char **argv)
{
    char msg[256];
    int rank, size;
    if (bu_mpi_start(&argc, &argv, msg, sizeof msg, &rank, &size))
        return 1;
    int dv = 384, dt = 768, G = 1024, reps = 5, no_torch = 0;
    const bu_opt opts[] = {{"--image-dim", &dv, 0}, {"--text-dim", &dt, 0}, {"--batch", &G, 0},
                           {"--reps", &reps, 0},     {"--no-torch", &no_torch, 1}};
    bu_parse_opts(argc, argv, 1, opts, sizeof opts / sizeof *opts);
    if (reps > 15)
        reps = 15;
    ad_adaptor_config c = bu_adaptor_config(dv, dt, 768, 2048, 2);
    int b = G / size;
    bu_step s;
    if (bu_step_create(&c, b, rank, &s))
        MPI_Abort(MPI_COMM_WORLD, 1);
    /* The machine may be shared: the sgemm rate is taken right after each step and the
     * share is the median of the per-step ratios, so a change of load between the steps and
     * the reference does not move it. */
    double cpu[16], wall[16], parts[16], comm[16], sgk[16], share[16];
    double flops = step_flops(&c, b, G);
    for (int k = 0; k <= reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double c0 = bu_cpu_now(), w0 = ad_now(), tadam = 0;
        ad_dp_stats st;
        if (bu_step_run(&s, k, &st, &tadam) != AD_OK)
            MPI_Abort(MPI_COMM_WORLD, 1);
        if (k > 0) {
            cpu[k - 1] = bu_cpu_now() - c0;
            wall[k - 1] = ad_now() - w0;
            parts[k - 1] = tadam;
            comm[k - 1] = st.comm_seconds;
            sgk[k - 1] = sgemm_rate(b, c.proj, c.ffn, 3);
            share[k - 1] = flops / cpu[k - 1] / 1e9 / sgk[k - 1];
        }
    }
    double tc = bu_median(cpu, reps), tw = bu_median(wall, reps), topt = bu_median(parts, reps);
    double tcomm = bu_median(comm, reps);
    double sg = bu_median(sgk, reps), ratio = bu_median(share, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (rank == 0) {
        printf("%s\n", msg);
        printf("Adaptor step: image %d, text %d, P %d, F %d, %d layers, global batch %d on %d "
               "rank(s), %zu parameters\n", dv, dt, c.proj, c.ffn, c.layers, G, size, s.m->nparams);
        printf("  per step (median of %d): %.3f s CPU, %.3f s wall (AdamW %.3f s)\n", reps, tc,
               tw, topt);
        printf("  samples/s: %.1f (wall); collectives %.3f s per step (%.1f%% of the wall time)\n",
               G / tw, tcomm, 100.0 * tcomm / tw);
        printf("  GFLOP/s per rank: %.1f; sgemm on the same shapes: %.1f; ratio %.2f (median "
               "of the per-step ratios)\n", flops / tc / 1e9, sg, ratio);
        printf("  peak memory (rank 0): %.0f MB\n", ru.ru_maxrss / 1024.0);
        if (!no_torch && size == 1 && access("/usr/bin/python3", X_OK) == 0) {
            double t_def = torch_rate(&c, G, 3, 0);
            double t_skx = torch_rate(&c, G, 3, 1);
            double ours = G / tc;
            if (t_def > 0)
                printf("  PyTorch (BLIS default kernels): %.1f samples/s -> adaptor is %.2fx\n",
                       t_def, ours / t_def);
            if (t_skx > 0)
                printf("  PyTorch (BLIS_ARCH_TYPE=0, skx): %.1f samples/s -> adaptor is %.2fx\n",
                       t_skx, ours / t_skx);
            if (t_def <= 0 && t_skx <= 0)
                printf("  PyTorch: not available\n");
        }
    }
    bu_step_destroy(&s);
    MPI_Finalize();
    return 0;
}
