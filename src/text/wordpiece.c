/* BERT WordPiece tokenization, matching HuggingFace tokenizers' BertNormalizer,
 * BertPreTokenizer and WordPiece model (the fast tokenizer AutoTokenizer returns).
 *
 * Encoding streams over the input once: each code point is cleaned, CJK-padded and
 * decomposed, then fed to the pre-tokenizer state machine; a finished word has its
 * non-spacing marks dropped, is lower-cased and goes through greedy longest-match-first
 * WordPiece.  Loading (vocab files, configs) lives in wordpiece_load.c. */
#include "wordpiece_impl.h"
#include "wordpiece_unicode.h"

#include "adaptor/error.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- vocabulary hash map ------------------------------------------------------------- */

static uint64_t fnv_step(uint64_t h, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#define FNV_BASIS 14695981039346656037ULL

/* Hash of ("##" if cont) + s: continuation lookups need no copy of the word. */
static uint64_t key_hash(int cont, const char *s, size_t n)
{
    uint64_t h = FNV_BASIS;
    if (cont)
        h = fnv_step(h, (const unsigned char *)"##", 2);
    return fnv_step(h, (const unsigned char *)s, n);
}

static int key_equal(const ad_tokenizer *tok, int32_t id, int cont, const char *s, size_t n)
{
    size_t len = tok->tok_len[id];
    const char *t = tok->strings + tok->tok_off[id];
    if (cont) {
        if (len != n + 2 || t[0] != '#' || t[1] != '#')
            return 0;
        t += 2;
    } else if (len != n) {
        return 0;
    }
    return memcmp(t, s, n) == 0;
}

int32_t ad_wp_lookup(const ad_tokenizer *tok, int cont, const char *s, size_t n)
{
    size_t mask = tok->nslots - 1;
    for (size_t i = (size_t)key_hash(cont, s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = tok->slots[i];
        if (id < 0)
            return -1;
        if (key_equal(tok, id, cont, s, n))
            return id;
    }
}

int ad_wp_build_index(ad_tokenizer *tok)
{
    size_t nslots = 16;
    while (nslots < 2 * (size_t)tok->nvocab)
        nslots *= 2;
    tok->slots = ad_malloc(nslots * sizeof *tok->slots, "vocabulary index");
    if (!tok->slots)
        return AD_ERR_NOMEM;
    memset(tok->slots, 0xff, nslots * sizeof *tok->slots);
    tok->nslots = nslots;
    for (int32_t id = 0; id < tok->nvocab; id++) {
        if (tok->tok_len[id] < 0) /* hole in a sparse tokenizer.json vocabulary */
            continue;
        const char *s = tok->strings + tok->tok_off[id];
        size_t n = (size_t)tok->tok_len[id];
        size_t mask = nslots - 1;
        size_t i = (size_t)key_hash(0, s, n) & mask;
        /* A repeated token maps to its last id, as Python's dict built line by line does. */
        while (tok->slots[i] >= 0 && !key_equal(tok, tok->slots[i], 0, s, n))
            i = (i + 1) & mask;
        tok->slots[i] = id;
    }
    return AD_OK;
}

/* ---- character classes (as the Rust implementation defines them) ------------------- */

/* The class of a code point in HF's own tables (wordpiece_unicode.c), which follow an
 * older Unicode version than utf8proc: ~700 code points differ from utf8proc's categories. */
static int char_class(int32_t c)
{
    if (c < 0x80) { /* the bulk of report text; same values as the table */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return 0;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            return AD_WP_WS;
        if (c == 0x0b || c == 0x0c)
            return AD_WP_DROP | AD_WP_WS;
        if (c < 0x20 || c == 0x7f)
            return AD_WP_DROP;
        return AD_WP_PUNCT;
    }
    int n;
    const ad_wp_range *r = ad_wp_unicode_ranges(&n);
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid].lo)
            hi = mid - 1;
        else if (c > r[mid].hi)
            lo = mid + 1;
        else
            return r[mid].cls;
    }
    return 0;
}

/* The ranges of tokenizers' normalizers/bert.rs, which differ from the Python
 * BasicTokenizer's (0x2B820-0x2B91F is not padded there); checked against the npm build. */
