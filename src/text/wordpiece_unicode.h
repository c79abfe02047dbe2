/* Character classes of HuggingFace's BERT normalizer and pre-tokenizer (generated table). */
#ifndef ADAPTOR_WORDPIECE_UNICODE_H
#define ADAPTOR_WORDPIECE_UNICODE_H

#include <stdint.h>

enum {
    AD_WP_DROP = 1,  /* removed by clean_text: control, format, private use (not \t \n \r) */
    AD_WP_WS = 2,    /* whitespace */
    AD_WP_PUNCT = 4, /* punctuation, split off as its own word */
    AD_WP_MN = 8     /* non-spacing mark, removed by accent stripping */
};

typedef struct ad_wp_range {
    int32_t lo, hi;
    int32_t cls;
} ad_wp_range;

/* The sorted, disjoint ranges of code points with a non-zero class. */
const ad_wp_range *ad_wp_unicode_ranges(int *n);

#endif
