/* Three tiny frozen encoders with random weights in the exact HuggingFace / torchvision
 * layouts (config.json + model.safetensors), so the real loaders and forward passes run
 * end to end on the synthetic corpus in seconds:
 *   bert-tiny/    BertModel + vocab.txt + tokenizer_config.json
 *   dinov2-tiny/  Dinov2Model (518-px position grid, as the released checkpoints)
 *   resnet-tiny/  torchvision bottleneck ResNet, layers [1,1,1,1]
 * Weights are random features that keep the signal's scale (normal with std 1/sqrt(fan_in)
 * for linear layers, std 1 word embeddings) rather than HF's training init (std 0.02): with
 * 0.02 every pooled output of the tiny BERT is the same vector to five digits and nothing
 * downstream can learn, whereas a trained encoder separates its inputs. Zero biases, unit
 * norms, HF's zeroed padding row; torchvision's Kaiming fan-out convolutions, with running
 * BN statistics spread around (0, 1) so that folding them is exercised. */
#include "synth_internal.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BERT_STREAM 0xFFFFFFFF00000100ull
#define DINO_STREAM 0xFFFFFFFF00000200ull
#define RESNET_STREAM 0xFFFFFFFF00000300ull

enum { BERT_HIDDEN = 64, BERT_LAYERS = 2, BERT_HEADS = 4, BERT_FFN = 256, BERT_MAXPOS = 128 };
enum {
    DINO_HIDDEN = 64,
    DINO_LAYERS = 2,
    DINO_HEADS = 4,
    DINO_MLP_RATIO = 4,
    DINO_PATCH = 14,
    DINO_IMAGE = 518
};
enum { RESNET_WIDTH = 8, RESNET_CLASSES = 10, RESNET_EXPANSION = 4 };

/* K_PADROW: normal, with the first row (the padding token, pad_token_id 0) zeroed as
 * HF's init does. */
enum { K_NORMAL, K_PADROW, K_CONST, K_UNIFORM, K_LOGNORMAL };

typedef struct builder {
    ad_st_writer *w;
    ad_rng rng;
    float *buf;
    size_t cap;
} builder;

/* Adds a float32 tensor filled by `kind` (a: std, value, bound or log-std). */
static int add(builder *b, int kind, double a, int ndim, const int64_t *shape, const char *fmt, ...)
    AD_PRINTF(6, 7);
static int add(builder *b, int kind, double a, int ndim, const int64_t *shape, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    if (n > b->cap) {
        float *nb = realloc(b->buf, n * sizeof *nb);
        if (!nb)
            return ad_fail(AD_ERR_NOMEM, "synth models: out of memory for %s", name);
        b->buf = nb;
        b->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (kind) {
        case K_NORMAL:
        case K_PADROW: v = a * ad_rng_normal(&b->rng); break;
        case K_UNIFORM: v = a * (2.0 * ad_rng_uniform_d(&b->rng) - 1.0); break;
        case K_LOGNORMAL: v = exp(a * ad_rng_normal(&b->rng)); break;
        default: v = a; break;
        }
        b->buf[i] = (float)v;
    }
    if (kind == K_PADROW && ndim == 2)
        memset(b->buf, 0, (size_t)shape[1] * sizeof *b->buf);
    return ad_st_writer_add_f32_as(b->w, name, AD_DT_F32, ndim, shape, b->buf);
}

#define SHAPE(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((int64_t[]){__VA_ARGS__})

static int builder_start(builder *b, uint64_t seed, uint64_t stream)
{
    memset(b, 0, sizeof *b);
    ad_rng_seed(&b->rng, seed, stream);
    AD_TRY(ad_st_writer_create(&b->w));
    int rc = ad_st_writer_set_metadata(b->w, "format", "pt");
    if (rc != AD_OK) {
        ad_st_writer_destroy(b->w);
        b->w = NULL;
    }
    return rc;
}

static int builder_finish(builder *b, int rc, const char *dir)
{
    char path[4096];
    if (rc == AD_OK)
        rc = ad_path_join(path, sizeof path, dir, "model.safetensors");
    if (rc == AD_OK)
        rc = ad_st_writer_write(b->w, path);
    ad_st_writer_destroy(b->w);
    free(b->buf);
    b->w = NULL;
    b->buf = NULL;
    return rc;
}

