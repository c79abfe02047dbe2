/* Data-parallel scaling of the Adaptor training step, split into compute and communication,
 * and the collectives it is made of at several message sizes (input of bench_scaling.py,
 * which runs this at 1-4 ranks over TCP and shared memory and fits the alpha-beta model).
 *
 * usage: [mpirun -np R] bench_scaling step [--per-rank B | --global G] [--reps 5] [--overlap]
 *                                          [--image-dim 384] [--text-dim 768] [--layers 2]
 *                                          [--proj 768] [--ffn 2048]
 *        [mpirun -np R] bench_scaling coll [--reps 5] [--max-mb 48]
 *
 * The collectives ad_dp_step calls are timed through the MPI profiling interface (PMPI
 * wrappers below), so one run gives, per step and rank, the main thread's CPU time outside
 * MPI (compute) and the time inside it. The wall time inside a collective also holds waiting
 * for late ranks, which on an oversubscribed machine is mostly time-slicing, so the
 * communication cost is measured separately too: the step's collectives with the same sizes,
 * replayed after a barrier (all ranks ready). Rank 0 prints medians over steps of the maxima
 * over ranks, as one "key=value" line for the driver and a readable summary. */
#include "benchutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ---- time inside MPI (profiling interface) ----------------------------------------------- */

static struct {
    double wall, cpu;         /* every wrapped call */
    double grad_wall;         /* the gradient all-reduce: blocking, or its overlapped calls */
    double first_iallreduce;  /* wall clock of the step's first MPI_Iallreduce */
    double window;            /* from there to MPI_Waitall: backward left to overlap with */
} prof;

static double w_in, c_in;
static void enter(void)
{
    w_in = bu_wall_now();
    c_in = bu_thread_cpu_now();
}
static void leave(int grad)
{
    double w = bu_wall_now() - w_in;
    prof.wall += w;
    prof.cpu += bu_thread_cpu_now() - c_in;
    if (grad)
        prof.grad_wall += w;
}

int MPI_Allgather(const void *s, int sc, MPI_Datatype st, void *r, int rc, MPI_Datatype rt,
                  MPI_Comm comm)
{
    enter();
    int e = PMPI_Allgather(s, sc, st, r, rc, rt, comm);
    leave(0);
    return e;
}

int MPI_Allgatherv(const void *s, int sc, MPI_Datatype st, void *r, const int rc[],
                   const int d[], MPI_Datatype rt, MPI_Comm comm)
{
    enter();
    int e = PMPI_Allgatherv(s, sc, st, r, rc, d, rt, comm);
    leave(0);
    return e;
}

int MPI_Reduce_scatter(const void *s, void *r, const int rc[], MPI_Datatype t, MPI_Op op,
                       MPI_Comm comm)
{
    enter();
    int e = PMPI_Reduce_scatter(s, r, rc, t, op, comm);
    leave(0);
    return e;
}

int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm comm)
{
    enter();
    int e = PMPI_Allreduce(s, r, n, t, op, comm);
    leave(n > 1024); /* the loss is 2 doubles, the gradients millions of floats */
    return e;
}

int MPI_Iallreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm comm,
                   MPI_Request *q)
{
    enter();
    if (prof.first_iallreduce == 0)
        prof.first_iallreduce = w_in;
    int e = PMPI_Iallreduce(s, r, n, t, op, comm, q);
    leave(1);
    return e;
}

int MPI_Testall(int n, MPI_Request q[], int *flag, MPI_Status st[])
{
    enter();
    int e = PMPI_Testall(n, q, flag, st);
    leave(1);
    return e;
}

