/* safetensors reader: maps files read-only and validates each header as HuggingFace's
 * reference implementation does (safetensors/src/tensor.rs, read_metadata + validate):
 * header length <= 100 MB and inside the file, UTF-8 JSON object, known dtypes, shape
 * products without overflow, and tensors that, sorted by offsets, tile the data area
 * exactly: each starts where the previous ended, byte counts match shape * dtype size,
 * and the last one ends at the end of the file (no overlap, no hole, no trailing bytes). */
#include "adaptor/safetensors.h"

#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000u /* HuggingFace's MAX_HEADER_SIZE */
#define ST_MAX_EXACT 9007199254740992.0 /* 2^53: larger JSON numbers lose digits as doubles */

typedef struct st_shard {
    char *path;
    void *map;
    size_t size;
    const unsigned char *data; /* the byte buffer after the header */
    size_t data_size;
    char **meta; /* key, value, key, value, ... */
    size_t nmeta;
} st_shard;

struct ad_safetensors {
    char *label;
    st_shard *shards;
    size_t nshards;
    ad_st_tensor *tensors; /* sorted by name once every shard is loaded */
    size_t ntensors, cap;
};

/* A tensor entry while its shard's header is being validated. */
typedef struct st_entry {
    const char *name; /* inside the cJSON tree */
    ad_dtype dtype;
    int ndim;
    int64_t shape[AD_ST_MAX_DIMS];
    int64_t numel;
    uint64_t nbytes, begin, end;
} st_entry;

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += len;
    }
    return 1;
}

/* A JSON number that is a non-negative integer exactly representable as a double. */
static int json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_EXACT) || v != (double)(uint64_t)v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_entry(const char *file, const cJSON *item, st_entry *e)
{
    const char *name = item->string;
    memset(e, 0, sizeof *e);
    e->name = name;
    if (!cJSON_IsObject(item))
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': header entry is not a JSON object", file,
                       name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt))
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", file,
                       name);
    if (ad_dtype_parse(dt->valuestring, &e->dtype) != AD_OK)
        return ad_fail(AD_ERR_FORMAT,
                       "%s: tensor '%s': unknown dtype '%s' (known: F32 F16 BF16 F64 I64 I32 "
                       "I16 I8 U8 BOOL)",
                       file, name, dt->valuestring);
    if (!cJSON_IsArray(shape))
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", file,
                       name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > AD_ST_MAX_DIMS)
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': %d dimensions, at most %d supported",
                       file, name, nd, AD_ST_MAX_DIMS);
    e->ndim = nd;
    e->numel = 1;
    int k = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape)
    {
        uint64_t v;
        if (!json_uint(d, &v))
            return ad_fail(AD_ERR_FORMAT,
                           "%s: tensor '%s': shape entry %d is not a non-negative integer", file,
                           name, k);
        e->shape[k++] = (int64_t)v;
        if (v != 0 && (uint64_t)e->numel > (uint64_t)INT64_MAX / v)
            return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': shape product overflows", file, name);
        e->numel *= (int64_t)v;
    }
    size_t es = ad_dtype_size(e->dtype);
    if ((uint64_t)e->numel > UINT64_MAX / es)
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': byte size overflows", file, name);
    e->nbytes = (uint64_t)e->numel * es;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_uint(cJSON_GetArrayItem(offs, 0), &e->begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), &e->end))
        return ad_fail(AD_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" must be [begin, end] with "
                       "non-negative integers",
                       file, name);
    return AD_OK;
}

static int parse_metadata(const char *file, const cJSON *item, st_shard *sh)
{
    if (!cJSON_IsObject(item))
        return ad_fail(AD_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", file);
    size_t n = (size_t)cJSON_GetArraySize(item);
    sh->meta = ad_calloc(2 * n + 1, sizeof *sh->meta, "safetensors metadata");
    if (!sh->meta)
        return AD_ERR_NOMEM;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, item)
    {
        if (!cJSON_IsString(kv))
            return ad_fail(AD_ERR_FORMAT, "%s: \"__metadata__\" value of '%s' is not a string",
                           file, kv->string);
        char *k = ad_strdup(kv->string), *v = ad_strdup(kv->valuestring);
        sh->meta[2 * sh->nmeta] = k;
        sh->meta[2 * sh->nmeta + 1] = v;
        sh->nmeta++;
        if (!k || !v)
            return AD_ERR_NOMEM;
    }
    return AD_OK;
}

