/* Names of the cache layout, shared by the cache writer, reader and parts (internal). */
#ifndef ADAPTOR_IO_CACHE_INTERNAL_H
#define ADAPTOR_IO_CACHE_INTERNAL_H

#include "adaptor/cache.h"

#define AD_CACHE_DIM_SAMPLE "sample"
#define AD_CACHE_DIM_DIM "dim"
#define AD_CACHE_DIM_TOKEN "token"
#define AD_CACHE_VAR_EMB "embedding"
#define AD_CACHE_VAR_MASK "mask"
#define AD_CACHE_VAR_LEN "length"
#define AD_CACHE_VAR_ID "sample_id"
#define AD_CACHE_ATT_VERSION "adaptor_cache_version"

/* The text attributes a reader requires: those of ad_cache_meta's text fields, in their
 * order (the first AD_CACHE_N_META_ATTS), then config and adaptor_version from the
 * provenance stamp. */
#define AD_CACHE_N_META_ATTS 7
#define AD_CACHE_N_TEXT_ATTS 9
extern const char *const ad_cache_text_atts[AD_CACHE_N_TEXT_ATTS];

#endif
