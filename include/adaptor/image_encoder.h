/* Frozen image encoders behind one interface: DINOv2 ViTs (dinov2.h) and torchvision
 * ResNets (resnet.h), loaded from a model folder and run over batches of preprocessed
 * images (planar [3][h][w] float32, as ad_preprocess_file_as writes them), and the
 * encoder of torchxrayvision's ResNet autoencoder (resnet_ae.h). */
#ifndef ADAPTOR_IMAGE_ENCODER_H
#define ADAPTOR_IMAGE_ENCODER_H

#include "adaptor/gemm_bf16.h"
#include "adaptor/preprocess.h"

typedef enum {
    AD_IMG_CLS,    /* DINOv2: final-layernormed CLS token; ResNet: global average pool */
    AD_IMG_TOKENS, /* DINOv2: CLS + patch tokens; ResNet: last feature map's pixels */
    AD_IMG_MEAN    /* DINOv2: mean of the final patch tokens; ResNet: global average pool */
} ad_image_output;

/* How a ViT fits its position-embedding grid to the input grid (SPEC section 4). */
typedef enum {
    AD_POS_HUB, /* facebookresearch/dinov2: scale_factor (g + 0.1) / G, bicubic */
    AD_POS_HF,  /* transformers Dinov2Model: size = (gh, gw), bicubic */
    AD_POS_AA   /* transformers Dinov2WithRegisters: size = (gh, gw), antialiased bicubic */
} ad_pos_interp;

typedef enum { AD_ARCH_DINOV2, AD_ARCH_RESNET, AD_ARCH_RESNET_AE } ad_image_arch;

typedef struct ad_image_encoder ad_image_encoder;

/* "cls" | "tokens" | "mean", "hub" | "hf" | "aa", "dinov2" | "resnet" | "resnet_ae"; errors
 * name the word. */
int ad_image_output_parse(const char *name, ad_image_output *out);
int ad_pos_interp_parse(const char *name, ad_pos_interp *out);
int ad_image_arch_parse(const char *name, ad_image_arch *out);

/* A job's pos_interp: "hub" | "hf" | "aa", or "auto" = the convention the checkpoint's own
 * code uses, from model_dir/config.json's model_type (dinov2_with_registers: aa, as HF's
 * Dinov2WithRegistersModel; dinov2: hub, the reference). Without a config.json (a cache
 * consumer on a machine without the model) "auto" stays the old default hub, with *guessed
 * set; guessed may be NULL. ResNets ignore the choice: hub. */
int ad_pos_interp_resolve(const char *name, ad_image_arch arch, const char *model_dir,
                          ad_pos_interp *out, int *guessed);
const char *ad_pos_interp_name(ad_pos_interp pos);

/* Loads model_dir as `arch`. */
int ad_image_encoder_load(const char *model_dir, ad_image_arch arch, ad_image_encoder **out);
void ad_image_encoder_destroy(ad_image_encoder *e);
ad_image_arch ad_image_encoder_arch(const ad_image_encoder *e);
/* fp32 (default) or bf16 linear layers; bf16: DINOv2 only, on a CPU with the instructions. */
int ad_image_encoder_set_precision(ad_image_encoder *e, ad_precision p);
/* The preprocessing `arch` expects: AD_PREP_XRV for resnet_ae, else AD_PREP_MGCA. */
ad_prep_kind ad_image_arch_prep(ad_image_arch arch);
/* Feature size of every output vector (hidden size, or the last stage's channels). */
int ad_image_encoder_dim(const ad_image_encoder *e);
/* Vectors per image that `what` yields for h x w inputs (1 unless AD_IMG_TOKENS). */
int ad_image_encoder_count(const ad_image_encoder *e, ad_image_output what, int h, int w,
                           int *count);

/* Matrix-product / convolution FLOPs of one forward pass (plans and benchmarks). */
double ad_image_encoder_flops(const ad_image_encoder *e, int batch, int h, int w);

/* images: [batch][3][h][w]; out: [batch][count][dim].  pos is ignored by ResNets.
 * Workspace is kept between calls: one forward at a time per encoder. */
int ad_image_encoder_forward(ad_image_encoder *e, const float *images, int batch, int h, int w,
                             ad_image_output what, ad_pos_interp pos, float *out);

#endif
