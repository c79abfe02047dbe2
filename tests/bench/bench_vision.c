/* Image-encoder throughput on one thread: DINOv2 ViT-S/14 and ViT-B/14 and ResNet-50 at
 * 224 px with random weights, against the BLIS sgemm rate on each model's own GEMM shapes
 * measured in the same run, and (when /usr/bin/python3 has torch) against the PyTorch twin
 * bench_vision_torch.py.  The ViTs also run with bf16 linear layers (gemm_bf16.h) when the
 * CPU has them, interleaved with the fp32 runs, against PyTorch in bf16 (autocast and a
 * .bfloat16() model).
 *
 * usage: bench_vision [--batch B] [--reps N] [--only vits|vitb|resnet50] [--no-torch]
 * Prints medians of CPU time over N repetitions (the machine is shared). */
#include "adaptor/blis_select.h"
#include "adaptor/conv2d.h"
#include "adaptor/dinov2.h"
#include "adaptor/error.h"
#include "adaptor/gemm_bf16.h"
#include "adaptor/nn.h"
#include "adaptor/resnet.h"

#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXREPS 64
#define MAXSHAPES 16




/* GEMM shapes (m rows x n outputs x k inner) weighted by how often the model runs them. */
typedef struct {
    int n;
    int m[MAXSHAPES], out[MAXSHAPES], k[MAXSHAPES];
    double weight[MAXSHAPES];
} shapes;

static void add_shape(shapes *s, int m, int out, int k, double weight)
{
    s->m[s->n] = m;
    s->out[s->n] = out;
    s->k[s->n] = k;
    s->weight[s->n++] = weight;
}

/* The sgemm rate over the shapes, each timed once and weighted by its share of the work. */
static double sgemm_rate(const shapes *s, float *a, float *b, float *c)
{
    double flops = 0, secs = 0;
    for (int i = 0; i < s->n; i++) {
        double t0 = bu_cpu_now();
        ad_gemm(0, 1, s->m[i], s->out[i], s->k[i], 1.0f, a, s->k[i], b, s->k[i], 0.0f, c,
                s->out[i]);
        double dt = bu_cpu_now() - t0, f = 2.0 * s->m[i] * s->out[i] * s->k[i];
        flops += f * s->weight[i];
        secs += dt * s->weight[i];
    }
    return flops / secs * 1e-9;
}


static double vision_torch_rate(int skx, const char *model, const char *precision, int batch,
                                int reps)
{
    char args[256];
    snprintf(args, sizeof args, "--model %s --precision %s --batch %d --reps %d", model,
             precision, batch, reps);
    return bu_torch_rate(skx, "bench_vision_torch.py", args, "images/s");
}

typedef int (*forward_fn)(void *model, const float *x, int batch, float *out);

static int dino_fwd(void *m, const float *x, int batch, float *out)
{
    return ad_dinov2_forward(m, x, batch, 224, 224, AD_POS_HUB, AD_IMG_CLS, out);
}

static int resnet_fwd(void *m, const float *x, int batch, float *out)
{
    return ad_resnet_forward(m, x, batch, 224, 224, AD_IMG_CLS, out);
}

