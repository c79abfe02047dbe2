/* Shared by the benchmarks: CPU-time clocks and medians (the machines are shared, and one
 * thread's CPU time is far steadier than wall time), running a PyTorch twin script that
 * prints "<key>: <rate>", option parsing, and the start-up and step of the MPI benchmarks of
 * the Adaptor training step (bench_pretrain, bench_scaling). */
#ifndef ADAPTOR_BENCHUTIL_H
#define ADAPTOR_BENCHUTIL_H

#include "adaptor/adamw.h"
#include "adaptor/adaptor.h"
#include "adaptor/blis_select.h"
#include "adaptor/dp.h"
#include "adaptor/error.h"
#include "adaptor/gemm_bf16.h"
#include "adaptor/log.h"
#include "adaptor/rng.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bu_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The calling thread only: MPI libraries run helper threads of their own. */
static inline double bu_thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double bu_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bu_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v. */
static inline double bu_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bu_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Runs tests/bench/<script> <args> with Debian's python (which has torch) under BLIS's own
 * kernel choice (skx = 0) or the one BLIS detects (skx = 0 unset), echoes its output with
 * "  torch: " in front and returns the number after "<key>: ", or 0 when unavailable. */
static inline double bu_torch_rate(int skx, const char *script, const char *args, const char *key)
{
    char path[4096], cmd[8192], fmt[64];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (!slash || access("/usr/bin/python3", X_OK) != 0)
        return 0;
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", script);
    if (access(path, R_OK) != 0)
        return 0;
    /* One thread on both sides: torch.set_num_threads(1) does not bind the OpenMP threads of
     * the BLIS under Debian's torch. */
    snprintf(cmd, sizeof cmd,
             "%s OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 /usr/bin/python3 %s %s 2>/dev/null",
             skx ? "env BLIS_ARCH_TYPE=0" : "env -u BLIS_ARCH_TYPE", path, args);
    snprintf(fmt, sizeof fmt, "%s: %%lf", key);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[512];
    double rate = 0;
    while (fgets(line, sizeof line, p)) {
        printf("  torch: %s", line);
        sscanf(line, fmt, &rate);
    }
    pclose(p);
    return rate;
}

typedef struct {
    const char *name;
    int *v;
    int flag; /* "--name" alone sets *v to 1; otherwise "--name N" sets it to N */
} bu_opt;

/* Sets the options found in argv[first..argc); other words are left to the caller. */
static inline void bu_parse_opts(int argc, char **argv, int first, const bu_opt *opts, size_t n)
{
    for (int i = first; i < argc; i++)
        for (size_t k = 0; k < n; k++)
            if (!strcmp(argv[i], opts[k].name) && (opts[k].flag || i + 1 < argc)) {
                *opts[k].v = opts[k].flag ? 1 : atoi(argv[++i]);
                break;
            }
}

/* A one-process benchmark's start: BLIS's kernels chosen for this CPU (printed), BLIS and
 * the bf16 products on one thread each. Returns 0, or 1 when no kernel fits this machine. */
static inline int bu_single_start(const char *name)
{
    char msg[256];
    if (ad_blis_select(msg, sizeof msg) != AD_OK) {
        fprintf(stderr, "%s: %s\n", name, ad_errmsg());
        return 1;
    }
    ad_blis_set_threads(1);
    ad_bf16_set_threads(1);
    printf("%s\n", msg);
    return 0;
}

/* BLIS's kernels chosen (described in kernels) before MPI starts, then one BLIS thread per
 * rank. Returns 0, or 1 (MPI not started) when no kernel fits this machine. */
static inline int bu_mpi_start(int *argc, char ***argv, char *kernels, size_t n, int *rank,
                               int *size)
{
    if (ad_blis_select(kernels, n) != AD_OK) {
        fprintf(stderr, "%s\n", ad_errmsg());
        return 1;
    }
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    ad_log_init(*rank, *size);
    ad_blis_set_threads(1);
    return 0;
}

/* The reference Adaptor's fixed choices at the given shapes (12 heads where P allows). */
static inline ad_adaptor_config bu_adaptor_config(int dv, int dt, int proj, int ffn, int layers)
{
    return (ad_adaptor_config){.dv = dv, .dt = dt, .proj = proj, .ffn = ffn,
                               .heads = proj % 12 ? 1 : 12, .layers = layers, .dropout = 0.1f,
                               .ln_eps = 1e-5f, .logit_scale_init = 2.6592f};
}

/* One rank's training step over MPI_COMM_WORLD (global negatives) on a fixed random batch of
 * b rows: what bench_pretrain and bench_scaling time. */
typedef struct {
    ad_adaptor *m;
    ad_dp *dp;
    ad_adamw *opt;
    float *xv, *xt; /* [b, dv], [b, dt], one allocation */
    int b, rank;
} bu_step;

static inline void bu_step_destroy(bu_step *s)
{
    free(s->xv);
    ad_adamw_destroy(s->opt);
    ad_dp_destroy(s->dp);
    ad_adaptor_destroy(s->m);
    memset(s, 0, sizeof *s);
}

/* Returns 0, or 1 after saying why on stderr. */
static inline int bu_step_create(const ad_adaptor_config *c, int b, int rank, bu_step *s)
{
    memset(s, 0, sizeof *s);
    s->b = b;
    s->rank = rank;
    size_t nv = (size_t)b * c->dv, nx = nv + (size_t)b * c->dt;
    if (ad_adaptor_create(c, &s->m) || ad_dp_create(MPI_COMM_WORLD, 1, 0.75f, &s->dp) ||
        ad_adamw_create(&s->opt, s->m->nparams, NULL) ||
        !(s->xv = malloc(sizeof(float) * (nx + 1)))) {
        fprintf(stderr, "setup: %s\n", ad_errmsg());
        bu_step_destroy(s);
        return 1;
    }
    s->xt = s->xv + nv;
    ad_adaptor_init(s->m, 1);
    ad_rng r;
    ad_rng_seed(&r, 3, (uint64_t)rank);
    for (size_t i = 0; i < nx; i++)
        s->xv[i] = (float)ad_rng_normal(&r);
    return 0;
}

/* Step k (its dropout seeded by k and the rank): ad_dp_step, then AdamW, whose CPU seconds
 * go to *adamw_cpu (may be NULL). On failure says why on stderr. */
static inline int bu_step_run(bu_step *s, int k, ad_dp_stats *st, double *adamw_cpu)
{
    ad_rng drop;
    ad_rng_seed(&drop, 42, (uint64_t)(k * 1000 + s->rank));
    ad_adaptor_batch batch = {s->xv, s->xt, NULL, 0, 0};
    int rc = ad_dp_step(s->dp, s->m, &batch, s->b, &drop, st);
    if (rc != AD_OK) {
        fprintf(stderr, "step: %s\n", ad_errmsg());
        return rc;
    }
    double t0 = bu_cpu_now();
    if ((rc = ad_adamw_step(s->opt, s->m->params, s->m->grads, 2e-5, NULL)) != AD_OK) {
        fprintf(stderr, "AdamW: %s\n", ad_errmsg());
        return rc;
    }
    if (adamw_cpu)
        *adamw_cpu = bu_cpu_now() - t0;
    return AD_OK;
}

#endif
