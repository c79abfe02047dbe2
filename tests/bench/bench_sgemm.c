/* sgemm rate of the kernel family adaptor selects vs BLIS's own choice ("generic" on CPUs
 * its table does not know). BLIS fixes its family at initialisation, so each family is
 * measured in a child process: `bench_sgemm` runs both and prints the ratio. */
#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/log.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double measure(int m, int n, int k, int reps)
{
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n),
          *c = malloc(sizeof(float) * (size_t)m * n);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)((i * 7) % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (float)((i * 5) % 11) * 0.01f;
    float one = 1, zero = 0;
    double rates[32];
    for (int r = 0; r < reps; r++) {
        double t = ad_now();
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, m, n, k, &one, a, k, 1, b, k, 1, &zero, c, n,
                  1);
        rates[r] = 2.0 * m * n * k / (ad_now() - t) / 1e9;
    }
    qsort(rates, (size_t)reps, sizeof *rates, cmp_double);
    free(a);
    free(b);
    free(c);
    return rates[reps / 2];
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--child") == 0) {
        char msg[256];
        if (ad_blis_select(msg, sizeof msg) != AD_OK) {
            fprintf(stderr, "%s\n", ad_errmsg());
            return 1;
        }
        ad_blis_set_threads(1);
        printf("%s %.2f\n", ad_blis_arch_name(), measure(3584, 768, 768, 9));
        return 0;
    }
    char cmd[4200];
    double sel = 0, gen = 0;
    char name[64] = "?";
    for (int pass = 0; pass < 2; pass++) {
        snprintf(cmd, sizeof cmd, "%s%s --child", pass ? "BLIS_ARCH_TYPE=generic " : "", argv[0]);
        FILE *p = popen(cmd, "r");
        char nm[64];
        double rate;
        if (!p || fscanf(p, "%63s %lf", nm, &rate) != 2) {
            fprintf(stderr, "bench_sgemm: child failed\n");
            return 1;
        }
        pclose(p);
        if (pass == 0) {
            sel = rate;
            snprintf(name, sizeof name, "%s", nm);
        } else {
            gen = rate;
        }
    }
    printf("sgemm 3584x768x768, 1 thread, median of 9:\n");
    printf("  selected (%s): %.1f GFLOP/s\n  generic: %.1f GFLOP/s\n  ratio: %.2fx\n", name, sel,
           gen, sel / gen);
    return 0;
}
