/* The encoder of torchxrayvision's ResNet autoencoder (autoencoders.py, _ResNetAE.encode;
 * "101-elastic" = ResNetAE101: blocks [3, 4, 23, 2], widths 64/128/256/128, expansion 4),
 * the reference's `resnet-ae` image encoder. It differs from torchvision's ResNet in three
 * places: a 1-channel stem, a ReLU after bn3 before the residual add, and a stride of 6 in
 * layer4 (a 3 x 3 map of 512 channels at 224 x 224).
 *
 * Loads a folder with model.safetensors in torchxrayvision's state_dict names (conv1, bn1,
 * layer{1..4}.{k}.conv{1,2,3} / bn{1,2,3} / downsample.{0,1}; the decoder's uplayer*,
 * conv1_1 are ignored) and config.json with model_type "torchxrayvision_resnet_ae"
 * (optional batch_norm_eps, default 1e-5). The model is an ad_resnet: forward, shapes and
 * FLOPs are resnet.h's. Inputs are the 3 equal planes ad_preprocess_*_as(AD_PREP_XRV)
 * writes; the stem reads the first. */
#ifndef ADAPTOR_RESNET_AE_H
#define ADAPTOR_RESNET_AE_H

#include "adaptor/resnet.h"

int ad_resnet_ae_load(const char *model_dir, ad_resnet **out);

#endif