static int is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---- encoding ------------------------------------------------------------------------ */

typedef struct wp_state {
    const ad_tokenizer *tok;
    int32_t *word; /* code points of the current word, NFD-ordered */
    int nword, capword;
    char *bytes; /* the finished word in UTF-8 */
    size_t capbytes;
    int32_t *out; /* piece ids */
    int nout, limit;
} wp_state;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return AD_OK;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return ad_fail(AD_ERR_NOMEM, "tokenizer: out of memory for a %zu-character word", need);
    *p = q;
    *cap = n;
    return AD_OK;
}

static void emit(wp_state *st, int32_t id)
{
    if (st->nout < st->limit)
        st->out[st->nout++] = id;
}

/* Greedy longest-match-first over the UTF-8 word; [UNK] for the whole word when some
 * position has no match. */
static void wordpiece(wp_state *st, const char *w, size_t n, int nchars)
{
    const ad_tokenizer *tok = st->tok;
    if (nchars > tok->max_chars_per_word) {
        emit(st, tok->unk_id);
        return;
    }
    int first = st->nout;
    size_t start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        while (end > start) {
            id = ad_wp_lookup(tok, start > 0, w + start, end - start);
            if (id >= 0)
                break;
            do /* back to the previous character boundary */
                end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            st->nout = first;
            emit(st, tok->unk_id);
            return;
        }
        emit(st, id);
        start = end;
    }
}

/* Drops non-spacing marks (accent stripping), lower-cases, and runs WordPiece. */
static int finish_word(wp_state *st)
{
    if (st->nword == 0)
        return AD_OK;
    const ad_tokenizer *tok = st->tok;
    AD_TRY(grow((void **)&st->bytes, &st->capbytes, (size_t)st->nword * 8 + 1, 1));
    size_t nb = 0;
    int nchars = 0;
    for (int i = 0; i < st->nword; i++) {
        int32_t c = st->word[i];
        if (tok->strip_accents && (char_class(c) & AD_WP_MN))
            continue;
        if (tok->lowercase) {
            if (c == 0x130) { /* the one unconditional multi-character lower-casing */
                nb += (size_t)utf8proc_encode_char('i', (utf8proc_uint8_t *)st->bytes + nb);
                nchars++;
                c = 0x307;
            } else {
                c = utf8proc_tolower(c);
            }
        }
        nb += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)st->bytes + nb);
        nchars++;
    }
    st->nword = 0;
    if (nb > 0)
        wordpiece(st, st->bytes, nb, nchars);
    return AD_OK;
}

/* Canonical ordering (part of NFD): a mark moves before preceding marks of higher class. */
static int push_char(wp_state *st, int32_t c)
{
    if (st->nword == st->capword) {
        size_t cap = (size_t)st->capword;
        AD_TRY(grow((void **)&st->word, &cap, cap + 1, sizeof *st->word));
        st->capword = (int)cap;
    }
    int i = st->nword++;
    int ccc = st->tok->strip_accents ? utf8proc_get_property(c)->combining_class : 0;
    if (ccc > 0) {
        while (i > 0) {
            int prev = utf8proc_get_property(st->word[i - 1])->combining_class;
            if (prev <= ccc)
                break;
            st->word[i] = st->word[i - 1];
            i--;
        }
    }
    st->word[i] = c;
    return AD_OK;
}

/* The pre-tokenizer: whitespace ends a word, punctuation is a word of its own. */
static int pretok_char(wp_state *st, int32_t c)
{
    int cls = char_class(c);
    if (cls & AD_WP_WS)
        return finish_word(st);
    if (cls & AD_WP_PUNCT) {
        AD_TRY(finish_word(st));
        AD_TRY(push_char(st, c));
        return finish_word(st);
    }
    return push_char(st, c);
}

