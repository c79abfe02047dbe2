/* Reader of embedding caches: validation on open, row lists read in coalesced runs. */
#include "adaptor/cache.h"

#include "adaptor/error.h"
#include "cache_internal.h"
#include "ncutil.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const ad_cache_text_atts[AD_CACHE_N_TEXT_ATTS] = {
    "modality", "encoder", "encoder_path", "arch",           "output",
    "preprocessing", "split", "config", "adaptor_version"};

/* Reads of nearby rows are merged when the rows skipped in between cost less than this
 * (page-cache reads are cheaper than another HDF5 call); see tests/bench/bench_cache.c. */
#define AD_CACHE_DEFAULT_GAP_BYTES (64 << 10)
/* Upper bound of one read's staging buffer. */
#define AD_CACHE_STAGE_BYTES (16 << 20)

struct ad_cache {
    char *path;
    int ncid;
    int v_emb, v_mask;
    int64_t n;
    int dim, tokens;
    size_t row_floats;
    int64_t gap_bytes;
    int64_t *ids;
    char *atts[AD_CACHE_N_TEXT_ATTS];
};

static int dim_of(ad_cache *c, const char *name, int required, int *dimid, size_t *len)
{
    if (nc_inq_dimid(c->ncid, name, dimid) != NC_NOERR) {
        *dimid = -1;
        return required ? ad_fail(AD_ERR_FORMAT, "%s: missing dimension %s", c->path, name)
                        : AD_OK;
    }
    nc_inq_dimlen(c->ncid, *dimid, len);
    return AD_OK;
}

/* Checks variable `name` exists with `type` and exactly the dimensions dims[ndims]. */
static int var_of(ad_cache *c, const char *name, nc_type type, int ndims, const int *dims,
                  const char *expect, int *varid)
{
    if (nc_inq_varid(c->ncid, name, varid) != NC_NOERR)
        return ad_fail(AD_ERR_FORMAT, "%s: missing variable %s", c->path, name);
    nc_type t;
    int nd, d[NC_MAX_VAR_DIMS];
    nc_inq_vartype(c->ncid, *varid, &t);
    nc_inq_varndims(c->ncid, *varid, &nd);
    if (t != type)
        return ad_fail(AD_ERR_FORMAT, "%s: variable %s has the wrong type", c->path, name);
    int same = nd == ndims;
    if (same) {
        nc_inq_vardimid(c->ncid, *varid, d);
        for (int i = 0; i < nd; i++)
            same &= d[i] == dims[i];
    }
    if (!same)
        return ad_fail(AD_ERR_FORMAT, "%s: variable %s must have dimensions %s", c->path, name,
                       expect);
    return AD_OK;
}

typedef struct {
    int64_t key, pos;
} ad_pair;

static int cmp_pair(const void *a, const void *b)
{
    const ad_pair *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int check_ids(ad_cache *c)
{
    ad_pair *p = ad_malloc((size_t)c->n * sizeof *p, "sample ids");
    if (!p)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < c->n; i++)
        p[i] = (ad_pair){c->ids[i], i};
    qsort(p, (size_t)c->n, sizeof *p, cmp_pair);
    int rc = AD_OK;
    for (int64_t i = 1; i < c->n && rc == AD_OK; i++)
        if (p[i].key == p[i - 1].key)
            rc = ad_fail(AD_ERR_FORMAT, "%s: duplicate sample_id %lld at rows %lld and %lld",
                         c->path, (long long)p[i].key, (long long)p[i - 1].pos,
                         (long long)p[i].pos);
    free(p);
    return rc;
}

/* zlib's best compression ratio (RFC 1950/1951: about 1032:1): no deflated variable can
 * hold more than this many bytes per byte of file. */
#define AD_DEFLATE_MAX_RATIO 1032.0

/* Bytes that variable varid holds (the product of its dimensions, of width `width`) must be
 * stored in the file: a header that claims more (a corrupt or hostile file) is refused here,
 * before anything is allocated from it. */
static int check_var_size(const ad_cache *c, int varid, const char *name, double bytes,
                          double file_bytes, const char *dims)
{
    int shuffle = 0, deflate = 0, level = 0;
    nc_inq_var_deflate(c->ncid, varid, &shuffle, &deflate, &level);
    double limit = deflate ? file_bytes * AD_DEFLATE_MAX_RATIO : file_bytes;
    if (bytes <= limit)
        return AD_OK;
    return ad_fail(AD_ERR_FORMAT,
                   "%s: dimensions %s make variable %s %.4g bytes, more than a %.0f-byte file "
                   "can hold (corrupt header)",
                   c->path, dims, name, bytes, file_bytes);
}

