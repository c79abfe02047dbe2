/* Loading a BERT tokenizer from a HuggingFace model folder.
 *
 * vocab.txt (+ tokenizer_config.json) is what BertTokenizer(Fast) reads; a folder with only
 * tokenizer.json is read the way tokenizers' Tokenizer.from_file does (WordPiece model,
 * BertNormalizer).  Settings given explicitly in tokenizer_config.json override those of
 * tokenizer.json, as BertTokenizerFast's constructor does. */
#include "wordpiece_impl.h"

#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCAB 10000000 /* ids beyond this are a corrupt file, not a vocabulary */
#define DEFAULT_MAX_LENGTH 512

/* Settings from tokenizer_config.json; -1 = not given. */
typedef struct wp_config {
    int lowercase, strip_accents, chinese_chars, model_max_length;
    char unk[64], cls[64], sep[64], pad[64], mask[64];
} wp_config;

static void config_defaults(wp_config *c)
{
    c->lowercase = c->strip_accents = c->chinese_chars = c->model_max_length = -1;
    strcpy(c->unk, "[UNK]");
    strcpy(c->cls, "[CLS]");
    strcpy(c->sep, "[SEP]");
    strcpy(c->pad, "[PAD]");
    strcpy(c->mask, "[MASK]");
}

/* ---- the id -> string table ---------------------------------------------------------- */

static int table_reserve(ad_tokenizer *tok, int32_t nvocab)
{
    tok->tok_off = ad_calloc((size_t)nvocab, sizeof *tok->tok_off, "vocabulary offsets");
    tok->tok_len = ad_malloc((size_t)nvocab * sizeof *tok->tok_len, "vocabulary lengths");
    if (!tok->tok_off || !tok->tok_len)
        return AD_ERR_NOMEM;
    for (int32_t i = 0; i < nvocab; i++)
        tok->tok_len[i] = -1;
    tok->nvocab = nvocab;
    return AD_OK;
}

static int table_set(ad_tokenizer *tok, int32_t id, const char *s, size_t n)
{
    if (n > INT32_MAX / 2)
        return ad_fail(AD_ERR_FORMAT, "vocabulary: token of %zu bytes", n);
    if (tok->nstrings + n + 1 > tok->capstrings) {
        size_t cap = tok->capstrings ? tok->capstrings : 4096;
        while (cap < tok->nstrings + n + 1)
            cap *= 2;
        char *p = realloc(tok->strings, cap);
        if (!p)
            return ad_fail(AD_ERR_NOMEM, "vocabulary: out of memory");
        tok->strings = p;
        tok->capstrings = cap;
    }
    memcpy(tok->strings + tok->nstrings, s, n);
    tok->strings[tok->nstrings + n] = '\0';
    tok->tok_off[id] = tok->nstrings;
    tok->tok_len[id] = (int32_t)n;
    tok->nstrings += n + 1;
    return AD_OK;
}

static int add_special(ad_tokenizer *tok, const char *text, int32_t id)
{
    size_t n = strlen(text);
    if (n == 0)
        return AD_OK;
    for (int k = 0; k < tok->nspecial; k++)
        if (strcmp(tok->special[k].text, text) == 0)
            return AD_OK;
    ad_wp_special *p = realloc(tok->special, (size_t)(tok->nspecial + 1) * sizeof *p);
    if (!p)
        return ad_fail(AD_ERR_NOMEM, "tokenizer: out of memory");
    tok->special = p;
    char *copy = ad_strdup(text);
    if (!copy)
        return AD_ERR_NOMEM;
    p[tok->nspecial++] = (ad_wp_special){.text = copy, .len = n, .id = id};
    unsigned char b = (unsigned char)text[0];
    tok->special_first[b >> 3] |= (unsigned char)(1u << (b & 7));
    return AD_OK;
}

/* ---- vocab.txt ----------------------------------------------------------------------- */

/* One token per line, id = line number; \n, \r\n and \r end lines (Python's universal
 * newlines); the last line may lack its newline. */
