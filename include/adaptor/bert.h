/* Frozen BERT-family text encoder, numerically matching HuggingFace `BertModel` in float32.
 *
 * Loads a HuggingFace model folder (config.json + model.safetensors or a sharded index),
 * with or without the "bert." prefix of BertForMaskedLM / BertForPreTraining checkpoints
 * (their cls.* heads are ignored) and with LayerNorm.{weight,bias} or the older
 * LayerNorm.{gamma,beta} names.  Q, K and V are fused into one [3H, H] weight at load.
 * Forward only, token type 0, post-LN layers.  A batch costs what its real tokens cost:
 * they are packed without padding rows and attention runs per sequence over its own
 * length, which equals HF's padded batch with the additive key mask. */
#ifndef ADAPTOR_BERT_H
#define ADAPTOR_BERT_H

#include "adaptor/gemm_bf16.h"

#include <stdint.h>

typedef enum {
    AD_BERT_POOLER, /* tanh(W h_CLS + b): needs pooler.dense.* in the checkpoint */
    AD_BERT_CLS,    /* final hidden state of the first token */
    AD_BERT_MEAN,   /* mean of the final hidden states over the sequence's tokens */
    AD_BERT_TOKENS  /* all final hidden states [batch, T, H], zeros past each length */
} ad_bert_output;

typedef enum { AD_BERT_GELU, AD_BERT_GELU_TANH } ad_bert_act;

typedef struct ad_bert_config {
    int hidden, layers, heads, intermediate, vocab, max_positions, type_vocab;
    float eps;
    ad_bert_act act; /* "gelu" (erf) or "gelu_new" / "gelu_pytorch_tanh" */
    int has_pooler;
} ad_bert_config;

typedef struct ad_bert ad_bert;

/* Reads and validates a HuggingFace config.json (has_pooler is left 0: the weights decide). */
int ad_bert_config_load(const char *config_json, ad_bert_config *cfg);

int ad_bert_load(const char *model_dir, ad_bert **out);
/* A model with random weights (uniform, std 0.02; LayerNorm gammas 1 + that), for
 * benchmarks and tests that need no files. */
int ad_bert_create_random(const ad_bert_config *cfg, uint64_t seed, ad_bert **out);
void ad_bert_destroy(ad_bert *m);
const ad_bert_config *ad_bert_get_config(const ad_bert *m);
/* fp32 (default) or bf16 linear layers (gemm_bf16.h); bf16 fails on a CPU without it. */
int ad_bert_set_precision(ad_bert *m, ad_precision p);

/* "pooler", "cls", "mean" (or "tokens") -> the enum; error naming the word otherwise. */
int ad_bert_output_parse(const char *name, ad_bert_output *what);

/* Encodes `batch` sequences: ids[b * ids_stride + t] for t < lengths[b] (entries past a
 * length are not read); 1 <= lengths[b] <= max_positions.  out: [batch, H], or for
 * AD_BERT_TOKENS [batch, T, H] with T = max(lengths).  Workspace grows on demand and is
 * kept between calls, so a model must not run two forwards concurrently. */
int ad_bert_forward(ad_bert *m, const int32_t *ids, const int *lengths, int batch,
                    int ids_stride, ad_bert_output what, float *out);

/* FLOPs of one forward pass over sequences of the given lengths (matrix products and
 * attention as executed, i.e. without padding; elementwise work is not counted). */
double ad_bert_flops(const ad_bert_config *cfg, const int *lengths, int batch);

#endif
