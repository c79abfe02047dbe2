/* Embedding-cache throughput: writes an N x D pooled cache, then reads a random 1/8 shard
 * (a seeded shuffle of all rows, first N/8 taken, as a trainer rank's shard) whole and in
 * batches, under several coalescing gaps.
 *   bench_cache <dir> [N=200000] [D=768] [chunk_rows=0] [deflate=0] [serial|parallel]
 * The write runs on every rank of mpirun -np R (blocks of 4096 rows dealt round-robin, as
 * embed deals batches) with the serial or the parallel writer; rank 0 alone reads. The file
 * is removed at the end. */
#include "adaptor/cache.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int die(const char *what)
{
    fprintf(stderr, "bench_cache: %s: %s\n", what, ad_errmsg());
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
}

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cache <dir> [N] [D] [chunk_rows] [deflate] [serial|parallel]\n");
        return 2;
    }
    if (argc > 6 && strcmp(argv[6], "serial") != 0 && strcmp(argv[6], "parallel") != 0) {
        fprintf(stderr, "bench_cache: writer '%s': expected serial or parallel\n", argv[6]);
        return 2;
    }
    int64_t N = argc > 2 ? atoll(argv[2]) : 200000;
    int D = argc > 3 ? atoi(argv[3]) : 768;
    ad_cache_storage st = {.chunk_rows = argc > 4 ? atoi(argv[4]) : 0,
                           .deflate_level = argc > 5 ? atoi(argv[5]) : 0,
                           .parallel = argc > 6 && strcmp(argv[6], "parallel") == 0};
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char path[4096];
    if (ad_path_join(path, sizeof path, argv[1], "bench_cache.nc") != AD_OK)
        return die("path");

    /* Write in blocks of 4096 rows; values are smooth so deflate has something to find. */
    ad_cache_meta meta = {"image", "bench", "", "dinov2", "cls", "", "train", NULL, NULL};
    ad_cache_writer *w;
    int64_t B = 4096;
    float *emb = malloc((size_t)B * (size_t)D * sizeof *emb);
    int64_t *ids = malloc((size_t)B * sizeof *ids);
    double t0 = ad_now();
    if (ad_cache_create(MPI_COMM_WORLD, path, &meta, N, D, 0, &st, &w) != AD_OK)
        return die("create");
    for (int64_t a0 = 0; a0 < N; a0 += B * size) {
        int64_t a = a0 + B * rank, n = a >= N ? 0 : N - a < B ? N - a : B;
        a = n ? a : 0;
        for (int64_t r = 0; r < n; r++) {
            ids[r] = a + r;
            for (int d = 0; d < D; d++)
                emb[r * D + d] = (float)((a + r) % 97) * 0.01f + (float)d * 1e-3f;
        }
        if (ad_cache_write_rows(w, a, n, ids, emb, NULL) != AD_OK)
            return die("write");
    }
    if (ad_cache_commit(w) != AD_OK)
        return die("commit");
    double tw = ad_now() - t0;
    free(emb);
    free(ids);
    if (rank != 0) {
        MPI_Finalize();
        return 0;
    }
    struct stat sb;
    stat(path, &sb);
    printf("write: %lld x %d (chunk_rows %d, deflate %d, %s writer, %d ranks): %.2f s, "
           "%.0f rows/s, file %.1f MB\n", (long long)N, D, st.chunk_rows, st.deflate_level,
           st.parallel ? "parallel" : "serial", size, tw, (double)N / tw,
           (double)sb.st_size / 1e6);

    /* The shard: Fisher-Yates shuffle with a fixed seed, first N/8 rows. */
    int64_t *perm = malloc((size_t)N * sizeof *perm);
    uint64_t s = 42;
    for (int64_t i = 0; i < N; i++)
        perm[i] = i;
    for (int64_t i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)(next(&s) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t M = N / 8;
    float *out = malloc((size_t)M * (size_t)D * sizeof *out);
    ad_cache *c;
    if (ad_cache_open(path, &c) != AD_OK)
        return die("open");
    int64_t gaps[] = {0, 16 << 10, 64 << 10, 256 << 10, 1 << 20};
    for (int g = 0; g < 5; g++) {
        ad_cache_set_read_gap(c, gaps[g]);
        double t1 = ad_now();
        if (ad_cache_read_rows(c, perm, M, out, NULL) != AD_OK)
            return die("read");
        double whole = ad_now() - t1;
        t1 = ad_now();
        for (int64_t a = 0; a < M; a += 128)
            if (ad_cache_read_rows(c, perm + a, M - a < 128 ? M - a : 128, out, NULL) != AD_OK)
                return die("read");
        double batched = ad_now() - t1;
        printf("read 1/8 shard (%lld rows), gap %4lld KiB: whole %.0f rows/s (%.2f s), "
               "batches of 128 %.0f rows/s (%.2f s)\n",
               (long long)M, (long long)(gaps[g] >> 10), (double)M / whole, whole,
               (double)M / batched, batched);
    }
    ad_cache_close(c);
    free(out);
    free(perm);
    unlink(path);
    MPI_Finalize();
    return 0;
}
