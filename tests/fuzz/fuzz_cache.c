/* netCDF embedding-cache open (ad_cache_open's validation, then reading every row). The
 * input is not the file's bytes: it describes a netCDF-4 file (dimension lengths,
 * attributes, variable types and shapes, ids, values) that the target writes through the
 * serial netCDF API into /dev/shm, so the fuzzer explores what a well-formed netCDF file
 * can claim rather than HDF5's own parser (an uninstrumented system library whose bugs
 * adaptor cannot fix). No MPI: caches are read serially on every rank. */
#include "adaptor/cache.h"
#include "adaptor/error.h"
#include "fuzzutil.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const text_atts[9] = {"modality", "encoder", "encoder_path", "arch", "output",
                                         "preprocessing", "split", "config", "adaptor_version"};

/* Rows * row width up to this many values are written; bigger files are header-only. */
enum { MAX_VALUES = 4096 };

#define NC(call)                                                                              \
    do {                                                                                      \
        if ((call) != NC_NOERR)                                                               \
            goto fail;                                                                        \
    } while (0)

/* Builds the file; returns 0 when netCDF refuses the description (not a finding). */
static int build(fz_reader *r, const char *path)
{
    int ncid;
    int mode = NC_CLOBBER | NC_NETCDF4 | (fz_u8(r) % 4 == 0 ? NC_CLASSIC_MODEL : 0);
    if (nc_create(path, mode, &ncid) != NC_NOERR)
        return 0;
    int classic = (mode & NC_CLASSIC_MODEL) != 0;
    int tokens_out = fz_u8(r) % 2;

    /* adaptor_cache_version: absent, right, wrong value, other integer types, wrong type. */
    int vmode = fz_u8(r) % 6, one = 1, other = fz_u8(r) - 128;
    long long one_ll = 1;
    double one_d = 1.0;
    if (vmode == 1)
        NC(nc_put_att_int(ncid, NC_GLOBAL, "adaptor_cache_version", NC_INT, 1, &one));
    else if (vmode == 2)
        NC(nc_put_att_int(ncid, NC_GLOBAL, "adaptor_cache_version", NC_INT, 1, &other));
    else if (vmode == 3)
        NC(nc_put_att_int(ncid, NC_GLOBAL, "adaptor_cache_version", NC_SHORT, 1, &one));
    else if (vmode == 4 && !classic)
        NC(nc_put_att_longlong(ncid, NC_GLOBAL, "adaptor_cache_version", NC_INT64, 1, &one_ll));
    else if (vmode == 5)
        NC(nc_put_att_double(ncid, NC_GLOBAL, "adaptor_cache_version", NC_DOUBLE, 1, &one_d));

    for (int i = 0; i < 9; i++) {
        char s[33];
        const char *v = NULL;
        int amode = fz_u8(r) % 8;
        if (amode <= 3) /* the usual: a plausible value */
            v = i == 0 ? (fz_u8(r) % 2 ? "image" : "text")
                       : i == 4 ? (tokens_out ? "tokens" : "cls") : "x";
        else if (amode == 4)
            v = "";
        else if (amode == 5) {
            fz_str(r, s, 32);
            v = s;
        } else if (amode == 6) {
            NC(nc_put_att_int(ncid, NC_GLOBAL, text_atts[i], NC_INT, 1, &one));
        }
        if (v)
            NC(nc_put_att_text(ncid, NC_GLOBAL, text_atts[i], strlen(v), v));
    }

    static const int64_t samples[] = {0, 1, 2, 3, 5, 17, 1000, 2000000001, -1};
    static const int64_t widths[] = {0, 1, 2, 3, 8, 64, 4096, 1 << 24};
    static const int64_t token_counts[] = {-1, 1, 2, 4, 7, 65536};
    int64_t n = fz_pick(r, samples, 9), d = fz_pick(r, widths, 8), t = fz_pick(r, token_counts, 6);
    int d_sample, d_dim, d_token = -1;
    NC(nc_def_dim(ncid, "sample", n < 0 ? NC_UNLIMITED : (size_t)n, &d_sample));
    NC(nc_def_dim(ncid, "dim", (size_t)d, &d_dim));
    if (t >= 0)
        NC(nc_def_dim(ncid, "token", (size_t)t, &d_token));

    /* Variables: each with the expected shape or a wrong one, the expected type or not. */
    int v_emb = -1, v_mask = -1, v_len = -1, v_id = -1;
    int emb3[3] = {d_sample, d_token, d_dim}, emb2[2] = {d_sample, d_dim};
    int em = fz_u8(r) % 6;
    if (em == 1 || em == 2)
        NC(nc_def_var(ncid, "embedding", NC_FLOAT, d_token >= 0 ? 3 : 2,
                      d_token >= 0 ? emb3 : emb2, &v_emb));
    else if (em == 3)
        NC(nc_def_var(ncid, "embedding", NC_FLOAT, 2, emb2, &v_emb));
    else if (em == 4 && d_token >= 0)
        NC(nc_def_var(ncid, "embedding", NC_FLOAT, 3, emb3, &v_emb));
    else if (em == 5)
        NC(nc_def_var(ncid, "embedding", NC_DOUBLE, 2, emb2, &v_emb));
    int mask2[2] = {d_sample, d_token};
    if (d_token >= 0 && fz_u8(r) % 4 && !classic) {
        NC(nc_def_var(ncid, "mask", NC_UBYTE, 2, mask2, &v_mask));
        NC(nc_def_var(ncid, "length", NC_INT, 1, &d_sample, &v_len));
    }
    int im = fz_u8(r) % 5;
    if (im >= 1 && im <= 3 && !classic)
        NC(nc_def_var(ncid, "sample_id", NC_INT64, 1, &d_sample, &v_id));
    else if (im == 4)
        NC(nc_def_var(ncid, "sample_id", NC_INT, 1, &d_sample, &v_id));
    NC(nc_enddef(ncid));

    /* Values, when the file is small: ids sequential or from the input (duplicates
     * likely), embeddings from the input (NaN and inf included), masks 0/1. */
    int64_t rows = n < 0 ? (int64_t)(fz_u8(r) % 4) : n;
    int64_t width = (t > 0 && d_token >= 0 ? t : 1) * d;
    if (rows > 0 && width > 0 && rows <= MAX_VALUES / width) {
        size_t start[3] = {0, 0, 0}, count[3] = {(size_t)rows, (size_t)(t > 0 ? t : d), (size_t)d};
        if (v_id >= 0) {
            long long ids[MAX_VALUES];
            int seq = fz_u8(r) % 2;
            for (int64_t i = 0; i < rows; i++)
                ids[i] = seq ? i * 3 : (long long)(fz_u8(r) % 8) - 2;
            NC(nc_put_vara_longlong(ncid, v_id, start, count, ids));
        }
        if (v_emb >= 0) {
            int nd;
            NC(nc_inq_varndims(ncid, v_emb, &nd));
            if (nd == 2)
                count[1] = (size_t)d;
            int64_t nv = rows * (nd == 3 ? width : d);
            static float vals[MAX_VALUES * 2];
            for (int64_t i = 0; i < nv; i++) {
                uint8_t b = fz_u8(r);
                vals[i] = b == 255 ? NAN : b == 254 ? INFINITY : (float)b / 16.0f - 4.0f;
            }
            NC(nc_put_vara_float(ncid, v_emb, start, count, vals));
        }
        if (v_mask >= 0 && t > 0) {
            static unsigned char mask[MAX_VALUES];
            for (int64_t i = 0; i < rows * t; i++)
                mask[i] = fz_u8(r) & 1;
            NC(nc_put_vara_uchar(ncid, v_mask, start, count, mask));
        }
    }
    return nc_close(ncid) == NC_NOERR;
fail:
    nc_close(ncid);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/cache.nc", fz_dir());
    fz_reader r = {data, size};
    if (!build(&r, path))
        return 0;
    ad_cache *c = NULL;
    if (ad_cache_open(path, &c) != AD_OK) {
        fz_assert(c == NULL, "a failure leaves no object");
        fz_rejected();
        return 0;
    }
    int64_t n = ad_cache_rows(c);
    int dim = ad_cache_dim(c), tok = ad_cache_tokens(c);
    fz_assert(n >= 1 && dim >= 1 && tok >= 0, "an open cache has rows and width");
    const char *mod = ad_cache_modality(c);
    fz_assert(strcmp(mod, "image") == 0 || strcmp(mod, "text") == 0, "modality");
    int64_t width = (int64_t)(tok ? tok : 1) * dim;
    if (n <= MAX_VALUES / width) {
        int64_t rows[64];
        int64_t k = n < 64 ? n : 64;
        for (int64_t i = 0; i < k; i++)
            rows[i] = n - 1 - i; /* reversed, so the scatter path runs */
        float *emb = malloc((size_t)(k * width) * sizeof *emb);
        uint8_t *mask = tok ? malloc((size_t)(k * tok)) : NULL;
        fz_assert(emb && (!tok || mask), "allocation");
        int rc = ad_cache_read_rows(c, rows, k, emb, mask);
        fz_assert(rc == AD_OK || rc == AD_ERR_NUMERIC || rc == AD_ERR_FORMAT,
                  "reading rows works or names a bad value");
        free(emb);
        free(mask);
    }
    ad_cache_close(c);
    return 0;
}
