/* The typed choices of a job file (include/adaptor/job.h). */
#include "adaptor/job.h"

#include "adaptor/error.h"

#include <string.h>

/* value's index in names[n]. */
static int choice(const ad_config *cfg, const char *section, const char *key,
                  const char *const *names, int n, int *out)
{
    const char *v = ad_config_get(cfg, section, key);
    for (int i = 0; v && i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return AD_OK;
        }
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? " | " : "", names[i]);
    return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s': expected %s", ad_config_source(cfg),
                   section, key, v ? v : "(unset)", list);
}

/* An existing parser of a lower layer, with the key named in its error. */
#define PARSED(call, section, key)                                                       \
    do {                                                                                 \
        int prc_ = (call);                                                               \
        if (prc_ != AD_OK)                                                               \
            return ad_fail_ctx(prc_, "%s: [%s] %s", ad_config_source(cfg), section, key); \
    } while (0)

int ad_job_parse(const ad_config *cfg, ad_job *job)
{
    static const char *const depth16[] = {"highbyte", "max"}, *const mode[] = {"pooled", "tokens"},
                             *const source[] = {"cache", "online"},
                             *const augment[] = {"none", "random_crop"},
                             *const negatives[] = {"global", "local"},
                             *const shuffle[] = {"once", "epoch", "none"},
                             *const rows[] = {"positive", "all"},
                             *const features[] = {"adaptor", "encoder"},
                             *const writer[] = {"serial", "parallel"};
    int v;
    memset(job, 0, sizeof *job);
    AD_TRY(choice(cfg, "data", "depth16", depth16, 2, &v));
    job->depth16 = v ? AD_DEPTH16_MAX : AD_DEPTH16_HIGHBYTE;
    PARSED(ad_bert_output_parse(ad_config_get(cfg, "text_encoder", "pooling"), &job->pooling),
           "text_encoder", "pooling");
    PARSED(ad_image_arch_parse(ad_config_get(cfg, "image_encoder", "arch"), &job->arch),
           "image_encoder", "arch");
    PARSED(ad_pos_interp_resolve(ad_config_get(cfg, "image_encoder", "pos_interp"), job->arch,
                                 ad_config_get(cfg, "image_encoder", "model"), &job->pos_interp,
                                 NULL),
           "image_encoder", "pos_interp");
    PARSED(ad_image_output_parse(ad_config_get(cfg, "image_encoder", "output"), &job->image_output),
           "image_encoder", "output");
    PARSED(ad_precision_parse(ad_config_get(cfg, "text_encoder", "precision"),
                              &job->text_precision), "text_encoder", "precision");
    PARSED(ad_precision_parse(ad_config_get(cfg, "image_encoder", "precision"),
                              &job->image_precision), "image_encoder", "precision");
    AD_TRY(choice(cfg, "cache", "writer", writer, 2, &job->cache_parallel));
    AD_TRY(choice(cfg, "adaptor", "mode", mode, 2, &job->tokens));
    AD_TRY(choice(cfg, "train", "source", source, 2, &v));
    job->source = (ad_train_source)v;
    AD_TRY(choice(cfg, "train", "augment", augment, 2, &v));
    job->augment = (ad_augment)v;
    PARSED(ad_schedule_parse_kind(ad_config_get(cfg, "train", "schedule"), &job->schedule),
           "train", "schedule");
    AD_TRY(choice(cfg, "train", "negatives", negatives, 2, &v));
    job->negatives = (ad_negatives)v;
    AD_TRY(choice(cfg, "train", "shuffle", shuffle, 3, &v));
    job->shuffle = (ad_shuffle)v;
    AD_TRY(choice(cfg, "segment", "rows", rows, 2, &v));
    job->seg_rows = (ad_seg_rows)v;
    AD_TRY(choice(cfg, "segment", "features", features, 2, &v));
    job->seg_features = (ad_seg_features)v;
    PARSED(ad_cls_task_parse(ad_config_get(cfg, "classify", "task"), &job->task), "classify",
           "task");
    const char *head = ad_config_get(cfg, "classify", "head");
    job->probe = head && strcmp(head, "probe") == 0;
    if (!job->probe)
        PARSED(ad_head_parse_kind(head, &job->head_kind), "classify", "head");
    return AD_OK;
}
