/* Frozen torchvision ResNet (Bottleneck blocks, v1.5: stride on the 3x3 convolution) image
 * encoder, numerically matching torchvision's resnet50 in eval mode in float32.
 *
 * Loads a folder with model.safetensors in torchvision's state_dict names (conv1, bn1,
 * layer{1..4}.{k}.conv{1,2,3} / bn{1,2,3} / downsample.{0,1}; fc.* ignored) and an optional
 * config.json (model_type "torchvision_resnet", batch_norm_eps).  Block counts and widths
 * come from the tensors, so ResNet-50/101/152 and small test networks all load.
 * BatchNorm (eval, eps 1e-5) is folded into the preceding convolution at load.
 * Activations are channels-last (NHWC) inside and in the stage outputs. */
#ifndef ADAPTOR_RESNET_H
#define ADAPTOR_RESNET_H

#include "adaptor/image_encoder.h"

#include <stdint.h>

typedef struct ad_resnet ad_resnet;

int ad_resnet_load(const char *model_dir, ad_resnet **out);
/* Random weights and BatchNorm statistics (benchmarks): blocks[4] per stage, stem width
 * `width` (64 for ResNet-50), bottleneck expansion 4. */
int ad_resnet_create_random(const int blocks[4], int width, uint64_t seed, ad_resnet **out);
void ad_resnet_destroy(ad_resnet *m);

/* Channels of the last stage (2048 for ResNet-50): the embedding size. */
int ad_resnet_dim(const ad_resnet *m);
/* Shape of stage s's output (s = 0: stem after max pooling, 1..4: after layer1..4) for
 * h x w inputs; fails when the input is too small. */
int ad_resnet_stage_shape(const ad_resnet *m, int s, int h, int w, int *oh, int *ow, int *c);

/* images [batch][3][h][w] -> out: [batch][dim] for AD_IMG_CLS / AD_IMG_MEAN (global
 * average of the last feature map), [batch][oh * ow][dim] for AD_IMG_TOKENS (its pixels). */
int ad_resnet_forward(ad_resnet *m, const float *images, int batch, int h, int w,
                      ad_image_output what, float *out);
/* Stage outputs for U-Net decoders: stages[s] (s = 0..4, NULL to skip) receives
 * [batch][oh][ow][c] from ad_resnet_stage_shape. */
int ad_resnet_forward_stages(ad_resnet *m, const float *images, int batch, int h, int w,
                             float *const stages[5]);

/* Convolution FLOPs of one forward pass. */
double ad_resnet_flops(const ad_resnet *m, int batch, int h, int w);

#endif
