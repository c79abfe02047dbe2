#include "adaptor/schedule.h"

#include "adaptor/error.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[] = {"constant", "linear", "cosine", "cosine_restarts",
                                             "reference"};

static int check_lr(double lr)
{
    if (!(lr >= 0.0) || isinf(lr))
        return ad_fail(AD_ERR_ARG, "schedule: learning rate %g is not a finite value >= 0", lr);
    return AD_OK;
}

int ad_schedule_init(ad_schedule *s, ad_sched_kind kind, double lr, int64_t total,
                     double warmup_frac)
{
    memset(s, 0, sizeof *s);
    AD_TRY(check_lr(lr));
    if (kind != AD_SCHED_CONSTANT && kind != AD_SCHED_LINEAR && kind != AD_SCHED_COSINE)
        return ad_fail(AD_ERR_ARG, "schedule: kind %d has its own init function",
                       (int)kind);
    if (total < 1)
        return ad_fail(AD_ERR_ARG, "schedule: total updates %lld < 1", (long long)total);
    if (!(warmup_frac >= 0.0 && warmup_frac < 1.0))
        return ad_fail(AD_ERR_ARG, "schedule: warm-up fraction %g outside [0, 1)", warmup_frac);
    s->kind = kind;
    s->lr = lr;
    s->total = total;
    /* int() in the reference truncates toward zero; the product is >= 0 here. */
    s->warmup = kind == AD_SCHED_CONSTANT ? 0 : (int64_t)(warmup_frac * (double)total);
    return AD_OK;
}

int ad_schedule_init_reference(ad_schedule *s, double lr, int64_t total, double warmup_frac,
                               int64_t epoch_steps)
{
    if (epoch_steps < 1)
        return ad_fail(AD_ERR_ARG, "schedule: %lld updates per epoch < 1", (long long)epoch_steps);
    AD_TRY(ad_schedule_init(s, AD_SCHED_LINEAR, lr, total, warmup_frac));
    s->kind = AD_SCHED_REFERENCE;
    s->epoch_steps = epoch_steps;
    return AD_OK;
}

int ad_schedule_init_restarts(ad_schedule *s, double lr, int64_t t0, double eta_min)
{
    memset(s, 0, sizeof *s);
    AD_TRY(check_lr(lr));
    if (t0 < 1)
        return ad_fail(AD_ERR_ARG, "schedule: restart period T_0 = %lld < 1", (long long)t0);
    if (!(eta_min >= 0.0 && eta_min <= lr))
        return ad_fail(AD_ERR_ARG, "schedule: eta_min %g outside [0, lr = %g]", eta_min, lr);
    s->kind = AD_SCHED_COSINE_RESTARTS;
    s->lr = lr;
    s->period = t0;
    s->eta_min = eta_min;
    return AD_OK;
}

double ad_schedule_lr(const ad_schedule *s, int64_t k)
{
    if (k < 1)
        k = 1;
    if (s->kind == AD_SCHED_CONSTANT)
        return s->lr;
    if (s->kind == AD_SCHED_COSINE_RESTARTS) {
        double cur = (double)((k - 1) % s->period);
        double c = 1.0 + cos(M_PI * cur / (double)s->period);
        return s->eta_min + (s->lr - s->eta_min) * c / 2.0;
    }
    int64_t t = s->total, w = s->warmup;
    if (s->kind == AD_SCHED_REFERENCE) /* one extra scheduler step per finished epoch */
        k += (k - 1) / s->epoch_steps;
    if (k > t)
        k = t;
    if (k < w)
        return s->lr * (double)k / (double)w;
    double frac = (double)(k - w) / (double)(t - w);
    if (s->kind == AD_SCHED_LINEAR || s->kind == AD_SCHED_REFERENCE)
        return s->lr * fmax(0.0, (double)(t - k) / (double)(t - w));
    return s->lr * 0.5 * (1.0 + cos(M_PI * frac));
}

int ad_schedule_parse_kind(const char *name, ad_sched_kind *out)
{
    for (int i = 0; i < (int)(sizeof kind_names / sizeof kind_names[0]); i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (ad_sched_kind)i;
            return AD_OK;
        }
    return ad_fail(AD_ERR_CONFIG,
                   "unknown schedule '%s' (constant, linear, cosine, cosine_restarts or reference)", name);
}

const char *ad_schedule_kind_name(ad_sched_kind kind)
{
    unsigned i = (unsigned)kind;
    return i < sizeof kind_names / sizeof kind_names[0] ? kind_names[i] : "unknown";
}
