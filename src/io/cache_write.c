/* Collective writer of embedding caches (layout in include/adaptor/cache.h). */
#include "adaptor/cache.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/provenance.h"
#include "cache_internal.h"
#include "ncutil.h"

#include <math.h>
#include <netcdf.h>
#include <netcdf_par.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ad_cache_writer {
    MPI_Comm comm;
    int rank;
    int ncid;
    int open; /* the netCDF file is still open */
    int v_emb, v_mask, v_len, v_id;
    int64_t n;
    int dim, tokens;
    int64_t written; /* rows this rank wrote */
    char path[4096];
    char tmp[4096];
};

/* Small chunks (about 64 KiB) suit the trainer's scattered row reads: 16-row chunks read a
 * random shard ~1.5x faster than 1 MiB chunks (tests/bench/bench_cache.c). */
static int64_t auto_chunk_rows(int64_t n, size_t row_bytes, int requested)
{
    int64_t rows = requested > 0 ? requested : (int64_t)((64u << 10) / row_bytes);
    if (rows < 1)
        rows = 1;
    return rows < n ? rows : n;
}

static int def_var(ad_cache_writer *w, const char *name, nc_type type, int ndims,
                   const int *dims, const size_t *chunks, int deflate, int *varid)
{
    int st = nc_def_var(w->ncid, name, type, ndims, dims, varid);
    if (st == NC_NOERR)
        st = nc_def_var_chunking(w->ncid, *varid, NC_CHUNKED, chunks);
    if (st == NC_NOERR && deflate > 0)
        st = nc_def_var_deflate(w->ncid, *varid, 0, 1, deflate);
    /* Every row is written before commit (checked), so fill values would only cost I/O. */
    if (st == NC_NOERR)
        st = nc_def_var_fill(w->ncid, *varid, NC_NOFILL, NULL);
    return st == NC_NOERR ? AD_OK : ad_nc_fail(st, w->tmp, name);
}

static int define_layout(ad_cache_writer *w, const ad_cache_meta *meta,
                         const ad_cache_storage *storage)
{
    int d_sample, d_dim, d_token = -1, st;
    const char *p = w->tmp;
    if ((st = nc_def_dim(w->ncid, AD_CACHE_DIM_SAMPLE, (size_t)w->n, &d_sample)) ||
        (st = nc_def_dim(w->ncid, AD_CACHE_DIM_DIM, (size_t)w->dim, &d_dim)) ||
        (w->tokens && (st = nc_def_dim(w->ncid, AD_CACHE_DIM_TOKEN, (size_t)w->tokens,
                                       &d_token))))
        return ad_nc_fail(st, p, "defining dimensions");

    int T = w->tokens ? w->tokens : 1;
    size_t row_bytes = (size_t)T * (size_t)w->dim * sizeof(float);
    int64_t crow = auto_chunk_rows(w->n, row_bytes, storage ? storage->chunk_rows : 0);
    int level = storage ? storage->deflate_level : 0;
    size_t id_chunk = (size_t)(w->n < 65536 ? w->n : 65536);

    if (w->tokens) {
        int dims3[3] = {d_sample, d_token, d_dim};
        size_t c3[3] = {(size_t)crow, (size_t)w->tokens, (size_t)w->dim};
        AD_TRY(def_var(w, AD_CACHE_VAR_EMB, NC_FLOAT, 3, dims3, c3, level, &w->v_emb));
        int dims2[2] = {d_sample, d_token};
        size_t c2[2] = {(size_t)crow, (size_t)w->tokens};
        AD_TRY(def_var(w, AD_CACHE_VAR_MASK, NC_UBYTE, 2, dims2, c2, level, &w->v_mask));
        AD_TRY(def_var(w, AD_CACHE_VAR_LEN, NC_INT, 1, &d_sample, &id_chunk, 0, &w->v_len));
    } else {
        int dims2[2] = {d_sample, d_dim};
        size_t c2[2] = {(size_t)crow, (size_t)w->dim};
        AD_TRY(def_var(w, AD_CACHE_VAR_EMB, NC_FLOAT, 2, dims2, c2, level, &w->v_emb));
    }
    AD_TRY(def_var(w, AD_CACHE_VAR_ID, NC_INT64, 1, &d_sample, &id_chunk, 0, &w->v_id));

    int version = AD_CACHE_VERSION;
    if ((st = nc_put_att_int(w->ncid, NC_GLOBAL, AD_CACHE_ATT_VERSION, NC_INT, 1, &version)))
        return ad_nc_fail(st, p, AD_CACHE_ATT_VERSION);
    const char *values[AD_CACHE_N_META_ATTS] = {
        meta->modality, meta->encoder, meta->encoder_path, meta->arch, meta->output,
        meta->preprocessing, meta->split};
    for (int i = 0; i < AD_CACHE_N_META_ATTS; i++)
        AD_TRY(ad_nc_put_text_att(w->ncid, p, ad_cache_text_atts[i], values[i]));
    AD_TRY(ad_prov_nc_put(w->ncid, p, meta->prov));

    if ((st = nc_enddef(w->ncid)))
        return ad_nc_fail(st, p, "leaving define mode");
    int vars[4] = {w->v_emb, w->v_id, w->v_mask, w->v_len};
    for (int i = 0; i < (w->tokens ? 4 : 2); i++)
        if ((st = nc_var_par_access(w->ncid, vars[i], NC_COLLECTIVE)))
            return ad_nc_fail(st, p, "collective access");
    return AD_OK;
}