static int write_json_in(const char *dir, const char *file, cJSON *root)
{
    char path[4096];
    int rc = ad_path_join(path, sizeof path, dir, file);
    if (rc == AD_OK)
        rc = ad_synth_write_json(path, root);
    cJSON_Delete(root);
    return rc;
}

/* ---- BERT --------------------------------------------------------------------------------- */

static const char ascii_punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/* Special tokens, every single character with its ## form, then the generator's words:
 * every report the corpus holds tokenises without [UNK]. */
static int write_vocab(const char *dir, int *vocab_size)
{
    char **words = NULL;
    size_t nwords = 0;
    AD_TRY(ad_synth_lexicon(&words, &nwords));
    size_t cap = 4096 + nwords * 32, len = 0;
    char *text = malloc(cap);
    int count = 0, rc = AD_OK;
    if (!text) {
        rc = ad_fail(AD_ERR_NOMEM, "synth models: out of memory for vocab.txt");
        goto done;
    }
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5; i++, count++)
        len += (size_t)snprintf(text + len, cap - len, "%s\n", special[i]);
    char chars[128];
    snprintf(chars, sizeof chars, "abcdefghijklmnopqrstuvwxyz0123456789%s", ascii_punct);
    for (const char *c = chars; *c; c++, count += 2)
        len += (size_t)snprintf(text + len, cap - len, "%c\n##%c\n", *c, *c);
    for (size_t i = 0; i < nwords; i++)
        if (strlen(words[i]) > 1) {
            len += (size_t)snprintf(text + len, cap - len, "%s\n", words[i]);
            count++;
        }
    char path[4096];
    rc = ad_path_join(path, sizeof path, dir, "vocab.txt");
    if (rc == AD_OK)
        rc = ad_write_file_atomic(path, text, len);
    *vocab_size = count;
done:
    free(text);
    for (size_t i = 0; i < nwords; i++)
        free(words[i]);
    free(words);
    return rc;
}

static int bert_tensors(builder *b, int vocab)
{
    const int64_t D = BERT_HIDDEN, F = BERT_FFN;
    AD_TRY(add(b, K_PADROW, 1.0, SHAPE(vocab, D), "embeddings.word_embeddings.weight"));
    AD_TRY(add(b, K_NORMAL, 0.1, SHAPE(BERT_MAXPOS, D), "embeddings.position_embeddings.weight"));
    AD_TRY(add(b, K_NORMAL, 0.02, SHAPE(2, D), "embeddings.token_type_embeddings.weight"));
    AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "embeddings.LayerNorm.weight"));
    AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "embeddings.LayerNorm.bias"));
    static const char *const qkv[] = {"query", "key", "value"};
    for (int l = 0; l < BERT_LAYERS; l++) {
        for (int j = 0; j < 3; j++) {
            AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(D, D), "encoder.layer.%d.attention.self.%s.weight",
                       l, qkv[j]));
            AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.attention.self.%s.bias", l,
                       qkv[j]));
        }
        AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(D, D), "encoder.layer.%d.attention.output.dense.weight",
                   l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.attention.output.dense.bias", l));
        AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "encoder.layer.%d.attention.output.LayerNorm.weight",
                   l));
        AD_TRY(
            add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.attention.output.LayerNorm.bias", l));
        AD_TRY(
            add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(F, D), "encoder.layer.%d.intermediate.dense.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(F), "encoder.layer.%d.intermediate.dense.bias", l));
        AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)F), SHAPE(D, F), "encoder.layer.%d.output.dense.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.output.dense.bias", l));
        AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "encoder.layer.%d.output.LayerNorm.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.output.LayerNorm.bias", l));
    }
    AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(D, D), "pooler.dense.weight"));
    return add(b, K_CONST, 0.0, SHAPE(D), "pooler.dense.bias");
}

