#include "adaptor/bert.h"

#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on every size so the parameter and workspace arithmetic cannot overflow. */
#define BERT_MAX_DIM 1000000

static int parse(const cJSON *root, const char *path, void *out)
{
    ad_bert_config *c = out;
    if (!cJSON_IsObject(root))
        return ad_fail(AD_ERR_FORMAT, "%s: not a JSON object", path);
    AD_TRY(ad_json_int(root, path, "hidden_size", 1, 0, 1, BERT_MAX_DIM, &c->hidden));
    AD_TRY(ad_json_int(root, path, "num_hidden_layers", 1, 0, 1, BERT_MAX_DIM, &c->layers));
    AD_TRY(ad_json_int(root, path, "num_attention_heads", 1, 0, 1, BERT_MAX_DIM, &c->heads));
    AD_TRY(ad_json_int(root, path, "intermediate_size", 1, 0, 1, BERT_MAX_DIM, &c->intermediate));
    AD_TRY(ad_json_int(root, path, "vocab_size", 1, 0, 1, BERT_MAX_DIM, &c->vocab));
    AD_TRY(ad_json_int(root, path, "max_position_embeddings", 1, 0, 1, BERT_MAX_DIM,
                       &c->max_positions));
    AD_TRY(ad_json_int(root, path, "type_vocab_size", 0, 2, 1, BERT_MAX_DIM, &c->type_vocab));
    if (c->hidden % c->heads != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: hidden_size %d is not a multiple of "
                       "num_attention_heads %d", path, c->hidden, c->heads);
    double eps;
    AD_TRY(ad_json_positive(root, path, "layer_norm_eps", 1e-12, 1, &eps));
    c->eps = (float)eps;
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
    memset(cfg, 0, sizeof *cfg);
    return ad_json_load(config_json, parse, cfg);
}
