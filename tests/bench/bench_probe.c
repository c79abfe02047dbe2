/* Linear-probe solve time: ad_probe_fit (ScaLAPACK, n = 20000, d = 768, k = 14, 10 ridge
 * values) against a single-process LAPACK solve of the same problem in the same run (rank 0:
 * centre, BLAS dsyrk / dgemm once, dposv per lambda), medians of wall time.
 *
 *   OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 mpirun -np 1 build/tests/bench_probe [reps]
 *   OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 mpirun -np 2 build/tests/bench_probe [reps]
 *
 * The data is generated per row from (seed, row), so every rank count solves the same
 * problem; the largest weight difference to the LAPACK solution is printed as a check.
 * The same data then goes through ad_pca_fit (m = 32 components, projections included)
 * against LAPACK's dsyrk + dsyevd on one process. */
#include "benchutil.h"

#include "adaptor/blacs.h"
#include "adaptor/error.h"
#include "adaptor/pca.h"
#include "adaptor/probe.h"
#include "adaptor/rng.h"

#include <math.h>
#include <mpi.h>
#include <stdint.h>

void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const double *a, const int *lda, const double *beta, double *c, const int *ldc,
            size_t uplo_len, size_t trans_len);
void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b,
            const int *ldb, const double *beta, double *c, const int *ldc, size_t ta_len,
            size_t tb_len);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, int *info, size_t uplo_len);

enum { N = 20000, D = 768, K = 14, NL = 10, M = 32 };

static void make_rows(int64_t lo, int64_t cnt, float *x, float *y)
{
    for (int64_t i = 0; i < cnt; i++) {
        ad_rng r;
        ad_rng_seed(&r, 7, (uint64_t)(lo + i));
        double s = 0;
        for (int j = 0; j < D; j++) {
            x[i * D + j] = (float)(ad_rng_normal(&r) + 0.01 * j);
            s += x[i * D + j] * ((j % 7) - 3);
        }
        for (int c = 0; c < K; c++)
            y[i * K + c] = (float)(s + 10 * ad_rng_normal(&r) > 3.0 * (c - K / 2));
    }
}

/* The single-process reference: w [NL][D + 1][K] like ad_probe_fit. */
static int lapack_fit(const float *x, const float *y, const double *lambdas, double *w)
{
    double *xc = malloc(sizeof(double) * N * D), *yc = malloc(sizeof(double) * N * K);
    double *g = malloc(sizeof(double) * D * D), *gl = malloc(sizeof(double) * D * D);
    double *b = malloc(sizeof(double) * D * K), *bl = malloc(sizeof(double) * D * K);
    double xbar[D] = {0}, ybar[K] = {0};
    int info = 0, n = N, d = D, k = K;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            xbar[j] += x[(size_t)i * D + j];
        for (int c = 0; c < K; c++)
            ybar[c] += y[(size_t)i * K + c];
    }
    for (int j = 0; j < D; j++)
        xbar[j] /= N;
    for (int c = 0; c < K; c++)
        ybar[c] /= N;
    /* Row-major [N, D] is column-major Xc^T [D, N]. */
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            xc[(size_t)i * D + j] = x[(size_t)i * D + j] - xbar[j];
        for (int c = 0; c < K; c++)
            yc[(size_t)i * K + c] = y[(size_t)i * K + c] - ybar[c];
    }
    double one = 1, zero = 0;
    dsyrk_("U", "N", &d, &n, &one, xc, &d, &zero, g, &d, 1, 1);
    dgemm_("N", "T", &d, &k, &n, &one, xc, &d, yc, &k, &zero, b, &d, 1, 1);
    for (int l = 0; l < NL && info == 0; l++) {
        memcpy(gl, g, sizeof(double) * D * D);
        memcpy(bl, b, sizeof(double) * D * K);
        for (int j = 0; j < D; j++)
            gl[(size_t)j * D + j] += lambdas[l];
        dposv_("U", &d, &k, gl, &d, bl, &d, &info, 1);
        double *wl = w + (size_t)l * (D + 1) * K;
        for (int c = 0; c < K; c++) {
            double bias = ybar[c];
            for (int j = 0; j < D; j++) {
                wl[j * K + c] = bl[(size_t)c * D + j];
                bias -= xbar[j] * bl[(size_t)c * D + j];
            }
            wl[D * K + c] = bias;
        }
    }
    free(xc);
    free(yc);
    free(g);
    free(gl);
    free(b);
    free(bl);
    return info;
}

