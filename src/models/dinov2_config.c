#include "adaptor/dinov2.h"

#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on every size so parameter and workspace arithmetic cannot overflow. */
#define DINO_MAX_DIM 100000

static int get_int(const cJSON *root, const char *path, const char *key, int required,
                   int fallback, int lo, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return ad_fail(AD_ERR_FORMAT, "%s: key '%s' is missing", path, key);
        *out = fallback;
        return AD_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > DINO_MAX_DIM)
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be an integer in %d..%d", path, key, lo,
                       DINO_MAX_DIM);
    *out = (int)v->valuedouble;
    return AD_OK;
}

static int get_bool(const cJSON *root, const char *path, const char *key, int fallback, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = fallback;
        return AD_OK;
    }
    if (!cJSON_IsBool(v))
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return AD_OK;
}

static int parse(const cJSON *root, const char *path, ad_dinov2_config *c)
{
    if (!cJSON_IsObject(root))
        return ad_fail(AD_ERR_FORMAT, "%s: not a JSON object", path);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "model_type"));
    if (type && strncmp(type, "dinov2", 6) != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: model_type '%s' is not a DINOv2 model", path, type);
    AD_TRY(get_int(root, path, "hidden_size", 1, 0, 1, &c->hidden));
    AD_TRY(get_int(root, path, "num_hidden_layers", 1, 0, 1, &c->layers));
    AD_TRY(get_int(root, path, "num_attention_heads", 1, 0, 1, &c->heads));
    AD_TRY(get_int(root, path, "patch_size", 0, 14, 1, &c->patch));
    AD_TRY(get_int(root, path, "image_size", 0, 518, 1, &c->image_size));
    AD_TRY(get_int(root, path, "num_register_tokens", 0, 0, 0, &c->registers));
    AD_TRY(get_bool(root, path, "use_swiglu_ffn", 0, &c->swiglu));
    AD_TRY(get_bool(root, path, "qkv_bias", 1, &c->qkv_bias));
    int channels = 3;
    AD_TRY(get_int(root, path, "num_channels", 0, 3, 1, &channels));
    if (channels != 3)
        return ad_fail(AD_ERR_UNSUPPORTED, "%s: num_channels %d (3 expected)", path, channels);
    if (c->hidden % c->heads != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: hidden_size %d is not a multiple of "
                       "num_attention_heads %d", path, c->hidden, c->heads);
    if (c->image_size < c->patch)
        return ad_fail(AD_ERR_FORMAT, "%s: image_size %d is smaller than patch_size %d", path,
                       c->image_size, c->patch);
    double ratio = 4.0;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "mlp_ratio");
    if (r) {
        if (!cJSON_IsNumber(r) || !(r->valuedouble > 0) || r->valuedouble > 64)
            return ad_fail(AD_ERR_FORMAT, "%s: 'mlp_ratio' must be a number in (0, 64]", path);
        ratio = r->valuedouble;
    }
    /* Python: int(hidden_size * mlp_ratio); SwiGLU then (int(f * 2 / 3) + 7) // 8 * 8 */
    c->mlp_hidden = (int)(c->hidden * ratio);
    if (c->swiglu)
        c->mlp_hidden = ((int)(c->mlp_hidden * 2.0 / 3.0) + 7) / 8 * 8;
    if (c->mlp_hidden < 1)
        return ad_fail(AD_ERR_FORMAT, "%s: mlp_ratio gives an empty feed-forward", path);
    c->eps = 1e-6f;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !((float)eps->valuedouble > 0) || eps->valuedouble > 1)
            return ad_fail(AD_ERR_FORMAT, "%s: 'layer_norm_eps' must be a number in (0, 1]",
                           path);
        c->eps = (float)eps->valuedouble;
    }
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
    cJSON *root;
    memset(cfg, 0, sizeof *cfg);
    AD_TRY(ad_json_read_object(config_json, &root));
    int rc = parse(root, config_json, cfg);
    cJSON_Delete(root);
    return rc;
}
