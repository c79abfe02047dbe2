/* The frozen part of `adaptor segment` (token cache -> Adaptor -> patch grid, or the
 * frozen ResNet's stages) and the decoder around it: loading, batch preparation, and
 * scoring a split. */
#include "segment_internal.h"

#include "adaptor/adaptor_image.h"
#include "adaptor/checkpoint.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/pipeline.h"
#include "adaptor/preprocess.h"
#include "adaptor/safetensors.h"
#include "adaptor/share.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void seg_model_free(seg_model *m)
{
    ad_adaptor_destroy(m->ad);
    ad_segdec_destroy(m->dec);
    free(m->tok);
    free(m->adapted);
    free(m->feat);
    free(m->logits);
    free(m->target);
    free(m->dlogits);
    free(m->tmask);
    free(m->idx);
    free(m->rows);
    ad_resnet_destroy(m->rn);
    free(m->img);
    for (int k = 0; k < 5; k++)
        free(m->stage[k]);
    memset(m, 0, sizeof *m);
}

static int adaptor_weights_path(const ad_config *cfg, char *out, size_t n)
{
    if (ad_config_is_set(cfg, "segment", "weights")) {
        snprintf(out, n, "%s", ad_config_get(cfg, "segment", "weights"));
        return AD_OK;
    }
    AD_TRY(ad_config_require(cfg, "output", "dir"));
    return ad_path_join(out, n, ad_config_get(cfg, "output", "dir"), "model.safetensors");
}

/* The trained Adaptor, its text width read from the checkpoint (the text side is unused). */
static int load_adaptor(const ad_config *cfg, const ad_job *job, int dv, seg_model *m)
{
    char path[4200];
    AD_TRY(adaptor_weights_path(cfg, path, sizeof path));
    return ad_adaptor_load_trained(cfg, job->tokens, path, dv, &m->ad);
}

const char *seg_model_name(const ad_job *job)
{
    if (job->arch == AD_ARCH_RESNET)
        return "baseline+unet_decoder";
    return job->seg_features == AD_SEG_FEATURES_ADAPTOR ? "adaptor+vit_decoder"
                                                        : "baseline+vit_decoder";
}

/* [segment] <key>: exactly n block widths into out. */
static int read_widths(const ad_config *cfg, const char *key, int n, int *out)
{
    char **ch;
    int nch;
    AD_TRY(ad_config_list(cfg, "segment", key, &ch, &nch));
    int rc = nch == n ? AD_OK
                      : ad_fail(AD_ERR_CONFIG, "%s: [segment] %s needs %d widths, got %d",
                                ad_config_where(cfg, "segment", key), key, n, nch);
    for (int i = 0; i < nch && rc == AD_OK; i++) {
        char *end;
        long v = strtol(ch[i], &end, 10);
        if (*end || v < 1 || v > 65536)
            rc = ad_fail(AD_ERR_CONFIG, "%s: [segment] %s: '%s' is not a width",
                         ad_config_where(cfg, "segment", key), key, ch[i]);
        out[i] = (int)v;
    }
    free(ch);
    return rc;
}

/* The ViT decoder over the cache's CLS + g x g tokens, through the Adaptor or not. */
static int vit_create(const ad_config *cfg, const ad_job *job, const ad_cache *cache, int cap,
                      seg_model *m)
{
    m->T = ad_cache_tokens(cache);
    m->D = ad_cache_dim(cache);
    int g = (int)lround(sqrt((double)(m->T - 1)));
    if (m->T < 2 || g * g != m->T - 1)
        return ad_fail(AD_ERR_FORMAT, "%s: %d tokens per image is not CLS + a square patch grid",
                       ad_cache_path(cache), m->T);
    m->grid = g;
    if (job->seg_features == AD_SEG_FEATURES_ADAPTOR) {
        AD_TRY(load_adaptor(cfg, job, m->D, m));
        m->C = m->ad->cfg.proj;
    } else {
        m->C = m->D;
    }
    ad_segdec_config dc = ad_segdec_vit_config(m->C, g);
    AD_TRY(read_widths(cfg, "decoder_channels", 4, dc.ch));
    AD_TRY(ad_segdec_create(&dc, &m->dec));
    if (ad_segdec_out_size(m->dec) != m->crop)
        return ad_fail(AD_ERR_CONFIG, "the decoder's %dx%d output differs from the %dx%d crop: "
                       "the ViT decoder needs a %d-patch grid (crop 224, patch 14)",
                       ad_segdec_out_size(m->dec), ad_segdec_out_size(m->dec), m->crop, m->crop,
                       16);
    size_t b = (size_t)cap;
    m->tok = ad_malloc(b * m->T * m->D * sizeof(float), "tokens");
    m->tmask = ad_malloc(b * m->T, "token masks");
    m->adapted = m->ad ? ad_malloc(b * m->T * m->C * sizeof(float), "adapted tokens") : NULL;
    m->feat = ad_malloc(b * g * g * m->C * sizeof(float), "decoder input");
    if (!m->tok || !m->tmask || (m->ad && !m->adapted) || !m->feat)
        return AD_ERR_NOMEM;
    m->in[0] = m->feat;
    return AD_OK;
}

