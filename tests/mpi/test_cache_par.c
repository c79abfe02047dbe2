/* Cache writing over 2 and 3 ranks, with the serial writer (rank 0 writes) and the
 * parallel one (every rank writes into one file; also deflated, with chunks spanning
 * ranks): uneven row ranges (one rank empty), reads of arbitrary row lists on every rank,
 * every variable bitwise equal to a 1-rank serial file, collective failure and abort,
 * parallel merge of parts. */
#include "testutil.h"

#include "../cache_fixture.h"
#include "adaptor/cache.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <dirent.h>
#include <math.h>
#include <mpi.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size;

#define REQUIRE(cond, ...)                                                                  \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__);                  \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, "\n");                                                          \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                   \
        }                                                                                   \
    } while (0)
#define REQUIRE_OK(expr) REQUIRE((expr) == AD_OK, "%s: %s", #expr, ad_errmsg())

/* Rank 0 takes 3/5 of the rows; with 3+ ranks rank 1 takes none and the rest share the
 * remainder; with 2 ranks rank 1 takes the remainder. */
static void my_rows(int64_t n, int64_t *first, int64_t *count)
{
    int64_t a = n * 3 / 5;
    if (rank == 0) {
        *first = 0;
        *count = a;
    } else if (size == 2) {
        *first = a;
        *count = n - a;
    } else if (rank == 1) {
        *first = 0;
        *count = 0;
    } else {
        int64_t k = rank - 2, m = size - 2;
        *first = a + (n - a) * k / m;
        *count = a + (n - a) * (k + 1) / m - *first;
    }
}

static void write_parallel(const char *path, const char *modality, int64_t n, int D, int T,
                           const ad_cache_storage *storage)
{
    ad_cache_meta meta = cf_meta(modality, T);
    ad_cache_writer *w;
    int64_t first, count;
    my_rows(n, &first, &count);
    REQUIRE_OK(ad_cache_create(MPI_COMM_WORLD, path, &meta, n, D, T, storage, &w));
    REQUIRE_OK(cf_write_range(w, first, count, D, T, 3));
    REQUIRE_OK(ad_cache_commit(w));
}

/* Every rank reads its own scattered, shuffled list (with repeats) and checks values. */
static void read_back(const char *path, int64_t n, int D, int T)
{
    ad_cache *c;
    REQUIRE_OK(ad_cache_open(path, &c));
    REQUIRE(ad_cache_rows(c) == n && ad_cache_dim(c) == D && ad_cache_tokens(c) == T,
            "%s: wrong shape", path);
    for (int64_t i = 0; i < n; i++)
        REQUIRE(ad_cache_ids(c)[i] == cf_id(i), "%s: id of row %lld", path, (long long)i);
    int64_t m = n / 2 + 3, TT = T ? T : 1;
    int64_t *rows = malloc((size_t)m * sizeof *rows);
    float *emb = malloc((size_t)(m * TT * D) * sizeof *emb);
    uint8_t *mask = malloc((size_t)(m * TT));
    uint64_t s = 12345u + (uint64_t)rank * 7919u;
    for (int64_t i = 0; i < m; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        rows[i] = (int64_t)((s >> 33) % (uint64_t)n);
    }
    REQUIRE_OK(ad_cache_read_rows(c, rows, m, emb, T ? mask : NULL));
    REQUIRE(cf_count_bad(rows, m, D, T, emb, mask) == 0, "%s: values differ", path);
    free(rows);
    free(emb);
    free(mask);
    ad_cache_close(c);
}

/* Compares dimensions, global attributes and every variable's values of two files. */
static void same_content(const char *a, const char *b)
{
    int na, nb, nv, nv2, natt, natt2;
    REQUIRE(nc_open(a, NC_NOWRITE, &na) == NC_NOERR, "open %s", a);
    REQUIRE(nc_open(b, NC_NOWRITE, &nb) == NC_NOERR, "open %s", b);
    nc_inq(na, NULL, &nv, &natt, NULL);
    nc_inq(nb, NULL, &nv2, &natt2, NULL);
    REQUIRE(nv == nv2 && natt == natt2, "variable/attribute counts differ");
    for (int i = 0; i < natt; i++) {
        char name[NC_MAX_NAME + 1];
        nc_type t1, t2;
        size_t l1, l2;
        nc_inq_attname(na, NC_GLOBAL, i, name);
        REQUIRE(nc_inq_att(nb, NC_GLOBAL, name, &t2, &l2) == NC_NOERR, "attribute %s", name);
        nc_inq_att(na, NC_GLOBAL, name, &t1, &l1);
        REQUIRE(t1 == t2 && l1 == l2 && t1 == (i == 0 ? NC_INT : NC_CHAR), "attribute %s", name);
        char *x = calloc(l1 + 8, 4), *y = calloc(l2 + 8, 4);
        nc_get_att(na, NC_GLOBAL, name, x);
        nc_get_att(nb, NC_GLOBAL, name, y);
        REQUIRE(memcmp(x, y, l1 * (t1 == NC_INT ? 4 : 1)) == 0, "attribute %s differs", name);
        free(x);
        free(y);
    }
    for (int v = 0; v < nv; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type t1, t2;
        int nd1, nd2, d1[NC_MAX_VAR_DIMS], d2[NC_MAX_VAR_DIMS], v2;
        nc_inq_var(na, v, name, &t1, &nd1, d1, NULL);
        REQUIRE(nc_inq_varid(nb, name, &v2) == NC_NOERR, "variable %s", name);
        nc_inq_var(nb, v2, NULL, &t2, &nd2, d2, NULL);
        REQUIRE(t1 == t2 && nd1 == nd2, "variable %s type/rank", name);
        size_t total = 1, tsize;
        for (int k = 0; k < nd1; k++) {
            size_t l1, l2;
            char n1[NC_MAX_NAME + 1], n2[NC_MAX_NAME + 1];
            nc_inq_dim(na, d1[k], n1, &l1);
            nc_inq_dim(nb, d2[k], n2, &l2);
            REQUIRE(l1 == l2 && strcmp(n1, n2) == 0, "variable %s dimension %d", name, k);
            total *= l1;
        }
        nc_inq_type(na, t1, NULL, &tsize);
        char *x = malloc(total * tsize), *y = malloc(total * tsize);
        REQUIRE(nc_get_var(na, v, x) == NC_NOERR && nc_get_var(nb, v2, y) == NC_NOERR, "read %s",
                name);
        REQUIRE(memcmp(x, y, total * tsize) == 0, "variable %s differs", name);
        free(x);
        free(y);
    }
    nc_close(na);
    nc_close(nb);
}

