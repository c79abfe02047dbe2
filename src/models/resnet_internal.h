/* What distinguishes the bottleneck ResNets that share resnet.c: torchvision's ResNets and
 * the encoder of torchxrayvision's ResNet autoencoder (resnet_ae.c). */
#ifndef ADAPTOR_RESNET_INTERNAL_H
#define ADAPTOR_RESNET_INTERNAL_H

#include "adaptor/resnet.h"

typedef struct {
    int in_channels; /* the stem's input planes: 3, or 1 (the first of the 3 equal planes) */
    int stride[4];   /* of each stage's first block (3x3 convolution and downsample) */
    int relu_bn3;    /* ReLU after bn3, before the residual add (torchxrayvision) */
} ad_resnet_variant;

extern const ad_resnet_variant ad_resnet_torchvision;

/* config.json in model_dir (optional): model_type must equal `model_type` when present,
 * batch_norm_eps (default 1e-5) is returned in *eps. */
int ad_resnet_read_config(const char *model_dir, const char *model_type, float *eps);
/* model.safetensors in model_dir as variant v; block counts and widths from the tensors. */
int ad_resnet_load_variant(const char *model_dir, const ad_resnet_variant *v, float eps,
                           ad_resnet **out);

#endif