/* The U-Net over the frozen ResNet's stages 4 (deepest), 3, 2, 1 at crop x crop, with the
 * block widths of [segment] unet_channels (decoder_channels is the ViT decoder's). */
static int unet_create(const ad_config *cfg, int cap, seg_model *m)
{
    const char *dir;
    AD_TRY(ad_config_string(cfg, "image_encoder", "model", &dir));
    AD_TRY(ad_resnet_load(dir, &m->rn));
    int side[5], ch[5];
    for (int k = 1; k < 5; k++) {
        int ow;
        int rc = ad_resnet_stage_shape(m->rn, k, m->crop, m->crop, &side[k], &ow, &ch[k]);
        if (rc != AD_OK)
            return ad_fail_ctx(rc, "%s: at crop %d", dir, m->crop);
    }
    ch[0] = 0;
    ad_segdec_config dc = ad_segdec_unet_resnet_config(ch, side[4]);
    AD_TRY(read_widths(cfg, "unet_channels", 5, dc.ch));
    AD_TRY(ad_segdec_create(&dc, &m->dec));
    int fit = ad_segdec_out_size(m->dec) == m->crop;
    for (int i = 1; i < 4 && fit; i++) {
        int s2, c2;
        ad_segdec_input_shape(m->dec, i, &s2, &c2);
        fit = s2 == side[4 - i] && c2 == ch[4 - i];
    }
    if (!fit)
        return ad_fail(AD_ERR_CONFIG, "%s: ResNet stages of %dx%d, %dx%d, %dx%d, %dx%d at crop "
                       "%d do not give the U-Net a %dx%d output (the crop must be a multiple "
                       "of 32: [data] crop_size)", dir, side[1], side[1], side[2], side[2],
                       side[3], side[3], side[4], side[4], m->crop, m->crop, m->crop);
    m->grid = side[4];
    m->C = ch[4];
    size_t b = (size_t)cap;
    m->img = ad_malloc(b * 3 * m->cc * sizeof(float), "images");
    if (!m->img)
        return AD_ERR_NOMEM;
    for (int k = 1; k < 5; k++) {
        m->stage[k] = ad_malloc(b * side[k] * side[k] * ch[k] * sizeof(float), "ResNet stages");
        if (!m->stage[k])
            return AD_ERR_NOMEM;
    }
    for (int i = 0; i < 4; i++)
        m->in[i] = m->stage[4 - i];
    return AD_OK;
}

int seg_model_create(const ad_config *cfg, const ad_job *job, const ad_cache *cache, int cap,
                     int crop, seg_model *m)
{
    memset(m, 0, sizeof *m);
    m->crop = crop;
    m->cc = crop * crop;
    m->cap = cap;
    AD_TRY(cache ? vit_create(cfg, job, cache, cap, m) : unet_create(cfg, cap, m));
    size_t b = (size_t)cap;
    m->logits = ad_malloc(b * m->cc * sizeof(float), "logits");
    m->target = ad_malloc(b * m->cc * sizeof(float), "targets");
    m->dlogits = ad_malloc(b * m->cc * sizeof(float), "logit gradients");
    m->idx = ad_malloc(b * sizeof *m->idx, "batch indices");
    m->rows = ad_malloc(b * sizeof *m->rows, "batch rows");
    if (!m->logits || !m->target || !m->dlogits || !m->idx || !m->rows)
        return AD_ERR_NOMEM;
    return AD_OK;
}