static int load_vocab_txt(ad_tokenizer *tok, const char *path)
{
    char *data;
    size_t len;
    AD_TRY(ad_read_file(path, &data, &len));
    int rc = AD_OK;
    size_t nlines = 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n')))
            nlines++;
    if (len > 0 && data[len - 1] != '\n' && data[len - 1] != '\r')
        nlines++;
    if (nlines == 0) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: empty vocabulary", path);
        goto done;
    }
    if (nlines > MAX_VOCAB) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: %zu lines, more than %d tokens", path, nlines, MAX_VOCAB);
        goto done;
    }
    AD_CHECK(table_reserve(tok, (int32_t)nlines));
    size_t start = 0;
    int32_t id = 0;
    for (size_t i = 0; i <= len && id < (int32_t)nlines; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r')
            continue;
        AD_CHECK(table_set(tok, id++, data + start, i - start));
        if (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
done:
    free(data);
    return rc;
}

/* ---- JSON helpers -------------------------------------------------------------------- */


/* A boolean key: 1/0, -1 when absent or null; error for other types. */
static int json_bool(const cJSON *obj, const char *key, const char *path, int *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return AD_OK;
    if (!cJSON_IsBool(it))
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be true, false or null", path, key);
    *v = cJSON_IsTrue(it) ? 1 : 0;
    return AD_OK;
}

/* A special-token key: a string or an AddedToken object {"content": ...}. */
static int json_token(const cJSON *obj, const char *key, const char *path, char *out, size_t n)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return AD_OK;
    if (cJSON_IsObject(it))
        it = cJSON_GetObjectItemCaseSensitive(it, "content");
    if (!cJSON_IsString(it))
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' must be a string or {\"content\": ...}", path,
                       key);
    if (strlen(it->valuestring) == 0 || strlen(it->valuestring) >= n)
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' is empty or longer than %zu bytes", path, key,
                       n - 1);
    strcpy(out, it->valuestring);
    return AD_OK;
}

static int load_config(const char *path, wp_config *c)
{
    cJSON *j;
    AD_TRY(ad_json_read_object(path, &j));
    int rc = AD_OK;
    AD_CHECK(json_bool(j, "do_lower_case", path, &c->lowercase));
    AD_CHECK(json_bool(j, "strip_accents", path, &c->strip_accents));
    AD_CHECK(json_bool(j, "tokenize_chinese_chars", path, &c->chinese_chars));
    AD_CHECK(json_token(j, "unk_token", path, c->unk, sizeof c->unk));
    AD_CHECK(json_token(j, "cls_token", path, c->cls, sizeof c->cls));
    AD_CHECK(json_token(j, "sep_token", path, c->sep, sizeof c->sep));
    AD_CHECK(json_token(j, "pad_token", path, c->pad, sizeof c->pad));
    AD_CHECK(json_token(j, "mask_token", path, c->mask, sizeof c->mask));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model_max_length");
    if (m && !cJSON_IsNull(m)) {
        if (!cJSON_IsNumber(m) || m->valuedouble < 2) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: 'model_max_length' must be a number >= 2", path);
            goto done;
        }
        /* HF writes 1e30 for "no limit"; BERT's position table caps it at 512 anyway. */
        if (m->valuedouble <= 1e6)
            c->model_max_length = (int)m->valuedouble;
    }
done:
    cJSON_Delete(j);
    return rc;
}

/* ---- tokenizer.json ------------------------------------------------------------------ */

