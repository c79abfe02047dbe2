#include "adaptor/dinov2.h"

#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on every size so parameter and workspace arithmetic cannot overflow. */
#define DINO_MAX_DIM 100000

static int parse(const cJSON *root, const char *path, void *out)
{
    ad_dinov2_config *c = out;
    if (!cJSON_IsObject(root))
        return ad_fail(AD_ERR_FORMAT, "%s: not a JSON object", path);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "model_type"));
    if (type && strncmp(type, "dinov2", 6) != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: model_type '%s' is not a DINOv2 model", path, type);
    c->hf_registers = type && strcmp(type, "dinov2_with_registers") == 0;
    AD_TRY(ad_json_int(root, path, "hidden_size", 1, 0, 1, DINO_MAX_DIM, &c->hidden));
    AD_TRY(ad_json_int(root, path, "num_hidden_layers", 1, 0, 1, DINO_MAX_DIM, &c->layers));
    AD_TRY(ad_json_int(root, path, "num_attention_heads", 1, 0, 1, DINO_MAX_DIM, &c->heads));
    AD_TRY(ad_json_int(root, path, "patch_size", 0, 14, 1, DINO_MAX_DIM, &c->patch));
    AD_TRY(ad_json_int(root, path, "image_size", 0, 518, 1, DINO_MAX_DIM, &c->image_size));
    AD_TRY(ad_json_int(root, path, "num_register_tokens", 0, 0, 0, DINO_MAX_DIM, &c->registers));
    AD_TRY(ad_json_bool(root, path, "use_swiglu_ffn", 0, &c->swiglu));
    AD_TRY(ad_json_bool(root, path, "qkv_bias", 1, &c->qkv_bias));
    int channels = 3;
    AD_TRY(ad_json_int(root, path, "num_channels", 0, 3, 1, DINO_MAX_DIM, &channels));
    if (channels != 3)
        return ad_fail(AD_ERR_UNSUPPORTED, "%s: num_channels %d (3 expected)", path, channels);
    if (c->hidden % c->heads != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: hidden_size %d is not a multiple of "
                       "num_attention_heads %d", path, c->hidden, c->heads);
    if (c->image_size < c->patch)
        return ad_fail(AD_ERR_FORMAT, "%s: image_size %d is smaller than patch_size %d", path,
                       c->image_size, c->patch);
    double ratio, eps;
    AD_TRY(ad_json_positive(root, path, "mlp_ratio", 4.0, 64, &ratio));
    /* Python: int(hidden_size * mlp_ratio); SwiGLU then (int(f * 2 / 3) + 7) // 8 * 8 */
    c->mlp_hidden = (int)(c->hidden * ratio);
    if (c->swiglu)
        c->mlp_hidden = ((int)(c->mlp_hidden * 2.0 / 3.0) + 7) / 8 * 8;
    if (c->mlp_hidden < 1)
        return ad_fail(AD_ERR_FORMAT, "%s: mlp_ratio gives an empty feed-forward", path);
    AD_TRY(ad_json_positive(root, path, "layer_norm_eps", 1e-6, 1, &eps));
    c->eps = (float)eps;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !c->swiglu) {
        const char *a = cJSON_GetStringValue(act);
        if (!a || strcmp(a, "gelu") != 0)
            return ad_fail(AD_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (gelu)",
                           path, a ? a : "(not a string)");
    }
    return AD_OK;
}

int ad_dinov2_config_load(const char *config_json, ad_dinov2_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    return ad_json_load(config_json, parse, cfg);
}