static int cmp_offsets(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* The tiling check of HuggingFace's Metadata::validate, with messages that say which rule
 * broke and where. */
static int check_layout(const char *file, st_entry *e, size_t n, uint64_t data_size)
{
    qsort(e, n, sizeof *e, cmp_offsets);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].end < e[i].begin)
            return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before "
                                          "they begin",
                           file, e[i].name, (unsigned long long)e[i].begin,
                           (unsigned long long)e[i].end);
        if (e[i].end > data_size)
            return ad_fail(AD_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] run past the data area "
                           "(%llu bytes; truncated file?)",
                           file, e[i].name, (unsigned long long)e[i].begin,
                           (unsigned long long)e[i].end, (unsigned long long)data_size);
        if (e[i].end - e[i].begin != e[i].nbytes) {
            char shp[160];
            ad_st_format_shape(shp, sizeof shp, e[i].ndim, e[i].shape);
            return ad_fail(AD_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s "
                           "needs %llu",
                           file, e[i].name, (unsigned long long)e[i].begin,
                           (unsigned long long)e[i].end,
                           (unsigned long long)(e[i].end - e[i].begin), ad_dtype_name(e[i].dtype),
                           shp, (unsigned long long)e[i].nbytes);
        }
        if (e[i].begin < pos)
            return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' overlaps tensor '%s' (bytes %llu..%llu)",
                           file, e[i].name, e[i - 1].name, (unsigned long long)e[i].begin,
                           (unsigned long long)pos);
        if (e[i].begin > pos)
            return ad_fail(AD_ERR_FORMAT,
                           "%s: tensor '%s': hole of %llu unused bytes before it in the data area",
                           file, e[i].name, (unsigned long long)(e[i].begin - pos));
        pos = e[i].end;
    }
    if (pos != data_size)
        return ad_fail(AD_ERR_FORMAT,
                       "%s: %llu bytes after the last tensor (data area %llu bytes, tensors end "
                       "at %llu)",
                       file, (unsigned long long)(data_size - pos), (unsigned long long)data_size,
                       (unsigned long long)pos);
    return AD_OK;
}

static int add_tensor(ad_safetensors *st, const st_shard *sh, const st_entry *e)
{
    if (st->ntensors == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        ad_st_tensor *t = realloc(st->tensors, cap * sizeof *t);
        if (!t)
            return ad_fail(AD_ERR_NOMEM, "%s: out of memory for the tensor list", sh->path);
        st->tensors = t;
        st->cap = cap;
    }
    ad_st_tensor *t = &st->tensors[st->ntensors];
    memset(t, 0, sizeof *t);
    t->name = ad_strdup(e->name);
    if (!t->name)
        return AD_ERR_NOMEM;
    st->ntensors++;
    t->dtype = e->dtype;
    t->ndim = e->ndim;
    memcpy(t->shape, e->shape, sizeof t->shape);
    t->numel = e->numel;
    t->nbytes = (size_t)e->nbytes;
    t->data = sh->data + e->begin;
    t->file = sh->path;
    return AD_OK;
}

/* Parses and validates the header of an already mapped shard; adds its tensors to st. */
static int load_header(ad_safetensors *st, st_shard *sh)
{
    const char *file = sh->path;
    const unsigned char *p = sh->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | p[i];
    if (n > ST_MAX_HEADER)
        return ad_fail(AD_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit "
                                      "(not a safetensors file?)",
                       file, (unsigned long long)n);
    if (n > sh->size - 8)
        return ad_fail(AD_ERR_FORMAT,
                       "%s: header length %llu runs past the end of the %zu-byte file "
                       "(truncated?)",
                       file, (unsigned long long)n, sh->size);
    if (!utf8_valid(p + 8, (size_t)n))
        return ad_fail(AD_ERR_FORMAT, "%s: header is not valid UTF-8 text", file);
    sh->data = p + 8 + n;
    sh->data_size = sh->size - 8 - (size_t)n;

    int rc = AD_OK;
    st_entry *ents = NULL;
    char *text = ad_malloc((size_t)n + 1, "safetensors header");
    if (!text)
        return AD_ERR_NOMEM;
    memcpy(text, p + 8, (size_t)n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: header is not valid JSON (error at byte %ld of %llu)",
                     file, end ? (long)(end - text) : -1L, (unsigned long long)n);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: header is not a JSON object", file);
        goto done;
    }
    size_t nent = 0, cap = (size_t)cJSON_GetArraySize(root);
    ents = ad_calloc(cap + 1, sizeof *ents, "safetensors header entries");
    if (!ents) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    const cJSON *item;
    int seen_meta = 0;
    cJSON_ArrayForEach(item, root)
    {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta++) {
                rc = ad_fail(AD_ERR_FORMAT, "%s: \"__metadata__\" appears twice", file);
                goto done;
            }
            AD_CHECK(parse_metadata(file, item, sh));
        } else {
            AD_CHECK(parse_entry(file, item, &ents[nent++]));
        }
    }
    AD_CHECK(check_layout(file, ents, nent, sh->data_size));
    for (size_t i = 0; i < nent; i++)
        AD_CHECK(add_tensor(st, sh, &ents[i]));
