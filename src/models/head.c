#include "adaptor/head.h"

#include "adaptor/dropout.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "adaptor/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ad_head_parse_kind(const char *name, ad_head_kind *out)
{
    if (name && strcmp(name, "linear") == 0)
        *out = AD_HEAD_LINEAR;
    else if (name && strcmp(name, "mlp") == 0)
        *out = AD_HEAD_MLP;
    else
        return ad_fail(AD_ERR_CONFIG, "head: unknown head '%s' (linear | mlp)",
                       name ? name : "(null)");
    return AD_OK;
}

static size_t count_params(const ad_head_config *c)
{
    if (c->kind == AD_HEAD_LINEAR)
        return (size_t)c->out * c->in + c->out;
    return (size_t)c->hidden * c->in + 3 * (size_t)c->hidden + (size_t)c->out * c->hidden +
           c->out;
}

/* Views into one buffer in state_dict order. */
static void bind(const ad_head_config *c, float *base, float **w1, float **b1, float **g,
                 float **be, float **w2, float **b2)
{
    int mid = c->kind == AD_HEAD_LINEAR ? c->out : c->hidden;
    *w1 = base;
    *b1 = *w1 + (size_t)mid * c->in;
    if (c->kind == AD_HEAD_LINEAR) {
        *g = *be = *w2 = *b2 = NULL;
        return;
    }
    *g = *b1 + mid;
    *be = *g + mid;
    *w2 = *be + mid;
    *b2 = *w2 + (size_t)c->out * mid;
}

int ad_head_create(const ad_head_config *cfg, ad_head **out)
{
    *out = NULL;
    if (cfg->in < 1 || cfg->out < 1 || (cfg->kind == AD_HEAD_MLP && cfg->hidden < 1) ||
        !(cfg->dropout >= 0 && cfg->dropout < 1))
        return ad_fail(AD_ERR_ARG, "head: bad shape in %d, hidden %d, out %d, dropout %g",
                       cfg->in, cfg->hidden, cfg->out, cfg->dropout);
    ad_head *h = ad_calloc(1, sizeof *h, "head");
    if (!h)
        return AD_ERR_NOMEM;
    h->cfg = *cfg;
    h->nparams = count_params(cfg);
    h->params = ad_calloc(h->nparams, sizeof(float), "head parameters");
    h->grads = ad_calloc(h->nparams, sizeof(float), "head gradients");
    if (cfg->kind == AD_HEAD_MLP)
        h->running = ad_calloc(2 * (size_t)cfg->hidden, sizeof(float), "head running stats");
    if (!h->params || !h->grads || (cfg->kind == AD_HEAD_MLP && !h->running)) {
        ad_head_destroy(h);
        return AD_ERR_NOMEM;
    }
    bind(cfg, h->params, &h->w1, &h->b1, &h->bn_g, &h->bn_b, &h->w2, &h->b2);
    *out = h;
    return AD_OK;
}

static void free_acts(ad_head *h)
{
    free(h->x);
    free(h->mask);
    free(h->h);
    free(h->a);
    free(h->bn.xhat);
    free(h->bn.mean);
    free(h->bn.rstd);
    free(h->scratch);
    h->x = h->mask = h->h = h->a = h->scratch = NULL;
    h->bn.xhat = h->bn.mean = h->bn.rstd = NULL;
    h->cap = 0;
}

void ad_head_destroy(ad_head *h)
{
    if (!h)
        return;
    free_acts(h);
    free(h->params);
    free(h->grads);
    free(h->running);
    free(h);
}

static void uniform(float *p, size_t n, double bound, ad_rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2 * ad_rng_uniform_d(r) - 1) * bound);
}

void ad_head_init(ad_head *h, uint64_t seed)
{
    const ad_head_config *c = &h->cfg;
    ad_rng r;
    ad_rng_seed(&r, seed, 0x4ead);
    int mid = c->kind == AD_HEAD_LINEAR ? c->out : c->hidden;
    double b1 = 1 / sqrt((double)c->in);
    uniform(h->w1, (size_t)mid * c->in, b1, &r);
    uniform(h->b1, (size_t)mid, b1, &r);
    if (c->kind == AD_HEAD_MLP) {
        double b2 = 1 / sqrt((double)c->hidden);
        for (int j = 0; j < mid; j++) {
            h->bn_g[j] = 1;
            h->bn_b[j] = 0;
            h->running[j] = 0;
            h->running[mid + j] = 1;
        }
        uniform(h->w2, (size_t)c->out * mid, b2, &r);
        uniform(h->b2, (size_t)c->out, b2, &r);
    }
}

