/* ad_job_parse against the schema: the defaults give the documented enums, every word of
 * every enumerated key parses and yields a different struct than the key's other words (so
 * no choice of the schema is left unparsed), and words the code does not implement are
 * refused naming the key. */
#include "testutil.h"

#include "adaptor/config.h"
#include "adaptor/error.h"
#include "adaptor/job.h"
#include "adaptor/pipeline.h"

#include <stdlib.h>
#include <string.h>

START_TEST(defaults)
{
    ad_config *cfg;
    tu_assert_ok(ad_config_create(&cfg));
    ad_job j;
    tu_assert_ok(ad_job_parse(cfg, &j));
    ck_assert_int_eq(j.depth16, AD_DEPTH16_HIGHBYTE);
    ck_assert_int_eq(j.pooling, AD_BERT_POOLER);
    ck_assert_int_eq(j.arch, AD_ARCH_DINOV2);
    ck_assert_int_eq(j.pos_interp, AD_POS_HUB);
    ck_assert_int_eq(j.image_output, AD_IMG_CLS);
    ck_assert_int_eq(j.image_precision, AD_PREC_FP32);
    ck_assert_int_eq(j.text_precision, AD_PREC_FP32);
    ck_assert_int_eq(j.tokens, 0);
    ck_assert_int_eq(j.source, AD_SOURCE_CACHE);
    ck_assert_int_eq(j.augment, AD_AUGMENT_NONE);
    ck_assert_int_eq(j.schedule, AD_SCHED_LINEAR);
    ck_assert_int_eq(j.negatives, AD_NEGATIVES_GLOBAL);
    ck_assert_int_eq(j.shuffle, AD_SHUFFLE_ONCE);
    ck_assert_int_eq(j.seg_rows, AD_SEG_ROWS_POSITIVE);
    ck_assert_int_eq(j.seg_features, AD_SEG_FEATURES_ADAPTOR);
    ck_assert_int_eq(j.task, AD_TASK_BINARY);
    ck_assert_int_eq(j.probe, 0);
    ck_assert_int_eq(j.head_kind, AD_HEAD_LINEAR);
    ad_config_destroy(cfg);
}
END_TEST

START_TEST(chosen_words)
{
    ad_config *cfg;
    tu_assert_ok(ad_config_create(&cfg));
    const char *set[][3] = {{"adaptor", "mode", "tokens"},       {"train", "source", "online"},
                            {"train", "augment", "random_crop"}, {"train", "schedule", "cosine"},
                            {"train", "negatives", "local"},     {"train", "shuffle", "none"},
                            {"segment", "rows", "all"},          {"segment", "features", "encoder"},
                            {"classify", "task", "multilabel"},  {"classify", "head", "mlp"},
                            {"data", "depth16", "max"},          {"image_encoder", "arch", "resnet"},
                            {"image_encoder", "output", "tokens"}, {"image_encoder", "pos_interp", "hf"},
                            {"text_encoder", "pooling", "mean"}};
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        tu_assert_ok(ad_config_set(cfg, set[i][0], set[i][1], set[i][2], "test"));
    ad_job j;
    tu_assert_ok(ad_job_parse(cfg, &j));
    ck_assert(j.tokens == 1 && j.source == AD_SOURCE_ONLINE && j.augment == AD_AUGMENT_RANDOM_CROP);
    ck_assert(j.schedule == AD_SCHED_COSINE && j.negatives == AD_NEGATIVES_LOCAL);
    ck_assert(j.shuffle == AD_SHUFFLE_NONE && j.seg_rows == AD_SEG_ROWS_ALL);
    ck_assert(j.seg_features == AD_SEG_FEATURES_ENCODER && j.task == AD_TASK_MULTILABEL);
    ck_assert(!j.probe && j.head_kind == AD_HEAD_MLP && j.depth16 == AD_DEPTH16_MAX);
    ck_assert(j.arch == AD_ARCH_RESNET && j.image_output == AD_IMG_TOKENS && j.pos_interp == AD_POS_HF);
    ck_assert(j.pooling == AD_BERT_MEAN);
    tu_assert_ok(ad_config_set(cfg, "classify", "head", "probe", "test"));
    tu_assert_ok(ad_config_set(cfg, "train", "shuffle", "epoch", "test"));
    tu_assert_ok(ad_job_parse(cfg, &j));
    ck_assert(j.probe && j.shuffle == AD_SHUFFLE_EPOCH);
    ad_config_destroy(cfg);
}
END_TEST