done:
    free(ents);
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int open_shard(ad_safetensors *st, const char *path)
{
    st_shard *sh = &st->shards[st->nshards];
    memset(sh, 0, sizeof *sh);
    sh->path = ad_strdup(path);
    if (!sh->path)
        return AD_ERR_NOMEM;
    st->nshards++;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ad_fail(AD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ad_fail(AD_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return ad_fail(AD_ERR_FORMAT,
                       "%s: %lld bytes, too short for a safetensors file (8-byte header length "
                       "missing)",
                       path, (long long)sb.st_size);
    }
    sh->size = (size_t)sb.st_size;
    void *m = mmap(NULL, sh->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (m == MAP_FAILED)
        return ad_fail(AD_ERR_IO, "%s: cannot map: %s", path, strerror(saved));
    sh->map = m;
    return load_header(st, sh);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const ad_st_tensor *)a)->name, ((const ad_st_tensor *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int finish(ad_safetensors *st)
{
    if (st->ntensors > 1) /* an empty file has no tensor array at all */
        qsort(st->tensors, st->ntensors, sizeof *st->tensors, cmp_tensor_name);
    for (size_t i = 1; i < st->ntensors; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
            return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' appears twice (in %s and %s)",
                           st->label, st->tensors[i].name, st->tensors[i - 1].file,
                           st->tensors[i].file);
    return AD_OK;
}

/* A folder with model.safetensors.index.json: {"weight_map": {tensor: shard file}}. Every
 * shard is opened once, and every weight_map entry must be in the shard it names. */
static int open_index(ad_safetensors *st, const char *dir, const char *index)
{
    char path[4096];
    const char **names = NULL;
    cJSON *root = NULL;
    int rc;
    AD_CHECK(ad_json_read_object(index, &root));
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm) || cJSON_GetArraySize(wm) == 0) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: missing or empty \"weight_map\" object", index);
        goto done;
    }
    size_t n = (size_t)cJSON_GetArraySize(wm), nuniq = 0;
    names = ad_calloc(n, sizeof *names, "shard names");
    if (!names) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm)
    {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/')) {
            rc = ad_fail(AD_ERR_FORMAT,
                         "%s: weight_map entry '%s' must name a shard file in the same folder",
                         index, e->string);
            goto done;
        }
        names[nuniq++] = e->valuestring;
    }
    qsort(names, nuniq, sizeof *names, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < nuniq; i++)
        if (k == 0 || strcmp(names[k - 1], names[i]) != 0)
            names[k++] = names[i];
    nuniq = k;
    st->shards = ad_calloc(nuniq, sizeof *st->shards, "safetensors shards");
    if (!st->shards) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < nuniq; i++) {
        AD_CHECK(ad_path_join(path, sizeof path, dir, names[i]));
        if (!ad_path_exists(path)) {
            rc = ad_fail(AD_ERR_IO, "%s: shard '%s' is missing (%s)", index, names[i], path);
            goto done;
        }
        AD_CHECK(open_shard(st, path));
    }
    AD_CHECK(finish(st));
    cJSON_ArrayForEach(e, wm)
    {
        const ad_st_tensor *t = ad_st_find(st, e->string);
        const char *want = NULL;
        for (size_t i = 0; i < st->nshards && !want; i++) {
            const char *base = strrchr(st->shards[i].path, '/');
            if (strcmp(base ? base + 1 : st->shards[i].path, e->valuestring) == 0)
                want = st->shards[i].path;
        }
        if (!t) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is not in its shard %s", index,
                         e->string, e->valuestring);
            goto done;
        }
        if (t->file != want) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is not in its shard %s but in %s", index,
                         e->string, e->valuestring, t->file);
            goto done;
        }
    }
