/* Model JSON configs: the input is written as every JSON file a model folder may hold and
 * each reader runs on it: config.json (BERT, DINOv2, ResNet), tokenizer_config.json (with a
 * small vocab.txt), tokenizer.json (no vocab.txt) and model.safetensors.index.json (with a
 * small shard holding tensors "a" and "b"). */
#include "adaptor/bert.h"
#include "adaptor/dinov2.h"
#include "adaptor/error.h"
#include "adaptor/resnet.h"
#include "adaptor/safetensors.h"
#include "adaptor/wordpiece.h"
#include "fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nheart\nis\nnormal\n##s\n"
                            "size\n.\n,\n<unk>\n<s>\n</s>\n";
static char dir_model[512], dir_tokc[512], dir_tokj[512], dir_idx[512];

static void write_shard(void)
{
    ad_st_writer *w;
    float v[2] = {1.0f, 2.0f};
    int64_t shape[1] = {2};
    char path[512];
    snprintf(path, sizeof path, "%s/a.safetensors", dir_idx);
    fz_assert(ad_st_writer_create(&w) == AD_OK && ad_st_writer_add(w, "a", AD_DT_F32, 1, shape, v) == AD_OK &&
                  ad_st_writer_add(w, "b", AD_DT_F32, 1, shape, v) == AD_OK &&
                  ad_st_writer_write(w, path) == AD_OK,
              "writing the fixture shard");
    ad_st_writer_destroy(w);
}

static void setup(void)
{
    char path[512];
    fz_write("model/config.json", "{}", 2, path, sizeof path);
    snprintf(dir_model, sizeof dir_model, "%s/model", fz_dir());
    fz_write("tokc/vocab.txt", vocab, sizeof vocab - 1, path, sizeof path);
    snprintf(dir_tokc, sizeof dir_tokc, "%s/tokc", fz_dir());
    fz_write("tokj/tokenizer.json", "{}", 2, path, sizeof path);
    snprintf(dir_tokj, sizeof dir_tokj, "%s/tokj", fz_dir());
    fz_write("idx/model.safetensors.index.json", "{}", 2, path, sizeof path);
    snprintf(dir_idx, sizeof dir_idx, "%s/idx", fz_dir());
    write_shard();
}

static void check_tokenizer(const ad_tokenizer *tok)
{
    int nv = ad_tokenizer_vocab_size(tok);
    int32_t ids[16];
    int n = 0;
    fz_assert(nv > 0 && ad_tokenizer_model_max_length(tok) >= 2, "vocabulary, max length");
    const int32_t special[] = {ad_tokenizer_pad_id(tok), ad_tokenizer_cls_id(tok),
                               ad_tokenizer_sep_id(tok), ad_tokenizer_unk_id(tok)};
    for (int k = 0; k < 4; k++)
        fz_assert(special[k] >= 0 && special[k] < nv && ad_tokenizer_id_to_token(tok, special[k]),
                  "special tokens are in the vocabulary");
    if (ad_tokenizer_encode(tok, "The heart size is normal, [SEP] x\xc3\xa9.", 16, ids, &n) == AD_OK) {
        fz_assert(n >= 2 && n <= 16, "encoded length");
        for (int i = 0; i < n; i++)
            fz_assert(ids[i] >= 0 && ids[i] < nv, "ids inside the vocabulary");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready++)
        setup();
    char path[512];

    fz_write("model/config.json", data, size, path, sizeof path);
    ad_bert_config bc;
    if (ad_bert_config_load(path, &bc) == AD_OK)
        fz_assert(bc.hidden > 0 && bc.heads > 0 && bc.hidden % bc.heads == 0 && bc.layers > 0 &&
                      bc.vocab > 0 && bc.max_positions > 0 && bc.type_vocab > 0 &&
                      bc.intermediate > 0 && bc.eps > 0,
                  "a loaded BERT config is usable");
    else
        fz_rejected();
    ad_dinov2_config dc;
    if (ad_dinov2_config_load(path, &dc) == AD_OK)
        fz_assert(dc.hidden > 0 && dc.heads > 0 && dc.hidden % dc.heads == 0 && dc.layers > 0 &&
                      dc.patch > 0 && dc.image_size > 0 && dc.mlp_hidden > 0 && dc.registers >= 0 &&
                      dc.eps > 0,
                  "a loaded DINOv2 config is usable");
    else
        fz_rejected();
    ad_resnet *rn = NULL;
    /* No weights in the folder: this reads the config, then stops at the missing weights. */
    fz_assert(ad_resnet_load(dir_model, &rn) != AD_OK && rn == NULL, "ResNet needs weights");
    fz_rejected();

    ad_tokenizer *tok = NULL;
    fz_write("tokc/tokenizer_config.json", data, size, path, sizeof path);
    if (ad_tokenizer_load(dir_tokc, &tok) == AD_OK) {
        check_tokenizer(tok);
        ad_tokenizer_destroy(tok);
    } else {
        fz_assert(tok == NULL, "failed tokenizer load leaves nothing");
        fz_rejected();
    }
    fz_write("tokj/tokenizer.json", data, size, path, sizeof path);
    tok = NULL;
    if (ad_tokenizer_load(dir_tokj, &tok) == AD_OK) {
        check_tokenizer(tok);
        ad_tokenizer_destroy(tok);
    } else {
        fz_rejected();
    }

    fz_write("idx/model.safetensors.index.json", data, size, path, sizeof path);
    ad_safetensors *st = NULL;
    if (ad_st_open(dir_idx, &st) == AD_OK) {
        fz_assert(ad_st_count(st) >= 1 && ad_st_count(st) <= 2, "index: tensors of the shard");
        ad_st_close(st);
    } else {
        fz_rejected();
    }
    return 0;
}
