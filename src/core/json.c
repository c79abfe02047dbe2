#include "adaptor/json.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

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
