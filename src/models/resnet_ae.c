#include "adaptor/resnet_ae.h"

#include "adaptor/error.h"

#include "resnet_internal.h"

/* torchxrayvision _ResNetAE: conv1 takes 1 channel; _make_downlayer(..., stride=6) for
 * layer4; Bottleneck.forward applies self.relu after bn3 and again after the add. */
static const ad_resnet_variant xrv_ae = {1, {1, 2, 2, 6}, 1};

int ad_resnet_ae_load(const char *model_dir, ad_resnet **out)
{
    float eps;
    *out = NULL;
    AD_TRY(ad_resnet_read_config(model_dir, "torchxrayvision_resnet_ae", &eps));
    return ad_resnet_load_variant(model_dir, &xrv_ae, eps, out);
}