static int check_sizes(const ad_cache *c, int v_id, size_t n, size_t dim, size_t tokens)
{
    struct stat sb;
    if (stat(c->path, &sb) != 0)
        return ad_fail(AD_ERR_IO, "%s: cannot stat: %s", c->path, strerror(errno));
    char dims[160];
    snprintf(dims, sizeof dims, "sample = %zu, dim = %zu%s", n, dim,
             tokens > 1 ? ", token = " : "");
    if (tokens > 1)
        snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%zu", tokens);
    double file = (double)sb.st_size;
    AD_TRY(check_var_size(c, c->v_emb, AD_CACHE_VAR_EMB, (double)n * (double)tokens * (double)dim * 4,
                          file, dims));
    return check_var_size(c, v_id, AD_CACHE_VAR_ID, (double)n * 8, file, dims);
}

static int validate(ad_cache *c)
{
    int version = 0, st;
    nc_type t;
    size_t len;
    if (nc_inq_att(c->ncid, NC_GLOBAL, AD_CACHE_ATT_VERSION, &t, &len) != NC_NOERR ||
        len != 1 || (t != NC_INT && t != NC_SHORT && t != NC_BYTE && t != NC_INT64))
        return ad_fail(AD_ERR_FORMAT, "%s: missing attribute %s (not an adaptor cache)",
                       c->path, AD_CACHE_ATT_VERSION);
    nc_get_att_int(c->ncid, NC_GLOBAL, AD_CACHE_ATT_VERSION, &version);
    if (version != AD_CACHE_VERSION)
        return ad_fail(AD_ERR_FORMAT, "%s: %s is %d, this build reads version %d", c->path,
                       AD_CACHE_ATT_VERSION, version, AD_CACHE_VERSION);
    for (int i = 0; i < AD_CACHE_N_TEXT_ATTS; i++)
        AD_TRY(ad_nc_get_text_att(c->ncid, c->path, ad_cache_text_atts[i], &c->atts[i]));
    const char *mod = c->atts[0];
    if (strcmp(mod, "image") != 0 && strcmp(mod, "text") != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: modality is '%s', expected image or text", c->path,
                       mod);

    int d_sample, d_dim, d_token, v_id;
    size_t n = 0, dim = 0, tokens = 0;
    AD_TRY(dim_of(c, AD_CACHE_DIM_SAMPLE, 1, &d_sample, &n));
    AD_TRY(dim_of(c, AD_CACHE_DIM_DIM, 1, &d_dim, &dim));
    AD_TRY(dim_of(c, AD_CACHE_DIM_TOKEN, 0, &d_token, &tokens));
    if (n < 1 || dim < 1)
        return ad_fail(AD_ERR_FORMAT, "%s: empty cache (sample = %zu, dim = %zu)", c->path, n,
                       dim);
    int is_tok = strcmp(c->atts[4], "tokens") == 0;
    if (is_tok != (d_token >= 0))
        return ad_fail(AD_ERR_FORMAT, "%s: output '%s' but %s token dimension", c->path,
                       c->atts[4], d_token >= 0 ? "a" : "no");
    if (is_tok) {
        int d3[3] = {d_sample, d_token, d_dim}, d2[2] = {d_sample, d_token}, v_len;
        AD_TRY(var_of(c, AD_CACHE_VAR_EMB, NC_FLOAT, 3, d3, "(sample, token, dim)", &c->v_emb));
        AD_TRY(var_of(c, AD_CACHE_VAR_MASK, NC_UBYTE, 2, d2, "(sample, token)", &c->v_mask));
        AD_TRY(var_of(c, AD_CACHE_VAR_LEN, NC_INT, 1, &d_sample, "(sample)", &v_len));
    } else {
        int d2[2] = {d_sample, d_dim};
        AD_TRY(var_of(c, AD_CACHE_VAR_EMB, NC_FLOAT, 2, d2, "(sample, dim)", &c->v_emb));
    }
    AD_TRY(var_of(c, AD_CACHE_VAR_ID, NC_INT64, 1, &d_sample, "(sample)", &v_id));

    AD_TRY(check_sizes(c, v_id, n, dim, is_tok ? tokens : 1));

    /* Uncompressed chunks: with no chunk cache HDF5 reads just the requested rows instead of
     * pulling whole chunks through the cache (a batch of scattered rows would otherwise
     * cost one full chunk each). Compressed chunks must be decoded whole, so keep it. */
    int shuffle, deflate, level;
    if (nc_inq_var_deflate(c->ncid, c->v_emb, &shuffle, &deflate, &level) == NC_NOERR &&
        !deflate)
        nc_set_var_chunk_cache(c->ncid, c->v_emb, 0, 0, 0.0f);
    /* Widths must fit the int the readers index with (sizes were checked above). */
    if (dim > INT_MAX || tokens > INT_MAX || (is_tok && tokens < 1))
        return ad_fail(AD_ERR_FORMAT, "%s: dimensions dim = %zu, token = %zu out of range",
                       c->path, dim, tokens);
    c->n = (int64_t)n;
    c->dim = (int)dim;
    c->tokens = is_tok ? (int)tokens : 0;
    c->row_floats = (is_tok ? tokens : 1) * dim;
    c->ids = ad_malloc(n * sizeof *c->ids, "sample ids");
    if (!c->ids)
        return AD_ERR_NOMEM;
    if ((st = nc_get_var_longlong(c->ncid, v_id, (long long *)c->ids)))
        return ad_nc_fail(st, c->path, "reading sample_id");
    return check_ids(c);
}

