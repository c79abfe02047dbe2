/* WordPiece tokenizer vs HuggingFace's own implementation (npm `tokenizers`, the Rust
 * library behind BertTokenizerFast): expectations written by
 * tests/ref/make_tokenizer_expectations.js into tests/data/tokenizers/expected/. */
#include "testutil.h"
#include "tok_reports.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/wordpiece.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NREPORTS TOK_NREPORTS
#define MAX_LENGTH 112

/* ---- helpers ------------------------------------------------------------------------- */

static char *hex_decode(const char *hex, size_t nhex, size_t *len)
{
    char *s = malloc(nhex / 2 + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < nhex / 2; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        s[i] = (char)v;
    }
    s[nhex / 2] = '\0';
    *len = nhex / 2;
    return s;
}

/* ids in decimal joined by single spaces (the expectation files' form). */
static void ids_string(const int32_t *ids, int n, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int k = 0; k < n; k++) {
        int w = snprintf(out + at, cap - at, k ? " %d" : "%d", (int)ids[k]);
        ck_assert(w > 0 && (size_t)w < cap - at);
        at += (size_t)w;
    }
}

static uint64_t fnv64(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Splits the next line of *p into at most nf tab-separated fields (in place). */
static int next_line(char **p, char **f, int nf)
{
    if (!**p)
        return 0;
    char *line = *p;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    int k = 0;
    f[k++] = line;
    for (char *c = line; *c && k < nf; c++)
        if (*c == '\t') {
            *c = '\0';
            f[k++] = c + 1;
        }
    return k;
}

static char *read_expected(const char *name)
{
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "tokenizers/expected/%s", name);
    tu_data_path(path, sizeof path, rel);
    char *data;
    size_t len;
    tu_assert_ok(ad_read_file(path, &data, &len));
    return data;
}

static ad_tokenizer *load_model(const char *name)
{
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    tu_data_path(path, sizeof path, rel);
    ad_tokenizer *tok;
    tu_assert_ok(ad_tokenizer_load(path, &tok));
    return tok;
}

/* ---- comparisons with the reference -------------------------------------------------- */

static void check_cases(const ad_tokenizer *tok, const char *model)
{
    char name[256];
    snprintf(name, sizeof name, "%s.cases.tsv", model);
    char *data = read_expected(name), *p = data;
    int ncases = 0;
    char *f[3];
    enum { CAP = 1 << 16 };
    int32_t *ids = malloc(CAP * sizeof *ids);
    char *got = malloc(CAP * 8);
    while (next_line(&p, f, 3) == 3) {
        int ml = atoi(f[0]);
        size_t len;
        char *text = hex_decode(f[1], strlen(f[1]), &len);
        int n;
        tu_assert_ok(ad_tokenizer_encode_n(tok, text, len, ml ? ml : CAP, ids, &n));
        ids_string(ids, n, got, CAP * 8);
        ck_assert_msg(strcmp(got, f[2]) == 0, "%s case %d (max_length %d) '%s':\n got %s\nwant %s",
                      model, ncases + 1, ml, text, got, f[2]);
        free(text);
        ncases++;
    }
    ck_assert_int_ge(ncases, 84);
    free(ids);
    free(got);
    free(data);
}

