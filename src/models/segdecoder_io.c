/* Decoder weights as safetensors with PyTorch state_dict names and layouts. */
#include "adaptor/conv2d.h"
#include "adaptor/error.h"
#include "adaptor/provenance.h"
#include "adaptor/safetensors.h"
#include "segdecoder_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *home(ad_segdec *d, const seg_tensor *t)
{
    return (t->role == SEG_BN_MEAN || t->role == SEG_BN_VAR ? d->stats : d->params) + t->off;
}

static size_t numel(const seg_tensor *t)
{
    size_t n = 1;
    for (int k = 0; k < t->ndim; k++)
        n *= (size_t)t->shape[k];
    return n;
}

/* Conv weights are [a][kh][kw][b] inside and [a][b][kh][kw] in PyTorch (a, b = out, in for
 * Conv2d and in, out for ConvTranspose2d). */
static int is_weight(const seg_tensor *t)
{
    return t->role == SEG_CONV_W || t->role == SEG_CONVT_W;
}

static void to_torch(float *dst, const float *src, const seg_tensor *t)
{
    int A = (int)t->shape[0], B = (int)t->shape[1], kh = (int)t->shape[2], kw = (int)t->shape[3];
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    dst[(((size_t)a * B + b) * kh + y) * kw + x] =
                        src[(((size_t)a * kh + y) * kw + x) * B + b];
}

/* "decoder_0.1.running_var" -> "decoder_0.1.num_batches_tracked" */
static void tracked_name(char *out, size_t n, const char *var_name)
{
    const char *dot = strrchr(var_name, '.');
    int len = dot ? (int)(dot - var_name) : (int)strlen(var_name);
    snprintf(out, n, "%.*s.num_batches_tracked", len, var_name);
}

static void describe(const ad_segdec *d, char *buf, size_t n)
{
    const ad_segdec_config *c = &d->cfg;
    int k = snprintf(buf, n, "kind=%s in_ch=%d grid=%d stem_ch=%d nup=%d ch=",
                     c->kind == AD_SEGDEC_VIT ? "vit" : "unet", c->in_ch, c->grid, c->stem_ch,
                     c->nup);
    for (int i = 0; i < c->nup && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%d", i ? "," : "", c->ch[i]);
    for (int i = 0; c->kind == AD_SEGDEC_UNET && i < c->nup && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%d", i ? "," : " skip_ch=", c->skip_ch[i]);
}

int ad_segdec_save(const ad_segdec *dc, const char *path, const ad_provenance *prov)
{
    ad_segdec *d = (ad_segdec *)dc; /* read only: home() serves both buffers */
    ad_st_writer *w;
    AD_TRY(ad_st_writer_create(&w));
    int rc = AD_OK;
    float *tmp = NULL;
    char desc[256], name[96];
    describe(d, desc, sizeof desc);
    AD_CHECK(ad_st_writer_set_metadata(w, "format", "pt"));
    AD_CHECK(ad_st_writer_set_metadata(w, "segdec_config", desc));
    AD_CHECK(ad_prov_st_put(w, prov));
    for (size_t i = 0; i < d->ntensors; i++) {
        const seg_tensor *t = &d->tensors[i];
        const float *src = home(d, t);
        if (is_weight(t)) {
            free(tmp);
            tmp = ad_malloc(sizeof(float) * numel(t), "segdecoder save buffer");
            if (!tmp) {
                rc = AD_ERR_NOMEM;
                goto done;
            }
            to_torch(tmp, src, t);
            src = tmp;
        }
        AD_CHECK(ad_st_writer_add(w, t->name, AD_DT_F32, t->ndim, t->shape, src));
        if (t->role == SEG_BN_VAR) {
            tracked_name(name, sizeof name, t->name);
            AD_CHECK(ad_st_writer_add(w, name, AD_DT_I64, 0, t->shape, &d->batches_tracked));
        }
    }
    AD_CHECK(ad_st_writer_write(w, path));
done:
    free(tmp);
    ad_st_writer_destroy(w);
    return rc;
}

int ad_segdec_load(ad_segdec *d, const char *path)
{
    ad_safetensors *st;
    AD_TRY(ad_st_open(path, &st));
    int rc = AD_OK;
    float *tmp = NULL;
    for (size_t i = 0; i < d->ntensors; i++) {
        const seg_tensor *t = &d->tensors[i];
        float *dst = home(d, t);
        if (!is_weight(t)) {
            AD_CHECK(ad_st_read_f32(st, t->name, t->ndim, t->shape, dst));
            continue;
        }
        free(tmp);
        tmp = ad_malloc(sizeof(float) * numel(t), "segdecoder load buffer");
        if (!tmp) {
            rc = AD_ERR_NOMEM;
            goto done;
        }
        AD_CHECK(ad_st_read_f32(st, t->name, t->ndim, t->shape, tmp));
        ad_conv2d_weight_from_oihw(dst, tmp, (int)t->shape[0], (int)t->shape[1],
                                   (int)t->shape[2], (int)t->shape[3]);
    }
    /* optional: PyTorch keeps one counter per BN; they agree, the first one is taken */
    for (size_t i = 0; i < d->ntensors; i++) {
        if (d->tensors[i].role != SEG_BN_VAR)
            continue;
        char name[96];
        tracked_name(name, sizeof name, d->tensors[i].name);
        const ad_st_tensor *t = ad_st_find(st, name);
        if (t && t->dtype == AD_DT_I64 && t->numel == 1)
            memcpy(&d->batches_tracked, t->data, sizeof d->batches_tracked);
        break;
    }
done:
    free(tmp);
    ad_st_close(st);
    return rc;
}