/* Files named as writers name their temporary files (ad_nc_tmp_name: <path>.tmp.<pid>). */
static int temp_files(const char *d)
{
    DIR *dp = opendir(d);
    int n = 0;
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (dp)
        closedir(dp);
    return n;
}

static void join(char *out, const char *dir, const char *name)
{
    REQUIRE_OK(ad_path_join(out, 4096, dir, name));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char dir[4096], p[4096], q[4096];
    if (rank == 0)
        tu_tmpdir(dir, sizeof dir, "cache_par");
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);

    struct {
        const char *modality;
        int64_t n;
        int D, T;
    } cases[] = {{"image", 101, 16, 0}, {"text", 29, 8, 5}};
    /* serial writer; parallel; parallel deflated with 7-row chunks that span ranks. */
    const ad_cache_storage writers[3] = {{.parallel = 0},
                                         {.parallel = 1, .timeout = 60},
                                         {.chunk_rows = 7, .deflate_level = 1, .parallel = 1,
                                          .timeout = 60}};
    const char *names[3][2] = {{"par_pooled.nc", "par_tokens.nc"},
                               {"pw_pooled.nc", "pw_tokens.nc"},
                               {"pwz_pooled.nc", "pwz_tokens.nc"}};
    for (int k = 0; k < 2; k++) {
        int64_t n = cases[k].n;
        int D = cases[k].D, T = cases[k].T;
        join(q, dir, k ? "one_tokens.nc" : "one_pooled.nc");
        if (rank == 0)
            REQUIRE_OK(cf_write_cache(MPI_COMM_SELF, q, cases[k].modality, n, D, T));
        for (int v = 0; v < 3; v++) {
            join(p, dir, names[v][k]);
            write_parallel(p, cases[k].modality, n, D, T, &writers[v]);
            read_back(p, n, D, T);
            if (rank == 0)
                same_content(p, q);
            MPI_Barrier(MPI_COMM_WORLD);
        }
    }

    ad_cache_writer *w;
    for (int v = 0; v < 2; v++) {
        /* One rank's bad rows fail the write on every rank; aborting keeps the older file. */
        join(p, dir, "par_pooled.nc");
        ad_cache_meta meta = cf_meta("image", 0);
        REQUIRE_OK(ad_cache_create(MPI_COMM_WORLD, p, &meta, 40, 3, 0, &writers[v], &w));
        int64_t ids[2] = {cf_id(2 * rank), cf_id(2 * rank + 1)};
        float emb[6] = {1, 2, 3, 4, 5, 6};
        if (rank == size - 1)
            emb[4] = INFINITY;
        ad_clear_error();
        int rc = ad_cache_write_rows(w, 2 * rank, 2, ids, emb, NULL);
        REQUIRE(rc != AD_OK, "the write should fail everywhere");
        if (rank == size - 1)
            REQUIRE(strstr(ad_errmsg(), "non-finite") != NULL, "message: %s", ad_errmsg());
        else
            REQUIRE(strstr(ad_errmsg(), "failed on rank") != NULL, "message: %s", ad_errmsg());
        ad_cache_abort(w);
        read_back(p, 101, 16, 0);
        if (rank == 0)
            REQUIRE(temp_files(dir) == 0, "temporary files left in %s", dir);

        /* Resumable parts, each written by one rank in turn (the others join with no rows),
         * merged in parallel (round robin). */
        join(p, dir, v ? "merged_pw.nc" : "merged.nc");
        join(q, dir, "one_tokens.nc");
        const int64_t N = 29, S = 4;
        meta = cf_meta("text", 5);
        for (int64_t first = 0; first < N; first += S) {
            int64_t cnt = N - first < S ? N - first : S;
            int64_t mine = rank == (first / S) % size ? cnt : 0;
            int64_t *pid;
            float *pemb;
            uint8_t *pmask;
            REQUIRE_OK(cf_fill(first, cnt, 8, 5, &pid, &pemb, &pmask));
            REQUIRE_OK(ad_cache_create_part(MPI_COMM_WORLD, p, &meta, first, cnt, 8, 5,
                                            &writers[v], &w));
            REQUIRE_OK(ad_cache_write_rows(w, 0, mine, pid, pemb, pmask));
            REQUIRE_OK(ad_cache_commit(w));
            int done;
            REQUIRE_OK(ad_cache_part_done(MPI_COMM_WORLD, p, first, cnt, 8, 5, &done));
            REQUIRE(done == 1, "part %lld not done", (long long)first);
            free(pid);
            free(pemb);
            free(pmask);
        }
        REQUIRE_OK(ad_cache_merge_parts(MPI_COMM_WORLD, p, &meta, N, 8, 5, S, &writers[v]));
        read_back(p, N, 8, 5);
        if (rank == 0)
            same_content(p, q);
    }

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_cache_par: %d ranks ok\n", size);
    MPI_Finalize();
    return 0;
}