static void check_reports(const ad_tokenizer *tok, const char *model)
{
    tok_reports reports;
    tok_reports_load(&reports);
    /* MGCA captions by row, from the Python reference's output. */
    char *captions[NREPORTS + 1] = {0};
    char *mgca = read_expected("mgca_iuxray.tsv"), *p = mgca, *f[3];
    while (next_line(&p, f, 3) == 3)
        captions[atoi(f[0])] = f[2];

    char name[256];
    snprintf(name, sizeof name, "%s.reports.tsv", model);
    char *data = read_expected(name);
    p = data;
    int nraw = 0, nmgca = 0;
    int32_t ids[MAX_LENGTH];
    char got[MAX_LENGTH * 8];
    char *g[4];
    while (next_line(&p, g, 4) == 4) {
        int row = atoi(g[0]);
        ck_assert(row >= 1 && row <= NREPORTS);
        int raw = strcmp(g[1], "raw") == 0;
        const char *text = raw ? reports.text[row] : captions[row];
        ck_assert_ptr_nonnull(text);
        int n;
        tu_assert_ok(ad_tokenizer_encode(tok, text, MAX_LENGTH, ids, &n));
        ids_string(ids, n, got, sizeof got);
        char hash[17];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv64(got));
        ck_assert_msg(n == atoi(g[2]) && strcmp(hash, g[3]) == 0,
                      "%s row %d (%s): %d ids, hash %s; reference %s ids, hash %s\n text: %s\n "
                      "ids: %s", model, row, g[1], n, hash, g[2], g[3], text, got);
        ck_assert_int_le(n, MAX_LENGTH);
        raw ? nraw++ : nmgca++;
    }
    ck_assert_int_eq(nraw, NREPORTS);
    ck_assert_int_ge(nmgca, NREPORTS * 9 / 10);
    tok_reports_free(&reports);
    free(mgca);
    free(data);
}

static void check_model(const char *dir, const char *expected)
{
    ad_tokenizer *tok = load_model(dir);
    check_cases(tok, expected);
    check_reports(tok, expected);
    ad_tokenizer_destroy(tok);
}

START_TEST(bert_base_uncased) { check_model("bert-base-uncased", "bert-base-uncased"); }
END_TEST

START_TEST(bio_clinicalbert) { check_model("bio-clinicalbert", "bio-clinicalbert"); }
END_TEST

START_TEST(cxr_bert) { check_model("cxr-bert-specialized", "cxr-bert-specialized"); }
END_TEST

/* The folder with tokenizer.json only (no vocab.txt, no tokenizer_config.json). */
START_TEST(bio_clinicalbert_json_only)
{
    char src[4096], dir[4096], dst[4096];
    tu_data_path(src, sizeof src, "tokenizers/bio-clinicalbert/tokenizer.json");
    tu_tmpdir(dir, sizeof dir, "tokjson");
    char *data;
    size_t len;
    tu_assert_ok(ad_read_file(src, &data, &len));
    tu_assert_ok(ad_path_join(dst, sizeof dst, dir, "tokenizer.json"));
    tu_assert_ok(ad_write_file_atomic(dst, data, len));
    free(data);
    ad_tokenizer *tok;
    tu_assert_ok(ad_tokenizer_load(dir, &tok));
    ck_assert_int_eq(ad_tokenizer_vocab_size(tok), 28996);
    check_cases(tok, "bio-clinicalbert-json");
    check_reports(tok, "bio-clinicalbert-json");
    ad_tokenizer_destroy(tok);
}
END_TEST

/* A model folder's vocab.txt with another tokenizer_config.json (the generator's VARIANTS). */
static void check_variant(const char *base, const char *config, const char *expected)
{
    char src[4096], rel[512], dir[4096], dst[4096];
    snprintf(rel, sizeof rel, "tokenizers/%s/vocab.txt", base);
    tu_data_path(src, sizeof src, rel);
    tu_tmpdir(dir, sizeof dir, "tokvariant");
    char *data;
    size_t len;
    tu_assert_ok(ad_read_file(src, &data, &len));
    tu_assert_ok(ad_path_join(dst, sizeof dst, dir, "vocab.txt"));
    tu_assert_ok(ad_write_file_atomic(dst, data, len));
    free(data);
    tu_assert_ok(ad_path_join(dst, sizeof dst, dir, "tokenizer_config.json"));
    tu_write_text(dst, config);
    ad_tokenizer *tok;
    tu_assert_ok(ad_tokenizer_load(dir, &tok));
    check_cases(tok, expected);
    ad_tokenizer_destroy(tok);
}

START_TEST(config_variants)
{
    check_variant("bio-clinicalbert", "{\"do_lower_case\": false}", "bio-clinicalbert-cased");
    check_variant("bert-base-uncased", "{\"do_lower_case\": true, \"strip_accents\": false}",
                  "bert-base-uncased-nostrip");
    check_variant("bert-base-uncased", "{\"tokenize_chinese_chars\": false}",
                  "bert-base-uncased-nocjk");
}
END_TEST

