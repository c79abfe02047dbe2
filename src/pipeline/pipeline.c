#include "adaptor/pipeline.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image_encoder.h"
#include "adaptor/safetensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint32_t fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static const char *basename_of(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}

/* prec: the encoder's precision, NULL for the job's own. */
static int describe(const ad_config *cfg, const char *modality, const char *prec, char *out,
                    size_t n)
{
    int w;
    if (strcmp(modality, "image") == 0) {
        /* The resolved pos_interp: "auto" on a register model and "aa" name one cache, and
         * "auto" on a plain DINOv2 keeps the name of the caches made with the old default. */
        ad_image_arch arch;
        ad_pos_interp pos;
        const char *sec = "image_encoder";
        int rc = ad_image_arch_parse(ad_config_get(cfg, sec, "arch"), &arch);
        if (rc == AD_OK)
            rc = ad_pos_interp_resolve(ad_config_get(cfg, sec, "pos_interp"), arch,
                                       ad_config_get(cfg, sec, "model"), &pos, NULL);
        if (rc != AD_OK)
            return ad_fail_ctx(rc, "%s: [%s] pos_interp", ad_config_source(cfg), sec);
        w = snprintf(out, n, "arch=%s output=%s resize=%s crop=%s depth16=%s pos_interp=%s",
                     ad_config_get(cfg, sec, "arch"), ad_config_get(cfg, sec, "output"),
                     ad_config_get(cfg, "data", "resize"), ad_config_get(cfg, "data", "crop_size"),
                     ad_config_get(cfg, "data", "depth16"), ad_pos_interp_name(pos));
    } else if (strcmp(modality, "text") == 0)
        w = snprintf(out, n, "pooling=%s max_words=%s mgca report_columns=%s",
                     ad_config_get(cfg, "text_encoder", "pooling"),
                     ad_config_get(cfg, "data", "max_words"),
                     ad_config_get(cfg, "data", "report_columns"));
    else
        return ad_fail(AD_ERR_ARG, "unknown modality '%s'", modality);
    /* bf16 embeddings differ from fp32 ones: recorded here, the precision also changes the
     * cache's file name (hash of this string), so neither is ever read for the other.
     * fp32 adds nothing, so caches written before the key existed stay valid. */
    if (!prec)
        prec = ad_config_get(cfg, strcmp(modality, "image") == 0 ? "image_encoder"
                                                                  : "text_encoder",
                             "precision");
    if (w >= 0 && (size_t)w < n && prec && strcmp(prec, "fp32") != 0)
        w += snprintf(out + w, n - (size_t)w, " precision=%s", prec);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "preprocessing description too long");
    return AD_OK;
}

int ad_cache_preprocessing(const ad_config *cfg, const char *modality, char *out, size_t n)
{
    return describe(cfg, modality, NULL, out, n);
}

static int file_for(const ad_config *cfg, const char *modality, const char *split,
                    const char *prec, char *out, size_t n)
{
    const char *section = strcmp(modality, "image") == 0 ? "image_encoder" : "text_encoder";
    AD_TRY(ad_config_require(cfg, "cache", "dir"));
    AD_TRY(ad_config_require(cfg, section, "model"));
    char pre[512], base[4096], name[1024];
    AD_TRY(describe(cfg, modality, prec, pre, sizeof pre));
    const char *enc = basename_of(ad_config_get(cfg, section, "model"), base, sizeof base);
    const char *output = strcmp(modality, "image") == 0
                             ? ad_config_get(cfg, "image_encoder", "output")
                             : ad_config_get(cfg, "text_encoder", "pooling");
    int w = snprintf(name, sizeof name, "%s-%s-%s-%08" PRIx32 "-%s.nc", modality, enc, output,
                     fnv1a32(pre), split);
    if (w < 0 || (size_t)w >= sizeof name)
        return ad_fail(AD_ERR_ARG, "cache file name too long for encoder '%s'", enc);
    return ad_path_join(out, n, ad_config_get(cfg, "cache", "dir"), name);
}

int ad_cache_file(const ad_config *cfg, const char *modality, const char *split, char *out,
                  size_t n)
{
    return file_for(cfg, modality, split, NULL, out, n);
}

int ad_cache_file_as(const ad_config *cfg, const char *modality, const char *split,
                     const char *precision, char *out, size_t n)
{
    return file_for(cfg, modality, split, precision, out, n);
}

static int64_t decode_id(int64_t id) { return id < 0 ? -id - 1 : id; }

