/* `adaptor tokenize`: the token ids the trainer would feed the text encoder, one line of
 * stdin at a time, for checking a model folder's tokenizer against HuggingFace's. */
#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/mgca_text.h"
#include "adaptor/report_ids.h"
#include "adaptor/wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LENGTH 112 /* MGCA's max_words */

static void usage(void)
{
    printf("usage: adaptor tokenize --model DIR [--max-length N] [--raw] [--tokens] < texts\n\n"
           "Reads one text per line from stdin and prints, per line, the WordPiece token ids\n"
           "`[CLS] pieces [SEP]` separated by single spaces, truncated to N tokens (default %d),\n"
           "without padding.  DIR holds vocab.txt (+ tokenizer_config.json) or tokenizer.json;\n"
           "the result matches HuggingFace's BertTokenizerFast (AutoTokenizer).\n\n"
           "  --model DIR       the text encoder's folder\n"
           "  --max-length N    truncation length including [CLS] and [SEP] (>= 2)\n"
           "  --raw             tokenize the lines as they are; without it each line is a\n"
           "                    report and gets the MGCA preprocessing first (pieces split on\n"
           "                    periods, lower-cased, ASCII words only; see SPEC section 2)\n"
           "  --tokens          print the token strings instead of the ids\n\n"
           "A trailing \\r (CRLF input) is removed.  Without --raw, a report that MGCA drops\n"
           "(fewer than %d words after preprocessing) prints an EMPTY line, so output lines stay\n"
           "aligned with input lines; each such line is named on stderr and the command then\n"
           "exits with status 1 after processing all lines.  Invalid UTF-8 stops the command\n"
           "with an error naming the line.\n",
           DEFAULT_MAX_LENGTH, AD_MGCA_MIN_TOKENS);
}

static int parse_args(int argc, char **argv, const char **model, int *max_length, int *raw,
                      int *tokens)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--raw") == 0) {
            *raw = 1;
        } else if (strcmp(a, "--tokens") == 0) {
            *tokens = 1;
        } else if (strcmp(a, "--model") == 0 || strcmp(a, "--max-length") == 0) {
            if (i + 1 >= argc)
                return ad_fail(AD_ERR_ARG, "tokenize: %s needs a value", a);
            const char *v = argv[++i];
            if (a[2] == 'm' && a[3] == 'o') {
                *model = v;
            } else {
                char *end;
                errno = 0;
                long n = strtol(v, &end, 10);
                if (errno || *end || end == v || n < 2 || n > 1000000)
                    return ad_fail(AD_ERR_ARG, "tokenize: --max-length '%s' is not an integer "
                                   "in [2, 1000000]", v);
                *max_length = (int)n;
            }
        } else {
            return ad_fail(AD_ERR_ARG, "tokenize: unknown argument '%s' (see --help)", a);
        }
    }
    if (!*model)
        return ad_fail(AD_ERR_ARG, "tokenize: --model DIR is required (see --help)");
    return AD_OK;
}

static void print_ids(const ad_tokenizer *tok, const int32_t *ids, int n, int tokens)
{
    for (int k = 0; k < n; k++) {
        if (k)
            putchar(' ');
        if (tokens)
            fputs(ad_tokenizer_id_to_token(tok, ids[k]), stdout);
        else
            printf("%d", (int)ids[k]);
    }
    putchar('\n');
}

typedef struct tok_ctx {
    const ad_tokenizer *tok;
    int max_length, raw, tokens;
    int32_t *ids;
} tok_ctx;

/* One line: its ids (or an empty line when MGCA drops the report). */
static int tokenize_line(void *ctx, char *line, size_t len, int *dropped)
{
    tok_ctx *c = ctx;
    int n;
    AD_TRY(ad_report_ids(c->tok, line, len, c->max_length, c->raw, c->ids, &n, dropped));
    print_ids(c->tok, c->ids, n, c->tokens);
    return AD_OK;
}

int ad_cmd_tokenize(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        usage();
        return AD_OK;
    }
    const char *model = NULL;
    int max_length = DEFAULT_MAX_LENGTH, raw = 0, tokens = 0;
    AD_TRY(parse_args(argc, argv, &model, &max_length, &raw, &tokens));
    if (cli->rank != 0) /* stdin belongs to rank 0 */
        return AD_OK;
    ad_tokenizer *tok;
    AD_TRY(ad_tokenizer_load(model, &tok));
    int32_t *ids = ad_malloc((size_t)max_length * sizeof *ids, "token ids");
    int rc = ids ? AD_OK : AD_ERR_NOMEM;
    tok_ctx ctx = {tok, max_length, raw, tokens, ids};
    if (rc == AD_OK)
        rc = ad_cli_each_line("tokenize", tokenize_line, &ctx);
    if (fflush(stdout) != 0 && rc == AD_OK)
        rc = ad_fail(AD_ERR_IO, "stdout: write failed");
    free(ids);
    ad_tokenizer_destroy(tok);
    return rc;
}