static int check_args(const char *path, const ad_cache_meta *meta, int64_t n, int dim,
                      int tokens)
{
    if (!meta || !meta->modality ||
        (strcmp(meta->modality, "image") != 0 && strcmp(meta->modality, "text") != 0))
        return ad_fail(AD_ERR_ARG, "%s: modality must be \"image\" or \"text\"", path);
    if (n < 1 || dim < 1 || tokens < 0)
        return ad_fail(AD_ERR_ARG, "%s: bad cache shape N=%lld D=%d T=%d", path, (long long)n,
                       dim, tokens);
    int is_tok = meta->output && strcmp(meta->output, "tokens") == 0;
    if (is_tok != (tokens > 0))
        return ad_fail(AD_ERR_ARG, "%s: output '%s' does not match T=%d", path,
                       meta->output ? meta->output : "", tokens);
    return AD_OK;
}

int ad_cache_create(MPI_Comm comm, const char *path, const ad_cache_meta *meta, int64_t n,
                    int dim, int tokens, const ad_cache_storage *storage,
                    ad_cache_writer **out)
{
    *out = NULL;
    ad_cache_writer *w = ad_calloc(1, sizeof *w, "cache writer");
    int rc = w ? AD_OK : AD_ERR_NOMEM;
    if (w) {
        w->comm = comm;
        w->n = n;
        w->dim = dim;
        w->tokens = tokens;
        MPI_Comm_rank(comm, &w->rank);
        long pid = (long)getpid();
        MPI_Bcast(&pid, 1, MPI_LONG, 0, comm); /* one temporary name for all ranks */
        int wr = snprintf(w->path, sizeof w->path, "%s", path);
        rc = wr < 0 || (size_t)wr >= sizeof w->path
                 ? ad_fail(AD_ERR_ARG, "path too long: %s", path)
                 : ad_nc_tmp_name(w->tmp, sizeof w->tmp, path, pid);
        if (rc == AD_OK)
            rc = check_args(path, meta, n, dim, tokens);
    }
    rc = ad_mpi_agree(comm, rc, path);
    if (rc == AD_OK) {
        int st = nc_create_par(w->tmp, NC_NETCDF4 | NC_CLOBBER, comm, MPI_INFO_NULL, &w->ncid);
        rc = st == NC_NOERR ? AD_OK : ad_nc_fail(st, w->tmp, "cannot create");
        w->open = rc == AD_OK;
        rc = ad_mpi_agree(comm, rc, path);
    }
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, define_layout(w, meta, storage), path);
    if (rc != AD_OK) {
        if (w)
            ad_cache_abort(w);
        return rc;
    }
    *out = w;
    return AD_OK;
}

static int check_rows(const ad_cache_writer *w, int64_t first, int64_t nrows, const int64_t *ids,
                      const float *emb, const uint8_t *mask)
{
    if (nrows < 0 || first < 0 || first + nrows > w->n)
        return ad_fail(AD_ERR_ARG, "%s: rows [%lld, %lld) outside [0, %lld)", w->path,
                       (long long)first, (long long)(first + nrows), (long long)w->n);
    if (nrows == 0)
        return AD_OK;
    if (!ids || !emb || (w->tokens && !mask))
        return ad_fail(AD_ERR_ARG, "%s: missing ids, embeddings or mask", w->path);
    size_t per_row = (size_t)(w->tokens ? w->tokens : 1) * (size_t)w->dim;
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = emb + (size_t)r * per_row;
        for (size_t j = 0; j < per_row; j++)
            if (!isfinite(x[j]))
                return ad_fail(AD_ERR_NUMERIC, "%s: non-finite embedding value in row %lld",
                               w->path, (long long)(first + r));
        for (int t = 0; t < w->tokens; t++)
            if (mask[(size_t)r * (size_t)w->tokens + (size_t)t] > 1)
                return ad_fail(AD_ERR_ARG, "%s: mask of row %lld is not 0/1", w->path,
                               (long long)(first + r));
    }
    return AD_OK;
}

