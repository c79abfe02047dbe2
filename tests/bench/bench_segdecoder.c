/* Segmentation-decoder training throughput on one thread: forward + backward (SyncBatchNorm
 * on one rank, MGCA's loss) of the SPEC 8 ViT decoder over a 16 x 16 grid (224 px, patch
 * 14) and of the ResNet-50 U-Net (stages at 224 px), and (when /usr/bin/python3 has torch)
 * the PyTorch twin bench_segdecoder_torch.py on the same shapes.
 *
 * usage: bench_segdecoder [--batch B] [--reps N] [--in-ch C] [--only vit|unet] [--no-torch]
 * Prints medians of CPU time over N repetitions (the machine is shared). */
#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/rng.h"
#include "adaptor/seg_loss.h"
#include "adaptor/segdecoder.h"

#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXREPS 64

static float *filled(size_t n, uint64_t seed)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "bench_segdecoder: out of memory\n");
        exit(1);
    }
    ad_rng r;
    ad_rng_seed(&r, seed, 1);
    for (size_t i = 0; i < n; i++)
        p[i] = 2.0f * ad_rng_uniform(&r) - 1.0f;
    return p;
}

static void bench(const char *name, const char *torch_args, ad_segdec_config cfg, int batch,
                  int reps, int torch)
{
    ad_segdec *d;
    if (ad_segdec_create(&cfg, &d) != AD_OK) {
        fprintf(stderr, "bench_segdecoder: %s\n", ad_errmsg());
        exit(1);
    }
    ad_segdec_init(d, 42);
    int nin = ad_segdec_ninputs(d), O = ad_segdec_out_size(d);
    float *feats[AD_SEGDEC_MAX_UP + 1] = {0};
    for (int i = 0; i < nin; i++) {
        int side, ch;
        ad_segdec_input_shape(d, i, &side, &ch);
        if (ch)
            feats[i] = filled((size_t)batch * side * side * ch, 10 + (uint64_t)i);
    }
    size_t n = (size_t)batch * O * O;
    float *logits = filled(n, 1), *dl = filled(n, 2), *mask = filled(n, 3);
    for (size_t i = 0; i < n; i++)
        mask[i] = mask[i] > 0.5f;
    double t[MAXREPS], tf[MAXREPS];
    for (int i = -1; i < reps; i++) { /* i = -1: warm-up, allocates the activations */
        ad_seg_loss_parts parts;
        double t0 = bu_cpu_now();
        int rc = ad_segdec_forward(d, (const float *const *)feats, batch, logits, 1,
                                   MPI_COMM_NULL);
        double t1 = bu_cpu_now();
        if (rc == AD_OK)
            rc = ad_seg_mixed_loss(logits, mask, n, 10.0f, 2.0f, dl, &parts, NULL);
        if (rc == AD_OK)
            rc = ad_segdec_backward(d, dl, NULL, MPI_COMM_NULL);
        if (rc != AD_OK) {
            fprintf(stderr, "bench_segdecoder: %s\n", ad_errmsg());
            exit(1);
        }
        if (i >= 0) {
            t[i] = bu_cpu_now() - t0;
            tf[i] = t1 - t0;
        }
    }
    double sec = bu_median(t, reps), fsec = bu_median(tf, reps), flops = ad_segdec_flops(d, batch);
    printf("%s, batch %d, %d -> %d px, %.2f M parameters, 1 thread: %.1f GFLOP per forward\n",
           name, batch, cfg.grid, O, ad_segdec_nparams(d) * 1e-6, flops * 1e-9);
    printf("  adaptor: forward+backward %.3f s CPU per batch, %.2f images/s (%.1f GFLOP/s at "
           "3x forward); forward alone %.3f s (%.1f GFLOP/s)\n",
           sec, batch / sec, 3 * flops / sec * 1e-9, fsec, flops / fsec * 1e-9);
    if (torch) {
        char args[256];
        snprintf(args, sizeof args, "%s --batch %d --reps %d", torch_args, batch,
                 reps < 3 ? reps : 3);
        double r = bu_torch_rate(1, "bench_segdecoder_torch.py", args, "images/s");
        if (r > 0)
            printf("  torch (BLIS_ARCH_TYPE=0): %.2f images/s -> adaptor / torch = %.2f\n", r,
                   batch / sec / r);
    }
    for (int i = 0; i < nin; i++)
        free(feats[i]);
    free(logits), free(dl), free(mask);
    ad_segdec_destroy(d);
}

int main(int argc, char **argv)
{
    int batch = 8, reps = 3, torch = 1, in_ch = 768;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--in-ch") == 0 && i + 1 < argc)
            in_ch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--no-torch") == 0)
            torch = 0;
        else {
            fprintf(stderr, "usage: bench_segdecoder [--batch B] [--reps N] [--in-ch C] "
                            "[--only vit|unet] [--no-torch]\n");
            return 2;
        }
    }
    if (batch < 1 || batch > 256 || reps < 1 || reps > MAXREPS || in_ch < 1 || in_ch > 4096) {
        fprintf(stderr, "bench_segdecoder: batch 1..256, reps 1..%d, in-ch 1..4096\n", MAXREPS);
        return 2;
    }
    if (bu_single_start("bench_segdecoder") != 0)
        return 1;
    char args[64];
    if (!only || strcmp(only, "vit") == 0) {
        snprintf(args, sizeof args, "--model vit --in-ch %d", in_ch);
        bench("ViT decoder (SPEC 8)", args, ad_segdec_vit_config(in_ch, 16), batch, reps, torch);
    }
    if (!only || strcmp(only, "unet") == 0) {
        static const int stages[5] = {64, 256, 512, 1024, 2048};
        bench("ResNet-50 U-Net decoder", "--model unet", ad_segdec_unet_resnet_config(stages, 7),
              batch, reps, torch);
    }
    return 0;
}