static void bench(const char *name, const char *torch_name, void *model, void *model_bf16,
                  forward_fn fwd, double flops, const shapes *sh, int batch, int reps, int torch)
{
    size_t nx = (size_t)batch * 3 * 224 * 224, maxa = 0, maxb = 0, maxc = 0;
    for (int i = 0; i < sh->n; i++) {
        size_t a = (size_t)sh->m[i] * sh->k[i], b = (size_t)sh->out[i] * sh->k[i];
        size_t c = (size_t)sh->m[i] * sh->out[i];
        maxa = a > maxa ? a : maxa;
        maxb = b > maxb ? b : maxb;
        maxc = c > maxc ? c : maxc;
    }
    float *x = malloc(sizeof(float) * nx), *out = malloc(sizeof(float) * (size_t)batch * 4096);
    float *a = malloc(sizeof(float) * maxa), *b = malloc(sizeof(float) * maxb);
    float *c = malloc(sizeof(float) * maxc);
    if (!x || !out || !a || !b || !c) {
        fprintf(stderr, "bench_vision: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    for (size_t i = 0; i < maxa; i++)
        a[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < maxb; i++)
        b[i] = (float)((i * 7919) % 1000) * 1e-4f - 0.05f;
    /* warm-up: grows the workspace, packs the bf16 weights */
    if (fwd(model, x, batch, out) != AD_OK ||
        (model_bf16 && fwd(model_bf16, x, batch, out) != AD_OK)) {
        fprintf(stderr, "bench_vision: %s\n", ad_errmsg());
        exit(1);
    }
    sgemm_rate(sh, a, b, c);
    double t[MAXREPS], gr[MAXREPS], ratio[MAXREPS], tb[MAXREPS], speedup[MAXREPS];
    for (int i = 0; i < reps; i++) {
        double t0 = bu_cpu_now();
        fwd(model, x, batch, out);
        t[i] = bu_cpu_now() - t0;
        gr[i] = sgemm_rate(sh, a, b, c);
        ratio[i] = flops / t[i] * 1e-9 / gr[i];
        if (model_bf16) {
            t0 = bu_cpu_now();
            fwd(model_bf16, x, batch, out);
            tb[i] = bu_cpu_now() - t0;
            speedup[i] = t[i] / tb[i];
        }
    }
    double sec = bu_median(t, reps), rate = flops / sec * 1e-9;
    printf("%s, batch %d at 224, 1 thread: %.1f GFLOP per forward\n", name, batch, flops * 1e-9);
    printf("  adaptor: %.3f s CPU per batch, %.2f images/s, %.1f GFLOP/s\n", sec, batch / sec,
           rate);
    printf("  sgemm (BLIS %s, the model's GEMM shapes): %.1f GFLOP/s; encoder / sgemm: %.1f%%\n",
           ad_blis_arch_name(), bu_median(gr, reps), 100.0 * bu_median(ratio, reps));
    double secb = model_bf16 ? bu_median(tb, reps) : 0;
    if (model_bf16)
        printf("  adaptor bf16: %.3f s CPU per batch, %.2f images/s; bf16 / fp32 = %.2fx (median "
               "of per-repetition ratios)\n", secb, batch / secb, bu_median(speedup, reps));
    if (torch && model_bf16) {
        int treps = reps < 3 ? reps : 3;
        static const char *const prec[2] = {"autocast", "bf16"};
        for (int p = 0; p < 2; p++) {
            double tr = vision_torch_rate(0, torch_name, prec[p], batch, treps);
            if (tr > 0)
                printf("  torch %s: %.2f images/s -> adaptor bf16 / torch %s = %.2f\n", prec[p],
                       tr, prec[p], batch / secb / tr);
        }
    }
    if (torch) {
        int treps = reps < 3 ? reps : 3;
        double t1 = vision_torch_rate(0, torch_name, "fp32", batch, treps);
        if (t1 > 0)
            printf("  torch (BLIS_ARCH_TYPE unset): %.2f images/s -> adaptor / torch = %.2f\n",
                   t1, batch / sec / t1);
        double t2 = vision_torch_rate(1, torch_name, "fp32", batch, treps);
        if (t2 > 0)
            printf("  torch (BLIS_ARCH_TYPE=0): %.2f images/s -> adaptor / torch = %.2f\n", t2,
                   batch / sec / t2);
    }
    free(x), free(out), free(a), free(b), free(c);
}

static void bench_vit(const char *name, const char *tname, int D, int heads, int batch, int reps,
                      int torch)
{
    ad_dinov2_config cfg = {D, 12, heads, 4 * D, 14, 518, 0, 0, 1, 1e-6f, 0};
    ad_dinov2 *m, *mb = NULL;
    if (ad_dinov2_create_random(&cfg, 42, &m) != AD_OK) {
        fprintf(stderr, "bench_vision: %s\n", ad_errmsg());
        exit(1);
    }
    if (!ad_bf16_supported(NULL)) {
        printf("bf16: this CPU has no bf16 instructions; fp32 only\n");
    } else if (ad_dinov2_create_random(&cfg, 42, &mb) != AD_OK ||
               ad_dinov2_set_precision(mb, AD_PREC_BF16) != AD_OK) {
        fprintf(stderr, "bench_vision: %s\n", ad_errmsg());
        exit(1);
    }
    int rows = batch * (1 + 16 * 16);
    shapes sh = {0};
    add_shape(&sh, rows, 3 * D, D, 1);
    add_shape(&sh, rows, D, D, 1);
    add_shape(&sh, rows, 4 * D, D, 1);
    add_shape(&sh, rows, D, 4 * D, 1);
    bench(name, tname, m, mb, dino_fwd, ad_dinov2_flops(&cfg, batch, 224, 224), &sh, batch, reps,
          torch);
    ad_dinov2_destroy(m);
    ad_dinov2_destroy(mb);
}

static void bench_resnet50(int batch, int reps, int torch)
{
    static const int blocks[4] = {3, 4, 6, 3};
    ad_resnet *m;
    if (ad_resnet_create_random(blocks, 64, 42, &m) != AD_OK) {
        fprintf(stderr, "bench_vision: %s\n", ad_errmsg());
        exit(1);
    }
    /* per stage: the 3x3 convolution (im2col) and the 1x1 expansion, weighted by block count */
    shapes sh = {0};
    for (int s = 0; s < 4; s++) {
        int side = 56 >> s, planes = 64 << s, rows = batch * side * side;
        add_shape(&sh, rows, planes, 9 * planes, blocks[s]);
        add_shape(&sh, rows, 4 * planes, planes, 2 * blocks[s]);
    }
    bench("ResNet-50", "resnet50", m, NULL, resnet_fwd, ad_resnet_flops(m, batch, 224, 224), &sh,
          batch, reps, torch);
    ad_resnet_destroy(m);
}

int main(int argc, char **argv)
{
    int batch = 16, reps = 3, torch = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--no-torch") == 0)
            torch = 0;
        else {
            fprintf(stderr, "usage: bench_vision [--batch B] [--reps N] "
                    "[--only vits|vitb|resnet50] [--no-torch]\n");
            return 2;
        }
    }
    if (batch < 1 || batch > 256 || reps < 1 || reps > MAXREPS) {
        fprintf(stderr, "bench_vision: batch 1..256, reps 1..%d\n", MAXREPS);
        return 2;
    }
    if (bu_single_start("bench_vision") != 0)
        return 1;
    if (!only || strcmp(only, "vits") == 0)
        bench_vit("DINOv2 ViT-S/14", "vits", 384, 6, batch, reps, torch);
    if (!only || strcmp(only, "vitb") == 0)
        bench_vit("DINOv2 ViT-B/14", "vitb", 768, 12, batch, reps, torch);
    if (!only || strcmp(only, "resnet50") == 0)
        bench_resnet50(batch, reps, torch);
    return 0;
}
