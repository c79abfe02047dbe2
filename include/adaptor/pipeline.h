/* Names shared by the pipeline stages: where `embed` writes a cache and where `pretrain`
 * and `eval` find it, derived from the job file so that one image cache serves every text
 * encoder and vice versa (a cache is keyed by its encoder and preprocessing only). */
#ifndef ADAPTOR_PIPELINE_H
#define ADAPTOR_PIPELINE_H

#include "adaptor/adaptor.h"
#include "adaptor/cache.h"
#include "adaptor/checkpoint.h"
#include "adaptor/config.h"

#include <stddef.h>
#include <stdint.h>

/* "<cache.dir>/<modality>-<encoder folder>-<output>-<8 hex of the preprocessing>-<split>.nc"
 * modality: "image" or "text". */
int ad_cache_file(const ad_config *cfg, const char *modality, const char *split, char *out,
                  size_t n);
/* The cache file of the same job had its encoder run at `precision` ("fp32" | "bf16"). */
int ad_cache_file_as(const ad_config *cfg, const char *modality, const char *split,
                     const char *precision, char *out, size_t n);
/* The preprocessing string recorded in the cache (and hashed into its name). */
int ad_cache_preprocessing(const ad_config *cfg, const char *modality, char *out, size_t n);

/* The Adaptor's configuration from the job file ([adaptor]) and the embedding sizes of the
 * caches it trains on (token counts > 0: token-level caches). */
int ad_adaptor_config_from(const ad_config *cfg, int dv, int dt, int tokens,
                           ad_adaptor_config *out);

/* A trained Adaptor for a downstream task: [adaptor] from the job file, the text width from
 * the checkpoint at path, which must take dv-wide image embeddings. */
int ad_adaptor_load_trained(const ad_config *cfg, int tokens, const char *path, int dv,
                            ad_adaptor **out);

/* The usable pairs of an image cache and a text cache of one split: (rows_img[k],
 * rows_txt[k]) in manifest order. Both caches must hold the same samples in the same order
 * (they come from the same row selection); rows skipped as bad on either side (negative
 * sample_id) are left out and counted in *dropped. Errors name both files. */
int ad_cache_pair_rows(const ad_cache *img, const ad_cache *txt, int64_t **rows_img,
                       int64_t **rows_txt, int64_t *n, int64_t *dropped);

#endif