static int write_bert(const char *dir, uint64_t seed)
{
    AD_TRY(ad_mkdir_p(dir));
    int vocab = 0;
    AD_TRY(write_vocab(dir, &vocab));
    builder b;
    AD_TRY(builder_start(&b, seed, BERT_STREAM));
    AD_TRY(builder_finish(&b, bert_tensors(&b, vocab), dir));

    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateStringArray((const char *const[]){"BertModel"}, 1);
    if (c && arch) {
        cJSON_AddItemToObject(c, "architectures", arch);
        arch = NULL;
        cJSON_AddNumberToObject(c, "attention_probs_dropout_prob", 0.1);
        cJSON_AddNullToObject(c, "classifier_dropout");
        cJSON_AddStringToObject(c, "hidden_act", "gelu");
        cJSON_AddNumberToObject(c, "hidden_dropout_prob", 0.1);
        cJSON_AddNumberToObject(c, "hidden_size", BERT_HIDDEN);
        cJSON_AddNumberToObject(c, "initializer_range", 0.02);
        cJSON_AddNumberToObject(c, "intermediate_size", BERT_FFN);
        cJSON_AddNumberToObject(c, "layer_norm_eps", 1e-12);
        cJSON_AddNumberToObject(c, "max_position_embeddings", BERT_MAXPOS);
        cJSON_AddStringToObject(c, "model_type", "bert");
        cJSON_AddNumberToObject(c, "num_attention_heads", BERT_HEADS);
        cJSON_AddNumberToObject(c, "num_hidden_layers", BERT_LAYERS);
        cJSON_AddNumberToObject(c, "pad_token_id", 0);
        cJSON_AddStringToObject(c, "position_embedding_type", "absolute");
        cJSON_AddStringToObject(c, "torch_dtype", "float32");
        cJSON_AddNumberToObject(c, "type_vocab_size", 2);
        cJSON_AddBoolToObject(c, "use_cache", 1);
        cJSON_AddNumberToObject(c, "vocab_size", vocab);
    }
    cJSON_Delete(arch);
    AD_TRY(write_json_in(dir, "config.json", c));

    cJSON *t = cJSON_CreateObject();
    if (t) {
        cJSON_AddStringToObject(t, "cls_token", "[CLS]");
        cJSON_AddBoolToObject(t, "do_basic_tokenize", 1);
        cJSON_AddBoolToObject(t, "do_lower_case", 1);
        cJSON_AddStringToObject(t, "mask_token", "[MASK]");
        cJSON_AddNumberToObject(t, "model_max_length", 512);
        cJSON_AddStringToObject(t, "pad_token", "[PAD]");
        cJSON_AddStringToObject(t, "sep_token", "[SEP]");
        cJSON_AddNullToObject(t, "strip_accents");
        cJSON_AddBoolToObject(t, "tokenize_chinese_chars", 1);
        cJSON_AddStringToObject(t, "tokenizer_class", "BertTokenizer");
        cJSON_AddStringToObject(t, "unk_token", "[UNK]");
    }
    return write_json_in(dir, "tokenizer_config.json", t);
}

/* ---- DINOv2 ------------------------------------------------------------------------------- */

