/* BERT encoder against tests/ref/bert_ref.py (plain-torch HF BertModel), whose fixture
 * writes the models and expectations into $ADAPTOR_TEST_TMP/bert_ref. */
#include "testutil.h"

#include "adaptor/bert.h"
#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H 48
#define MAXB 8
#define MAXT 32

typedef struct {
    int B, T;
    int32_t ids[MAXB * MAXT];
    int lengths[MAXB];
    float pooled[MAXB * H], cls[MAXB * H], mean[MAXB * H], tokens[MAXB * MAXT * H];
    float pooled_new[MAXB * H];
} expected;

static void ref_path(char *out, size_t n, const char *rel)
{
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    snprintf(out, n, "%s/bert_ref/%s", tmp ? tmp : "/tmp", rel);
}

static void load_expected(expected *e)
{
    char p[4096];
    ref_path(p, sizeof p, "expected.safetensors");
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(p, &st));
    const ad_st_tensor *ids = ad_st_find(st, "ids"), *len = ad_st_find(st, "lengths");
    ck_assert(ids && len && ids->dtype == AD_DT_I32 && len->dtype == AD_DT_I32);
    e->B = (int)ids->shape[0];
    e->T = (int)ids->shape[1];
    ck_assert(e->B <= MAXB && e->T <= MAXT);
    memcpy(e->ids, ids->data, ids->nbytes);
    int32_t l32[MAXB];
    memcpy(l32, len->data, len->nbytes);
    for (int b = 0; b < e->B; b++)
        e->lengths[b] = l32[b];
    int64_t bh[2] = {e->B, H}, bth[3] = {e->B, e->T, H};
    tu_assert_ok(ad_st_read_f32(st, "pooled", 2, bh, e->pooled));
    tu_assert_ok(ad_st_read_f32(st, "cls", 2, bh, e->cls));
    tu_assert_ok(ad_st_read_f32(st, "mean", 2, bh, e->mean));
    tu_assert_ok(ad_st_read_f32(st, "pooled_gelu_new", 2, bh, e->pooled_new));
    tu_assert_ok(ad_st_read_f32(st, "tokens", 3, bth, e->tokens));
    ad_st_close(st);
}

static ad_bert *load_model(const char *name)
{
    char p[4096];
    ref_path(p, sizeof p, name);
    ad_bert *m = NULL;
    tu_assert_ok(ad_bert_load(p, &m));
    return m;
}

static void check_output(ad_bert *m, const expected *e, ad_bert_output what, const float *ref,
                         size_t n, const char *label)
{
    static float out[MAXB * MAXT * H];
    memset(out, 0x7f, sizeof out);
    tu_assert_ok(ad_bert_forward(m, e->ids, e->lengths, e->B, e->T, what, out));
    double err = tu_max_rel_err(out, ref, n);
    ck_assert_msg(err <= 1e-4, "%s: relative error %.3g", label, err);
}

START_TEST(test_plain_matches_reference)
{
    expected *e = malloc(sizeof *e);
    load_expected(e);
    ad_bert *m = load_model("plain");
    const ad_bert_config *c = ad_bert_get_config(m);
    ck_assert(c->hidden == H && c->layers == 3 && c->heads == 4 && c->has_pooler);
    size_t bh = (size_t)e->B * H;
    check_output(m, e, AD_BERT_POOLER, e->pooled, bh, "pooled");
    check_output(m, e, AD_BERT_CLS, e->cls, bh, "cls");
    check_output(m, e, AD_BERT_MEAN, e->mean, bh, "mean");
    check_output(m, e, AD_BERT_TOKENS, e->tokens, bh * e->T, "tokens");
    ad_bert_destroy(m);
    free(e);
}
END_TEST

START_TEST(test_prefixed_and_legacy_names)
{
    expected *e = malloc(sizeof *e);
    load_expected(e);
    ad_bert *m = load_model("prefixed");
    check_output(m, e, AD_BERT_POOLER, e->pooled, (size_t)e->B * H, "prefixed pooled");
    check_output(m, e, AD_BERT_TOKENS, e->tokens, (size_t)e->B * e->T * H, "prefixed tokens");
    ad_bert_destroy(m);
    free(e);
}
END_TEST

START_TEST(test_gelu_new)
{
    expected *e = malloc(sizeof *e);
    load_expected(e);
    ad_bert *m = load_model("gelu_new");
    ck_assert(ad_bert_get_config(m)->act == AD_BERT_GELU_TANH);
    check_output(m, e, AD_BERT_POOLER, e->pooled_new, (size_t)e->B * H, "gelu_new pooled");
    ad_bert_destroy(m);
    free(e);
}
END_TEST

START_TEST(test_no_pooler)
{
    expected *e = malloc(sizeof *e);
    load_expected(e);
    ad_bert *m = load_model("nopooler");
    ck_assert(!ad_bert_get_config(m)->has_pooler);
    check_output(m, e, AD_BERT_CLS, e->cls, (size_t)e->B * H, "nopooler cls");
    check_output(m, e, AD_BERT_MEAN, e->mean, (size_t)e->B * H, "nopooler mean");
    float out[MAXB * H];
    tu_assert_fails(ad_bert_forward(m, e->ids, e->lengths, e->B, e->T, AD_BERT_POOLER, out),
                    AD_ERR_UNSUPPORTED, "cls or mean");
    ad_bert_destroy(m);
    free(e);
}
END_TEST

