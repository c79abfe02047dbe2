/* `adaptor status RUN_DIR... [--json]`: where each run is, from its folder's files alone
 * (serial, no MPI job: works on a folder copied off the cluster). */
#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/runstatus.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    printf("usage: adaptor status RUN_DIR... [--json]\n\n"
           "Reads each run folder (state.json, metrics.nc, checkpoints/, eval.nc) and prints\n"
           "its stage and state (running, finished, stopped by a signal, failed), step / total,\n"
           "epoch, last loss, lr, samples/s, ETA, the checkpoints (valid or corrupt) and the\n"
           "last evaluation figures. Needs no MPI job: run it on a login node or on a copy.\n"
           "--json prints one JSON array with an object per folder instead.\n");
}

static void duration(char *out, size_t n, double s)
{
    if (s < 0)
        snprintf(out, n, "unknown");
    else if (s < 120)
        snprintf(out, n, "%.0f s", s);
    else if (s < 7200)
        snprintf(out, n, "%.1f min", s / 60);
    else
        snprintf(out, n, "%.1f h", s / 3600);
}

/* Per-label figures (auroc_<label>) stay in --json; the text shows their mean. */
static int summary_metric(const char *m)
{
    const char *u = strstr(m, "auroc_");
    return !u || strcmp(u, "auroc_mean") == 0;
}

/* eval.nc's records, one line per split and model, in file order. */
static void print_eval(const ad_eval_records *R)
{
    for (size_t i = 0; i < R->n; i++) {
        int first = 1;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(R->r[j].split, R->r[i].split) || strcmp(R->r[j].model, R->r[i].model);
        if (!first)
            continue;
        printf("    %s %s:", R->r[i].split, R->r[i].model);
        for (size_t j = i; j < R->n; j++)
            if (!strcmp(R->r[j].split, R->r[i].split) && !strcmp(R->r[j].model, R->r[i].model) &&
                summary_metric(R->r[j].metric))
                printf(" %s %.4g", R->r[j].metric, R->r[j].value);
        printf("\n");
    }
}

static void print_text(const ad_run_status *s)
{
    char eta[32], age[32];
    duration(eta, sizeof eta, s->eta_seconds);
    duration(age, sizeof age, s->age_seconds);
    printf("%s\n  stage      %s\n  state      %s%s%s%s\n", s->dir, s->stage[0] ? s->stage : "?",
           s->state, s->detail[0] ? " (" : "", s->detail, s->detail[0] ? ")" : "");
    if (s->age_seconds >= 0)
        printf("  updated    %s ago\n", age);
    if (s->total > 0)
        printf("  step       %lld / %lld (%.1f%%)\n", (long long)s->step, (long long)s->total,
               100.0 * (double)s->step / (double)s->total);
    else
        printf("  step       %lld / unknown\n", (long long)s->step);
    if (s->have_metrics)
        printf("  epoch      %d\n  loss       %.4f\n  lr         %.3g\n  samples/s  %.0f\n",
               s->epoch, s->loss, s->lr, s->samples_per_s);
    printf("  ETA        %s%s\n", eta,
           strcmp(s->state, "running") == 0 || s->eta_seconds <= 0 ? "" : " once resumed");
    printf("  checkpoints ");
    if (!s->nckpts)
        printf("none");
    for (size_t i = 0; i < s->nckpts; i++)
        printf("%s%s %s", i ? ", " : "", s->ckpts[i].name, s->ckpts[i].valid ? "valid" : "CORRUPT");
    printf("\n");
    for (size_t i = 0; i < s->nckpts; i++)
        if (!s->ckpts[i].valid)
            printf("    %s: %s\n", s->ckpts[i].name, s->ckpts[i].problem);
    if (s->nvalid)
        printf("  validation (step %lld):", (long long)s->valid[0].step);
    for (size_t i = 0; i < s->nvalid; i++)
        printf(" %s %s %.4f", s->valid[i].split, s->valid[i].metric, s->valid[i].value);
    if (s->nvalid)
        printf("\n");
    if (s->eval.n)
        printf("  eval.nc    %zu records (per-label AUROC: --json)\n", s->eval.n);
    print_eval(&s->eval);
}

/* A number, or null when unknown (negative). */
static int add_known(cJSON *o, const char *key, double v)
{
    return v < 0 ? cJSON_AddNullToObject(o, key) != NULL
                 : cJSON_AddNumberToObject(o, key, v) != NULL;
}