done:
    free(names);
    cJSON_Delete(root);
    return rc;
}

int ad_st_open(const char *path, ad_safetensors **out)
{
    *out = NULL;
    ad_safetensors *st = ad_calloc(1, sizeof *st, "safetensors");
    if (!st)
        return AD_ERR_NOMEM;
    int rc;
    char file[4096];
    AD_CHECK((st->label = ad_strdup(path)) ? AD_OK : AD_ERR_NOMEM);
    if (ad_is_dir(path)) {
        AD_CHECK(ad_path_join(file, sizeof file, path, "model.safetensors.index.json"));
        if (ad_path_exists(file)) {
            AD_CHECK(open_index(st, path, file));
            *out = st;
            return AD_OK;
        }
        AD_CHECK(ad_path_join(file, sizeof file, path, "model.safetensors"));
        if (!ad_path_exists(file)) {
            rc = ad_fail(AD_ERR_IO,
                         "%s: folder holds neither model.safetensors nor "
                         "model.safetensors.index.json",
                         path);
            goto done;
        }
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    AD_CHECK((st->shards = ad_calloc(1, sizeof *st->shards, "safetensors shard")) ? AD_OK
                                                                                  : AD_ERR_NOMEM);
    AD_CHECK(open_shard(st, file));
    AD_CHECK(finish(st));
    *out = st;
    return AD_OK;
done:
    ad_st_close(st);
    return rc;
}

void ad_st_close(ad_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ntensors; i++)
        free((char *)st->tensors[i].name);
    free(st->tensors);
    for (size_t i = 0; i < st->nshards; i++) {
        st_shard *sh = &st->shards[i];
        if (sh->map)
            munmap(sh->map, sh->size);
        for (size_t k = 0; k < 2 * sh->nmeta; k++)
            free(sh->meta[k]);
        free(sh->meta);
        free(sh->path);
    }
    free(st->shards);
    free(st->label);
    free(st);
}

size_t ad_st_count(const ad_safetensors *st) { return st->ntensors; }

const ad_st_tensor *ad_st_at(const ad_safetensors *st, size_t i)
{
    return i < st->ntensors ? &st->tensors[i] : NULL;
}

const ad_st_tensor *ad_st_find(const ad_safetensors *st, const char *name)
{
    size_t lo = 0, hi = st->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (c == 0)
            return &st->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ad_st_metadata(const ad_safetensors *st, const char *key)
{
    if (st->nshards == 0)
        return NULL;
    const st_shard *sh = &st->shards[0];
    for (size_t i = 0; i < sh->nmeta; i++)
        if (strcmp(sh->meta[2 * i], key) == 0)
            return sh->meta[2 * i + 1];
    return NULL;
}

size_t ad_st_metadata_count(const ad_safetensors *st)
{
    return st->nshards ? st->shards[0].nmeta : 0;
}

const char *ad_st_metadata_key(const ad_safetensors *st, size_t i)
{
    return i < ad_st_metadata_count(st) ? st->shards[0].meta[2 * i] : NULL;
}

const char *ad_st_path(const ad_safetensors *st) { return st->label; }

int ad_st_read_f32(const ad_safetensors *st, const char *name, int ndim, const int64_t *shape,
                   float *dst)
{
    const ad_st_tensor *t = ad_st_find(st, name);
    if (!t)
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is missing", st->label, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char have[160], want[160];
        ad_st_format_shape(have, sizeof have, t->ndim, t->shape);
        ad_st_format_shape(want, sizeof want, ndim, shape);
        return ad_fail(AD_ERR_FORMAT, "tensor '%s' in %s has shape %s, expected %s", name,
                       t->file, have, want);
    }
    const unsigned char *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case AD_DT_F32:
        if (n)
            memcpy(dst, p, n * sizeof(float));
        break;
    case AD_DT_F16:
    case AD_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            dst[i] = t->dtype == AD_DT_F16 ? ad_f16_to_f32(h) : ad_bf16_to_f32(h);
        }
        break;
    case AD_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, sizeof d);
            dst[i] = (float)d;
        }
        break;
    default:
        return ad_fail(AD_ERR_FORMAT, "tensor '%s' in %s has dtype %s, not a floating-point type",
                       name, t->file, ad_dtype_name(t->dtype));
    }
    return AD_OK;
}
