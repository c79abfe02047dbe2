/* safetensors: HuggingFace's tensor container (8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data).
 *
 * The reader maps files read-only and validates the header before any tensor is used:
 * JSON syntax, dtypes, shapes against byte sizes, offsets inside the data area, and no two
 * tensors overlapping. A model folder may hold one `model.safetensors` or shards listed in
 * `model.safetensors.index.json`; ad_st_open() accepts a file or such a folder.
 * Tensors are converted to float32 on request (F32, F16, BF16, F64 sources).
 *
 * The writer collects tensors and writes the file atomically (temp file, fsync, rename). */
#ifndef ADAPTOR_SAFETENSORS_H
#define ADAPTOR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    AD_DT_F32,
    AD_DT_F16,
    AD_DT_BF16,
    AD_DT_F64,
    AD_DT_I64,
    AD_DT_I32,
    AD_DT_I16,
    AD_DT_I8,
    AD_DT_U8,
    AD_DT_BOOL
} ad_dtype;

#define AD_ST_MAX_DIMS 8

typedef struct ad_st_tensor {
    const char *name;
    ad_dtype dtype;
    int ndim;
    int64_t shape[AD_ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const void *data; /* inside the mapping; not aligned in general */
    const char *file; /* the file holding it */
} ad_st_tensor;

typedef struct ad_safetensors ad_safetensors;

const char *ad_dtype_name(ad_dtype dt);
size_t ad_dtype_size(ad_dtype dt);
/* The dtype named `name` ("F32", "BF16", ...); AD_ERR_FORMAT (no message) when unknown. */
int ad_dtype_parse(const char *name, ad_dtype *out);

/* Half-precision conversions. To float32: exact (subnormals, inf, NaN kept). From float32:
 * round-to-nearest-even, overflow to inf, NaN stays NaN. */
float ad_f16_to_f32(uint16_t h);
float ad_bf16_to_f32(uint16_t h);
uint16_t ad_f32_to_f16(float f);
uint16_t ad_f32_to_bf16(float f);

/* Writes "[d0, d1, ...]" ("[]" for a scalar) into buf, truncating to n bytes. */
void ad_st_format_shape(char *buf, size_t n, int ndim, const int64_t *shape);

/* path: a .safetensors file, or a folder holding model.safetensors or
 * model.safetensors.index.json. */
int ad_st_open(const char *path, ad_safetensors **out);
void ad_st_close(ad_safetensors *st);

size_t ad_st_count(const ad_safetensors *st);
const ad_st_tensor *ad_st_at(const ad_safetensors *st, size_t i); /* sorted by name */
const ad_st_tensor *ad_st_find(const ad_safetensors *st, const char *name); /* NULL: absent */
/* A __metadata__ value, or NULL. (Sharded models: the first shard's metadata.) */
const char *ad_st_metadata(const ad_safetensors *st, const char *key);
/* The metadata keys, in file order: i in [0, ad_st_metadata_count). */
size_t ad_st_metadata_count(const ad_safetensors *st);
const char *ad_st_metadata_key(const ad_safetensors *st, size_t i);
/* A label for messages: the file or folder that was opened. */
const char *ad_st_path(const ad_safetensors *st);

/* Copies tensor `name` into dst as float32. Fails, naming the tensor and file, when the
 * tensor is missing, not a float type, or its shape differs from shape[0..ndim). */
int ad_st_read_f32(const ad_safetensors *st, const char *name, int ndim, const int64_t *shape,
                   float *dst);

typedef struct ad_st_writer ad_st_writer;

int ad_st_writer_create(ad_st_writer **out);
void ad_st_writer_destroy(ad_st_writer *w);
/* Adds a tensor; `data` is copied. Names must be unique. */
int ad_st_writer_add(ad_st_writer *w, const char *name, ad_dtype dtype, int ndim,
                     const int64_t *shape, const void *data);
/* Adds a float32 tensor converted to `dtype` (F32, F16 or BF16, round-to-nearest-even). */
int ad_st_writer_add_f32_as(ad_st_writer *w, const char *name, ad_dtype dtype, int ndim,
                            const int64_t *shape, const float *data);
int ad_st_writer_set_metadata(ad_st_writer *w, const char *key, const char *value);
/* Writes everything to `path` atomically. */
int ad_st_writer_write(ad_st_writer *w, const char *path);

#endif
