/* AdamW update rate and checkpoint save / find / load times for a parameter buffer the size
 * of the default Adaptor (P 768, F 2048, two layers, Dv 768, Dt 768: about 13.6 M floats).
 * Usage: bench_optim [numel] [run_dir] */
#include "adaptor/adamw.h"
#include "adaptor/checkpoint.h"
#include "adaptor/error.h"
#include "adaptor/log.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, ad_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atoll(argv[1]) : (size_t)13660417;
    const char *run = argc > 2 ? argv[2] : "/tmp/bench_optim_run";
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *q = malloc(n * sizeof *q);
    if (!p || !g || !q)
        return 1;
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)(i % 1000) * 1e-3f;
        g[i] = (float)((i * 7) % 1001) * 1e-3f - 0.5f;
    }
    ad_adamw *opt = NULL;
    if (ad_adamw_create(&opt, n, NULL) != AD_OK)
        return fail("adamw");
    double norm, t0 = ad_now();
    int reps = 10;
    for (int r = 0; r < reps; r++)
        if (ad_adamw_step(opt, p, g, 1e-4, &norm) != AD_OK)
            return fail("step");
    double dt = (ad_now() - t0) / reps;
    printf("adamw: %zu params, %.2f ms/update (with grad norm), %.2f Gparam/s\n", n, dt * 1e3,
           (double)n / dt * 1e-9);

    ad_ckpt_tensor t = {.name = "weights", .offset = 0, .ndim = 1, .shape = {(int64_t)n}};
    ad_ckpt_layout layout = {&t, 1, n};
    ad_ckpt_buffers buf = {p, ad_adamw_exp_avg(opt), ad_adamw_exp_avg_sq(opt),
                           ad_adamw_step_count(opt)};
    ad_train_state st = {.step = 1, .num_ranks = 1, .global_batch = 1024};
    char dir[4096];
    int64_t step;
    t0 = ad_now();
    if (ad_ckpt_save(run, &layout, &buf, &st, dir, sizeof dir) != AD_OK)
        return fail("save");
    double t_save = ad_now() - t0;
    t0 = ad_now();
    if (ad_ckpt_find_latest(run, dir, sizeof dir, &step) != AD_OK || step != 1)
        return fail("find");
    double t_find = ad_now() - t0;
    ad_ckpt_buffers back = {q, ad_adamw_exp_avg(opt), ad_adamw_exp_avg_sq(opt), 0};
    t0 = ad_now();
    if (ad_ckpt_load(dir, &layout, &back, NULL) != AD_OK)
        return fail("load");
    double t_load = ad_now() - t0;
    printf("checkpoint (%.0f MB): save %.2f s, find (verifies checksums) %.2f s, load %.2f s\n",
           3.0 * (double)n * 4 / 1e6, t_save, t_find, t_load);
    ad_adamw_destroy(opt);
    free(p);
    free(g);
    free(q);
    return ad_ckpt_prune(run, 1) == AD_OK ? 0 : fail("prune");
}
