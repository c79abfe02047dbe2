/* Resuming a training run: the configuration check and the record (include/adaptor/resume.h). */
#include "adaptor/resume.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keys pretrain does not read, or reads only for bookkeeping that leaves the weights, the
 * optimiser state and the data order untouched. Everything else is refused on resume. */
static const char *const may_change[][2] = {
    {"run", "threads"},          /* BLIS threads: each rank's GEMMs are bitwise the same */
    {"run", "progress_seconds"}, /* how often progress is logged */
    {"run", "decode_overlap"},   /* embed's decode thread: the caches are bitwise the same */
    {"train", "log_every"},
    {"train", "checkpoint_every"},
    {"train", "keep_checkpoints"},
    {"output", "dir"},           /* the same folder, perhaps spelt another way */
    {"eval", NULL},              /* downstream sections: not read by pretrain */
    {"classify", NULL},
    {"segment", NULL},
    {"cache", "part_rows"},      /* embed's work units */
    {"cache", "splits"},         /* which splits embed writes */
};

int ad_resume_key_may_change(const char *section, const char *key)
{
    for (size_t i = 0; i < sizeof may_change / sizeof may_change[0]; i++)
        if (strcmp(may_change[i][0], section) == 0 &&
            (!may_change[i][1] || strcmp(may_change[i][1], key) == 0))
            return 1;
    return 0;
}

/* Appends "[s] k = old -> new" to a growing "; "-separated list. */
static int append_change(char **list, size_t *len, const ad_cfg_key *k, const char *old,
                         const char *now)
{
    const char *o = old ? old : "(unset)", *n = now ? now : "(unset)";
    size_t add = strlen(k->section) + strlen(k->key) + strlen(o) + strlen(n) + 16;
    char *g = realloc(*list, *len + add);
    if (!g)
        return ad_fail(AD_ERR_NOMEM, "out of memory comparing configurations");
    *list = g;
    *len += (size_t)snprintf(g + *len, add, "%s[%s] %s = %s -> %s", *len ? "; " : "",
                             k->section, k->key, o, n);
    return AD_OK;
}

int ad_resume_check_config(const char *saved_text, const char *label, const ad_config *now,
                           char **changes)
{
    if (changes)
        *changes = NULL;
    ad_config *saved;
    AD_TRY(ad_config_create(&saved));
    int rc = ad_config_load_text(saved, saved_text, label);
    if (rc != AD_OK) {
        ad_config_destroy(saved);
        return ad_fail_ctx(rc, "resume: the configuration saved with the checkpoint");
    }
    /* A run saved before [train] drop_last existed dropped every epoch's partial batch. */
    if (strcmp(ad_config_where(saved, "train", "drop_last"), ad_config_source(saved)) == 0)
        rc = ad_config_set(saved, "train", "drop_last", "true", "saved before drop_last existed");
    char *refused = NULL, *allowed = NULL;
    size_t nr = 0, na = 0;
    for (const ad_cfg_key *k = ad_config_schema; k->section && rc == AD_OK; k++) {
        if (ad_config_same(saved, now, k->section, k->key))
            continue;
        const char *old = ad_config_get(saved, k->section, k->key);
        const char *cur = ad_config_get(now, k->section, k->key);
        if (ad_resume_key_may_change(k->section, k->key))
            rc = append_change(&allowed, &na, k, old, cur);
        else
            rc = append_change(&refused, &nr, k, old, cur);
    }
    ad_config_destroy(saved);
    if (rc == AD_OK && refused)
        rc = ad_fail(AD_ERR_CONFIG, "resume: %s was trained with other settings (%s): a resumed "
                     "run must keep every setting that changes what it computes; use the saved "
                     "values, or start a new run in another [output] dir", label, refused);
    free(refused);
    if (rc == AD_OK && changes)
        *changes = allowed ? allowed : ad_strdup("");
    else
        free(allowed);
    if (rc == AD_OK && changes && !*changes)
        rc = AD_ERR_NOMEM;
    return rc;
}

int ad_resume_record(const char *run_dir, const ad_config *now, const char *ckpt_dir,
                     int64_t step, int ranks, const char *changes)
{
    char log[4200], cfgname[64], cfgpath[4200];
    AD_TRY(ad_path_join(log, sizeof log, run_dir, "resumes.log"));
    char *old = NULL;
    size_t oldlen = 0;
    int present;
    AD_TRY(ad_optional_file(log, &present));
    if (present)
        AD_TRY(ad_read_file(log, &old, &oldlen));
    int n = 1;
    for (size_t i = 0; i < oldlen; i++)
        n += old[i] == '\n';
    snprintf(cfgname, sizeof cfgname, "config-resume-%d.ini", n);
    int rc = ad_path_join(cfgpath, sizeof cfgpath, run_dir, cfgname);
    char *text = NULL;
    if (rc == AD_OK)
        rc = ad_config_dump(now, &text);
    if (rc == AD_OK)
        rc = ad_write_file_atomic(cfgpath, text, strlen(text));
    free(text);
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    const char *base = strrchr(ckpt_dir, '/');
    size_t add = strlen(changes) + strlen(ckpt_dir) + 256;
    char *all = rc == AD_OK ? ad_malloc(oldlen + add, "resumes.log") : NULL;
    if (rc == AD_OK && !all)
        rc = AD_ERR_NOMEM;
    if (rc == AD_OK) {
        memcpy(all, old ? old : "", oldlen);
        size_t len = oldlen + (size_t)snprintf(all + oldlen, add, "%s resume %d: from %s (step "
                                               "%lld) on %d ranks; %s; changed: %s\n", stamp, n,
                                               base ? base + 1 : ckpt_dir, (long long)step,
                                               ranks, cfgname, changes[0] ? changes : "nothing");
        rc = ad_write_file_atomic(log, all, len);
    }
    free(all);
    free(old);
    return rc;
}