static int put_rows(ad_cache_writer *w, int64_t first, int64_t nrows, const int64_t *ids,
                    const float *emb, const uint8_t *mask)
{
    /* A rank with nothing to write still takes part in the collective call, with an empty
     * selection (and non-NULL buffers, which netCDF insists on). */
    static const float zf = 0;
    static const int64_t zi = 0;
    static const uint8_t zb = 0;
    static const int zl = 0;
    size_t start[3] = {nrows ? (size_t)first : 0, 0, 0};
    size_t count[3] = {(size_t)nrows, (size_t)w->tokens, (size_t)w->dim};
    if (!w->tokens)
        count[1] = (size_t)w->dim;
    int st = nc_put_vara_float(w->ncid, w->v_emb, start, count, nrows ? emb : &zf);
    if (st == NC_NOERR)
        st = nc_put_vara_longlong(w->ncid, w->v_id, start, count,
                                  nrows ? (const long long *)ids : (const long long *)&zi);
    if (st != NC_NOERR || !w->tokens)
        return st == NC_NOERR ? AD_OK : ad_nc_fail(st, w->tmp, "writing rows");

    int *len = ad_malloc((size_t)(nrows ? nrows : 1) * sizeof *len, "token lengths");
    if (!len)
        return AD_ERR_NOMEM;
    for (int64_t r = 0; r < nrows; r++) {
        int s = 0;
        for (int t = 0; t < w->tokens; t++)
            s += mask[(size_t)r * (size_t)w->tokens + (size_t)t];
        len[r] = s;
    }
    st = nc_put_vara_uchar(w->ncid, w->v_mask, start, count, nrows ? mask : &zb);
    if (st == NC_NOERR)
        st = nc_put_vara_int(w->ncid, w->v_len, start, count, nrows ? len : &zl);
    free(len);
    return st == NC_NOERR ? AD_OK : ad_nc_fail(st, w->tmp, "writing rows");
}

int ad_cache_write_rows_status(ad_cache_writer *w, int local_rc, int64_t first, int64_t nrows,
                               const int64_t *ids, const float *emb, const uint8_t *mask)
{
    int rc = local_rc;
    if (rc == AD_OK)
        rc = check_rows(w, first, nrows, ids, emb, mask);
    if (rc != AD_OK)
        nrows = 0; /* still join the collective writes so no rank hangs */
    int prc = put_rows(w, first, nrows, ids, emb, mask);
    if (rc == AD_OK)
        rc = prc;
    rc = ad_mpi_agree(w->comm, rc, w->path);
    if (rc == AD_OK)
        w->written += nrows;
    return rc;
}

int ad_cache_write_rows(ad_cache_writer *w, int64_t first_row, int64_t nrows,
                        const int64_t *ids, const float *emb, const uint8_t *mask)
{
    return ad_cache_write_rows_status(w, AD_OK, first_row, nrows, ids, emb, mask);
}

int ad_cache_commit(ad_cache_writer *w)
{
    long long mine = (long long)w->written, total = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, w->comm);
    if (total != (long long)w->n) {
        int rc = ad_fail(AD_ERR_INTERNAL, "%s: only %lld of %lld rows were written", w->path,
                         total, (long long)w->n);
        ad_cache_abort(w);
        return rc;
    }
    int st = nc_close(w->ncid);
    w->open = 0;
    int rc = ad_mpi_agree(w->comm, st == NC_NOERR ? AD_OK : ad_nc_fail(st, w->tmp, "closing"),
                          w->path);
    if (rc == AD_OK) {
        if (w->rank == 0)
            rc = ad_fsync_rename(w->tmp, w->path);
        rc = ad_mpi_agree(w->comm, rc, w->path);
    }
    if (rc != AD_OK) {
        ad_cache_abort(w);
        return rc;
    }
    free(w);
    return AD_OK;
}

void ad_cache_abort(ad_cache_writer *w)
{
    if (!w)
        return;
    if (w->open)
        nc_close(w->ncid);
    MPI_Barrier(w->comm); /* nobody may still hold the file when rank 0 removes it */
    if (w->rank == 0 && w->tmp[0])
        unlink(w->tmp);
    free(w);
}
