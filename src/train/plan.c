#include "adaptor/trainplan.h"

#include "adaptor/error.h"

#include <string.h>

static int64_t epoch_steps(int64_t N, int64_t B, int drop_last)
{
    return drop_last ? N / B : (N + B - 1) / B;
}

int ad_train_plan_make(const ad_config *cfg, int64_t N, ad_train_plan *p)
{
    memset(p, 0, sizeof *p);
    int64_t epochs;
    AD_TRY(ad_config_int(cfg, "train", "batch_size", &p->G));
    AD_TRY(ad_config_int(cfg, "train", "epochs", &epochs));
    AD_TRY(ad_config_bool(cfg, "train", "drop_last", &p->drop_last));
    if (p->G < 1 || p->G > N)
        return ad_fail(AD_ERR_ARG, "train plan: batch %lld outside [1, %lld pairs]",
                       (long long)p->G, (long long)N);
    p->spe = epoch_steps(N, p->G, p->drop_last);
    p->last = p->drop_last ? p->G : N - (p->spe - 1) * p->G;
    p->total = epochs * p->spe;
    if (ad_config_is_set(cfg, "train", "max_steps")) {
        int64_t cap;
        AD_TRY(ad_config_int(cfg, "train", "max_steps", &cap));
        if (cap < p->total)
            p->total = cap;
    }
    p->sched_total = p->total;
    if (ad_config_is_set(cfg, "train", "schedule_batch")) {
        int64_t B;
        AD_TRY(ad_config_int(cfg, "train", "schedule_batch", &B));
        if (B > N)
            return ad_fail(AD_ERR_CONFIG, "%s: [train] schedule_batch = %lld is larger than the "
                           "%lld training pairs", ad_config_where(cfg, "train", "schedule_batch"),
                           (long long)B, (long long)N);
        p->sched_total = epochs * epoch_steps(N, B, p->drop_last);
    }
    return AD_OK;
}

int64_t ad_train_plan_batch(const ad_train_plan *p, int64_t k)
{
    return k == p->spe - 1 ? p->last : p->G;
}