START_TEST(accessors)
{
    ad_tokenizer *tok = load_model("bert-base-uncased");
    ck_assert_int_eq(ad_tokenizer_vocab_size(tok), 30522);
    ck_assert_int_eq(ad_tokenizer_pad_id(tok), 0);
    ck_assert_int_eq(ad_tokenizer_unk_id(tok), 100);
    ck_assert_int_eq(ad_tokenizer_cls_id(tok), 101);
    ck_assert_int_eq(ad_tokenizer_sep_id(tok), 102);
    ck_assert_int_eq(ad_tokenizer_model_max_length(tok), 512);
    ck_assert_str_eq(ad_tokenizer_id_to_token(tok, 101), "[CLS]");
    ck_assert_str_eq(ad_tokenizer_id_to_token(tok, 30521), "##～");
    ck_assert_ptr_null(ad_tokenizer_id_to_token(tok, 30522));
    ck_assert_ptr_null(ad_tokenizer_id_to_token(tok, -1));
    int32_t ids[4];
    int n;
    tu_assert_fails(ad_tokenizer_encode(tok, "a", 1, ids, &n), AD_ERR_ARG, "max_length");
    tu_assert_fails(ad_tokenizer_encode(tok, "ok \xc3\x28 bad", 4, ids, &n), AD_ERR_FORMAT,
                    "invalid UTF-8 at byte 3");
    ad_tokenizer_destroy(tok);
}
END_TEST

/* ---- small hand-made folders: file formats and errors -------------------------------- */

static void make_dir(char *dir, size_t n, const char *tag, const char *vocab, const char *cfg,
                     const char *json)
{
    char path[4096];
    tu_tmpdir(dir, n, tag);
    if (vocab) {
        tu_assert_ok(ad_path_join(path, sizeof path, dir, "vocab.txt"));
        tu_write_text(path, vocab);
    }
    if (cfg) {
        tu_assert_ok(ad_path_join(path, sizeof path, dir, "tokenizer_config.json"));
        tu_write_text(path, cfg);
    }
    if (json) {
        tu_assert_ok(ad_path_join(path, sizeof path, dir, "tokenizer.json"));
        tu_write_text(path, json);
    }
}

/* CRLF lines and a last line without newline; ids follow line numbers.  Greedy
 * longest-match: "hellos" -> hello ##s; "Hello" is lower-cased by default. */
START_TEST(vocab_crlf_and_config)
{
    char dir[4096];
    make_dir(dir, sizeof dir, "tokcrlf", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s\r\nworld",
             NULL, NULL);
    ad_tokenizer *tok;
    tu_assert_ok(ad_tokenizer_load(dir, &tok));
    ck_assert_int_eq(ad_tokenizer_vocab_size(tok), 7);
    int32_t ids[16];
    int n;
    tu_assert_ok(ad_tokenizer_encode(tok, "Hellos world worlds x", 16, ids, &n));
    const int32_t want[] = {2, 4, 5, 6, 6, 5, 1, 3};
    ck_assert_int_eq(n, 8);
    for (int k = 0; k < n; k++)
        ck_assert_int_eq(ids[k], want[k]);
    /* Truncation keeps the first pieces, then [SEP]. */
    tu_assert_ok(ad_tokenizer_encode(tok, "Hellos world worlds x", 4, ids, &n));
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ids[1], 4);
    ck_assert_int_eq(ids[2], 5);
    ck_assert_int_eq(ids[3], 3);
    ad_tokenizer_destroy(tok);

    /* A cased config keeps "Hello" whole: no match, so [UNK]. */
    make_dir(dir, sizeof dir, "tokcased", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n",
             "{\"do_lower_case\": false, \"model_max_length\": 128}", NULL);
    tu_assert_ok(ad_tokenizer_load(dir, &tok));
    ck_assert_int_eq(ad_tokenizer_model_max_length(tok), 128);
    tu_assert_ok(ad_tokenizer_encode(tok, "Hello hello", 16, ids, &n));
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(ids[2], 4);
    ad_tokenizer_destroy(tok);
}
END_TEST