static int load_tokenizer_json(ad_tokenizer *tok, const char *path, wp_config *c)
{
    cJSON *j;
    AD_TRY(ad_json_read_object(path, &j));
    int rc = AD_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type)) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: no model.type", path);
        goto done;
    }
    if (strcmp(type->valuestring, "WordPiece") != 0) {
        rc = ad_fail(AD_ERR_UNSUPPORTED, "%s: model.type is '%s', only WordPiece is supported",
                     path, type->valuestring);
        goto done;
    }
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (prefix && (!cJSON_IsString(prefix) || strcmp(prefix->valuestring, "##") != 0)) {
        rc = ad_fail(AD_ERR_UNSUPPORTED, "%s: continuing_subword_prefix must be \"##\"", path);
        goto done;
    }
    const cJSON *maxc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsNumber(maxc) && maxc->valuedouble >= 1 && maxc->valuedouble < INT_MAX)
        tok->max_chars_per_word = (int)maxc->valuedouble;
    AD_CHECK(json_token(model, "unk_token", path, c->unk, sizeof c->unk));

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    if (!cJSON_IsObject(vocab) || !vocab->child) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: model.vocab is missing or empty", path);
        goto done;
    }
    if (added && !cJSON_IsArray(added)) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: added_tokens is not an array", path);
        goto done;
    }
    double maxid = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= MAX_VOCAB ||
            e->valuedouble != (int32_t)e->valuedouble) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: model.vocab[\"%s\"] is not an id in [0, %d)", path,
                         e->string, MAX_VOCAB);
            goto done;
        }
        if (e->valuedouble > maxid)
            maxid = e->valuedouble;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= MAX_VOCAB ||
            !cJSON_IsString(content)) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: added_tokens entry without content / valid id",
                         path);
            goto done;
        }
        if (id->valuedouble > maxid)
            maxid = id->valuedouble;
    }
    AD_CHECK(table_reserve(tok, (int32_t)maxid + 1));
    cJSON_ArrayForEach(e, vocab)
        AD_CHECK(table_set(tok, (int32_t)e->valuedouble, e->string, strlen(e->string)));
    cJSON_ArrayForEach(e, added) {
        const char *content = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
        int norm = 0, lstrip = 0, rstrip = 0, single = 0;
        AD_CHECK(json_bool(e, "normalized", path, &norm));
        AD_CHECK(json_bool(e, "lstrip", path, &lstrip));
        AD_CHECK(json_bool(e, "rstrip", path, &rstrip));
        AD_CHECK(json_bool(e, "single_word", path, &single));
        if (norm == 1 || lstrip == 1 || rstrip == 1 || single == 1) {
            rc = ad_fail(AD_ERR_UNSUPPORTED,
                         "%s: added token '%s' is normalized / lstrip / rstrip / single_word; "
                         "only plain added tokens are supported", path, content);
            goto done;
        }
        if (tok->tok_len[id] < 0)
            AD_CHECK(table_set(tok, id, content, strlen(content)));
        AD_CHECK(add_special(tok, content, id));
    }

    /* Without a normalizer the text goes to the pre-tokenizer untouched. */
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(j, "normalizer");
    tok->clean_text = tok->chinese_chars = tok->lowercase = 0;
    tok->strip_accents = -1;
    if (norm && !cJSON_IsNull(norm)) {
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(norm, "type");
        if (!cJSON_IsString(nt) || strcmp(nt->valuestring, "BertNormalizer") != 0) {
            rc = ad_fail(AD_ERR_UNSUPPORTED, "%s: normalizer.type is '%s', only BertNormalizer "
                         "is supported", path, cJSON_IsString(nt) ? nt->valuestring : "?");
            goto done;
        }
        tok->clean_text = tok->chinese_chars = tok->lowercase = 1; /* serde defaults */
        AD_CHECK(json_bool(norm, "clean_text", path, &tok->clean_text));
        AD_CHECK(json_bool(norm, "handle_chinese_chars", path, &tok->chinese_chars));
        AD_CHECK(json_bool(norm, "lowercase", path, &tok->lowercase));
        AD_CHECK(json_bool(norm, "strip_accents", path, &tok->strip_accents));
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "BertPreTokenizer") != 0) {
        rc = ad_fail(AD_ERR_UNSUPPORTED, "%s: pre_tokenizer.type is '%s', only BertPreTokenizer "
                     "is supported", path, cJSON_IsString(pt) ? pt->valuestring : "null");
        goto done;
    }
done:
    cJSON_Delete(j);
    return rc;
}

/* ---- assembling ---------------------------------------------------------------------- */

