/* Head training throughput of `adaptor classify` (the real loop, cls_train_head): samples/s
 * for the linear and mlp heads on random features, data-parallel over the ranks of
 * mpirun (run with -np 1 and -np 2 to compare).
 *   mpirun -np R bench_classify [--dim 768] [--labels 14] [--rows 8192] [--batch 512]
 *                               [--epochs 3] [--hidden 512] */
#include "../../src/pipeline/classify_internal.h"

#include "adaptor/error.h"
#include "adaptor/log.h"
#include "adaptor/rng.h"

#include "benchutil.h"

#include <mpi.h>

static void fill(cls_split *s, const char *name, int64_t n, int d, int K, uint64_t seed)
{
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n = n;
    s->dim = d;
    s->x = malloc((size_t)n * d * sizeof(float));
    s->labels = malloc((size_t)n * K);
    ad_rng r;
    ad_rng_seed(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < K; k++)
            s->labels[i * K + k] = (int8_t)ad_rng_below(&r, 2);
        for (int j = 0; j < d; j++) /* label 0 shifts the features: something to learn */
            s->x[i * d + j] = (float)ad_rng_normal(&r) + 0.5f * s->labels[i * K];
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_log_init(rank, size);
    ad_log_set_quiet(1);
    int d = 768, K = 14, hidden = 512;
    int64_t rows = 8192, batch = 512, epochs = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dim"))
            d = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--labels"))
            K = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows"))
            rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--epochs"))
            epochs = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden"))
            hidden = atoi(argv[i + 1]);
    }
    cls_data dat = {0};
    char *names = NULL;
    dat.nlab = K;
    dat.task = AD_TASK_MULTILABEL;
    dat.label_names = malloc((size_t)K * sizeof(char *));
    names = malloc((size_t)K * 16);
    for (int k = 0; k < K; k++) {
        snprintf(names + 16 * k, 16, "L%d", k % 100000);
        dat.label_names[k] = names + 16 * k;
    }
    fill(&dat.split[0], "train", rows, d, K, 1);
    fill(&dat.split[1], "valid", 256, d, K, 2);
    int64_t *sel = malloc((size_t)rows * sizeof *sel);
    for (int64_t i = 0; i < rows; i++)
        sel[i] = i;
    if (rank == 0)
        printf("classify head training: %lld rows x %d features, %d labels, global batch %lld, "
               "%lld epochs, %d rank(s)\n", (long long)rows, d, K, (long long)batch,
               (long long)epochs, size);
    for (int kind = 0; kind < 2; kind++) {
        cls_train_opts o = {{(ad_head_kind)kind, d, hidden, K, 0.1f, 1e-5f, 0.1f},
                            1e-3, 1e-6, epochs, batch, 42};
        ad_head *h;
        int64_t best_epoch;
        double best;
        if (ad_head_create(&o.head, &h) != AD_OK) {
            fprintf(stderr, "%s\n", ad_errmsg());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bu_wall_now(), c0 = bu_cpu_now();
        if (cls_train_head(MPI_COMM_WORLD, &dat, sel, rows, &o, h, &best_epoch, &best) != AD_OK) {
            fprintf(stderr, "%s\n", ad_errmsg());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double wall = bu_wall_now() - t0, cpu = bu_cpu_now() - c0;
        if (rank == 0)
            printf("  %-6s head: %.0f samples/s wall, %.0f per rank-0 CPU second (wall %.2f s, "
                   "CPU %.2f s; valid mean AUROC %.3f at epoch %lld)\n",
                   kind ? "mlp" : "linear", (double)rows * (double)epochs / wall,
                   (double)rows * (double)epochs / cpu, wall, cpu, best, (long long)best_epoch);
        ad_head_destroy(h);
    }
    free(sel);
    free(names);
    cls_data_free(&dat);
    MPI_Finalize();
    return 0;
}