/* Single-process covariance eigenvalues (ascending) into ev [D]. */
static int lapack_pca(const float *x, double *ev)
{
    double *xc = malloc(sizeof(double) * N * D), *c = malloc(sizeof(double) * D * D);
    double mean[D] = {0}, wq, alpha = 1.0 / (N - 1), zero = 0;
    int n = N, d = D, lwork = -1, liwork = -1, iq = 0, info = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            mean[j] += x[(size_t)i * D + j];
    for (int j = 0; j < D; j++)
        mean[j] /= N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            xc[(size_t)i * D + j] = x[(size_t)i * D + j] - mean[j];
    dsyrk_("U", "N", &d, &n, &alpha, xc, &d, &zero, c, &d, 1, 1);
    dsyevd_("V", "U", &d, c, &d, ev, &wq, &lwork, &iq, &liwork, &info, 1, 1);
    lwork = (int)wq;
    liwork = iq;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    dsyevd_("V", "U", &d, c, &d, ev, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    free(xc);
    free(c);
    return info;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, reps = argc > 1 ? atoi(argv[1]) : 5;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (reps < 1 || reps > 100)
        reps = 5;
    int64_t lo = (int64_t)N * rank / size, cnt = (int64_t)N * (rank + 1) / size - lo;
    float *x = malloc(sizeof(float) * (size_t)cnt * D), *y = malloc(sizeof(float) * (size_t)cnt * K);
    make_rows(lo, cnt, x, y);
    double lambdas[NL], *w = malloc(sizeof(double) * NL * (D + 1) * K), t[100], cpu[100];
    ad_probe_log_grid(1e-6, 1e3, NL, lambdas);
    int status = 0;
    for (int r = 0; r < reps && !status; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bu_wall_now(), c0 = bu_cpu_now();
        if (ad_probe_fit(MPI_COMM_WORLD, x, cnt, D, y, K, lambdas, NL, 0, 0, w) != AD_OK) {
            fprintf(stderr, "bench_probe: %s\n", ad_errmsg());
            status = 1;
        }
        double c = bu_cpu_now() - c0;
        MPI_Barrier(MPI_COMM_WORLD);
        t[r] = bu_wall_now() - t0;
        /* CPU time of the busiest rank: steadier than wall time on a shared machine (it
         * includes MPI's busy waiting, so it over- rather than under-states the cost). */
        MPI_Allreduce(&c, &cpu[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    }
    if (rank == 0 && !status) {
        int pr, pc;
        ad_blacs_auto_shape(size, &pr, &pc);
        printf("probe n=%d d=%d k=%d lambdas=%d ranks=%d grid=%dx%d: median wall %.3f s, "
               "busiest rank's cpu %.3f s over %d\n",
               N, D, K, NL, size, pr, pc, bu_median(t, reps), bu_median(cpu, reps), reps);
        /* The reference on the whole data set, single process, while the others wait. */
        float *xa = malloc(sizeof(float) * N * D), *ya = malloc(sizeof(float) * N * K);
        double *wr = malloc(sizeof(double) * NL * (D + 1) * K), tl[100], cl[100];
        make_rows(0, N, xa, ya);
        for (int r = 0; r < reps && !status; r++) {
            double t0 = bu_wall_now(), c0 = bu_cpu_now();
            status = lapack_fit(xa, ya, lambdas, wr) != 0;
            tl[r] = bu_wall_now() - t0;
            cl[r] = bu_cpu_now() - c0;
        }
        double e = 0, s = 0;
        for (int i = 0; i < NL * (D + 1) * K; i++) {
            e = fmax(e, fabs(w[i] - wr[i]));
            s = fmax(s, fabs(wr[i]));
        }
        printf("lapack single process (dsyrk + dgemm + %d x dposv): median wall %.3f s, cpu "
               "%.3f s over %d; max |w - w_lapack| / max |w_lapack| = %.2e\n",
               NL, bu_median(tl, reps), bu_median(cl, reps), reps, e / s);
        free(xa);
        free(ya);
        free(wr);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);

    double *mean = malloc(sizeof(double) * D), *comps = malloc(sizeof(double) * M * D);
    double ev[M], total;
    float *proj = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1) * M);
    for (int r = 0; r < reps && !status; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bu_wall_now(), c0 = bu_cpu_now();
        if (ad_pca_fit(MPI_COMM_WORLD, x, cnt, D, M, 0, 0, mean, comps, ev, &total, proj) !=
            AD_OK) {
            fprintf(stderr, "bench_probe: %s\n", ad_errmsg());
            status = 1;
        }
        double c = bu_cpu_now() - c0;
        MPI_Barrier(MPI_COMM_WORLD);
        t[r] = bu_wall_now() - t0;
        MPI_Allreduce(&c, &cpu[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    }
    if (rank == 0 && !status) {
        printf("pca n=%d d=%d m=%d ranks=%d: median wall %.3f s, busiest rank's cpu %.3f s\n", N,
               D, M, size, bu_median(t, reps), bu_median(cpu, reps));
        float *xa = malloc(sizeof(float) * N * D), *ya = malloc(sizeof(float) * N * K);
        double evr[D], tl[100], cl[100];
        make_rows(0, N, xa, ya);
        for (int r = 0; r < reps && !status; r++) {
            double t0 = bu_wall_now(), c0 = bu_cpu_now();
            status = lapack_pca(xa, evr) != 0;
            tl[r] = bu_wall_now() - t0;
            cl[r] = bu_cpu_now() - c0;
        }
        double e = 0;
        for (int j = 0; j < M; j++)
            e = fmax(e, fabs(ev[j] - evr[D - 1 - j]) / evr[D - 1]);
        printf("lapack single process (dsyrk + dsyevd, all vectors): median wall %.3f s, cpu "
               "%.3f s; max eigenvalue difference / largest = %.2e\n",
               bu_median(tl, reps), bu_median(cl, reps), e);
        free(xa);
        free(ya);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(mean);
    free(comps);
    free(proj);
    free(x);
    free(y);
    free(w);
    MPI_Finalize();
    return status;
}
