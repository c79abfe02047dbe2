/* Cost of the live metrics.nc: one whole-file rewrite (ad_metrics_flush) of a long run's
 * records, and what it adds to a step when pretrain flushes every 30 s.
 * Usage: bench_metrics [steps] [ranks] [dir] */
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/metrics.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int64_t steps = argc > 1 ? atoll(argv[1]) : 50000;
    int ranks = argc > 2 ? atoi(argv[2]) : 16;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    char path[4200];
    ad_metrics *m;
    double *times = calloc((size_t)ranks * 3, sizeof *times);
    if (!times || ad_path_join(path, sizeof path, dir, "bench_metrics.nc") != AD_OK ||
        ad_metrics_create(path, NULL, ranks, 0, &m) != AD_OK) {
        fprintf(stderr, "bench_metrics: %s\n", ad_errmsg());
        return 1;
    }
    for (int64_t s = 1; s <= steps; s++) {
        ad_metrics_step r = {.step = s, .epoch = (int)(s / 1000), .loss = 1.0 / (double)s,
                             .lr = 1e-4, .samples_per_s = 900, .wall_time = (double)s,
                             .rank_times = times};
        if (ad_metrics_append(m, &r) != AD_OK)
            return 1;
    }
    enum { REPS = 7 };
    double t[REPS];
    for (int i = 0; i < REPS; i++) {
        double t0 = ad_now();
        if (ad_metrics_flush(m) != AD_OK) {
            fprintf(stderr, "bench_metrics: %s\n", ad_errmsg());
            return 1;
        }
        t[i] = ad_now() - t0;
    }
    qsort(t, REPS, sizeof *t, cmp);
    printf("metrics.nc flush: %lld steps x %d ranks, median %.1f ms (min %.1f, max %.1f); "
           "flushed every 30 s that is %.3f%% of the run\n", (long long)steps, ranks,
           t[REPS / 2] * 1e3, t[0] * 1e3, t[REPS - 1] * 1e3, 100.0 * t[REPS / 2] / 30.0);
    ad_metrics_destroy(m);
    free(times);
    remove(path);
    return 0;
}
