/* BERT-base throughput on one thread against the BLIS sgemm rate on the same GEMM shapes,
 * and (when /usr/bin/python3 has torch) against PyTorch on the same shapes.  With bf16
 * instructions the same model also runs with bf16 linear layers (gemm_bf16.h), interleaved
 * with the fp32 runs, against PyTorch bf16 (autocast and a .bfloat16() model).
 *
 * usage: bench_bert [--batch B] [--tokens T] [--min-tokens M] [--reps N] [--no-torch]
 * --min-tokens M draws each length uniformly from [M, T] (real report batches): the
 * encoder packs tokens, so padding costs nothing; FLOPs count the real tokens.
 * Prints medians over N repetitions (the machine is shared: single runs are noisy). */
#include "adaptor/bert.h"
#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/gemm_bf16.h"
#include "adaptor/nn.h"
#include "adaptor/rng.h"

#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CPU time of this (single-threaded) process: on a machine shared with other jobs it is
 * far steadier than wall time, which is printed beside it for the record. */




/* The four linear-layer GEMMs of one encoder layer, timed as the layer weighs them: the
 * sgemm reference rate.  Measured right after each forward pass, so both see the same
 * machine load; the reported ratio is the median of the per-repetition ratios. */
typedef struct {
    int rows, H, I;
    float *w, *x, *y;
} gemm_ref;

static void gemm_ref_init(gemm_ref *g, int rows, int H, int I)
{
    size_t maxw = (size_t)I * H, maxx = (size_t)rows * (I > 3 * H ? I : 3 * H);
    g->rows = rows;
    g->H = H;
    g->I = I;
    g->w = malloc(maxw * sizeof(float));
    g->x = malloc(maxx * sizeof(float));
    g->y = malloc(maxx * sizeof(float));
    if (!g->w || !g->x || !g->y) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < maxw; i++)
        g->w[i] = (float)((i * 7919) % 1000) * 1e-4f - 0.05f;
    for (size_t i = 0; i < maxx; i++)
        g->x[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
}

/* GFLOP/s of the four shapes together; per-shape rates into per_shape (may be NULL). */
static double gemm_ref_rate(const gemm_ref *g, double *per_shape)
{
    int shapes[4][2] = {{3 * g->H, g->H}, {g->H, g->H}, {g->I, g->H}, {g->H, g->I}}; /* out, in */
    double flops = 0, secs = 0;
    for (int s = 0; s < 4; s++) {
        int out = shapes[s][0], in = shapes[s][1];
        double t0 = bu_cpu_now();
        ad_gemm(0, 1, g->rows, out, in, 1.0f, g->x, in, g->w, in, 0.0f, g->y, out);
        double dt = bu_cpu_now() - t0, f = 2.0 * g->rows * out * in;
        if (per_shape)
            per_shape[s] = f / dt * 1e-9;
        flops += f;
        secs += dt;
    }
    return flops / secs * 1e-9;
}

static void gemm_ref_free(gemm_ref *g)
{
    free(g->w);
    free(g->x);
    free(g->y);
}

/* Runs the PyTorch twin of this benchmark and returns its reports/s (0: unavailable). */

static double bert_torch_rate(int skx, const char *precision, int batch, int tokens, int reps)
{
    char args[160];
    snprintf(args, sizeof args, "--precision %s --batch %d --tokens %d --reps %d", precision,
             batch, tokens, reps);
    return bu_torch_rate(skx, "bench_bert_torch.py", args, "reports/s");
}

