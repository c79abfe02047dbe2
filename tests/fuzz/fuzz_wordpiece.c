/* WordPiece on arbitrary text: the three real tokenizers of tests/data (uncased BERT, cased
 * BioClinicalBERT from vocab.txt, CXR-BERT), raw and after MGCA's report preprocessing, as
 * `adaptor tokenize` and the embed stage feed them. The first byte picks tokenizer,
 * max_length and mode; the rest is the text (any bytes: invalid UTF-8 must be an error). */
#include "adaptor/error.h"
#include "adaptor/report_ids.h"
#include "adaptor/wordpiece.h"
#include "fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"bert-base-uncased", "bio-clinicalbert", "cxr-bert-specialized"};
static ad_tokenizer *toks[3];

static void setup(void)
{
    for (int i = 0; i < 3; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tokenizers/%s", ADAPTOR_TEST_DATA, names[i]);
        if (ad_tokenizer_load(dir, &toks[i]) != AD_OK) {
            fprintf(stderr, "%s\n", ad_errmsg());
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready++)
        setup();
    if (size < 1)
        return 0;
    static const int lengths[] = {2, 3, 8, 112, 512};
    const ad_tokenizer *tok = toks[data[0] % 3];
    int max_length = lengths[(data[0] / 3) % 5];
    int raw = (data[0] / 15) % 2;
    size_t len = size - 1;
    /* NUL-terminated copy: MGCA's path reads a C string and edits it in place. */
    char *text = malloc(len + 1);
    int32_t *ids = malloc((size_t)max_length * sizeof *ids);
    fz_assert(text && ids, "allocation");
    memcpy(text, data + 1, len);
    text[len] = '\0';
    int n = -1, dropped = 0;
    int rc = ad_report_ids(tok, text, len, max_length, raw, ids, &n, &dropped);
    if (rc == AD_OK && !dropped) {
        int nv = ad_tokenizer_vocab_size(tok);
        fz_assert(n >= 2 && n <= max_length, "2 <= length <= max_length");
        fz_assert(ids[0] == ad_tokenizer_cls_id(tok) && ids[n - 1] == ad_tokenizer_sep_id(tok),
                  "[CLS] first, [SEP] last");
        for (int i = 0; i < n; i++)
            fz_assert(ids[i] >= 0 && ids[i] < nv && ad_tokenizer_id_to_token(tok, ids[i]),
                      "ids inside the vocabulary");
    } else if (rc != AD_OK) {
        fz_rejected();
    }
    free(ids);
    free(text);
    return 0;
}