int ad_cache_open(const char *path, ad_cache **out)
{
    *out = NULL;
    ad_cache *c = ad_calloc(1, sizeof *c, "cache");
    if (!c)
        return AD_ERR_NOMEM;
    c->ncid = -1;
    c->gap_bytes = AD_CACHE_DEFAULT_GAP_BYTES;
    c->path = ad_strdup(path);
    if (!c->path) {
        free(c);
        return AD_ERR_NOMEM;
    }
    int st = nc_open(path, NC_NOWRITE, &c->ncid);
    int rc;
    if (st != NC_NOERR) {
        c->ncid = -1;
        rc = st > 0 ? ad_nc_fail(st, path, "cannot open")
                    : ad_fail(AD_ERR_FORMAT, "%s: not a netCDF file (%s)", path,
                              nc_strerror(st));
    } else {
        rc = validate(c);
    }
    if (rc != AD_OK) {
        ad_cache_close(c);
        return rc;
    }
    *out = c;
    return AD_OK;
}

void ad_cache_close(ad_cache *c)
{
    if (!c)
        return;
    if (c->ncid >= 0)
        nc_close(c->ncid);
    for (int i = 0; i < AD_CACHE_N_TEXT_ATTS; i++)
        free(c->atts[i]);
    free(c->ids);
    free(c->path);
    free(c);
}

const char *ad_cache_path(const ad_cache *c) { return c->path; }
int64_t ad_cache_rows(const ad_cache *c) { return c->n; }
int ad_cache_dim(const ad_cache *c) { return c->dim; }
int ad_cache_tokens(const ad_cache *c) { return c->tokens; }
const char *ad_cache_modality(const ad_cache *c) { return c->atts[0]; }
const int64_t *ad_cache_ids(const ad_cache *c) { return c->ids; }
void ad_cache_set_read_gap(ad_cache *c, int64_t bytes) { c->gap_bytes = bytes < 0 ? 0 : bytes; }

const char *ad_cache_attr(const ad_cache *c, const char *name)
{
    for (int i = 0; i < AD_CACHE_N_TEXT_ATTS; i++)
        if (strcmp(ad_cache_text_atts[i], name) == 0)
            return c->atts[i];
    return NULL;
}

/* Reads rows [a, a + cnt) into the staging buffers. */
static int read_run(const ad_cache *c, int64_t a, int64_t cnt, float *emb, uint8_t *mask)
{
    size_t start[3] = {(size_t)a, 0, 0};
    size_t count[3] = {(size_t)cnt, (size_t)(c->tokens ? c->tokens : c->dim), (size_t)c->dim};
    int st = nc_get_vara_float(c->ncid, c->v_emb, start, count, emb);
    if (st == NC_NOERR && c->tokens && mask)
        st = nc_get_vara_uchar(c->ncid, c->v_mask, start, count, mask);
    return st == NC_NOERR ? AD_OK : ad_nc_fail(st, c->path, "reading embedding rows");
}

