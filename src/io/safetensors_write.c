/* safetensors writer, laid out as HuggingFace's serializer does (safetensors/src/tensor.rs,
 * prepare): tensors sorted by decreasing dtype alignment, then by name, packed back to back;
 * "__metadata__" first in the header; the header padded with spaces to a multiple of 8 bytes
 * so that every tensor starts 8-byte aligned in the file. */
#include "adaptor/safetensors.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_wtensor {
    char *name;
    ad_dtype dtype;
    int ndim;
    int64_t shape[AD_ST_MAX_DIMS];
    size_t nbytes;
    void *data;
} st_wtensor;

struct ad_st_writer {
    st_wtensor *t;
    size_t n, cap;
    char **meta; /* key, value, key, value, ... */
    size_t nmeta, metacap;
};

int ad_st_writer_create(ad_st_writer **out)
{
    *out = ad_calloc(1, sizeof **out, "safetensors writer");
    return *out ? AD_OK : AD_ERR_NOMEM;
}

void ad_st_writer_destroy(ad_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    for (size_t i = 0; i < 2 * w->nmeta; i++)
        free(w->meta[i]);
    free(w->meta);
    free(w);
}

/* Checks name and shape and appends an entry with an uninitialised buffer of the right size. */
static int append(ad_st_writer *w, const char *name, ad_dtype dtype, int ndim,
                  const int64_t *shape, st_wtensor **out)
{
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return ad_fail(AD_ERR_ARG, "safetensors writer: invalid tensor name '%s'",
                       name ? name : "(null)");
    if (ad_dtype_size(dtype) == 0)
        return ad_fail(AD_ERR_ARG, "safetensors writer: tensor '%s': invalid dtype %d", name,
                       (int)dtype);
    if (ndim < 0 || ndim > AD_ST_MAX_DIMS)
        return ad_fail(AD_ERR_ARG, "safetensors writer: tensor '%s': %d dimensions (0..%d)", name,
                       ndim, AD_ST_MAX_DIMS);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return ad_fail(AD_ERR_ARG, "safetensors writer: tensor '%s' added twice", name);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ad_fail(AD_ERR_ARG, "safetensors writer: tensor '%s': negative dimension",
                           name);
        if (shape[i] && numel > (SIZE_MAX / 16) / (size_t)shape[i])
            return ad_fail(AD_ERR_ARG, "safetensors writer: tensor '%s': shape too large", name);
        numel *= (size_t)shape[i];
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 32;
        st_wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return ad_fail(AD_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = t;
        w->cap = cap;
    }
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->nbytes = numel * ad_dtype_size(dtype);
    t->name = ad_strdup(name);
    t->data = ad_malloc(t->nbytes, "safetensors writer tensor");
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return AD_ERR_NOMEM;
    }
    w->n++;
    *out = t;
    return AD_OK;
}

int ad_st_writer_add(ad_st_writer *w, const char *name, ad_dtype dtype, int ndim,
                     const int64_t *shape, const void *data)
{
    st_wtensor *t = NULL;
    AD_TRY(append(w, name, dtype, ndim, shape, &t));
    if (t->nbytes)
        memcpy(t->data, data, t->nbytes);
    return AD_OK;
}

int ad_st_writer_add_f32_as(ad_st_writer *w, const char *name, ad_dtype dtype, int ndim,
                            const int64_t *shape, const float *data)
{
    if (dtype != AD_DT_F32 && dtype != AD_DT_F16 && dtype != AD_DT_BF16)
        return ad_fail(AD_ERR_ARG, "safetensors writer: tensor '%s': cannot store float32 as %s",
                       name, ad_dtype_name(dtype));
    st_wtensor *t = NULL;
    AD_TRY(append(w, name, dtype, ndim, shape, &t));
    size_t n = t->nbytes / ad_dtype_size(dtype);
    unsigned char *p = t->data;
    if (dtype == AD_DT_F32) {
        if (n)
            memcpy(p, data, t->nbytes);
        return AD_OK;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h = dtype == AD_DT_F16 ? ad_f32_to_f16(data[i]) : ad_f32_to_bf16(data[i]);
        p[2 * i] = (unsigned char)(h & 0xff);
        p[2 * i + 1] = (unsigned char)(h >> 8);
    }
    return AD_OK;
}

