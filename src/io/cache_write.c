/* Writer of embedding caches (layout and the two writers in include/adaptor/cache.h).
 *
 * Serial (default): only rank 0 touches the file (serial netCDF-4); the other ranks send it
 * their rows. Parallel HDF5 has no way out of a collective call that fails on some ranks
 * only: a full disk left every rank spinning in MPI_Barrier / MPI_Bcast inside H5Fflush and
 * H5FD_truncate. With one writer a failed write is an ordinary local error that the ranks
 * then agree on (ad_mpi_agree) outside any library call.
 *
 * Parallel: every rank opens the temporary file (nc_create_par) and writes its own rows in
 * collective calls. Everything that can be checked is agreed on before each collective
 * library call (arguments, rows, free space); a library call that still fails leaves the
 * writer "broken": the rank returns its error without any further collective call, and
 * the CLI's end of job (src/cli/main.c) brings the job down with MPI_Abort when peers stay
 * inside HDF5. Rank 0 alone renames, as in the serial writer. */
#include "adaptor/cache.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/provenance.h"
#include "adaptor/watchdog.h"
#include "cache_internal.h"
#include "ncutil.h"

#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <netcdf_par.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ad_cache_writer {
    MPI_Comm comm;
    int rank, size;
    int ncid;
    int open;     /* the netCDF file is still open (serial: rank 0 only) */
    int parallel; /* every rank writes its rows into the shared file */
    int broken;   /* a parallel library call failed here: no collective call is safe */
    ad_watchdog *wd; /* parallel: the deadline of each collective library call */
    int v_emb, v_mask, v_len, v_id;
    int64_t n;
    int dim, tokens;
    int64_t written; /* serial: rank 0's count of every rank's rows; parallel: own rows */
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
    return st == NC_NOERR ? AD_OK : ad_nc_fail(st, w->path, name);
}

static int64_t chunk_rows(const ad_cache_writer *w, const ad_cache_storage *storage)
{
    size_t row_bytes = (size_t)(w->tokens ? w->tokens : 1) * (size_t)w->dim * sizeof(float);
    return auto_chunk_rows(w->n, row_bytes, storage ? storage->chunk_rows : 0);
}

/* An upper bound of the file's size: whole chunks of every variable, the attributes, 64 KiB
 * of HDF5 headers and 64 bytes of chunk index per chunk (256 for parallel HDF5, whose files
 * came out 85-100 bytes per chunk larger: 617.8 MB instead of 617.0 for 200k x 768). */
static long long file_bytes(const ad_cache_writer *w, const ad_cache_meta *meta,
                            const ad_cache_storage *storage)
{
    long long crow = chunk_rows(w, storage), T = w->tokens ? w->tokens : 1;
    long long rows = (w->n + crow - 1) / crow * crow, id_chunk = w->n < 65536 ? w->n : 65536;
    long long id_rows = (w->n + id_chunk - 1) / id_chunk * id_chunk;
    long long bytes = rows * T * w->dim * (long long)sizeof(float) + id_rows * 8 + (64 << 10);
    long long chunks = rows / crow + id_rows / id_chunk;
    if (w->tokens) {
        bytes += rows * T + id_rows * 4;
        chunks += rows / crow + id_rows / id_chunk;
    }
    bytes += chunks * (w->parallel ? 256 : 64);
    const char *text[] = {meta->modality, meta->encoder, meta->encoder_path, meta->arch,
                          meta->output, meta->preprocessing, meta->split};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++)
        bytes += text[i] ? (long long)strlen(text[i]) : 0;
    for (size_t i = 0; meta->prov && i < ad_prov_count(meta->prov); i++)
        bytes += (long long)(strlen(ad_prov_key(meta->prov, i)) +
                             strlen(ad_prov_value(meta->prov, i)));
    return bytes;
}