static int dino_tensors(builder *b)
{
    const int64_t D = DINO_HIDDEN, F = DINO_HIDDEN * DINO_MLP_RATIO;
    const int64_t grid = DINO_IMAGE / DINO_PATCH;
    AD_TRY(add(b, K_NORMAL, 0.02, SHAPE(1, 1, D), "embeddings.cls_token"));
    AD_TRY(add(b, K_CONST, 0.0, SHAPE(1, D), "embeddings.mask_token"));
    AD_TRY(add(b, K_NORMAL, 0.02, SHAPE(1, grid * grid + 1, D), "embeddings.position_embeddings"));
    AD_TRY(add(b, K_NORMAL, 1.0 / sqrt(3.0 * DINO_PATCH * DINO_PATCH), SHAPE(D, 3, DINO_PATCH, DINO_PATCH),
               "embeddings.patch_embeddings.projection.weight"));
    AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "embeddings.patch_embeddings.projection.bias"));
    static const char *const qkv[] = {"query", "key", "value"};
    for (int l = 0; l < DINO_LAYERS; l++) {
        AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "encoder.layer.%d.norm1.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.norm1.bias", l));
        for (int j = 0; j < 3; j++) {
            AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(D, D),
                       "encoder.layer.%d.attention.attention.%s.weight", l, qkv[j]));
            AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.attention.attention.%s.bias", l,
                       qkv[j]));
        }
        AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(D, D), "encoder.layer.%d.attention.output.dense.weight",
                   l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.attention.output.dense.bias", l));
        AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "encoder.layer.%d.layer_scale1.lambda1", l));
        AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "encoder.layer.%d.norm2.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.norm2.bias", l));
        AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)D), SHAPE(F, D), "encoder.layer.%d.mlp.fc1.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(F), "encoder.layer.%d.mlp.fc1.bias", l));
        AD_TRY(add(b, K_NORMAL, 1.0 / sqrt((double)F), SHAPE(D, F), "encoder.layer.%d.mlp.fc2.weight", l));
        AD_TRY(add(b, K_CONST, 0.0, SHAPE(D), "encoder.layer.%d.mlp.fc2.bias", l));
        AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "encoder.layer.%d.layer_scale2.lambda1", l));
    }
    AD_TRY(add(b, K_CONST, 1.0, SHAPE(D), "layernorm.weight"));
    return add(b, K_CONST, 0.0, SHAPE(D), "layernorm.bias");
}

static int write_dino(const char *dir, uint64_t seed)
{
    AD_TRY(ad_mkdir_p(dir));
    builder b;
    AD_TRY(builder_start(&b, seed, DINO_STREAM));
    AD_TRY(builder_finish(&b, dino_tensors(&b), dir));
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateStringArray((const char *const[]){"Dinov2Model"}, 1);
    if (c && arch) {
        cJSON_AddItemToObject(c, "architectures", arch);
        arch = NULL;
        cJSON_AddNumberToObject(c, "attention_probs_dropout_prob", 0.0);
        cJSON_AddNumberToObject(c, "drop_path_rate", 0.0);
        cJSON_AddStringToObject(c, "hidden_act", "gelu");
        cJSON_AddNumberToObject(c, "hidden_dropout_prob", 0.0);
        cJSON_AddNumberToObject(c, "hidden_size", DINO_HIDDEN);
        cJSON_AddNumberToObject(c, "image_size", DINO_IMAGE);
        cJSON_AddNumberToObject(c, "initializer_range", 0.02);
        cJSON_AddNumberToObject(c, "layer_norm_eps", 1e-6);
        cJSON_AddNumberToObject(c, "layerscale_value", 1.0);
        cJSON_AddNumberToObject(c, "mlp_ratio", DINO_MLP_RATIO);
        cJSON_AddStringToObject(c, "model_type", "dinov2");
        cJSON_AddNumberToObject(c, "num_attention_heads", DINO_HEADS);
        cJSON_AddNumberToObject(c, "num_channels", 3);
        cJSON_AddNumberToObject(c, "num_hidden_layers", DINO_LAYERS);
        cJSON_AddNumberToObject(c, "patch_size", DINO_PATCH);
        cJSON_AddBoolToObject(c, "qkv_bias", 1);
        cJSON_AddStringToObject(c, "torch_dtype", "float32");
        cJSON_AddBoolToObject(c, "use_mask_token", 1);
        cJSON_AddBoolToObject(c, "use_swiglu_ffn", 0);
    }
    cJSON_Delete(arch);
    return write_json_in(dir, "config.json", c);
}

/* ---- ResNet ------------------------------------------------------------------------------- */

static int add_bn(builder *b, int64_t c, const char *prefix)
{
    AD_TRY(add(b, K_CONST, 1.0, SHAPE(c), "%s.weight", prefix));
    AD_TRY(add(b, K_CONST, 0.0, SHAPE(c), "%s.bias", prefix));
    AD_TRY(add(b, K_NORMAL, 0.1, SHAPE(c), "%s.running_mean", prefix));
    AD_TRY(add(b, K_LOGNORMAL, 0.25, SHAPE(c), "%s.running_var", prefix));
    char name[256];
    snprintf(name, sizeof name, "%s.num_batches_tracked", prefix);
    int64_t zero = 0;
    return ad_st_writer_add(b->w, name, AD_DT_I64, 0, NULL, &zero);
}

/* torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"). */
static int add_conv(builder *b, int64_t out, int64_t in, int64_t k, const char *name)
{
    double std = sqrt(2.0 / (double)(out * k * k));
    return add(b, K_NORMAL, std, SHAPE(out, in, k, k), "%s", name);
}

static const int resnet_layers[4] = {1, 1, 1, 1};

static int resnet_tensors(builder *b)
{
    int64_t w = RESNET_WIDTH, inplanes = w;
    char name[256];
    AD_TRY(add_conv(b, w, 3, 7, "conv1.weight"));
    AD_TRY(add_bn(b, w, "bn1"));
    for (int s = 0; s < 4; s++) {
        int64_t planes = w << s, outp = planes * RESNET_EXPANSION;
        for (int k = 0; k < resnet_layers[s]; k++) {
            static const int64_t ksz[3] = {1, 3, 1};
            for (int j = 0; j < 3; j++) {
                int64_t cin = j == 0 ? inplanes : planes, cout = j == 2 ? outp : planes;
                snprintf(name, sizeof name, "layer%d.%d.conv%d.weight", s + 1, k, j + 1);
                AD_TRY(add_conv(b, cout, cin, ksz[j], name));
                snprintf(name, sizeof name, "layer%d.%d.bn%d", s + 1, k, j + 1);
                AD_TRY(add_bn(b, cout, name));
            }
            if (k == 0) { /* every stage changes width or stride */
                snprintf(name, sizeof name, "layer%d.0.downsample.0.weight", s + 1);
                AD_TRY(add_conv(b, outp, inplanes, 1, name));
                snprintf(name, sizeof name, "layer%d.0.downsample.1", s + 1);
                AD_TRY(add_bn(b, outp, name));
            }
            inplanes = outp;
        }
    }
    /* nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. */
    double bound = 1.0 / sqrt((double)inplanes);
    AD_TRY(add(b, K_UNIFORM, bound, SHAPE(RESNET_CLASSES, inplanes), "fc.weight"));
    return add(b, K_UNIFORM, bound, SHAPE(RESNET_CLASSES), "fc.bias");
}

static int write_resnet(const char *dir, uint64_t seed)
{
    AD_TRY(ad_mkdir_p(dir));
    builder b;
    AD_TRY(builder_start(&b, seed, RESNET_STREAM));
    AD_TRY(builder_finish(&b, resnet_tensors(&b), dir));
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateStringArray((const char *const[]){"ResNet"}, 1);
    cJSON *layers = cJSON_CreateIntArray(resnet_layers, 4);
    if (c && arch && layers) {
        cJSON_AddItemToObject(c, "architectures", arch);
        cJSON_AddItemToObject(c, "layers", layers);
        arch = layers = NULL;
        cJSON_AddStringToObject(c, "model_type", "torchvision_resnet");
        cJSON_AddStringToObject(c, "block", "bottleneck");
        cJSON_AddNumberToObject(c, "width", RESNET_WIDTH);
        cJSON_AddNumberToObject(c, "expansion", RESNET_EXPANSION);
        cJSON_AddNumberToObject(c, "num_channels", 3);
        cJSON_AddNumberToObject(c, "num_classes", RESNET_CLASSES);
        cJSON_AddNumberToObject(c, "batch_norm_eps", 1e-5);
    }
    cJSON_Delete(arch);
    cJSON_Delete(layers);
    return write_json_in(dir, "config.json", c);
}

int ad_synth_write_models(const char *dir, uint64_t seed)
{
    char sub[4096];
    AD_TRY(ad_path_join(sub, sizeof sub, dir, "bert-tiny"));
    AD_TRY(write_bert(sub, seed));
    AD_TRY(ad_path_join(sub, sizeof sub, dir, "dinov2-tiny"));
    AD_TRY(write_dino(sub, seed));
    AD_TRY(ad_path_join(sub, sizeof sub, dir, "resnet-tiny"));
    return write_resnet(sub, seed);
}
