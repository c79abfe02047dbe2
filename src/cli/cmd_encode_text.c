/* `adaptor encode-text`: text embeddings of stdin lines with a BERT-family encoder, for
 * checking a model folder against HuggingFace and for ad-hoc retrieval experiments. */
#include "cli.h"

#include "adaptor/bert.h"
#include "adaptor/error.h"
#include "adaptor/mgca_text.h"
#include "adaptor/report_ids.h"
#include "adaptor/wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LENGTH 112 /* MGCA's max_words */
#define DEFAULT_BATCH 32

typedef struct {
    const char *model;
    ad_bert_output pooling;
    int max_length, raw, batch;
    ad_precision precision;
} options;

static void usage(void)
{
    printf("usage: adaptor encode-text --model DIR [--pooling pooler|cls|mean] [--max-length N]\n"
           "                           [--raw] [--batch B] [--precision fp32|bf16] < texts\n\n"
           "Reads one text per line from stdin and prints one embedding per line (hidden_size\n"
           "space-separated floats, %%.7g).  DIR is a HuggingFace BERT folder: config.json,\n"
           "model.safetensors (or a sharded index) and vocab.txt or tokenizer.json.\n\n"
           "  --pooling P       pooler: tanh(W h_CLS + b) (default; needs pooler.dense.* weights),\n"
           "                    cls: the final CLS state, mean: mean of the final token states\n"
           "  --max-length N    truncation length including [CLS] and [SEP] (default %d, or\n"
           "                    max_position_embeddings when smaller)\n"
           "  --raw             encode the lines as they are; without it each line is a report\n"
           "                    and gets the MGCA preprocessing first (SPEC section 2)\n"
           "  --batch B         sequences per forward pass (default %d; padding only up to the\n"
           "                    longest sequence of each batch)\n"
           "  --precision P     fp32 (default) or bf16: linear layers with bf16 inputs and fp32\n"
           "                    accumulation (oneDNN; CPUs with AVX512_BF16 or AMX)\n\n"
           "Without --raw, a report that MGCA drops prints an EMPTY line (output stays aligned\n"
           "with input), is named on stderr, and the command exits with status 1 at the end.\n",
           DEFAULT_MAX_LENGTH, DEFAULT_BATCH);
}

static int parse_int(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < lo || n > hi)
        return ad_fail(AD_ERR_ARG, "encode-text: %s '%s' is not an integer in [%d, %d]", opt, v,
                       lo, hi);
    *out = (int)n;
    return AD_OK;
}

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
            continue;
        }
        if (strcmp(a, "--model") && strcmp(a, "--pooling") && strcmp(a, "--max-length") &&
            strcmp(a, "--batch") && strcmp(a, "--precision"))
            return ad_fail(AD_ERR_ARG, "encode-text: unknown argument '%s' (see --help)", a);
        if (i + 1 >= argc)
            return ad_fail(AD_ERR_ARG, "encode-text: %s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (strcmp(a, "--pooling") == 0) {
            AD_TRY(ad_bert_output_parse(v, &o->pooling));
            if (o->pooling == AD_BERT_TOKENS)
                return ad_fail(AD_ERR_ARG, "encode-text: --pooling must be pooler, cls or mean");
        } else if (strcmp(a, "--precision") == 0) {
            AD_TRY(ad_precision_parse(v, &o->precision));
        } else if (strcmp(a, "--max-length") == 0) {
            AD_TRY(parse_int(a, v, 2, 1000000, &o->max_length));
        } else {
            AD_TRY(parse_int(a, v, 1, 4096, &o->batch));
        }
    }
    if (!o->model)
        return ad_fail(AD_ERR_ARG, "encode-text: --model DIR is required (see --help)");
    return AD_OK;
}

typedef struct {
    ad_bert *bert;
    ad_tokenizer *tok;
    int H, T;         /* hidden size, ids row stride (= max length) */
    int32_t *ids;     /* [batch, T] */
    int *lengths;     /* [batch] */
    int *dropped;     /* [batch]: line printed as an empty line */
    float *out;       /* [batch, H] */
    int n;            /* lines collected */
} encoder;