/* Every word of every enumerated key of the schema: parsed, and distinguishable. */
START_TEST(every_schema_choice)
{
    int keys = 0;
    for (const ad_cfg_key *k = ad_config_schema; k->section; k++) {
        if (k->type != AD_CFG_ENUM)
            continue;
        keys++;
        char words[256];
        snprintf(words, sizeof words, "%s", k->choices);
        ad_job seen[8];
        int n = 0;
        for (char *w = strtok(words, "|"); w; w = strtok(NULL, "|")) {
            ad_config *cfg;
            tu_assert_ok(ad_config_create(&cfg));
            tu_assert_ok(ad_config_set(cfg, k->section, k->key, w, "test"));
            ad_job j;
            int rc = ad_job_parse(cfg, &j);
            ad_config_destroy(cfg);
            ck_assert_msg(rc == AD_OK, "[%s] %s = %s: %s", k->section, k->key, w, ad_errmsg());
            if (strcmp(w, "auto") == 0) { /* resolved from the model: without one, hub */
                ck_assert_int_eq(j.pos_interp, AD_POS_HUB);
                continue;
            }
            for (int i = 0; i < n; i++)
                ck_assert_msg(memcmp(&seen[i], &j, sizeof j) != 0,
                              "[%s] %s: two words give the same job", k->section, k->key);
            ck_assert_int_lt(n, 8);
            seen[n++] = j;
        }
    }
    ck_assert_int_ge(keys, 15);
}
END_TEST

/* The encoders' precision is part of a cache's identity: bf16 changes the recorded
 * preprocessing and so the file name (never read for an fp32 job, nor the reverse), while
 * fp32 leaves both as they were before the key existed. */
START_TEST(precision_in_cache_identity)
{
    static const char *const mod[2] = {"image", "text"}, *const sec[2] = {"image_encoder",
                                                                          "text_encoder"};
    for (int m = 0; m < 2; m++) {
        ad_config *cfg;
        tu_assert_ok(ad_config_create(&cfg));
        tu_assert_ok(ad_config_set(cfg, "cache", "dir", "/tmp/c", "test"));
        tu_assert_ok(ad_config_set(cfg, sec[m], "model", "/models/enc", "test"));
        char pre32[512], pre16[512], f32[4096], f16[4096], other[4096];
        tu_assert_ok(ad_cache_preprocessing(cfg, mod[m], pre32, sizeof pre32));
        tu_assert_ok(ad_cache_file(cfg, mod[m], "train", f32, sizeof f32));
        ck_assert_msg(strstr(pre32, "precision") == NULL, "%s", pre32);
        tu_assert_ok(ad_config_set(cfg, sec[m], "precision", "bf16", "test"));
        tu_assert_ok(ad_cache_preprocessing(cfg, mod[m], pre16, sizeof pre16));
        tu_assert_ok(ad_cache_file(cfg, mod[m], "train", f16, sizeof f16));
        ck_assert_msg(strstr(pre16, " precision=bf16") != NULL, "%s", pre16);
        ck_assert_str_ne(f32, f16);
        /* the other encoder's precision does not touch this cache */
        tu_assert_ok(ad_config_set(cfg, sec[m], "precision", "fp32", "test"));
        tu_assert_ok(ad_config_set(cfg, sec[1 - m], "precision", "bf16", "test"));
        tu_assert_ok(ad_cache_file(cfg, mod[m], "train", other, sizeof other));
        ck_assert_str_eq(f32, other);
        ad_config_destroy(cfg);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, chosen_words);
    tcase_add_test(tc, every_schema_choice);
    tcase_add_test(tc, precision_in_cache_identity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