int ad_cache_pair_rows(const ad_cache *img, const ad_cache *txt, int64_t **rows_img,
                       int64_t **rows_txt, int64_t *n, int64_t *dropped)
{
    *rows_img = *rows_txt = NULL;
    *n = *dropped = 0;
    const char *pi = ad_cache_path(img), *pt = ad_cache_path(txt);
    if (strcmp(ad_cache_modality(img), "image") != 0 || strcmp(ad_cache_modality(txt), "text") != 0)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: expected an image and a text cache, got %s and %s",
                       pi, pt, ad_cache_modality(img), ad_cache_modality(txt));
    const char *si = ad_cache_attr(img, "split"), *stx = ad_cache_attr(txt, "split");
    if (!si || !stx || strcmp(si, stx) != 0)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: splits differ (%s vs %s)", pi, pt,
                       si ? si : "?", stx ? stx : "?");
    /* Both caches come from the same row selection (embed.h): same samples in the same
     * order, where a row skipped as bad on one side carries sample_id -(id + 1). */
    int64_t N = ad_cache_rows(img);
    if (ad_cache_rows(txt) != N)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: sample counts differ (%lld vs %lld): embed both "
                       "from the same manifest and [data] settings", pi, pt, (long long)N,
                       (long long)ad_cache_rows(txt));
    const int64_t *a = ad_cache_ids(img), *b = ad_cache_ids(txt);
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++) {
        if (decode_id(a[i]) != decode_id(b[i]))
            return ad_fail(AD_ERR_FORMAT, "%s and %s: sample_id differs at row %lld (%lld vs %lld)",
                           pi, pt, (long long)i, (long long)decode_id(a[i]),
                           (long long)decode_id(b[i]));
        k += a[i] >= 0 && b[i] >= 0;
    }
    if (k == 0)
        return ad_fail(AD_ERR_FORMAT, "%s and %s: every sample was skipped as bad", pi, pt);
    int64_t *ri = ad_malloc((size_t)k * sizeof *ri, "pairs"), *rt = ad_malloc((size_t)k * sizeof *rt, "pairs");
    if (!ri || !rt) {
        free(ri);
        free(rt);
        return AD_ERR_NOMEM;
    }
    for (int64_t i = 0, j = 0; i < N; i++)
        if (a[i] >= 0 && b[i] >= 0) {
            ri[j] = rt[j] = i;
            j++;
        }
    *rows_img = ri;
    *rows_txt = rt;
    *n = k;
    *dropped = N - k;
    return AD_OK;
}

int ad_adaptor_config_from(const ad_config *cfg, int dv, int dt, int tokens,
                           ad_adaptor_config *out)
{
    int64_t P, F, H, L;
    double dropout, logit0;
    AD_TRY(ad_config_int(cfg, "adaptor", "projection_dim", &P));
    AD_TRY(ad_config_int(cfg, "adaptor", "ffn_dim", &F));
    AD_TRY(ad_config_int(cfg, "adaptor", "num_heads", &H));
    AD_TRY(ad_config_int(cfg, "adaptor", "num_layers", &L));
    AD_TRY(ad_config_float(cfg, "adaptor", "dropout", &dropout));
    AD_TRY(ad_config_float(cfg, "adaptor", "logit_scale_init", &logit0));
    /* checks the model makes too, here with the keys' origins named */
    if (!(dropout < 1))
        return ad_fail(AD_ERR_CONFIG, "%s: [adaptor] dropout = %g must be below 1",
                       ad_config_where(cfg, "adaptor", "dropout"), dropout);
    if (P % H != 0)
        return ad_fail(AD_ERR_CONFIG, "%s: [adaptor] projection_dim = %lld is not divisible by "
                       "[adaptor] num_heads = %lld", ad_config_where(cfg, "adaptor", "num_heads"),
                       (long long)P, (long long)H);
    *out = (ad_adaptor_config){.dv = dv, .dt = dt, .proj = (int)P, .ffn = (int)F,
                               .heads = (int)H, .layers = (int)L, .dropout = (float)dropout,
                               .ln_eps = 1e-5f, .logit_scale_init = (float)logit0,
                               .tokens = tokens};
    return AD_OK;
}

int ad_adaptor_load_trained(const ad_config *cfg, int tokens, const char *path, int dv,
                            ad_adaptor **out)
{
    *out = NULL;
    ad_safetensors *st;
    AD_TRY(ad_st_open(path, &st));
    const ad_st_tensor *tv = ad_st_find(st, "projection.visual_projection.weight");
    const ad_st_tensor *tt = ad_st_find(st, "projection.text_projection.weight");
    int rc = AD_OK;
    if (!tv || !tt || tv->ndim != 2 || tt->ndim != 2)
        rc = ad_fail(AD_ERR_FORMAT, "%s: not Adaptor weights (no 2-D projection.visual_projection"
                     ".weight / projection.text_projection.weight)", path);
    else if (tv->shape[1] != dv)
        rc = ad_fail(AD_ERR_CONFIG, "%s: the Adaptor takes %lld-wide image embeddings, the "
                     "image encoder gives %d", path, (long long)tv->shape[1], dv);
    int dt = rc == AD_OK ? (int)tt->shape[1] : 0;
    ad_st_close(st);
    AD_TRY(rc);
    ad_adaptor_config ac;
    AD_TRY(ad_adaptor_config_from(cfg, dv, dt, tokens, &ac));
    ad_adaptor *m;
    AD_TRY(ad_adaptor_create(&ac, &m));
    rc = ad_ckpt_load_weights(path, &m->layout, m->params);
    if (rc != AD_OK) {
        ad_adaptor_destroy(m);
        return rc;
    }
    *out = m;
    return AD_OK;
}
