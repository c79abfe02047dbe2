/* state.json (layout in include/adaptor/runstate.h). */
#include "adaptor/runstate.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double ad_wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ad_runstate_begin(ad_runstate *s, const char *stage, int64_t step, int64_t total)
{
    memset(s, 0, sizeof *s);
    snprintf(s->stage, sizeof s->stage, "%s", stage);
    s->step = step;
    s->total = total;
    if (gethostname(s->host, sizeof s->host - 1) != 0)
        snprintf(s->host, sizeof s->host, "unknown");
    s->pid = (long)getpid();
    const char *job = getenv("SLURM_JOB_ID");
    snprintf(s->slurm_job_id, sizeof s->slurm_job_id, "%s", job ? job : "");
    s->started = s->updated = ad_wall_clock();
}

int ad_runstate_write(const char *run_dir, ad_runstate *s, const char *state,
                      const char *message)
{
    char path[4200];
    AD_TRY(ad_path_join(path, sizeof path, run_dir, AD_RUNSTATE_FILE));
    snprintf(s->state, sizeof s->state, "%s", state);
    if (message)
        snprintf(s->message, sizeof s->message, "%s", message);
    s->updated = ad_wall_clock();
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "stage", s->stage) &&
             cJSON_AddStringToObject(o, "state", s->state) &&
             cJSON_AddNumberToObject(o, "step", (double)s->step) &&
             cJSON_AddNumberToObject(o, "total", (double)s->total) &&
             cJSON_AddStringToObject(o, "host", s->host) &&
             cJSON_AddNumberToObject(o, "pid", (double)s->pid) &&
             cJSON_AddStringToObject(o, "slurm_job_id", s->slurm_job_id) &&
             cJSON_AddNumberToObject(o, "started", s->started) &&
             cJSON_AddNumberToObject(o, "updated", s->updated) &&
             cJSON_AddStringToObject(o, "message", s->message);
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    int rc = ad_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

static void get_text(const cJSON *o, const char *key, char *out, size_t n)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    snprintf(out, n, "%s", v ? v : "");
}

static double get_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

int ad_runstate_read(const char *run_dir, ad_runstate *s, int *found)
{
    char path[4200];
    memset(s, 0, sizeof *s);
    *found = 0;
    AD_TRY(ad_path_join(path, sizeof path, run_dir, AD_RUNSTATE_FILE));
    if (!ad_path_exists(path))
        return AD_OK;
    cJSON *o;
    AD_TRY(ad_json_read_object(path, &o));
    get_text(o, "stage", s->stage, sizeof s->stage);
    get_text(o, "state", s->state, sizeof s->state);
    get_text(o, "host", s->host, sizeof s->host);
    get_text(o, "slurm_job_id", s->slurm_job_id, sizeof s->slurm_job_id);
    get_text(o, "message", s->message, sizeof s->message);
    s->step = (int64_t)get_num(o, "step");
    s->total = (int64_t)get_num(o, "total");
    s->pid = (long)get_num(o, "pid");
    s->started = get_num(o, "started");
    s->updated = get_num(o, "updated");
    cJSON_Delete(o);
    if (!s->state[0])
        return ad_fail(AD_ERR_FORMAT, "%s: no \"state\"", path);
    *found = 1;
    return AD_OK;
}