int MPI_Waitall(int n, MPI_Request q[], MPI_Status *st)
{
    enter();
    if (prof.first_iallreduce > 0)
        prof.window = w_in - prof.first_iallreduce;
    int e = PMPI_Waitall(n, q, st);
    leave(1);
    return e;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static double max_over_ranks(double x)
{
    double y;
    PMPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return y;
}

/* The step's collectives (dp.c, global negatives) at the same sizes, all ranks ready:
 * seconds of the whole set and of the gradient all-reduce alone. */
static void replay(int b, int G, int P, size_t nparams, int reps, double *all, double *grad)
{
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int *counts = malloc(sizeof(int) * 2 * (size_t)size), *displs = counts + size;
    float *loc = calloc((size_t)b * P + 1, sizeof(float));
    float *glob = calloc((size_t)G * P, sizeof(float)), *out = calloc((size_t)G * P, sizeof(float));
    float *g = calloc(nparams, sizeof(float));
    int off = 0;
    for (int r = 0; r < size; r++) {
        int br = G / size + (r < G % size);
        counts[r] = br * P;
        displs[r] = off;
        off += br * P;
    }
    double ta[16], tg[16];
    for (int k = 0; k <= reps; k++) {
        PMPI_Barrier(MPI_COMM_WORLD);
        double t0 = bu_wall_now(), parts[2] = {1, 2}, sums[2];
        int one = b, *bs = malloc(sizeof(int) * (size_t)size);
        PMPI_Allgather(&one, 1, MPI_INT, bs, 1, MPI_INT, MPI_COMM_WORLD);
        for (int i = 0; i < 2; i++)
            PMPI_Allgatherv(loc, b * P, MPI_FLOAT, glob, counts, displs, MPI_FLOAT,
                            MPI_COMM_WORLD);
        PMPI_Allreduce(parts, sums, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        for (int i = 0; i < 2; i++)
            PMPI_Reduce_scatter(glob, out, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double te = bu_wall_now();
        PMPI_Barrier(MPI_COMM_WORLD);
        double t1 = bu_wall_now();
        PMPI_Allreduce(MPI_IN_PLACE, g, (int)nparams, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t2 = bu_wall_now();
        free(bs);
        if (k > 0) {
            tg[k - 1] = max_over_ranks(t2 - t1);
            ta[k - 1] = max_over_ranks(te - t0) + tg[k - 1];
        }
    }
    *all = bu_median(ta, reps);
    *grad = bu_median(tg, reps);
    free(counts);
    free(loc);
    free(glob);
    free(out);
    free(g);
}

/* ---- modes ------------------------------------------------------------------------------- */

static int step_mode(int argc, char **argv, int rank, int size, const char *kernels)
{
    int dv = 384, dt = 768, layers = 2, per_rank = 0, G = 1024, reps = 5, overlap = 0;
    int proj = 768, ffn = 2048;
    const bu_opt opts[] = {{"--per-rank", &per_rank, 0}, {"--global", &G, 0},
                           {"--reps", &reps, 0},         {"--image-dim", &dv, 0},
                           {"--text-dim", &dt, 0},       {"--layers", &layers, 0},
                           {"--proj", &proj, 0},         {"--ffn", &ffn, 0},
                           {"--overlap", &overlap, 1}};
    bu_parse_opts(argc, argv, 2, opts, sizeof opts / sizeof *opts);
    reps = reps < 1 ? 1 : reps > 15 ? 15 : reps;
    if (per_rank > 0)
        G = per_rank * size;
    int b = G / size + (rank < G % size);
    ad_adaptor_config c = bu_adaptor_config(dv, dt, proj, ffn, layers);
    bu_step s;
    if (bu_step_create(&c, b, rank, &s))
        return 1;
    ad_dp_set_overlap(s.dp, overlap);
    double comp[16], mpi[16], grad[16], win[16], cpu[16], wall[16];
    for (int k = 0; k <= reps; k++) {
        PMPI_Barrier(MPI_COMM_WORLD);
        memset(&prof, 0, sizeof prof);
        double c0 = bu_thread_cpu_now(), w0 = bu_wall_now();
        ad_dp_stats st;
        if (bu_step_run(&s, k, &st, NULL) != AD_OK)
            MPI_Abort(MPI_COMM_WORLD, 1);
        double dc = bu_thread_cpu_now() - c0, dw = bu_wall_now() - w0;
        if (k > 0) {
            comp[k - 1] = max_over_ranks(dc - prof.cpu);
            mpi[k - 1] = max_over_ranks(prof.wall);
            grad[k - 1] = max_over_ranks(prof.grad_wall);
            win[k - 1] = max_over_ranks(prof.window);
            cpu[k - 1] = max_over_ranks(dc);
            wall[k - 1] = max_over_ranks(dw);
        }
    }
    double sync_all, sync_grad;
    replay(b, G, c.proj, s.m->nparams, reps, &sync_all, &sync_grad);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = max_over_ranks(ru.ru_maxrss / 1024.0);
    if (rank == 0) {
        double tc = bu_median(comp, reps), tm = bu_median(mpi, reps), tg = bu_median(grad, reps);
        double tw = bu_median(win, reps), tcpu = bu_median(cpu, reps), twall = bu_median(wall, reps);
        printf("%s\n", kernels);
        printf("Adaptor step, image %d, text %d, P %d, F %d, %d layers, %zu parameters: %d "
               "rank(s), %d rows per rank, global batch %d, gradient all-reduce %s\n",
               dv, dt, proj, ffn, layers, s.m->nparams, size, b, G, overlap ? "overlapped" : "blocking");
        printf("  per step (median of %d, max over ranks): compute %.3f s CPU; inside MPI "
               "%.3f s wall (gradient all-reduce %.3f); the same collectives with all ranks "
               "ready %.3f s (gradient all-reduce %.3f); efficiency compute/(compute+comm) "
               "%.1f%%; peak memory %.0f MB per rank\n", reps, tc, tm, tg, sync_all, sync_grad,
               100 * tc / (tc + sync_all), rss);
        printf("step ranks=%d b=%d G=%d overlap=%d comp=%.5f mpi_wall=%.5f grad_wall=%.5f "
               "window=%.5f comm_sync=%.5f comm_sync_grad=%.5f cpu=%.5f wall=%.5f rss_mb=%.0f "
               "nparams=%zu\n", size, b, G, overlap, tc, tm, tg, tw, sync_all, sync_grad, tcpu,
               twall, rss, s.m->nparams);
    }
    bu_step_destroy(&s);
    return 0;
}

/* all-gather (total n bytes, n/p from each rank), reduce-scatter (n in, n/p out) and
 * all-reduce (n), seconds for n from 4 KB to max_mb MB. */
static int coll_mode(int argc, char **argv, int rank, int size)
{
    int reps = 5;
    double max_mb = 48;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-mb") && i + 1 < argc)
            max_mb = atof(argv[++i]);
    }
    reps = reps < 1 ? 1 : reps > 15 ? 15 : reps;
    size_t maxn = (size_t)(max_mb * 1e6 / 4) / (size_t)size * (size_t)size;
    float *a = calloc(maxn + (size_t)size, sizeof(float)), *o = calloc(maxn + (size_t)size, sizeof(float));
    int *counts = malloc(sizeof(int) * 2 * (size_t)size), *displs = counts + size;
    const char *names[3] = {"allgather", "reduce_scatter", "allreduce"};
    for (double bytes = 4096; bytes <= max_mb * 1e6 * 1.001; bytes *= 4) {
        int blk = (int)(bytes / 4 / size);
        if (blk < 1)
            blk = 1;
        if ((size_t)blk * size > maxn)
            blk = (int)(maxn / (size_t)size);
        for (int r = 0; r < size; r++) {
            counts[r] = blk;
            displs[r] = r * blk;
        }
        for (int op = 0; op < 3; op++) {
            double t[16];
            for (int k = 0; k <= reps; k++) {
                PMPI_Barrier(MPI_COMM_WORLD);
                double t0 = bu_wall_now();
                if (op == 0)
                    PMPI_Allgather(a, blk, MPI_FLOAT, o, blk, MPI_FLOAT, MPI_COMM_WORLD);
                else if (op == 1)
                    PMPI_Reduce_scatter(a, o, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                else
                    PMPI_Allreduce(MPI_IN_PLACE, a, blk * size, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                double dt = max_over_ranks(bu_wall_now() - t0);
                if (k > 0)
                    t[k - 1] = dt;
            }
            if (rank == 0)
                printf("coll op=%s ranks=%d bytes=%zu seconds=%.6g\n", names[op], size,
                       (size_t)blk * size * 4, bu_median(t, reps));
        }
        if (bytes * 4 > max_mb * 1e6 * 1.001 && bytes < max_mb * 1e6 * 0.999)
            bytes = max_mb * 1e6 / 4; /* the last size is max_mb itself */
    }
    free(a);
    free(o);
    free(counts);
    return 0;
}

int main(int argc, char **argv)
{
    char msg[256];
    int rank, size, rc = 2;
    if (bu_mpi_start(&argc, &argv, msg, sizeof msg, &rank, &size))
        return 1;
    if (argc > 1 && !strcmp(argv[1], "step"))
        rc = step_mode(argc, argv, rank, size, msg);
    else if (argc > 1 && !strcmp(argv[1], "coll"))
        rc = coll_mode(argc, argv, rank, size);
    else if (rank == 0)
        fprintf(stderr, "usage: bench_scaling step|coll [options] (see the source)\n");
    MPI_Finalize();
    return rc;
}
