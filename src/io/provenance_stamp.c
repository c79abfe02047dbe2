/* Writing the provenance record into each output format: the one helper per format. */
#include "adaptor/provenance.h"

#include "adaptor/error.h"
#include "ncutil.h"

int ad_prov_nc_put(int ncid, const char *path, const ad_provenance *p)
{
    for (size_t i = 0; i < ad_prov_count(p); i++)
        AD_TRY(ad_nc_put_text_att(ncid, path, ad_prov_key(p, i), ad_prov_value(p, i)));
    return AD_OK;
}

int ad_prov_st_put(ad_st_writer *w, const ad_provenance *p)
{
    for (size_t i = 0; i < ad_prov_count(p); i++)
        AD_TRY(ad_st_writer_set_metadata(w, ad_prov_key(p, i), ad_prov_value(p, i)));
    return AD_OK;
}

int ad_prov_json_add(cJSON *obj, const ad_provenance *p)
{
    for (size_t i = 0; i < ad_prov_count(p); i++)
        if (!cJSON_AddStringToObject(obj, ad_prov_key(p, i), ad_prov_value(p, i)))
            return ad_fail(AD_ERR_NOMEM, "provenance: out of memory for JSON");
    return AD_OK;
}