int main(int argc, char **argv)
{
    int batch = 32, tokens = 112, min_tokens = 0, reps = 5, torch = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            tokens = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-tokens") == 0 && i + 1 < argc)
            min_tokens = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-torch") == 0)
            torch = 0;
        else {
            fprintf(stderr, "usage: bench_bert [--batch B] [--tokens T] [--min-tokens M] [--reps N] "
                            "[--no-torch]\n");
            return 2;
        }
    }
    if (min_tokens <= 0)
        min_tokens = tokens;
    if (batch < 1 || tokens < 1 || tokens > 512 || min_tokens > tokens || reps < 1 || reps > 64) {
        fprintf(stderr, "bench_bert: batch >= 1, 1 <= min-tokens <= tokens <= 512, reps 1..64\n");
        return 2;
    }
    if (bu_single_start("bench_bert") != 0)
        return 1;

    ad_bert_config cfg = {768, 12, 12, 3072, 30522, 512, 2, 1e-12f, AD_BERT_GELU, 1};
    ad_bert *m, *mb = NULL;
    if (ad_bert_create_random(&cfg, 42, &m) != AD_OK) {
        fprintf(stderr, "bench_bert: %s\n", ad_errmsg());
        return 1;
    }
    if (!ad_bf16_supported(NULL)) {
        printf("bf16: this CPU has no bf16 instructions; fp32 only\n");
    } else if (ad_bert_create_random(&cfg, 42, &mb) != AD_OK ||
               ad_bert_set_precision(mb, AD_PREC_BF16) != AD_OK) {
        fprintf(stderr, "bench_bert: %s\n", ad_errmsg());
        return 1;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)batch * tokens);
    int *lengths = malloc(sizeof(int) * (size_t)batch);
    float *out = malloc(sizeof(float) * (size_t)batch * cfg.hidden);
    ad_rng r;
    ad_rng_seed(&r, 1, 0);
    for (int b = 0; b < batch; b++) {
        lengths[b] = min_tokens + (int)ad_rng_below(&r, (uint64_t)(tokens - min_tokens + 1));
        for (int t = 0; t < tokens; t++)
            ids[b * tokens + t] = (int32_t)ad_rng_below(&r, (uint64_t)cfg.vocab);
    }
    double flops = ad_bert_flops(&cfg, lengths, batch);
    int rows = 0;
    for (int b = 0; b < batch; b++)
        rows += lengths[b];
    printf("BERT-base, batch %d x %d..%d tokens (%d in all), 1 thread, %d reps: %.1f GFLOP per "
           "forward\n", batch, min_tokens, tokens, rows, reps, flops * 1e-9);
    double t[64], tw[64], ratio[64], gr[64], shape_rate[4][64], tb[64], speedup[64];
    if (ad_bert_forward(m, ids, lengths, batch, tokens, AD_BERT_POOLER, out) != AD_OK ||
        (mb && ad_bert_forward(mb, ids, lengths, batch, tokens, AD_BERT_POOLER, out) != AD_OK)) {
        fprintf(stderr, "bench_bert: %s\n", ad_errmsg());
        return 1;
    }
    gemm_ref g;
    gemm_ref_init(&g, rows, cfg.hidden, cfg.intermediate);
    gemm_ref_rate(&g, NULL); /* warm-up */
    for (int i = 0; i < reps; i++) {
        double t0 = bu_cpu_now(), w0 = bu_wall_now();
        ad_bert_forward(m, ids, lengths, batch, tokens, AD_BERT_POOLER, out);
        t[i] = bu_cpu_now() - t0;
        tw[i] = bu_wall_now() - w0;
        double ps[4];
        gr[i] = gemm_ref_rate(&g, ps);
        for (int s = 0; s < 4; s++)
            shape_rate[s][i] = ps[s];
        ratio[i] = flops / t[i] * 1e-9 / gr[i];
        if (mb) {
            t0 = bu_cpu_now();
            ad_bert_forward(mb, ids, lengths, batch, tokens, AD_BERT_POOLER, out);
            tb[i] = bu_cpu_now() - t0;
            speedup[i] = t[i] / tb[i];
        }
    }
    const char *names[4] = {"QKV", "attention output", "intermediate", "output"};
    int dims[4][2] = {{3 * cfg.hidden, cfg.hidden}, {cfg.hidden, cfg.hidden},
                      {cfg.intermediate, cfg.hidden}, {cfg.hidden, cfg.intermediate}};
    for (int s = 0; s < 4; s++)
        printf("  sgemm %5d x %5d x %5d (%s): %.1f GFLOP/s\n", rows, dims[s][0],
               dims[s][1], names[s], bu_median(shape_rate[s], reps));
    double sec = bu_median(t, reps);
    double rate = flops / sec * 1e-9;
    printf("adaptor: %.3f s CPU (%.3f s wall) per batch, %.2f reports/s, %.1f GFLOP/s\n", sec,
           bu_median(tw, reps), batch / sec, rate);
    printf("sgemm (BLIS %s, same shapes): %.1f GFLOP/s; encoder / sgemm rate: %.1f%% (median "
           "of per-repetition ratios)\n", ad_blis_arch_name(), bu_median(gr, reps),
           100.0 * bu_median(ratio, reps));
    gemm_ref_free(&g);
    double secb = mb ? bu_median(tb, reps) : 0;
    if (mb)
        printf("adaptor bf16: %.3f s CPU per batch, %.2f reports/s; bf16 / fp32 = %.2fx (median "
               "of per-repetition ratios)\n", secb, batch / secb, bu_median(speedup, reps));
    if (torch && mb && min_tokens == tokens) {
        int treps = reps < 3 ? reps : 3;
        static const char *const prec[2] = {"autocast", "bf16"};
        for (int p = 0; p < 2; p++) {
            double tr = bert_torch_rate(0, prec[p], batch, tokens, treps);
            if (tr > 0)
                printf("torch %s: %.2f reports/s -> adaptor bf16 / torch %s = %.2f\n", prec[p],
                       tr, prec[p], batch / secb / tr);
        }
    }
    if (torch && min_tokens == tokens) {
        int treps = reps < 3 ? reps : 3;
        double t1 = bert_torch_rate(0, "fp32", batch, tokens, treps);
        if (t1 > 0)
            printf("torch (BLIS_ARCH_TYPE unset): %.2f reports/s -> adaptor / torch = %.2f\n", t1,
                   batch / sec / t1);
        double t2 = bert_torch_rate(1, "fp32", batch, tokens, treps);
        if (t2 > 0)
            printf("torch (BLIS_ARCH_TYPE=0): %.2f reports/s -> adaptor / torch = %.2f\n", t2,
                   batch / sec / t2);
        if (t1 <= 0 && t2 <= 0)
            printf("torch: /usr/bin/python3 with torch or bench_bert_torch.py not found\n");
    }
    ad_bert_destroy(m);
    ad_bert_destroy(mb);
    free(ids);
    free(lengths);
    free(out);
    return 0;
}
