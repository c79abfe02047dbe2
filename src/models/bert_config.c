#include "adaptor/bert.h"

#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on every size so the parameter and workspace arithmetic cannot overflow. */
#define BERT_MAX_DIM 1000000

static int get_int(const cJSON *root, const char *path, const char *key, int required,
                   int fallback, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (required)
            return ad_fail(AD_ERR_FORMAT, "%s: key '%s' is missing", path, key);
        *out = fallback;
        return AD_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < 1 || v->valuedouble > BERT_MAX_DIM)
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be an integer in 1..%d", path, key,
                       BERT_MAX_DIM);
    *out = (int)v->valuedouble;
    return AD_OK;
}

static int parse(const cJSON *root, const char *path, ad_bert_config *c)
{
    if (!cJSON_IsObject(root))
        return ad_fail(AD_ERR_FORMAT, "%s: not a JSON object", path);
    AD_TRY(get_int(root, path, "hidden_size", 1, 0, &c->hidden));
    AD_TRY(get_int(root, path, "num_hidden_layers", 1, 0, &c->layers));
    AD_TRY(get_int(root, path, "num_attention_heads", 1, 0, &c->heads));
    AD_TRY(get_int(root, path, "intermediate_size", 1, 0, &c->intermediate));
    AD_TRY(get_int(root, path, "vocab_size", 1, 0, &c->vocab));
    AD_TRY(get_int(root, path, "max_position_embeddings", 1, 0, &c->max_positions));
    AD_TRY(get_int(root, path, "type_vocab_size", 0, 2, &c->type_vocab));
    if (c->hidden % c->heads != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: hidden_size %d is not a multiple of "
                       "num_attention_heads %d", path, c->hidden, c->heads);
    c->eps = 1e-12f;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !((float)eps->valuedouble > 0) || eps->valuedouble > 1)
            return ad_fail(AD_ERR_FORMAT, "%s: 'layer_norm_eps' must be a number in (0, 1]",
                           path);
        c->eps = (float)eps->valuedouble;
    }
    c->act = AD_BERT_GELU;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act) {
        const char *a = cJSON_GetStringValue(act);
        if (a && strcmp(a, "gelu") == 0)
            c->act = AD_BERT_GELU;
        else if (a && (strcmp(a, "gelu_new") == 0 || strcmp(a, "gelu_pytorch_tanh") == 0))
            c->act = AD_BERT_GELU_TANH;
        else
            return ad_fail(AD_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (gelu, "
                           "gelu_new, gelu_pytorch_tanh)", path, a ? a : "(not a string)");
    }
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    if (pos && !cJSON_IsNull(pos)) {
        const char *p = cJSON_GetStringValue(pos);
        if (!p || strcmp(p, "absolute") != 0)
            return ad_fail(AD_ERR_UNSUPPORTED, "%s: position_embedding_type '%s' is not "
                           "supported (absolute only)", path, p ? p : "(not a string)");
    }
    c->has_pooler = 0;
    return AD_OK;
}

int ad_bert_config_load(const char *config_json, ad_bert_config *cfg)
{
    cJSON *root;
    memset(cfg, 0, sizeof *cfg);
    AD_TRY(ad_json_read_object(config_json, &root));
    int rc = parse(root, config_json, cfg);
    cJSON_Delete(root);
    return rc;
}