static int define_layout(ad_cache_writer *w, const ad_cache_meta *meta,
                         const ad_cache_storage *storage)
{
    int d_sample, d_dim, d_token = -1, st;
    const char *p = w->path;
    if ((st = nc_def_dim(w->ncid, AD_CACHE_DIM_SAMPLE, (size_t)w->n, &d_sample)) ||
        (st = nc_def_dim(w->ncid, AD_CACHE_DIM_DIM, (size_t)w->dim, &d_dim)) ||
        (w->tokens && (st = nc_def_dim(w->ncid, AD_CACHE_DIM_TOKEN, (size_t)w->tokens,
                                       &d_token))))
        return ad_nc_fail(st, p, "defining dimensions");

    int64_t crow = chunk_rows(w, storage);
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
    if (meta->pos_interp) /* optional: caches written before it still open */
        AD_TRY(ad_nc_put_text_att(w->ncid, p, "pos_interp", meta->pos_interp));
    AD_TRY(ad_prov_nc_put(w->ncid, p, meta->prov));

    errno = 0; /* the first write to disk */
    if ((st = nc_enddef(w->ncid)))
        return ad_nc_fail_errno(st, errno, p, "leaving define mode");
    /* Collective for every variable: parallel HDF5 writes deflated variables only that way,
     * and it lets a chunk shared by two ranks' rows go to disk once. */
    int vars[4] = {w->v_emb, w->v_id, w->v_mask, w->v_len};
    for (int i = 0; w->parallel && i < (w->tokens ? 4 : 2); i++)
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

/* Rank 0: names the temporary file and checks it fits. HDF5 cannot back out of a write
 * that fails for space (a failed flush leaves a file that crashes HDF5 when it is closed at
 * MPI_Finalize; parallel HDF5 hangs in it): make sure first that the file fits. */
static int prepare_file(ad_cache_writer *w, const ad_cache_meta *meta,
                        const ad_cache_storage *storage)
{
    AD_TRY(ad_nc_tmp_name(w->tmp, sizeof w->tmp, w->path, (long)getpid()));
    return ad_check_space(w->tmp, w->path, file_bytes(w, meta, storage));
}

/* What a watchdog that fires removes: the temporary file, by rank 0 (it renames too). */
static const char *doomed(const ad_cache_writer *w)
{
    return w->rank == 0 ? w->tmp : NULL;
}

static int create_layout(ad_cache_writer *w, const ad_cache_meta *meta,
                         const ad_cache_storage *storage)
{
    errno = 0;
    int st = w->parallel ? nc_create_par(w->tmp, NC_NETCDF4 | NC_MPIIO | NC_CLOBBER, w->comm,
                                         MPI_INFO_NULL, &w->ncid)
                         : nc_create(w->tmp, NC_NETCDF4 | NC_CLOBBER, &w->ncid);
    if (st != NC_NOERR)
        return ad_nc_fail_errno(st, errno, w->path, "cannot create");
    w->open = 1;
    return define_layout(w, meta, storage);
}

/* Creates the temporary file and defines the layout: rank 0 (serial) or every rank
 * (parallel: a collective call, under the watchdog). */
static int create_file(ad_cache_writer *w, const ad_cache_meta *meta,
                       const ad_cache_storage *storage)
{
    ad_watchdog_arm(w->wd, w->path, "creating the file", doomed(w));
    int rc = create_layout(w, meta, storage);
    ad_watchdog_disarm(w->wd);
    return rc;
}

static void writer_free(ad_cache_writer *w)
{
    ad_watchdog_destroy(w->wd);
    free(w);
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
        w->parallel = storage && storage->parallel;
        MPI_Comm_rank(comm, &w->rank);
        MPI_Comm_size(comm, &w->size);
        int wr = snprintf(w->path, sizeof w->path, "%s", path);
        rc = wr < 0 || (size_t)wr >= sizeof w->path
                 ? ad_fail(AD_ERR_ARG, "path too long: %s", path)
                 : check_args(path, meta, n, dim, tokens);
        if (rc == AD_OK && w->parallel) /* local: agreed on with the checks below */
            rc = ad_watchdog_create(comm, storage->timeout, &w->wd);
        if (rc == AD_OK && w->rank == 0)
            rc = prepare_file(w, meta, storage);
        if (rc == AD_OK && w->rank == 0 && !w->parallel)
            rc = create_file(w, meta, storage);
    }
    rc = ad_mpi_agree(comm, rc, path);
    if (rc == AD_OK && w->parallel) {
        MPI_Bcast(w->tmp, sizeof w->tmp, MPI_CHAR, 0, comm);
        rc = create_file(w, meta, storage);
        w->broken = rc != AD_OK; /* a peer may still be inside the collective create */
    }
    if (rc != AD_OK) {
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

/* Writes rows [first, first + nrows) of the file: rank 0 (serial), or every rank in
 * collective calls (parallel: also with no rows, as HDF5 expects every rank there). */
static int put_rows(ad_cache_writer *w, int64_t first, int64_t nrows, const int64_t *ids,
                    const float *emb, const uint8_t *mask)
{
    if (nrows == 0 && !w->parallel)
        return AD_OK;
    static const int64_t no_ids[1];
    static const float no_emb[1];
    static const uint8_t no_mask[1];
    if (nrows == 0) { /* netCDF wants data pointers even for empty writes */
        first = 0;
        ids = no_ids;
        emb = no_emb;
        mask = no_mask;
    }
    size_t start[3] = {(size_t)first, 0, 0};
    size_t count[3] = {(size_t)nrows, (size_t)(w->tokens ? w->tokens : w->dim), (size_t)w->dim};
    errno = 0;
    int st = nc_put_vara_float(w->ncid, w->v_emb, start, count, emb);
    if (st == NC_NOERR)
        st = nc_put_vara_longlong(w->ncid, w->v_id, start, count, (const long long *)ids);
    if (st != NC_NOERR || !w->tokens)
        return st == NC_NOERR ? AD_OK : ad_nc_fail_errno(st, errno, w->path, "writing rows");

    int *len = ad_malloc((size_t)(nrows ? nrows : 1) * sizeof *len, "token lengths");
    if (!len)
        return AD_ERR_NOMEM;
    for (int64_t r = 0; r < nrows; r++) {
        int s = 0;
        for (int t = 0; t < w->tokens; t++)
            s += mask[(size_t)r * (size_t)w->tokens + (size_t)t];
        len[r] = s;
    }
    errno = 0;
    st = nc_put_vara_uchar(w->ncid, w->v_mask, start, count, mask);
    if (st == NC_NOERR)
        st = nc_put_vara_int(w->ncid, w->v_len, start, count, len);
    int err = errno;
    free(len);
    return st == NC_NOERR ? AD_OK : ad_nc_fail_errno(st, err, w->path, "writing rows");
}

/* MPI counts are ints: rows travel to rank 0 in messages of at most 1 GiB. */
#define AD_CACHE_MSG_BYTES ((size_t)1 << 30)
#define AD_CACHE_TAG 7301

static void move_bytes(void *buf, size_t bytes, int peer, int send, MPI_Comm comm)
{
    char *p = buf;
    for (size_t off = 0; off < bytes; off += AD_CACHE_MSG_BYTES) {
        int k = (int)(bytes - off < AD_CACHE_MSG_BYTES ? bytes - off : AD_CACHE_MSG_BYTES);
        if (send)
            MPI_Send(p + off, k, MPI_BYTE, peer, AD_CACHE_TAG, comm);
        else
            MPI_Recv(p + off, k, MPI_BYTE, peer, AD_CACHE_TAG, comm, MPI_STATUS_IGNORE);
    }
}

/* Sends (rank > 0) or receives (rank 0, from peer) the ids, rows and mask of nrows rows. */
static void move_rows(const ad_cache_writer *w, int64_t nrows, int peer, int send, int64_t *ids,
                      float *emb, uint8_t *mask)
{
    size_t rf = (size_t)(w->tokens ? w->tokens : 1) * (size_t)w->dim;
    move_bytes(ids, (size_t)nrows * sizeof *ids, peer, send, w->comm);
    move_bytes(emb, (size_t)nrows * rf * sizeof *emb, peer, send, w->comm);
    if (w->tokens)
        move_bytes(mask, (size_t)nrows * (size_t)w->tokens, peer, send, w->comm);
}

/* Rank 0: receives every other rank's rows (counts in rows_of[2 * size]: first, nrows) and
 * writes them unless rc already failed; a failed rank 0 still drains the messages. */
static int gather_rows(ad_cache_writer *w, int rc, const long long *rows_of)
{
    int64_t most = 0;
    for (int r = 1; r < w->size; r++)
        most = rows_of[2 * r + 1] > most ? rows_of[2 * r + 1] : most;
    size_t rf = (size_t)(w->tokens ? w->tokens : 1) * (size_t)w->dim;
    int64_t *ids = ad_malloc((size_t)(most ? most : 1) * sizeof *ids, "received ids");
    float *emb = ad_malloc((size_t)(most ? most : 1) * rf * sizeof *emb, "received rows");
    uint8_t *mask = ad_malloc((size_t)(most ? most : 1) * (size_t)(w->tokens ? w->tokens : 1),
                              "received mask");
    int go = ids && emb && mask;
    MPI_Bcast(&go, 1, MPI_INT, 0, w->comm);
    if (!go && rc == AD_OK)
        rc = AD_ERR_NOMEM;
    for (int r = 1; go && r < w->size; r++) {
        int64_t first = rows_of[2 * r], nrows = rows_of[2 * r + 1];
        if (nrows == 0)
            continue;
        move_rows(w, nrows, r, 0, ids, emb, mask);
        if (rc == AD_OK)
            rc = put_rows(w, first, nrows, ids, emb, w->tokens ? mask : NULL);
    }
    free(ids);
    free(emb);
    free(mask);
    return rc;
}

int ad_cache_write_rows_status(ad_cache_writer *w, int local_rc, int64_t first, int64_t nrows,
                               const int64_t *ids, const float *emb, const uint8_t *mask)
{
    int rc = local_rc;
    if (rc == AD_OK)
        rc = check_rows(w, first, nrows, ids, emb, mask);
    if (w->parallel) {
        /* Agreed before the collective write, so that either every rank enters it or none. */
        AD_TRY(ad_mpi_agree(w->comm, rc, w->path));
        ad_watchdog_arm(w->wd, w->path, "writing rows", doomed(w));
        rc = put_rows(w, first, nrows, ids, emb, mask);
        ad_watchdog_disarm(w->wd);
        w->broken = rc != AD_OK;
        w->written += rc == AD_OK ? nrows : 0;
        return rc;
    }
    if (rc != AD_OK)
        nrows = 0; /* still take part, with no rows, so no rank waits for this one */
    long long mine[2] = {(long long)first, (long long)nrows};
    long long *rows_of = w->rank == 0 ? ad_malloc(2 * (size_t)w->size * sizeof *rows_of,
                                                  "row counts")
                                      : NULL;
    int go = w->rank != 0 || rows_of;
    MPI_Bcast(&go, 1, MPI_INT, 0, w->comm);
    if (!go)
        return ad_mpi_agree(w->comm, w->rank == 0 ? AD_ERR_NOMEM : rc, w->path);
    MPI_Gather(mine, 2, MPI_LONG_LONG, rows_of, 2, MPI_LONG_LONG, 0, w->comm);
    if (w->rank == 0) {
        if (rc == AD_OK)
            rc = put_rows(w, first, nrows, ids, emb, mask);
        rc = gather_rows(w, rc, rows_of);
        int64_t total = 0;
        for (int r = 0; r < w->size; r++)
            total += rows_of[2 * r + 1];
        if (rc == AD_OK)
            w->written += total;
    } else {
        int sendable;
        MPI_Bcast(&sendable, 1, MPI_INT, 0, w->comm);
        if (sendable && nrows)
            move_rows(w, nrows, 0, 1, (int64_t *)ids, (float *)emb, (uint8_t *)mask);
    }
    free(rows_of);
    return ad_mpi_agree(w->comm, rc, w->path);
}

int ad_cache_write_rows(ad_cache_writer *w, int64_t first_row, int64_t nrows,
                        const int64_t *ids, const float *emb, const uint8_t *mask)
{
    return ad_cache_write_rows_status(w, AD_OK, first_row, nrows, ids, emb, mask);
}

static int check_written(const ad_cache_writer *w, long long total)
{
    if (total == w->n)
        return AD_OK;
    return ad_fail(AD_ERR_INTERNAL, "%s: only %lld of %lld rows were written", w->path, total,
                   (long long)w->n);
}

/* Parallel: checks the ranks wrote every row, then closes the file on every rank. */
static int close_parallel(ad_cache_writer *w)
{
    long long total = 0, mine = (long long)w->written;
    MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, w->comm);
    AD_TRY(check_written(w, total));
    errno = 0;
    ad_watchdog_arm(w->wd, w->path, "closing", doomed(w));
    int st = nc_close(w->ncid);
    ad_watchdog_disarm(w->wd);
    w->open = 0;
    w->broken = st != NC_NOERR;
    return st == NC_NOERR ? AD_OK : ad_nc_fail_errno(st, errno, w->path, "closing");
}

int ad_cache_commit(ad_cache_writer *w)
{
    int rc = AD_OK;
    if (w->parallel) {
        rc = close_parallel(w);
        /* Each rank wrote part of the file: all their closes must have worked before rank 0
         * puts it at the final path (a broken rank never gets here; the job comes down). */
        if (!w->broken)
            rc = ad_mpi_agree(w->comm, rc, w->path);
        if (rc == AD_OK && w->rank == 0)
            rc = ad_fsync_rename(w->tmp, w->path);
    } else if (w->rank == 0) {
        rc = check_written(w, (long long)w->written);
        if (rc == AD_OK) {
            errno = 0;
            int st = nc_close(w->ncid);
            w->open = 0;
            if (st != NC_NOERR)
                rc = ad_nc_fail_errno(st, errno, w->path, "closing");
        }
        if (rc == AD_OK)
            rc = ad_fsync_rename(w->tmp, w->path);
    }
    if (!w->broken)
        rc = ad_mpi_agree(w->comm, rc, w->path);
    if (rc != AD_OK) {
        ad_cache_abort(w);
        return rc;
    }
    writer_free(w);
    return AD_OK;
}

void ad_cache_abort(ad_cache_writer *w)
{
    if (!w)
        return;
    if (w->parallel && w->broken) {
        /* Peers may wait inside HDF5 for this rank: closing (collective) would hang here
         * too. The job comes down (src/cli/main.c); the final path was never touched. */
        if (w->rank == 0 && w->tmp[0])
            unlink(w->tmp);
        writer_free(w);
        return;
    }
    if (w->parallel && w->open) { /* every rank agreed to give up: an ordinary close */
        ad_watchdog_arm(w->wd, w->path, "closing", doomed(w));
        nc_close(w->ncid);
        ad_watchdog_disarm(w->wd);
        w->open = 0;
    }
    if (w->open) {
        /* After a failed write HDF5 holds dirty metadata it could not flush; unflushable, the
         * file crashes HDF5 when MPI_Finalize closes it. Emptying the doomed file first
         * gives the close the room it needs. */
        if (truncate(w->tmp, 0) != 0)
            ad_warn("%s: cannot empty %s: %s", w->path, w->tmp, strerror(errno));
        nc_close(w->ncid);
    }
    if (w->rank == 0 && w->tmp[0])
        unlink(w->tmp);
    writer_free(w);
}
