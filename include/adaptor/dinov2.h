/* Frozen DINOv2 ViT image encoder, numerically matching HuggingFace `Dinov2Model` (and the
 * facebookresearch/dinov2 hub model, whose position interpolation is the default) in float32.
 *
 * Loads a HuggingFace folder (config.json + model.safetensors): Dinov2Model, with SwiGLU
 * feed-forward (giant) and Dinov2WithRegisters register tokens.  Q, K and V are fused into
 * one [3D, D] weight at load; embeddings.mask_token is ignored (no masking at inference).
 * Token order inside the encoder: CLS, registers, patches (row-major over the patch grid).
 * Inputs are planar [3][h][w] images; h and w need not be equal nor multiples of the patch
 * (the remainder is dropped, as by the stride-p convolution). */
#ifndef ADAPTOR_DINOV2_H
#define ADAPTOR_DINOV2_H

#include "adaptor/gemm_bf16.h"
#include "adaptor/image_encoder.h"

#include <stdint.h>

typedef struct ad_dinov2_config {
    int hidden, layers, heads;
    int mlp_hidden;  /* fc1 outputs, or SwiGLU's gated width (weights_in has twice that) */
    int patch, image_size, registers;
    int swiglu, qkv_bias;
    float eps;
    int hf_registers; /* model_type dinov2_with_registers: HF interpolates antialiased (aa) */
} ad_dinov2_config;

typedef struct ad_dinov2 ad_dinov2;

/* Reads and validates a HuggingFace Dinov2 config.json. */
int ad_dinov2_config_load(const char *config_json, ad_dinov2_config *cfg);

int ad_dinov2_load(const char *model_dir, ad_dinov2 **out);
/* Random weights (for benchmarks): N(0, 0.02)-like matrices, LayerNorm and LayerScale near 1. */
int ad_dinov2_create_random(const ad_dinov2_config *cfg, uint64_t seed, ad_dinov2 **out);
void ad_dinov2_destroy(ad_dinov2 *m);
const ad_dinov2_config *ad_dinov2_get_config(const ad_dinov2 *m);
/* fp32 (default) or bf16 linear layers (gemm_bf16.h); bf16 fails on a CPU without it. */
int ad_dinov2_set_precision(ad_dinov2 *m, ad_precision p);

/* Vectors per image: 1, or 1 + (h / patch) * (w / patch) for AD_IMG_TOKENS (registers are
 * not returned). */
int ad_dinov2_count(const ad_dinov2 *m, ad_image_output what, int h, int w);

/* images [batch][3][h][w] -> out [batch][count][hidden], every vector after the final
 * LayerNorm.  Workspace grows on demand and is kept: one forward at a time per model. */
int ad_dinov2_forward(ad_dinov2 *m, const float *images, int batch, int h, int w,
                      ad_pos_interp pos, ad_image_output what, float *out);

/* Matrix-product FLOPs of one forward pass (patch embedding, projections, attention). */
double ad_dinov2_flops(const ad_dinov2_config *cfg, int batch, int h, int w);

#endif