int ad_st_writer_set_metadata(ad_st_writer *w, const char *key, const char *value)
{
    char *v = ad_strdup(value);
    if (!v)
        return AD_ERR_NOMEM;
    for (size_t i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) {
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return AD_OK;
        }
    if (w->nmeta == w->metacap) {
        size_t cap = w->metacap ? 2 * w->metacap : 8;
        char **m = realloc(w->meta, 2 * cap * sizeof *m);
        if (!m) {
            free(v);
            return ad_fail(AD_ERR_NOMEM, "safetensors writer: out of memory");
        }
        w->meta = m;
        w->metacap = cap;
    }
    char *k = ad_strdup(key);
    if (!k) {
        free(v);
        return AD_ERR_NOMEM;
    }
    w->meta[2 * w->nmeta] = k;
    w->meta[2 * w->nmeta + 1] = v;
    w->nmeta++;
    return AD_OK;
}

/* HuggingFace's Dtype enum order, which is increasing alignment; the writer sorts by it
 * descending so wide types come first and stay aligned. */
static int hf_rank(ad_dtype dt)
{
    switch (dt) {
    case AD_DT_BOOL: return 0;
    case AD_DT_U8: return 1;
    case AD_DT_I8: return 2;
    case AD_DT_I16: return 5;
    case AD_DT_F16: return 7;
    case AD_DT_BF16: return 8;
    case AD_DT_I32: return 9;
    case AD_DT_F32: return 11;
    case AD_DT_F64: return 12;
    case AD_DT_I64: return 13;
    }
    return -1;
}

static int cmp_layout(const void *a, const void *b)
{
    const st_wtensor *x = *(const st_wtensor *const *)a, *y = *(const st_wtensor *const *)b;
    int rx = hf_rank(x->dtype), ry = hf_rank(y->dtype);
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name);
}

/* The header text, already padded to a multiple of 8 bytes. */
static int build_header(const ad_st_writer *w, st_wtensor **order, const char *path, char **out,
                        size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->nmeta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (size_t i = 0; ok && i < w->nmeta; i++)
            ok = cJSON_AddStringToObject(m, w->meta[2 * i], w->meta[2 * i + 1]) != NULL;
    }
    size_t offset = 0;
    for (size_t i = 0; ok && i < w->n; i++) {
        const st_wtensor *t = order[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = e ? cJSON_CreateArray() : NULL;
        ok = e && shape && cJSON_AddStringToObject(e, "dtype", ad_dtype_name(t->dtype));
        if (ok)
            cJSON_AddItemToObject(e, "shape", shape);
        else
            cJSON_Delete(shape);
        for (int d = 0; ok && d < t->ndim; d++) {
            cJSON *v = cJSON_CreateNumber((double)t->shape[d]);
            ok = v != NULL;
            if (ok)
                cJSON_AddItemToArray(shape, v);
        }
        double offs[2] = {(double)offset, (double)(offset + t->nbytes)};
        cJSON *o = ok ? cJSON_CreateDoubleArray(offs, 2) : NULL;
        ok = o != NULL;
        if (ok)
            cJSON_AddItemToObject(e, "data_offsets", o);
        offset += t->nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory building the safetensors header", path);
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *buf = ad_malloc(padded, "safetensors header");
    if (!buf) {
        cJSON_free(text);
        return AD_ERR_NOMEM;
    }
    memcpy(buf, text, n);
    memset(buf + n, ' ', padded - n);
    cJSON_free(text);
    *out = buf;
    *len = padded;
    return AD_OK;
}

int ad_st_writer_write(ad_st_writer *w, const char *path)
{
    st_wtensor **order = ad_calloc(w->n + 1, sizeof *order, "safetensors layout");
    if (!order)
        return AD_ERR_NOMEM;
    for (size_t i = 0; i < w->n; i++)
        order[i] = &w->t[i];
    qsort(order, w->n, sizeof *order, cmp_layout);
    char *header = NULL;
    size_t hlen = 0;
    int rc = build_header(w, order, path, &header, &hlen);
    if (rc != AD_OK) {
        free(order);
        return rc;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    ad_atomic_file af;
    rc = ad_atomic_open(&af, path);
    if (rc == AD_OK) {
        int bad = fwrite(len8, 1, 8, af.fp) != 8 || fwrite(header, 1, hlen, af.fp) != hlen;
        for (size_t i = 0; !bad && i < w->n; i++)
            bad = order[i]->nbytes &&
                  fwrite(order[i]->data, 1, order[i]->nbytes, af.fp) != order[i]->nbytes;
        if (bad) {
            int saved = errno; /* before the abort's close and unlink */
            ad_atomic_abort(&af);
            rc = ad_fail(AD_ERR_IO, "%s: write failed: %s", path, strerror(saved));
        } else {
            rc = ad_atomic_commit(&af);
        }
    }
    free(header);
    free(order);
    return rc;
}
