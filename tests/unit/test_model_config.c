/* The HuggingFace config.json readers of the frozen encoders (BERT, DINOv2, ResNet) on
 * hand-written files: a value range-checked as a double must still be in range as the
 * float the model uses (layer_norm_eps 1e-50 became 0; found by tests/fuzz/fuzz_json.c). */
#include "testutil.h"

#include "adaptor/bert.h"
#include "adaptor/dinov2.h"
#include "adaptor/error.h"
#include "adaptor/resnet.h"

#include <stdio.h>
#include <string.h>

static char dir[1024];

/* Writes config.json with the key's value in the middle of the object; returns its path. */
static const char *config(const char *fmt, const char *value)
{
    static char path[1200];
    char text[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(text, sizeof text, fmt, value);
    tu_write_text(path, text);
    return path;
}

static const char bert_json[] =
    "{\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
    "\"layer_norm_eps\": %s, \"intermediate_size\": 128, \"vocab_size\": 100, "
    "\"max_position_embeddings\": 64}";
static const char dinov2_json[] = "{\"hidden_size\": 64, \"num_hidden_layers\": 2, "
                                  "\"layer_norm_eps\": %s, \"num_attention_heads\": 4}";
static const char resnet_json[] =
    "{\"model_type\": \"torchvision_resnet\", \"batch_norm_eps\": %s, \"width\": 8}";

START_TEST(eps_checked_as_float)
{
    tu_tmpdir(dir, sizeof dir, "model_config");
    const char *msg = "must be a number in (0, 1]";
    ad_bert_config bc;
    tu_assert_fails(ad_bert_config_load(config(bert_json, "1e-50"), &bc), AD_ERR_FORMAT, msg);
    tu_assert_ok(ad_bert_config_load(config(bert_json, "1e-30"), &bc));
    ck_assert(bc.eps > 0.0f);
    ad_dinov2_config dc;
    tu_assert_fails(ad_dinov2_config_load(config(dinov2_json, "1e-50"), &dc), AD_ERR_FORMAT, msg);
    tu_assert_ok(ad_dinov2_config_load(config(dinov2_json, "1e-30"), &dc));
    ck_assert(dc.eps > 0.0f);
    /* ResNet reads its config.json before the weights, which this folder lacks. */
    ad_resnet *rn = NULL;
    config(resnet_json, "1e-50");
    tu_assert_fails(ad_resnet_load(dir, &rn), AD_ERR_FORMAT, "'batch_norm_eps' must be");
    config(resnet_json, "1e-30");
    ck_assert_int_ne(ad_resnet_load(dir, &rn), AD_OK);
    ck_assert_ptr_null(strstr(ad_errmsg(), "batch_norm_eps"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_config");
    TCase *tc = tcase_create("model_config");
    tcase_add_test(tc, eps_checked_as_float);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