static int normalize_char(wp_state *st, int32_t c)
{
    const ad_tokenizer *tok = st->tok;
    if (tok->clean_text) { /* NUL and U+FFFD are in the drop class too */
        int cls = char_class(c);
        if (cls & AD_WP_DROP)
            return AD_OK;
        if (cls & AD_WP_WS)
            c = ' ';
    }
    int cjk = tok->chinese_chars && is_cjk(c);
    if (cjk)
        AD_TRY(pretok_char(st, ' '));
    if (tok->strip_accents) {
        utf8proc_int32_t dec[32];
        int last = 0;
        utf8proc_ssize_t nd =
            utf8proc_decompose_char(c, dec, 32, UTF8PROC_DECOMPOSE | UTF8PROC_STABLE, &last);
        if (nd < 0 || nd > 32)
            return ad_fail(AD_ERR_INTERNAL, "tokenizer: cannot decompose U+%04X", (unsigned)c);
        for (utf8proc_ssize_t k = 0; k < nd; k++)
            AD_TRY(pretok_char(st, dec[k]));
    } else {
        AD_TRY(pretok_char(st, c));
    }
    if (cjk)
        AD_TRY(pretok_char(st, ' '));
    return AD_OK;
}

/* Length of the special token matching at text[i], longest first; 0 if none. */
static size_t special_at(const ad_tokenizer *tok, const char *text, size_t len, size_t i,
                         int32_t *id)
{
    size_t best = 0;
    for (int k = 0; k < tok->nspecial; k++) {
        size_t n = tok->special[k].len;
        if (n > best && n <= len - i && memcmp(text + i, tok->special[k].text, n) == 0) {
            best = n;
            *id = tok->special[k].id;
        }
    }
    return best;
}

static int encode_pieces(wp_state *st, const char *text, size_t len)
{
    const ad_tokenizer *tok = st->tok;
    size_t i = 0;
    while (i < len && st->nout < st->limit) {
        unsigned char b = (unsigned char)text[i];
        if (tok->special_first[b >> 3] & (1u << (b & 7))) {
            int32_t id = -1;
            size_t n = special_at(tok, text, len, i, &id);
            if (n > 0) { /* added tokens are matched in the raw text, before normalization */
                AD_TRY(finish_word(st));
                emit(st, id);
                i += n;
                continue;
            }
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k;
        if (b < 0x80) {
            c = b;
            k = 1;
        } else {
            k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i),
                                 &c);
            if (k < 0)
                return ad_fail(AD_ERR_FORMAT, "text: invalid UTF-8 at byte %zu", i);
        }
        AD_TRY(normalize_char(st, c));
        i += (size_t)k;
    }
    return finish_word(st);
}

int ad_tokenizer_encode_n(const ad_tokenizer *tok, const char *text, size_t len, int max_length,
                          int32_t *ids, int *n)
{
    *n = 0;
    if (max_length < 2)
        return ad_fail(AD_ERR_ARG, "tokenizer: max_length %d leaves no room for [CLS] and [SEP]",
                       max_length);
    wp_state st = {.tok = tok, .out = ids + 1, .limit = max_length - 2};
    int rc = encode_pieces(&st, text, len);
    free(st.word);
    free(st.bytes);
    if (rc != AD_OK)
        return rc;
    ids[0] = tok->cls_id;
    ids[st.nout + 1] = tok->sep_id;
    *n = st.nout + 2;
    return AD_OK;
}

int ad_tokenizer_encode(const ad_tokenizer *tok, const char *text, int max_length, int32_t *ids,
                        int *n)
{
    return ad_tokenizer_encode_n(tok, text, strlen(text), max_length, ids, n);
}

int32_t ad_tokenizer_pad_id(const ad_tokenizer *tok) { return tok->pad_id; }
int32_t ad_tokenizer_cls_id(const ad_tokenizer *tok) { return tok->cls_id; }
int32_t ad_tokenizer_sep_id(const ad_tokenizer *tok) { return tok->sep_id; }
int32_t ad_tokenizer_unk_id(const ad_tokenizer *tok) { return tok->unk_id; }
int ad_tokenizer_vocab_size(const ad_tokenizer *tok) { return tok->nvocab; }
int ad_tokenizer_model_max_length(const ad_tokenizer *tok) { return tok->model_max_length; }

const char *ad_tokenizer_id_to_token(const ad_tokenizer *tok, int32_t id)
{
    if (id < 0 || id >= tok->nvocab || tok->tok_len[id] < 0)
        return NULL;
    return tok->strings + tok->tok_off[id];
}
