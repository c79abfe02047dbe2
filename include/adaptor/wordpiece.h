/* HuggingFace-exact BERT WordPiece tokenizer (BasicTokenizer + greedy longest-match WordPiece).
 *
 * Matches transformers' BertTokenizerFast / tokenizers' BertNormalizer + BertPreTokenizer +
 * WordPiece model, which is what AutoTokenizer hands users, including HF's own Unicode
 * character tables (src/text/wordpiece_unicode.c, probed from the npm build).  Settings come
 * from the model directory: vocab.txt + tokenizer_config.json, or tokenizer.json
 * (model.type "WordPiece") when vocab.txt is absent.  Special tokens written inside the text
 * ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", exact case) are kept whole with their ids,
 * as the fast tokenizer's added-token matching does on the raw text; "[cls]" is split into
 * "[", "cls", "]".
 */
#ifndef ADAPTOR_WORDPIECE_H
#define ADAPTOR_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ad_tokenizer ad_tokenizer;

/* Loads the tokenizer from model_dir (vocab.txt [+ tokenizer_config.json] or tokenizer.json). */
int ad_tokenizer_load(const char *model_dir, ad_tokenizer **out);
void ad_tokenizer_destroy(ad_tokenizer *tok);

/* [CLS] wordpieces [SEP], truncated to max_length (one sequence: keep the first
 * max_length-2 pieces), no padding; *n receives the count (<= max_length).
 * ids must hold max_length entries; max_length must be >= 2.  Text must be valid UTF-8. */
int ad_tokenizer_encode(const ad_tokenizer *tok, const char *text, int max_length, int32_t *ids, int *n);

/* As ad_tokenizer_encode for len bytes of text, which may contain NUL characters
 * (dropped, as HuggingFace's clean_text does). */
int ad_tokenizer_encode_n(const ad_tokenizer *tok, const char *text, size_t len, int max_length,
                          int32_t *ids, int *n);

int32_t ad_tokenizer_pad_id(const ad_tokenizer *tok);
int32_t ad_tokenizer_cls_id(const ad_tokenizer *tok);
int32_t ad_tokenizer_sep_id(const ad_tokenizer *tok);
int32_t ad_tokenizer_unk_id(const ad_tokenizer *tok);
int ad_tokenizer_vocab_size(const ad_tokenizer *tok);
/* model_max_length from the config (512 when absent or absurd, as HF's huge sentinel is). */
int ad_tokenizer_model_max_length(const ad_tokenizer *tok);
/* Token string for an id, or NULL when out of range. */
const char *ad_tokenizer_id_to_token(const ad_tokenizer *tok, int32_t id);

#endif