static int ensure(ad_head *h, int b)
{
    if (b <= h->cap)
        return AD_OK;
    free_acts(h);
    const ad_head_config *c = &h->cfg;
    size_t n = (size_t)b, mid = (size_t)(c->kind == AD_HEAD_LINEAR ? c->out : c->hidden);
    h->x = malloc(n * c->in * sizeof(float));
    h->mask = malloc(n * c->in * sizeof(float));
    h->h = malloc(n * mid * sizeof(float));
    h->a = malloc(n * mid * sizeof(float));
    h->bn.xhat = malloc(n * mid * sizeof(float));
    h->bn.mean = malloc(mid * sizeof(float));
    h->bn.rstd = malloc(mid * sizeof(float));
    h->scratch = malloc(n * (mid > (size_t)c->in ? mid : (size_t)c->in) * sizeof(float));
    if (!h->x || !h->mask || !h->h || !h->a || !h->bn.xhat || !h->bn.mean || !h->bn.rstd ||
        !h->scratch) {
        free_acts(h);
        return ad_fail(AD_ERR_NOMEM, "head: out of memory for a batch of %d rows", b);
    }
    h->cap = b;
    return AD_OK;
}

int ad_head_forward(ad_head *h, const float *x, int b, float *logits, ad_rng *rng,
                    MPI_Comm comm)
{
    const ad_head_config *c = &h->cfg;
    /* At least one row of buffers, so a rank without rows still joins BN's all-reduce. */
    AD_TRY(ensure(h, b > 0 ? b : 1));
    h->b = b;
    h->train = rng != NULL;
    size_t nx = (size_t)b * c->in;
    memcpy(h->x, x, nx * sizeof(float));
    if (c->kind == AD_HEAD_LINEAR) {
        if (h->train && c->dropout > 0)
            ad_dropout_forward(h->x, h->mask, nx, c->dropout, rng);
        if (b > 0)
            ad_linear_forward(logits, c->out, h->x, c->in, h->w1, h->b1, b, c->in, c->out);
        return AD_OK;
    }
    int H = c->hidden;
    if (b > 0)
        ad_linear_forward(h->h, H, h->x, c->in, h->w1, h->b1, b, c->in, H);
    ad_reduce red = ad_mpi_sum(&comm);
    if (h->train)
        AD_TRY(ad_batchnorm_forward_train(h->a, &h->bn, h->h, h->bn_g, h->bn_b, h->running,
                                          h->running + H, (size_t)b, H, c->bn_eps,
                                          c->bn_momentum, &red));
    else
        ad_batchnorm_forward_eval(h->a, h->h, h->bn_g, h->bn_b, h->running, h->running + H,
                                  (size_t)b, H, c->bn_eps);
    ad_relu_forward(h->a, h->a, (size_t)b * H);
    if (b > 0)
        ad_linear_forward(logits, c->out, h->a, H, h->w2, h->b2, b, H, c->out);
    return AD_OK;
}

int ad_head_backward(ad_head *h, const float *dlogits, MPI_Comm comm)
{
    const ad_head_config *c = &h->cfg;
    if (!h->train)
        return ad_fail(AD_ERR_INTERNAL, "head: backward without a training forward");
    int b = h->b;
    float *gw1, *gb1, *gg, *gbe, *gw2, *gb2;
    bind(c, h->grads, &gw1, &gb1, &gg, &gbe, &gw2, &gb2);
    if (c->kind == AD_HEAD_LINEAR) {
        if (b > 0)
            ad_linear_backward(NULL, gw1, gb1, dlogits, h->x, h->w1, b, c->in, c->out);
        return AD_OK;
    }
    int H = c->hidden;
    float *da = h->scratch;
    if (b > 0) {
        ad_linear_backward(da, gw2, gb2, dlogits, h->a, h->w2, b, H, c->out);
        ad_relu_backward(da, da, h->a, (size_t)b * H);
    }
    ad_reduce red = ad_mpi_sum(&comm);
    AD_TRY(ad_batchnorm_backward(da, gg, gbe, da, &h->bn, h->bn_g, (size_t)b, H, &red));
    if (b > 0)
        ad_linear_backward(NULL, gw1, gb1, da, h->x, h->w1, b, c->in, H);
    return AD_OK;
}