/* Encodes the collected lines and prints them in input order. */
static int flush(encoder *e, const options *o)
{
    int m = 0; /* kept lines are compacted to the front for the forward pass */
    for (int i = 0; i < e->n; i++)
        if (!e->dropped[i]) {
            if (m != i) {
                memmove(e->ids + (size_t)m * e->T, e->ids + (size_t)i * e->T,
                        sizeof(int32_t) * (size_t)e->T);
                e->lengths[m] = e->lengths[i];
            }
            m++;
        }
    if (m > 0)
        AD_TRY(ad_bert_forward(e->bert, e->ids, e->lengths, m, e->T, o->pooling, e->out));
    for (int i = 0, k = 0; i < e->n; i++) {
        if (!e->dropped[i]) {
            const float *v = e->out + (size_t)k++ * e->H;
            for (int j = 0; j < e->H; j++)
                printf(j ? " %.7g" : "%.7g", (double)v[j]);
        }
        putchar('\n');
    }
    e->n = 0;
    return AD_OK;
}

typedef struct line_ctx {
    encoder *e;
    const options *o;
} line_ctx;

/* Tokenizes one line into slot e->n (flushing a full batch first). */
static int add_line(void *ctx, char *line, size_t len, int *dropped)
{
    line_ctx *c = ctx;
    encoder *e = c->e;
    if (e->n == c->o->batch)
        AD_TRY(flush(e, c->o));
    int n;
    AD_TRY(ad_report_ids(e->tok, line, len, c->o->max_length, c->o->raw,
                         e->ids + (size_t)e->n * e->T, &n, dropped));
    e->lengths[e->n] = n;
    e->dropped[e->n] = *dropped;
    e->n++;
    return AD_OK;
}

static int run(encoder *e, const options *o)
{
    line_ctx ctx = {e, o};
    int rc = ad_cli_each_line("encode-text", add_line, &ctx);
    /* The lines before a failure are still written, in order. */
    int frc = e->n > 0 ? flush(e, o) : AD_OK;
    if (frc == AD_OK && fflush(stdout) != 0)
        frc = ad_fail(AD_ERR_IO, "stdout: write failed");
    return rc != AD_OK ? rc : frc;
}

int ad_cmd_encode_text(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        usage();
        return AD_OK;
    }
    options o = {NULL, AD_BERT_POOLER, 0, 0, DEFAULT_BATCH, AD_PREC_FP32}; /* max_length 0: default */
    AD_TRY(parse_args(argc, argv, &o));
    if (cli->rank != 0) /* stdin belongs to rank 0 */
        return AD_OK;
    encoder e = {0};
    int rc = AD_OK;
    AD_CHECK(ad_bert_load(o.model, &e.bert));
    AD_CHECK(ad_bert_set_precision(e.bert, o.precision));
    const ad_bert_config *c = ad_bert_get_config(e.bert);
    if (o.pooling == AD_BERT_POOLER && !c->has_pooler) {
        rc = ad_fail(AD_ERR_UNSUPPORTED, "%s: the checkpoint has no pooler.dense weights (a "
                     "masked-LM-only model): choose --pooling cls or mean", o.model);
        goto done;
    }
    if (o.max_length == 0)
        o.max_length = DEFAULT_MAX_LENGTH < c->max_positions ? DEFAULT_MAX_LENGTH
                                                             : c->max_positions;
    if (o.max_length > c->max_positions) {
        rc = ad_fail(AD_ERR_ARG, "encode-text: --max-length %d exceeds the model's "
                     "max_position_embeddings %d", o.max_length, c->max_positions);
        goto done;
    }
    AD_CHECK(ad_tokenizer_load(o.model, &e.tok));
    e.H = c->hidden;
    e.T = o.max_length;
    e.ids = ad_malloc(sizeof(int32_t) * (size_t)o.batch * e.T, "token ids");
    e.lengths = ad_malloc(sizeof(int) * (size_t)o.batch, "lengths");
    e.dropped = ad_malloc(sizeof(int) * (size_t)o.batch, "flags");
    e.out = ad_malloc(sizeof(float) * (size_t)o.batch * e.H, "embeddings");
    if (!e.ids || !e.lengths || !e.dropped || !e.out) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    rc = run(&e, &o);
done:
    free(e.ids);
    free(e.lengths);
    free(e.dropped);
    free(e.out);
    ad_tokenizer_destroy(e.tok);
    ad_bert_destroy(e.bert);
    return rc;
}
