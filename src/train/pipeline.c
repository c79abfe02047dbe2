#include "adaptor/pipeline.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <inttypes.h>
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

int ad_cache_preprocessing(const ad_config *cfg, const char *modality, char *out, size_t n)
{
    int w;
    if (strcmp(modality, "image") == 0)
        w = snprintf(out, n, "arch=%s output=%s resize=%s crop=%s depth16=%s pos_interp=%s",
                     ad_config_get(cfg, "image_encoder", "arch"),
                     ad_config_get(cfg, "image_encoder", "output"),
                     ad_config_get(cfg, "data", "resize"), ad_config_get(cfg, "data", "crop_size"),
                     ad_config_get(cfg, "data", "depth16"),
                     ad_config_get(cfg, "image_encoder", "pos_interp"));
    else if (strcmp(modality, "text") == 0)
        w = snprintf(out, n, "pooling=%s max_words=%s mgca report_columns=%s",
                     ad_config_get(cfg, "text_encoder", "pooling"),
                     ad_config_get(cfg, "data", "max_words"),
                     ad_config_get(cfg, "data", "report_columns"));
    else
        return ad_fail(AD_ERR_ARG, "unknown modality '%s'", modality);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "preprocessing description too long");
    return AD_OK;
}

int ad_cache_file(const ad_config *cfg, const char *modality, const char *split, char *out,
                  size_t n)
{
    const char *section = strcmp(modality, "image") == 0 ? "image_encoder" : "text_encoder";
    AD_TRY(ad_config_require(cfg, "cache", "dir"));
    AD_TRY(ad_config_require(cfg, section, "model"));
    char pre[512], base[4096], name[1024];
    AD_TRY(ad_cache_preprocessing(cfg, modality, pre, sizeof pre));
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
