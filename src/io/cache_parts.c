/* Resumable cache writing: complete per-range part files merged into the final cache
 * (design in include/adaptor/cache.h). */
#include "adaptor/cache.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "cache_internal.h"
#include "ncutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int parts_dir(char *out, size_t n, const char *path)
{
    int w = snprintf(out, n, "%s.parts", path);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "path too long: %s", path);
    return AD_OK;
}

int ad_cache_part_path(char *out, size_t n, const char *path, int64_t first, int64_t count)
{
    int w = snprintf(out, n, "%s.parts/%lld+%lld.nc", path, (long long)first, (long long)count);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "path too long: %s", path);
    return AD_OK;
}

int ad_cache_create_part(MPI_Comm comm, const char *path, const ad_cache_meta *meta,
                         int64_t first, int64_t count, int dim, int tokens,
                         const ad_cache_storage *storage, ad_cache_writer **w)
{
    *w = NULL;
    char dir[4096], part[4096];
    int rank, rc = parts_dir(dir, sizeof dir, path);
    MPI_Comm_rank(comm, &rank);
    if (rc == AD_OK)
        rc = ad_cache_part_path(part, sizeof part, path, first, count);
    if (rc == AD_OK && rank == 0)
        rc = ad_mkdir_p(dir);
    AD_TRY(ad_mpi_agree(comm, rc, path));
    return ad_cache_create(comm, part, meta, count, dim, tokens, storage, w);
}

/* Opens a part and checks it holds count rows of the expected shape. */
static int open_part(const char *part, int64_t count, int dim, int tokens, ad_cache **c)
{
    AD_TRY(ad_cache_open(part, c));
    if (ad_cache_rows(*c) != count || ad_cache_dim(*c) != dim || ad_cache_tokens(*c) != tokens) {
        int rc = ad_fail(AD_ERR_FORMAT, "%s: part holds N=%lld D=%d T=%d, expected %lld, %d, %d",
                         part, (long long)ad_cache_rows(*c), ad_cache_dim(*c),
                         ad_cache_tokens(*c), (long long)count, dim, tokens);
        ad_cache_close(*c);
        *c = NULL;
        return rc;
    }
    return AD_OK;
}

int ad_cache_part_done(MPI_Comm comm, const char *path, int64_t first, int64_t count, int dim,
                       int tokens, int *done)
{
    char part[4096];
    int rank;
    MPI_Comm_rank(comm, &rank);
    AD_TRY(ad_cache_part_path(part, sizeof part, path, first, count));
    *done = 0;
    if (rank == 0 && ad_path_exists(part)) {
        ad_cache *c;
        if (open_part(part, count, dim, tokens, &c) == AD_OK) {
            *done = 1;
            ad_cache_close(c);
        } else {
            ad_warn("redoing an unusable part: %s", ad_errmsg());
        }
    }
    MPI_Bcast(done, 1, MPI_INT, 0, comm);
    return AD_OK;
}

/* Reads a whole part (ids, rows, mask) into freshly allocated buffers. */
static int load_part(const char *part, int64_t count, int dim, int tokens, int64_t **ids,
                     float **emb, uint8_t **mask)
{
    ad_cache *c;
    AD_TRY(open_part(part, count, dim, tokens, &c));
    size_t rf = (size_t)(tokens ? tokens : 1) * (size_t)dim;
    int64_t *rows = ad_malloc((size_t)count * sizeof *rows, "part rows");
    *ids = ad_malloc((size_t)count * sizeof **ids, "part ids");
    *emb = ad_malloc((size_t)count * rf * sizeof **emb, "part embeddings");
    *mask = tokens ? ad_malloc((size_t)count * (size_t)tokens, "part mask") : NULL;
    int rc = rows && *ids && *emb && (*mask || !tokens) ? AD_OK : AD_ERR_NOMEM;
    if (rc == AD_OK) {
        for (int64_t i = 0; i < count; i++) {
            rows[i] = i;
            (*ids)[i] = ad_cache_ids(c)[i];
        }
        rc = ad_cache_read_rows(c, rows, count, *emb, *mask);
    }
    free(rows);
    ad_cache_close(c);
    return rc;
}

static void remove_parts(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char f[4096];
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && ad_path_join(f, sizeof f, dir, e->d_name) == AD_OK)
            unlink(f);
    closedir(d);
    rmdir(dir);
}

int ad_cache_merge_parts(MPI_Comm comm, const char *path, const ad_cache_meta *meta, int64_t n,
                         int dim, int tokens, int64_t part_rows,
                         const ad_cache_storage *storage)
{
    if (part_rows < 1)
        return ad_fail(AD_ERR_ARG, "%s: part size must be positive", path);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ad_cache_writer *w;
    AD_TRY(ad_cache_create(comm, path, meta, n, dim, tokens, storage, &w));

    int64_t nparts = (n + part_rows - 1) / part_rows;
    int rc = AD_OK;
    /* Round k: rank r copies part k*size + r, or joins the collective write with no rows. */
    for (int64_t k = 0; k * size < nparts && rc == AD_OK; k++) {
        int64_t q = k * size + rank, first = q < nparts ? q * part_rows : 0, count = 0;
        int64_t *ids = NULL;
        float *emb = NULL;
        uint8_t *mask = NULL;
        int lrc = AD_OK;
        if (q < nparts) {
            count = n - first < part_rows ? n - first : part_rows;
            char part[4096];
            lrc = ad_cache_part_path(part, sizeof part, path, first, count);
            if (lrc == AD_OK)
                lrc = load_part(part, count, dim, tokens, &ids, &emb, &mask);
        }
        rc = ad_cache_write_rows_status(w, lrc, first, count, ids, emb, mask);
        free(ids);
        free(emb);
        free(mask);
    }
    if (rc != AD_OK) {
        ad_cache_abort(w);
        return rc;
    }
    AD_TRY(ad_cache_commit(w));
    char dir[4096];
    if (rank == 0 && parts_dir(dir, sizeof dir, path) == AD_OK)
        remove_parts(dir);
    MPI_Barrier(comm);
    return AD_OK;
}