START_TEST(errors)
{
    char dir[4096];
    ad_tokenizer *tok = NULL;
    make_dir(dir, sizeof dir, "tokmissing", NULL, "{}", NULL);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_IO,
                    "neither vocab.txt nor tokenizer.json");
    ck_assert_ptr_null(tok);

    make_dir(dir, sizeof dir, "tokempty", "", NULL, NULL);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT, "vocab.txt: empty vocabulary");

    make_dir(dir, sizeof dir, "tokbadcfg", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "{\"do_lower_case\": tru",
             NULL);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT,
                    "tokenizer_config.json: malformed JSON");

    make_dir(dir, sizeof dir, "tokbadkey", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n",
             "{\"do_lower_case\": \"yes\"}", NULL);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT,
                    "tokenizer_config.json: 'do_lower_case'");

    make_dir(dir, sizeof dir, "toknounk", "[PAD]\n[CLS]\n[SEP]\nword\n", NULL, NULL);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT,
                    "vocab.txt: unknown token '[UNK]' is not in the vocabulary");

    make_dir(dir, sizeof dir, "tokbpe", NULL, NULL,
             "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_UNSUPPORTED,
                    "tokenizer.json: model.type is 'BPE', only WordPiece");

    make_dir(dir, sizeof dir, "tokjsonbad", NULL, NULL, "[1, 2]");
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT,
                    "tokenizer.json: top level is not a JSON object");

    make_dir(dir, sizeof dir, "tokjsonid", NULL, NULL,
             "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -4}}}");
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT, "model.vocab[\"a\"]");

    make_dir(dir, sizeof dir, "tokjsonpre", NULL, NULL,
             "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}},"
             " \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_UNSUPPORTED,
                    "tokenizer.json: pre_tokenizer.type is 'Whitespace'");
    ck_assert_ptr_null(tok);
}
END_TEST

/* An optional tokenizer_config.json that exists but cannot be read is an error naming it; only
 * a truly absent one means BertTokenizer's defaults. */
START_TEST(unreadable_config)
{
    char dir[4096], cfg[4200], other[4200];
    ad_tokenizer *tok = NULL;
    make_dir(dir, sizeof dir, "tokloop", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", NULL, NULL);
    tu_assert_ok(ad_path_join(cfg, sizeof cfg, dir, "tokenizer_config.json"));
    tu_assert_ok(ad_path_join(other, sizeof other, dir, "other.json"));
    unlink(cfg);
    unlink(other);
    ck_assert_int_eq(symlink(other, cfg), 0);
    ck_assert_int_eq(symlink(cfg, other), 0);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_IO, "tokenizer_config.json");
    ck_assert_msg(strstr(ad_errmsg(), "symbolic links"), "%s", ad_errmsg());
    ck_assert_ptr_null(tok);
    /* a dangling link is not an absent file either */
    unlink(other);
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_IO, "tokenizer_config.json");
    ck_assert_msg(strstr(ad_errmsg(), "dangling"), "%s", ad_errmsg());
    /* a folder in its place */
    unlink(cfg);
    tu_assert_ok(ad_mkdir_p(cfg));
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_IO, "tokenizer_config.json");
    /* trailing garbage after the object */
    rmdir(cfg);
    tu_write_text(cfg, "{\"do_lower_case\": false}\n}\n");
    tu_assert_fails(ad_tokenizer_load(dir, &tok), AD_ERR_FORMAT, "tokenizer_config.json");
    /* absent: the defaults (lower-casing) */
    unlink(cfg);
    tu_assert_ok(ad_tokenizer_load(dir, &tok));
    int32_t ids[8];
    int n;
    tu_assert_ok(ad_tokenizer_encode(tok, "Hello", 8, ids, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[1], 4);
    ad_tokenizer_destroy(tok);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("wordpiece");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, bert_base_uncased);
    tcase_add_test(tc, bio_clinicalbert);
    tcase_add_test(tc, cxr_bert);
    tcase_add_test(tc, bio_clinicalbert_json_only);
    tcase_add_test(tc, config_variants);
    tcase_add_test(tc, accessors);
    tcase_add_test(tc, vocab_crlf_and_config);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, unreadable_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
