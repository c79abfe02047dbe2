/* safetensors header and layout validation (ad_st_open on a file): any bytes must give
 * either a clean error or a table whose every tensor lies inside the file and converts. */
#include "adaptor/error.h"
#include "adaptor/safetensors.h"
#include "fuzzutil.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write("in.safetensors", data, size, path, sizeof path);
    ad_safetensors *st = NULL;
    if (ad_st_open(path, &st) != AD_OK) {
        fz_assert(!st, "a failure leaves no object");
        fz_rejected();
        return 0;
    }
    const ad_st_tensor *prev = NULL;
    for (size_t i = 0; i < ad_st_count(st); i++) {
        const ad_st_tensor *t = ad_st_at(st, i);
        fz_assert(!prev || strcmp(prev->name, t->name) < 0, "tensors sorted, names unique");
        fz_assert(ad_st_find(st, t->name) == t, "ad_st_find finds every listed tensor");
        fz_assert(t->nbytes == (size_t)t->numel * ad_dtype_size(t->dtype), "nbytes = numel x size");
        prev = t;
        if (t->dtype != AD_DT_F32 && t->dtype != AD_DT_F16 && t->dtype != AD_DT_BF16 &&
            t->dtype != AD_DT_F64)
            continue;
        /* Every byte of the tensor is read: ASan catches data outside the mapping. */
        float *dst = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *dst);
        fz_assert(dst != NULL, "allocation bounded by the file size");
        fz_assert(ad_st_read_f32(st, t->name, t->ndim, t->shape, dst) == AD_OK,
                  "a validated float tensor converts");
        free(dst);
    }
    for (size_t i = 0; i < ad_st_metadata_count(st); i++) {
        const char *k = ad_st_metadata_key(st, i);
        fz_assert(ad_st_metadata(st, k) != NULL, "every metadata key has a value");
    }
    ad_st_close(st);
    return 0;
}
