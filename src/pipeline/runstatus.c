/* `adaptor status`: a run folder's state from its files (see include/adaptor/runstatus.h). */
#include "adaptor/runstatus.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define RECENT 20 /* steps the rates are taken over */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int read_metrics(const char *path, ad_run_status *s)
{
    ad_metrics *m;
    AD_TRY(ad_metrics_open_existing(path, NULL, 1, 0, INT64_MAX, &m));
    int64_t n = ad_metrics_nsteps(m);
    const ad_metrics_step *r = ad_metrics_steps(m);
    s->have_metrics = 1;
    if (n > 0) {
        const ad_metrics_step *last = &r[n - 1];
        s->step = last->step;
        s->epoch = last->epoch;
        s->loss = last->loss;
        s->lr = last->lr;
        double rate[RECENT], dt[RECENT];
        int nr = 0, nd = 0;
        for (int64_t i = n - 1; i >= 0 && i >= n - RECENT; i--) {
            rate[nr++] = r[i].samples_per_s;
            /* Per-step wall time from consecutive records (a resume restarts the clock). */
            if (i > 0 && r[i].step == r[i - 1].step + 1 && r[i].wall_time > r[i - 1].wall_time)
                dt[nd++] = r[i].wall_time - r[i - 1].wall_time;
        }
        s->samples_per_s = median(rate, nr);
        s->seconds_per_step = median(dt, nd);
    }
    /* The validation records of the last evaluated step. */
    int64_t ne = ad_metrics_nevals(m), at = ne ? ad_metrics_evals(m)[ne - 1].step : -1, k = ne;
    const ad_metrics_eval *e = ad_metrics_evals(m);
    while (k > 0 && e[k - 1].step == at)
        k--;
    int rc = AD_OK;
    if (ne > k) {
        s->valid = ad_malloc((size_t)(ne - k) * sizeof *s->valid, "validation records");
        if (!s->valid)
            rc = AD_ERR_NOMEM;
        else {
            memcpy(s->valid, e + k, (size_t)(ne - k) * sizeof *s->valid);
            s->nvalid = (size_t)(ne - k);
        }
    }
    ad_metrics_destroy(m);
    return rc;
}

/* Decides the state from state.json (and, for "running", the process table or the record's
 * age) or, without it, from the outputs. */
static void decide(ad_run_status *s, int have_final)
{
    if (!s->have_state) {
        snprintf(s->state, sizeof s->state, "%s", have_final ? "finished" : "unknown");
        snprintf(s->detail, sizeof s->detail, "%s", have_final
                     ? "no state.json (written by newer versions); model.safetensors present"
                     : "no state.json in the folder (not started, or written by an older version)");
        return;
    }
    snprintf(s->stage, sizeof s->stage, "%s", s->s.stage);
    snprintf(s->state, sizeof s->state, "%s", s->s.state);
    s->age_seconds = s->s.updated > 0 ? ad_wall_clock() - s->s.updated : -1;
    if (strcmp(s->s.state, "failed") == 0) {
        snprintf(s->detail, sizeof s->detail, "%s", s->s.message);
        return;
    }
    if (strcmp(s->s.state, "stopped") == 0) {
        snprintf(s->detail, sizeof s->detail, "stopped by a signal after a checkpoint; "
                 "continue with --resume");
        return;
    }
    if (strcmp(s->s.state, "running") != 0)
        return;
    char here[256] = "";
    gethostname(here, sizeof here - 1);
    if (strcmp(here, s->s.host) != 0) {
        snprintf(s->detail, sizeof s->detail, "on %s (pid %ld%s%s), not checked from %s",
                 s->s.host, s->s.pid, s->s.slurm_job_id[0] ? ", Slurm job " : "",
                 s->s.slurm_job_id, here);
        return;
    }
    if (s->s.pid > 0 && (kill((pid_t)s->s.pid, 0) == 0 || errno == EPERM)) {
        snprintf(s->detail, sizeof s->detail, "pid %ld on %s", s->s.pid, s->s.host);
        return;
    }
    snprintf(s->state, sizeof s->state, "failed");
    snprintf(s->detail, sizeof s->detail, "process %ld on %s ended without recording an end "
             "(killed outright: SIGKILL, out of memory, node failure?); continue with --resume",
             s->s.pid, s->s.host);
}

int ad_run_status_read(const char *dir, ad_run_status *s)
{
    memset(s, 0, sizeof *s);
    s->eta_seconds = s->age_seconds = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (!ad_is_dir(dir))
        return ad_fail(AD_ERR_IO, "%s: not a folder", dir);
    char path[4200];
    int found = 0;
    AD_TRY(ad_runstate_read(dir, &s->s, &found));
    s->have_state = found;
    AD_TRY(ad_path_join(path, sizeof path, dir, "metrics.nc"));
    struct stat sb;
    double metrics_age = stat(path, &sb) == 0 ? ad_wall_clock() - (double)sb.st_mtime : -1;
    if (ad_path_exists(path))
        AD_TRY(read_metrics(path, s));
    AD_TRY(ad_ckpt_list(dir, &s->ckpts, &s->nckpts));
    AD_TRY(ad_path_join(path, sizeof path, dir, "eval.nc"));
    if (ad_path_exists(path))
        AD_TRY(ad_evalfile_read(path, &s->eval));
    char final[4200];
    AD_TRY(ad_path_join(final, sizeof final, dir, "model.safetensors"));
    if (!found && !s->have_metrics && !s->nckpts && !s->eval.n && !ad_path_exists(final))
        return ad_fail(AD_ERR_IO, "%s: not a run folder (no state.json, metrics.nc, "
                       "checkpoints/, eval.nc or model.safetensors)", dir);
    if (found && s->s.step > s->step)
        s->step = s->s.step; /* a checkpoint newer than the last metrics flush */
    s->total = found ? s->s.total : 0;
    decide(s, ad_path_exists(final));
    /* metrics.nc is rewritten every 30 s by a live run: the fresher of the two records. */
    if (metrics_age >= 0 && (s->age_seconds < 0 || metrics_age < s->age_seconds))
        s->age_seconds = metrics_age;
    if (strcmp(s->state, "finished") == 0)
        s->eta_seconds = 0;
    else if (s->total > 0 && s->seconds_per_step > 0)
        s->eta_seconds = (double)(s->total - s->step) * s->seconds_per_step;
    return AD_OK;
}

void ad_run_status_free(ad_run_status *s)
{
    free(s->ckpts);
    free(s->valid);
    free(s->eval.r);
    memset(s, 0, sizeof *s);
}
