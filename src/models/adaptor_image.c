#include "adaptor/adaptor_image.h"

#include "adaptor/error.h"
#include "adaptor/l2norm.h"
#include "adaptor/nn.h"

#include "adaptor_internal.h"

#include <stdlib.h>
#include <string.h>

int ad_adaptor_image_pooled(ad_adaptor *m, const float *x, int b, float *out)
{
    return ad_adaptor_forward(m, AD_IMAGE, x, b, out, NULL);
}

int ad_adaptor_image_tokens(ad_adaptor *m, const float *x, int b, int tv, const float *ctx,
                            const uint8_t *ctx_mask, int tt, float *out)
{
    const ad_adaptor_config *c = &m->cfg;
    if (!c->tokens)
        return ad_fail(AD_ERR_ARG, "Adaptor: the fixed-text image path needs a token-mode "
                                   "model ([adaptor] mode = tokens)");
    if (b < 1 || tv < 1 || tt < 1)
        return ad_fail(AD_ERR_ARG, "Adaptor: image path with %d rows, %d image and %d text tokens",
                       b, tv, tt);
    /* The same report beside every image: the pair forward, so the result is exactly what
     * pre-training computed for an image paired with that report. */
    size_t row = (size_t)tt * c->dt;
    float *xt = ad_malloc((size_t)b * row * sizeof(float), "text context");
    uint8_t *mask = ad_malloc((size_t)b * tt, "text context mask");
    int rc = xt && mask ? AD_OK : AD_ERR_NOMEM;
    if (rc == AD_OK) {
        for (int i = 0; i < b; i++) {
            memcpy(xt + i * row, ctx, row * sizeof(float));
            for (int j = 0; j < tt; j++)
                mask[(size_t)i * tt + j] = ctx_mask ? ctx_mask[j] : 1;
        }
        ad_adaptor_batch batch = {x, xt, mask, tv, tt};
        rc = ad_adaptor_tokens_forward(m, &batch, b, out, NULL, NULL);
    }
    free(xt);
    free(mask);
    return rc;
}

int ad_adaptor_image_selfattn(const ad_adaptor *m, const float *x, int b, int T, float *out)
{
    const ad_adaptor_config *c = &m->cfg;
    int P = c->proj, L = c->layers;
    if (b < 1 || T < 1)
        return ad_fail(AD_ERR_ARG, "Adaptor: self-attention path with %d rows of %d tokens", b, T);
    size_t n = (size_t)b * T;
    ad_tok_block k;
    size_t nblk = ad_tok_block_layout(&k, NULL, b, T, T, P, c->ffn, c->heads, 0);
    /* block buffers, two ping-pong sequences, per-token norms */
    float *ws = ad_malloc((nblk + 2 * n * P + n) * sizeof(float), "self-attention workspace");
    if (!ws)
        return AD_ERR_NOMEM;
    ad_tok_block_layout(&k, ws, b, T, T, P, c->ffn, c->heads, 0);
    float *cur = ws + nblk, *next = cur + n * P, *norms = next + n * P;
    ad_linear_forward(cur, P, x, c->dv, m->w_img, NULL, (int)n, c->dv, P);
    ad_l2norm_forward(cur, norms, cur, (int)n, P);
    for (int l = 0; l < L; l++) {
        ad_tok_block_forward(m, &m->layer[l], &k, cur, T, cur, T, NULL, b, next, 0.0f, NULL);
        float *t = cur;
        cur = next;
        next = t;
    }
    memcpy(out, cur, n * P * sizeof(float));
    free(ws);
    return AD_OK;
}
