/* Segmentation decoders (SPEC 8) over channels-last (NHWC) feature maps, one output channel
 * (binary mask logits), trained with SyncBatchNorm semantics across the ranks of a
 * communicator.
 *
 * AD_SEGDEC_VIT (DINOv2 / Adaptor patch tokens on a g x g grid):
 *   stem:      conv3x3 no pad (in_ch -> stem_ch) + BN + ReLU             g -> g-2
 *              (SPEC 8 gives no width for it; stem_ch defaults to in_ch)
 *   block i:   conv3x3 pad 1 (-> ch[i]) + BN + ReLU + nearest x2 (i = 0..3) -> 16 (g-2)
 *   final_out: conv3x3 pad 1 (ch[3] -> 1)
 *   Output side 16 (g - 2): grid 16 (224 / 14) -> 224 exactly. Any g >= 3 works, but only
 *   g = 16 gives the input image size back (448 / 14 = 32 -> 480, not 448): callers must
 *   resample masks or use 224 inputs.
 * AD_SEGDEC_UNET (ResNet stages, deepest first):
 *   block i (i = 0 .. nup-1): transposed conv 2x2 stride 2 (-> ch[i]), concat skip i
 *   (skip_ch[i] channels at the doubled resolution, none when 0), then 2 x [conv3x3 pad 1
 *   (-> ch[i]) + BN + ReLU]; final_out: conv3x3 pad 1 (ch[nup-1] -> 1).
 *   Output side g * 2^nup. For torchvision ResNet-50 at 224: g = 7 (layer4, 2048 ch),
 *   nup = 5, skip_ch = {1024, 512, 256, 0, 0} (layer3, layer2, layer1) -> 224, i.e. with
 *   stages[] from ad_resnet_forward_stages: feats = {stages[4], stages[3], stages[2],
 *   stages[1], NULL, NULL} (ad_segdec_unet_resnet_config). Inputs whose side is not a
 *   multiple of 32 (the torchxrayvision autoencoder's 3 x 3 map) do not fit this layout.
 *
 * Tensor names follow PyTorch state_dict conventions (conv weights OIHW, transposed conv
 * weights [in, out, kh, kw]); the parameter buffer keeps them channels-last internally
 * ([out][kh][kw][in], transposed [in][kh][kw][out]) and converts in save / load; files also
 * carry PyTorch's <bn>.num_batches_tracked (I64):
 *   ViT:  decoder_0.{0,1}.*, decoder_{1..4}.{0,1}.*, final_out.*   (.0 conv, .1 BN)
 *   U-Net: up_{i}.weight/bias, dec_{i}.{0,1,3,4}.* (conv, BN, conv, BN), final_out.*
 * BN tensors: weight, bias (trained), running_mean, running_var (buffers, not trained). */
#ifndef ADAPTOR_SEGDECODER_H
#define ADAPTOR_SEGDECODER_H

#include "adaptor/provenance.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

enum { AD_SEGDEC_VIT = 0, AD_SEGDEC_UNET = 1 };
enum { AD_SEGDEC_MAX_UP = 6 };

typedef struct ad_segdec_config {
    int kind;                     /* AD_SEGDEC_VIT | AD_SEGDEC_UNET */
    int in_ch;                    /* channels of the (deepest) input map */
    int grid;                     /* input side g (square maps) */
    int stem_ch;                  /* ViT: width of the no-pad conv (0: in_ch) */
    int nup;                      /* U-Net: upsampling blocks (ViT: always 4) */
    int ch[AD_SEGDEC_MAX_UP];     /* block widths; ViT reference 512, 256, 128, 64 */
    int skip_ch[AD_SEGDEC_MAX_UP];/* U-Net: skip channels per block (0: none) */
    float bn_eps;                 /* 0: 1e-5 */
    float bn_momentum;            /* 0: 0.1 */
} ad_segdec_config;

/* The reference ViT decoder for a g x g grid of in_ch features. */
ad_segdec_config ad_segdec_vit_config(int in_ch, int grid);
/* A U-Net over torchvision-ResNet stage channels c[0..4] (ad_resnet_stage_shape, s = 0..4)
 * with a deepest map of side grid: nup = 5, skips layer3, layer2, layer1; widths 256, 128,
 * 64, 32, 16. */
ad_segdec_config ad_segdec_unet_resnet_config(const int stage_ch[5], int grid);

typedef struct ad_segdec ad_segdec;

/* Validates the configuration (AD_ERR_ARG naming the bad field). */
int ad_segdec_create(const ad_segdec_config *c, ad_segdec **out);
void ad_segdec_destroy(ad_segdec *d);

const ad_segdec_config *ad_segdec_cfg(const ad_segdec *d);
int ad_segdec_out_size(const ad_segdec *d);
/* Number of inputs forward expects: 1 (ViT) or 1 + nup (U-Net: deepest, then one slot per
 * block, NULL where skip_ch is 0). */
int ad_segdec_ninputs(const ad_segdec *d);
/* Side of input i (input 0: grid; U-Net skip i+1: grid * 2^(i+1)) and its channels. */
void ad_segdec_input_shape(const ad_segdec *d, int i, int *side, int *ch);

/* Trainable parameters (llm.c style, one buffer each; grads accumulate, same layout). */
size_t ad_segdec_nparams(const ad_segdec *d);
float *ad_segdec_params(ad_segdec *d);
float *ad_segdec_grads(ad_segdec *d);
void ad_segdec_zero_grad(ad_segdec *d);

/* torchvision-style initialisation from a seeded stream (same on every rank): Conv2d weights
 * Kaiming-normal (fan_out, relu) and biases 0; ConvTranspose2d (which torchvision's init
 * loop does not touch) PyTorch's default, uniform +-1/sqrt(out * kh * kw) for weight and
 * bias; BN weight 1, bias 0, running mean 0, var 1. */
void ad_segdec_init(ad_segdec *d, uint64_t seed);

/* feats[i]: NHWC [b][side][side][ch] per ad_segdec_input_shape (copied: the caller may reuse
 * them at once). logits: [b][out][out]. train: batch statistics synchronised over comm
 * (MPI_COMM_NULL: this rank only; every rank of comm must call, with b >= 1) and the running
 * statistics updated; activations are kept for one ad_segdec_backward. !train: running
 * statistics, nothing kept. Activation memory grows to the largest b seen (about 64 MB per
 * image for the reference ViT decoder at 224). Errors: AD_ERR_ARG, AD_ERR_NOMEM, AD_ERR_MPI. */
int ad_segdec_forward(ad_segdec *d, const float *const *feats, int b, float *logits, int train,
                      MPI_Comm comm);
/* Backward of the last training forward: parameter gradients accumulate; dfeats (may be
 * NULL, entries may be NULL) receive the input gradients (overwritten). comm must be the
 * forward's. */
int ad_segdec_backward(ad_segdec *d, const float *dlogits, float *const *dfeats, MPI_Comm comm);

/* Floating-point operations of one forward for batch b (backward: about twice that). */
double ad_segdec_flops(const ad_segdec *d, int b);

/* safetensors with the PyTorch names above (F32), with metadata "segdec_config" describing
 * the configuration and the run's provenance (prov may be NULL). load checks every tensor's shape against this decoder's configuration
 * and fails naming the tensor and file. */
int ad_segdec_save(const ad_segdec *d, const char *path, const ad_provenance *prov);
int ad_segdec_load(ad_segdec *d, const char *path);

#endif