/* The frozen ResNet's stages of samples idx[0..n): normalised as `embed` does (SPEC 3). */
static int resnet_features(seg_model *m, const seg_split *s, const int64_t *idx, int n)
{
    double t0 = ad_now();
    for (int i = 0; i < n; i++) {
        ad_image im = {.width = m->crop, .height = m->crop,
                       .pixels = s->pix + (size_t)idx[i] * m->cc};
        AD_TRY(ad_crop_normalize(&im, m->crop, 0, 0, m->img + (size_t)i * 3 * m->cc));
    }
    double t1 = ad_now();
    m->t_read += t1 - t0;
    float *const stages[5] = {NULL, m->stage[1], m->stage[2], m->stage[3], m->stage[4]};
    int rc = ad_resnet_forward_stages(m->rn, m->img, n, m->crop, m->crop, stages);
    m->t_adaptor += ad_now() - t1;
    return rc;
}

/* The cache's tokens of samples idx[0..n), through the Adaptor or not, as the patch grid. */
static int vit_features(seg_model *m, const seg_split *s, const int64_t *idx, int n)
{
    int64_t *rows = m->rows;
    for (int i = 0; i < n; i++)
        rows[i] = s->cand[idx[i]];
    double t0 = ad_now();
    AD_TRY(ad_cache_read_rows(s->cache, rows, n, m->tok, m->tmask));
    double t1 = ad_now();
    m->t_read += t1 - t0;
    const float *src = m->tok;
    if (m->ad) {
        AD_TRY(ad_adaptor_image_selfattn(m->ad, m->tok, n, m->T, m->adapted));
        src = m->adapted;
    }
    /* Drop the CLS token: the patch tokens, row-major over the grid, are the NHWC map. */
    size_t gg = (size_t)m->grid * m->grid;
    for (int i = 0; i < n; i++)
        memcpy(m->feat + (size_t)i * gg * m->C, src + ((size_t)i * m->T + 1) * m->C,
               gg * m->C * sizeof(float));
    m->t_adaptor += ad_now() - t1;
    return AD_OK;
}

/* Decoder inputs and targets of samples idx[0..n) of split s. */
int seg_prepare(seg_model *m, const seg_split *s, const int64_t *idx, int n)
{
    if (n > m->cap)
        return ad_fail(AD_ERR_INTERNAL, "segment: batch of %d exceeds the buffers", n);
    AD_TRY(m->rn ? resnet_features(m, s, idx, n) : vit_features(m, s, idx, n));
    for (int i = 0; i < n; i++) {
        const uint8_t *mk = s->mask + (size_t)idx[i] * m->cc;
        float *t = m->target + (size_t)i * m->cc;
        for (int p = 0; p < m->cc; p++)
            t[p] = mk[p];
    }
    return AD_OK;
}



/* The decoder (eval mode) and the constant predictions over a whole split, shared out in
 * contiguous blocks; every rank ends with the totals. */
int seg_score_split(MPI_Comm comm, seg_model *m, const seg_split *s, seg_scores *sc)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(sc, 0, sizeof *sc);
    int64_t first, mine;
    ad_share(s->n, rank, size, &first, &mine);
    int rc = AD_OK;
    float *konst = ad_malloc((size_t)m->cc * sizeof(float), "constant prediction");
    if (!konst)
        rc = AD_ERR_NOMEM;
    for (int64_t at = first; rc == AD_OK && at < first + mine; at += m->cap) {
        int nb = (int)(first + mine - at < m->cap ? first + mine - at : m->cap);
        int64_t *idx = m->idx;
        for (int i = 0; i < nb; i++)
            idx[i] = at + i;
        rc = seg_prepare(m, s, idx, nb);
        double t0 = ad_now();
        if (rc == AD_OK)
            rc = ad_segdec_forward(m->dec, m->in, nb, m->logits, 0, MPI_COMM_NULL);
        m->t_decoder += ad_now() - t0;
        if (rc != AD_OK)
            break;
        ad_seg_counts_add(&sc->model, m->logits, m->target, nb, (size_t)m->cc);
        for (int i = 0; i < nb; i++) {
            const float *t = m->target + (size_t)i * m->cc;
            for (int p = 0; p < m->cc; p++)
                konst[p] = -1.0f;
            ad_seg_counts_add(&sc->bg, konst, t, 1, (size_t)m->cc);
            for (int p = 0; p < m->cc; p++)
                konst[p] = 1.0f;
            ad_seg_counts_add(&sc->fg, konst, t, 1, (size_t)m->cc);
        }
    }
    free(konst);
    AD_TRY(ad_mpi_agree(comm, rc, NULL));
    ad_reduce red = ad_mpi_sum(&comm);
    AD_TRY(ad_seg_counts_sum(&sc->model, &red));
    AD_TRY(ad_seg_counts_sum(&sc->bg, &red));
    return ad_seg_counts_sum(&sc->fg, &red);
}
