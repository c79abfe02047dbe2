#include "adaptor/trainplan.h"

#include "adaptor/error.h"
#include "adaptor/share.h"

#include <string.h>

static int64_t epoch_steps(int64_t N, int64_t B, int drop_last)
{
    return drop_last ? N / B : (N + B - 1) / B;
}

int ad_train_plan_pass(int64_t N, int64_t G, int drop_last, ad_train_plan *p)
{
    memset(p, 0, sizeof *p);
    if (N < 1 || G < 1 || (drop_last && G > N))
        return ad_fail(AD_ERR_ARG, "batch plan: %lld pairs in batches of %lld%s", (long long)N,
                       (long long)G, drop_last ? " with the rest dropped" : "");
    p->G = G;
    p->drop_last = drop_last;
    p->spe = epoch_steps(N, G, drop_last);
    p->last = drop_last ? G : N - (p->spe - 1) * G;
    p->total = p->sched_total = p->spe;
    return AD_OK;
}

int ad_train_plan_make(const ad_config *cfg, int64_t N, ad_train_plan *p)
{
    memset(p, 0, sizeof *p);
    int64_t G, epochs;
    int drop_last;
    AD_TRY(ad_config_int(cfg, "train", "batch_size", &G));
    AD_TRY(ad_config_int(cfg, "train", "epochs", &epochs));
    AD_TRY(ad_config_bool(cfg, "train", "drop_last", &drop_last));
    if (G < 1 || G > N)
        return ad_fail(AD_ERR_ARG, "train plan: batch %lld outside [1, %lld pairs]",
                       (long long)G, (long long)N);
    AD_TRY(ad_train_plan_pass(N, G, drop_last, p));
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

void ad_train_plan_share(const ad_train_plan *p, int64_t k, int rank, int size, int64_t *first,
                         int64_t *count)
{
    ad_share(ad_train_plan_batch(p, k), rank, size, first, count);
}
