/* Shared by the benchmarks: CPU-time clocks and medians (the machines are shared, and one
 * thread's CPU time is far steadier than wall time), and running a PyTorch twin script that
 * prints "<key>: <rate>". */
#ifndef ADAPTOR_BENCHUTIL_H
#define ADAPTOR_BENCHUTIL_H

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

#endif
