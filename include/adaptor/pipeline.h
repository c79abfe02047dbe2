/* Names shared by the pipeline stages: where `embed` writes a cache and where `pretrain`
 * and `eval` find it, derived from the job file so that one image cache serves every text
 * encoder and vice versa (a cache is keyed by its encoder and preprocessing only). */
#ifndef ADAPTOR_PIPELINE_H
#define ADAPTOR_PIPELINE_H

#include "adaptor/config.h"

#include <stddef.h>

/* "<cache.dir>/<modality>-<encoder folder>-<output>-<8 hex of the preprocessing>-<split>.nc"
 * modality: "image" or "text". */
int ad_cache_file(const ad_config *cfg, const char *modality, const char *split, char *out,
                  size_t n);
/* The preprocessing string recorded in the cache (and hashed into its name). */
int ad_cache_preprocessing(const ad_config *cfg, const char *modality, char *out, size_t n);

#endif