/* A sequence's result must not depend on what it is batched with (padding is masked). */
START_TEST(test_batch_invariance)
{
    expected *e = malloc(sizeof *e);
    load_expected(e);
    ad_bert *m = load_model("plain");
    static float all[MAXB * MAXT * H], one[MAXT * H];
    tu_assert_ok(ad_bert_forward(m, e->ids, e->lengths, e->B, e->T, AD_BERT_TOKENS, all));
    for (int b = 0; b < e->B; b++) {
        int L = e->lengths[b];
        tu_assert_ok(ad_bert_forward(m, e->ids + b * e->T, &L, 1, e->T, AD_BERT_TOKENS, one));
        double err = tu_max_rel_err(all + (size_t)b * e->T * H, one, (size_t)L * H);
        ck_assert_msg(err <= 1e-5, "sequence %d alone vs batched: %.3g", b, err);
        for (size_t i = (size_t)L * H; i < (size_t)e->T * H; i++)
            ck_assert_msg(all[(size_t)b * e->T * H + i] == 0.0f, "padding not zeroed");
    }
    ad_bert_destroy(m);
    free(e);
}
END_TEST

/* The in-memory constructor (benchmarks): output kinds agree with each other. */
START_TEST(test_random_model_consistency)
{
    ad_bert_config cfg = {32, 2, 4, 64, 50, 16, 2, 1e-12f, AD_BERT_GELU, 1};
    ad_bert *m;
    tu_assert_ok(ad_bert_create_random(&cfg, 7, &m));
    int32_t ids[2 * 10] = {2, 5, 7, 9, 11, 13, 3, 0, 0, 0, 2, 8, 6, 4, 9, 1, 44, 30, 12, 3};
    int len[2] = {7, 10};
    float tok[2 * 10 * 32], cls[2 * 32], mean[2 * 32], pooled[2 * 32];
    tu_assert_ok(ad_bert_forward(m, ids, len, 2, 10, AD_BERT_TOKENS, tok));
    tu_assert_ok(ad_bert_forward(m, ids, len, 2, 10, AD_BERT_CLS, cls));
    tu_assert_ok(ad_bert_forward(m, ids, len, 2, 10, AD_BERT_MEAN, mean));
    tu_assert_ok(ad_bert_forward(m, ids, len, 2, 10, AD_BERT_POOLER, pooled));
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 32; i++) {
            double s = 0;
            for (int t = 0; t < len[b]; t++)
                s += tok[(b * 10 + t) * 32 + i];
            ck_assert(cls[b * 32 + i] == tok[b * 10 * 32 + i]);
            ck_assert_msg(fabs(mean[b * 32 + i] - s / len[b]) < 1e-5, "mean pooling");
            ck_assert(pooled[b * 32 + i] > -1.0f && pooled[b * 32 + i] < 1.0f);
        }
    /* same seed, same model */
    ad_bert *m2;
    float cls2[2 * 32];
    tu_assert_ok(ad_bert_create_random(&cfg, 7, &m2));
    tu_assert_ok(ad_bert_forward(m2, ids, len, 2, 10, AD_BERT_CLS, cls2));
    ck_assert(memcmp(cls, cls2, sizeof cls) == 0);
    ad_bert_destroy(m);
    ad_bert_destroy(m2);
}
END_TEST

static void assert_load_fails(const char *name, const char *needle)
{
    char p[4096];
    ref_path(p, sizeof p, name);
    ad_bert *m = (ad_bert *)&m; /* must be reset to NULL on failure */
    ad_clear_error();
    int rc = ad_bert_load(p, &m);
    ck_assert_msg(rc != AD_OK, "%s: loaded", name);
    ck_assert_msg(m == NULL, "%s: output not cleared", name);
    ck_assert_msg(strstr(ad_errmsg(), needle) != NULL, "%s: message '%s' lacks '%s'", name,
                  ad_errmsg(), needle);
}

START_TEST(test_bad_inputs)
{
    assert_load_fails("bad_noconfig", "config.json");
    assert_load_fails("bad_json", "config.json");
    assert_load_fails("bad_missing", "encoder.layer.1.output.dense.bias");
    assert_load_fails("bad_shape", "encoder.layer.2.attention.self.key.weight");
    assert_load_fails("bad_act", "swish");
    assert_load_fails("does_not_exist", "does_not_exist");

    ad_bert *m = load_model("plain");
    int32_t ids[4] = {2, 5, 120, 3};
    float out[H];
    int len = 4;
    tu_assert_fails(ad_bert_forward(m, ids, &len, 1, 4, AD_BERT_CLS, out), AD_ERR_ARG,
                    "token 2 has id 120");
    len = 0;
    tu_assert_fails(ad_bert_forward(m, ids, &len, 1, 4, AD_BERT_CLS, out), AD_ERR_ARG,
                    "length 0");
    int32_t longids[70] = {0};
    len = 65;
    tu_assert_fails(ad_bert_forward(m, longids, &len, 1, 70, AD_BERT_CLS, out), AD_ERR_ARG,
                    "length 65");
    ad_bert_output w;
    tu_assert_fails(ad_bert_output_parse("max", &w), AD_ERR_ARG, "max");
    ad_bert_destroy(m);
}
END_TEST

int main(void)
{
    char msg[256];
    if (ad_blis_select(msg, sizeof msg) != 0)
        return 1;
    Suite *s = suite_create("bert");
    TCase *tc = tcase_create("bert");
    tcase_add_test(tc, test_plain_matches_reference);
    tcase_add_test(tc, test_prefixed_and_legacy_names);
    tcase_add_test(tc, test_gelu_new);
    tcase_add_test(tc, test_no_pooler);
    tcase_add_test(tc, test_batch_invariance);
    tcase_add_test(tc, test_random_model_consistency);
    tcase_add_test(tc, test_bad_inputs);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