static int special_id(const ad_tokenizer *tok, const char *name, const char *what,
                      const char *path, int32_t *id)
{
    *id = ad_wp_lookup(tok, 0, name, strlen(name));
    if (*id < 0)
        return ad_fail(AD_ERR_FORMAT, "%s: %s token '%s' is not in the vocabulary", path, what,
                       name);
    return AD_OK;
}

static int load_into(ad_tokenizer *tok, const char *dir)
{
    char vocab[4096], cfgpath[4096], json[4096];
    AD_TRY(ad_path_join(vocab, sizeof vocab, dir, "vocab.txt"));
    AD_TRY(ad_path_join(cfgpath, sizeof cfgpath, dir, "tokenizer_config.json"));
    AD_TRY(ad_path_join(json, sizeof json, dir, "tokenizer.json"));
    wp_config cfg;
    config_defaults(&cfg);
    int have_cfg, have_vocab, have_json;
    AD_TRY(ad_optional_file(cfgpath, &have_cfg));
    AD_TRY(ad_optional_file(vocab, &have_vocab));
    AD_TRY(ad_optional_file(json, &have_json));
    if (have_cfg)
        AD_TRY(load_config(cfgpath, &cfg));
    tok->max_chars_per_word = 100;
    const char *source;
    if (have_vocab) {
        source = vocab;
        AD_TRY(load_vocab_txt(tok, vocab));
        /* BertTokenizer's defaults. */
        tok->clean_text = 1;
        tok->lowercase = cfg.lowercase < 0 ? 1 : cfg.lowercase;
        tok->chinese_chars = cfg.chinese_chars < 0 ? 1 : cfg.chinese_chars;
        tok->strip_accents = cfg.strip_accents;
    } else if (have_json) {
        source = json;
        AD_TRY(load_tokenizer_json(tok, json, &cfg));
        if (cfg.lowercase >= 0)
            tok->lowercase = cfg.lowercase;
        if (cfg.chinese_chars >= 0)
            tok->chinese_chars = cfg.chinese_chars;
        if (cfg.strip_accents >= 0)
            tok->strip_accents = cfg.strip_accents;
    } else {
        return ad_fail(AD_ERR_IO, "%s: neither vocab.txt nor tokenizer.json found", dir);
    }
    /* strip_accents unset follows lowercase (BertNormalizer). */
    if (tok->strip_accents < 0)
        tok->strip_accents = tok->lowercase;
    tok->model_max_length = cfg.model_max_length > 0 ? cfg.model_max_length : DEFAULT_MAX_LENGTH;
    AD_TRY(ad_wp_build_index(tok));
    AD_TRY(special_id(tok, cfg.unk, "unknown", source, &tok->unk_id));
    AD_TRY(special_id(tok, cfg.cls, "classifier", source, &tok->cls_id));
    AD_TRY(special_id(tok, cfg.sep, "separator", source, &tok->sep_id));
    AD_TRY(special_id(tok, cfg.pad, "padding", source, &tok->pad_id));
    if (source == vocab) {
        /* The special tokens BertTokenizerFast registers as (non-normalized) added tokens. */
        const char *names[] = {cfg.unk, cfg.sep, cfg.pad, cfg.cls, cfg.mask};
        for (int k = 0; k < 5; k++) {
            int32_t id = ad_wp_lookup(tok, 0, names[k], strlen(names[k]));
            if (id >= 0)
                AD_TRY(add_special(tok, names[k], id));
        }
    }
    return AD_OK;
}

int ad_tokenizer_load(const char *model_dir, ad_tokenizer **out)
{
    *out = NULL;
    ad_tokenizer *tok = ad_calloc(1, sizeof *tok, "tokenizer");
    if (!tok)
        return AD_ERR_NOMEM;
    int rc = load_into(tok, model_dir);
    if (rc != AD_OK) {
        ad_tokenizer_destroy(tok);
        return rc;
    }
    *out = tok;
    return AD_OK;
}

void ad_tokenizer_destroy(ad_tokenizer *tok)
{
    if (!tok)
        return;
    for (int k = 0; k < tok->nspecial; k++)
        free(tok->special[k].text);
    free(tok->special);
    free(tok->strings);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->slots);
    free(tok);
}
