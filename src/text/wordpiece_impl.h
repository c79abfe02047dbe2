/* Internal layout of ad_tokenizer, shared by the loader and the encoder. */
#ifndef ADAPTOR_WORDPIECE_IMPL_H
#define ADAPTOR_WORDPIECE_IMPL_H

#include "adaptor/wordpiece.h"

#include <stddef.h>
#include <stdint.h>

/* An added token matched whole in the raw text (the special tokens). */
typedef struct ad_wp_special {
    char *text;
    size_t len;
    int32_t id;
} ad_wp_special;

struct ad_tokenizer {
    /* id -> token: tok_len[id] < 0 marks an unused id of a sparse vocabulary */
    char *strings;
    size_t nstrings, capstrings;
    size_t *tok_off;
    int32_t *tok_len;
    int32_t nvocab;
    /* token -> id: open addressing, -1 = empty */
    int32_t *slots;
    size_t nslots;

    int lowercase, strip_accents, chinese_chars, clean_text;
    int max_chars_per_word;
    int model_max_length;
    int32_t unk_id, cls_id, sep_id, pad_id;

    ad_wp_special *special;
    int nspecial;
    unsigned char special_first[32]; /* bit set of the first bytes of special tokens */
};

/* Id of ("##" if cont) + s[0..n), or -1. */
int32_t ad_wp_lookup(const ad_tokenizer *tok, int cont, const char *s, size_t n);
/* Builds the token -> id map once every id has its string. */
int ad_wp_build_index(ad_tokenizer *tok);

#endif
