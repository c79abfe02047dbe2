#include "adaptor/json.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <math.h>
#include <stdlib.h>

int ad_json_read_object(const char *path, cJSON **out)
{
    char *data;
    size_t len;
    *out = NULL;
    AD_TRY(ad_read_file(path, &data, &len));
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!*out) {
        size_t at = end ? (size_t)(end - data) : 0;
        free(data);
        return ad_fail(AD_ERR_FORMAT, "%s: malformed JSON near byte %zu", path, at);
    }
    free(data);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return ad_fail(AD_ERR_FORMAT, "%s: top level is not a JSON object", path);
    }
    return AD_OK;
}

int ad_json_load(const char *path, int (*parse)(const cJSON *root, const char *path, void *out),
                 void *out)
{
    cJSON *root;
    AD_TRY(ad_json_read_object(path, &root));
    int rc = parse(root, path, out);
    cJSON_Delete(root);
    return rc;
}

int ad_json_int(const cJSON *root, const char *path, const char *key, int required, int fallback,
                int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return ad_fail(AD_ERR_FORMAT, "%s: key '%s' is missing", path, key);
        *out = fallback;
        return AD_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be an integer in %d..%d", path, key, lo,
                       hi);
    *out = (int)v->valuedouble;
    return AD_OK;
}

int ad_json_bool(const cJSON *root, const char *path, const char *key, int fallback, int *out)
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

int ad_json_positive(const cJSON *root, const char *path, const char *key, double fallback,
                     double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = fallback;
        return AD_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > hi)
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be a number in (0, %g]", path, key, hi);
    *out = v->valuedouble;
    return AD_OK;
}