static int scatter_run(const ad_cache *c, const ad_pair *p, int64_t lo, int64_t hi, int64_t a,
                       const float *sf, const uint8_t *sm, float *emb, uint8_t *mask)
{
    size_t rf = c->row_floats, T = (size_t)c->tokens;
    for (int64_t i = lo; i < hi; i++) {
        const float *src = sf + (size_t)(p[i].key - a) * rf;
        for (size_t j = 0; j < rf; j++)
            if (!isfinite(src[j]))
                return ad_fail(AD_ERR_NUMERIC,
                               "%s: non-finite embedding value in row %lld (sample_id %lld)",
                               c->path, (long long)p[i].key, (long long)c->ids[p[i].key]);
        memcpy(emb + (size_t)p[i].pos * rf, src, rf * sizeof *emb);
        if (T && mask)
            memcpy(mask + (size_t)p[i].pos * T, sm + (size_t)(p[i].key - a) * T, T);
    }
    return AD_OK;
}

int ad_cache_read_rows(const ad_cache *c, const int64_t *rows, int64_t n, float *emb,
                       uint8_t *mask)
{
    if (n <= 0)
        return AD_OK;
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= c->n)
            return ad_fail(AD_ERR_ARG, "%s: row %lld out of range (N = %lld)", c->path,
                           (long long)rows[i], (long long)c->n);
    size_t row_bytes = c->row_floats * sizeof(float);
    int64_t gap = c->gap_bytes / (int64_t)row_bytes;
    int64_t stage_rows = AD_CACHE_STAGE_BYTES / (int64_t)row_bytes;
    if (stage_rows < 1)
        stage_rows = 1;

    ad_pair *p = ad_malloc((size_t)n * sizeof *p, "row order");
    if (!p)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        p[i] = (ad_pair){rows[i], i};
    qsort(p, (size_t)n, sizeof *p, cmp_pair);
    int64_t max_rows = p[n - 1].key - p[0].key + 1;
    if (max_rows > stage_rows)
        max_rows = stage_rows;
    float *sf = ad_malloc((size_t)max_rows * row_bytes, "staging rows");
    uint8_t *sm = c->tokens ? ad_malloc((size_t)max_rows * (size_t)c->tokens, "staging mask")
                            : NULL;
    int rc = sf && (sm || !c->tokens) ? AD_OK : AD_ERR_NOMEM;

    for (int64_t lo = 0; lo < n && rc == AD_OK;) {
        /* A run starts at p[lo] and takes following rows while the skipped gap is small
         * and the run fits in the staging buffer. */
        int64_t a = p[lo].key, hi = lo + 1;
        while (hi < n && p[hi].key - p[hi - 1].key - 1 <= gap && p[hi].key - a < stage_rows)
            hi++;
        int64_t cnt = p[hi - 1].key - a + 1;
        rc = read_run(c, a, cnt, sf, sm);
        if (rc == AD_OK)
            rc = scatter_run(c, p, lo, hi, a, sf, sm, emb, mask);
        lo = hi;
    }
    free(sm);
    free(sf);
    free(p);
    return rc;
}

int ad_cache_check_pair(const ad_cache *image, const ad_cache *text)
{
    const char *a = image->path, *b = text->path;
    if (strcmp(ad_cache_modality(image), "image") != 0 ||
        strcmp(ad_cache_modality(text), "text") != 0)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: expected an image and a text cache, got %s and %s",
                       a, b, ad_cache_modality(image), ad_cache_modality(text));
    const char *sa = ad_cache_attr(image, "split"), *sb = ad_cache_attr(text, "split");
    if (strcmp(sa, sb) != 0)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: splits differ (%s vs %s)", a, b, sa, sb);
    if (image->n != text->n)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: sample counts differ (%lld vs %lld)", a, b,
                       (long long)image->n, (long long)text->n);
    for (int64_t i = 0; i < image->n; i++)
        if (image->ids[i] != text->ids[i])
            return ad_fail(AD_ERR_FORMAT, "%s and %s: sample_id differs at row %lld (%lld vs %lld)",
                           a, b, (long long)i, (long long)image->ids[i], (long long)text->ids[i]);
    return AD_OK;
}