static cJSON *to_json(const ad_run_status *s)
{
    cJSON *o = cJSON_CreateObject(), *a, *e;
    int ok = o && cJSON_AddStringToObject(o, "dir", s->dir) &&
             cJSON_AddStringToObject(o, "stage", s->stage) &&
             cJSON_AddStringToObject(o, "state", s->state) &&
             cJSON_AddStringToObject(o, "detail", s->detail) &&
             cJSON_AddNumberToObject(o, "step", (double)s->step) &&
             add_known(o, "total", s->total > 0 ? (double)s->total : -1) &&
             add_known(o, "epoch", s->have_metrics ? s->epoch : -1) &&
             (s->have_metrics ? cJSON_AddNumberToObject(o, "loss", s->loss) != NULL &&
                                    cJSON_AddNumberToObject(o, "lr", s->lr) != NULL &&
                                    cJSON_AddNumberToObject(o, "samples_per_s", s->samples_per_s)
                              : cJSON_AddNullToObject(o, "loss") &&
                                    cJSON_AddNullToObject(o, "lr") &&
                                    cJSON_AddNullToObject(o, "samples_per_s")) &&
             add_known(o, "seconds_per_step", s->seconds_per_step > 0 ? s->seconds_per_step : -1) &&
             add_known(o, "eta_seconds", s->eta_seconds) &&
             add_known(o, "updated_seconds_ago", s->age_seconds) &&
             cJSON_AddStringToObject(o, "host", s->s.host) &&
             cJSON_AddNumberToObject(o, "pid", (double)s->s.pid) &&
             cJSON_AddStringToObject(o, "slurm_job_id", s->s.slurm_job_id);
    ok = ok && (a = cJSON_AddArrayToObject(o, "checkpoints")) != NULL;
    for (size_t i = 0; ok && i < s->nckpts; i++) {
        ok = (e = cJSON_CreateObject()) != NULL && cJSON_AddItemToArray(a, e) &&
             cJSON_AddStringToObject(e, "name", s->ckpts[i].name) &&
             cJSON_AddNumberToObject(e, "step", (double)s->ckpts[i].step) &&
             cJSON_AddBoolToObject(e, "valid", s->ckpts[i].valid) &&
             cJSON_AddStringToObject(e, "problem", s->ckpts[i].problem);
    }
    ok = ok && (a = cJSON_AddArrayToObject(o, "validation")) != NULL;
    for (size_t i = 0; ok && i < s->nvalid; i++) {
        ok = (e = cJSON_CreateObject()) != NULL && cJSON_AddItemToArray(a, e) &&
             cJSON_AddNumberToObject(e, "step", (double)s->valid[i].step) &&
             cJSON_AddStringToObject(e, "split", s->valid[i].split) &&
             cJSON_AddStringToObject(e, "metric", s->valid[i].metric) &&
             cJSON_AddNumberToObject(e, "value", s->valid[i].value);
    }
    ok = ok && (a = cJSON_AddArrayToObject(o, "eval")) != NULL;
    for (size_t i = 0; ok && i < s->eval.n; i++) {
        ok = (e = cJSON_CreateObject()) != NULL && cJSON_AddItemToArray(a, e) &&
             cJSON_AddStringToObject(e, "split", s->eval.r[i].split) &&
             cJSON_AddStringToObject(e, "model", s->eval.r[i].model) &&
             cJSON_AddStringToObject(e, "metric", s->eval.r[i].metric) &&
             cJSON_AddNumberToObject(e, "value", s->eval.r[i].value);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int ad_cmd_status(ad_cli *cli, int argc, char **argv)
{
    (void)cli;
    if (ad_cli_wants_help(argc, argv)) {
        usage();
        return AD_OK;
    }
    int json = 0, ndirs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] == '-')
            return ad_fail(AD_ERR_ARG, "status: unknown option %s (see --help)", argv[i]);
        else
            ndirs++;
    }
    if (!ndirs)
        return ad_fail(AD_ERR_ARG, "status: give at least one run folder (see --help)");
    cJSON *all = json ? cJSON_CreateArray() : NULL;
    int rc = json && !all ? ad_fail(AD_ERR_NOMEM, "status: out of memory") : AD_OK;
    for (int i = 1; i < argc && rc == AD_OK; i++) {
        if (argv[i][0] == '-')
            continue;
        ad_run_status s;
        rc = ad_run_status_read(argv[i], &s);
        if (rc == AD_OK && json) {
            cJSON *o = to_json(&s);
            if (!o || !cJSON_AddItemToArray(all, o))
                rc = ad_fail(AD_ERR_NOMEM, "status: out of memory");
        } else if (rc == AD_OK) {
            print_text(&s);
        }
        ad_run_status_free(&s);
    }
    if (rc == AD_OK && json) {
        char *text = cJSON_Print(all);
        if (!text)
            rc = ad_fail(AD_ERR_NOMEM, "status: out of memory");
        else
            printf("%s\n", text);
        free(text);
    }
    cJSON_Delete(all);
    return rc;
}
