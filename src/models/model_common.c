#include "model_common.h"

#include "adaptor/error.h"
#include "adaptor/nn.h"
#include "adaptor/rng.h"

#include <stdlib.h>

int ad_model_params_alloc(ad_model_buffers *b, void *model,
                          void (*layout)(void *model, ad_carve *c), const char *what)
{
    ad_carve count = {NULL, 0};
    layout(model, &count);
    b->nparams = count.off;
    b->params = ad_calloc(count.off ? count.off : 1, sizeof(float), what);
    if (!b->params)
        return AD_ERR_NOMEM;
    ad_carve bind = {b->params, 0};
    layout(model, &bind);
    return AD_OK;
}

int ad_model_ws_reserve(ad_model_buffers *b, size_t need, const char *what)
{
    if (need <= b->ws_cap)
        return AD_OK;
    free(b->ws);
    b->ws_cap = 0;
    b->ws = ad_malloc(need * sizeof(float), what);
    if (!b->ws)
        return AD_ERR_NOMEM;
    b->ws_cap = need;
    return AD_OK;
}

void ad_model_buffers_free(ad_model_buffers *b)
{
    free(b->params);
    free(b->ws);
    ad_bf16_gemm_destroy(b->bf16);
    b->bf16 = NULL;
    b->params = b->ws = NULL;
    b->nparams = b->ws_cap = 0;
}

void ad_model_params_random(ad_model_buffers *b, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < b->nparams; i++)
        b->params[i] = 0.0346f * (2.0f * ad_rng_uniform(&r) - 1.0f);
}

int ad_model_set_precision(ad_model_buffers *b, ad_precision p)
{
    if (p == ad_model_precision(b))
        return AD_OK;
    if (p == AD_PREC_FP32) {
        ad_bf16_gemm_destroy(b->bf16);
        b->bf16 = NULL;
        return AD_OK;
    }
    return ad_bf16_gemm_create(&b->bf16);
}

ad_precision ad_model_precision(const ad_model_buffers *b)
{
    return b->bf16 ? AD_PREC_BF16 : AD_PREC_FP32;
}

int ad_model_linear(ad_bf16_gemm *bf16, float *y, int ldy, const float *x, int ldx,
                    const float *w, const float *bias, int n, int in, int out)
{
    if (bf16)
        return ad_bf16_linear_forward(bf16, y, ldy, x, ldx, w, bias, n, in, out);
    ad_linear_forward(y, ldy, x, ldx, w, bias, n, in, out);
    return AD_OK;
}
