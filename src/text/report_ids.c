#include "adaptor/report_ids.h"

#include "adaptor/error.h"
#include "adaptor/mgca_text.h"

#include <stdlib.h>

int ad_report_ids(const ad_tokenizer *tok, char *text, size_t len, int max_length, int raw,
                  int32_t *ids, int *n, int *dropped)
{
    *dropped = 0;
    *n = 0;
    if (raw)
        return ad_tokenizer_encode_n(tok, text, len, max_length, ids, n);
    /* A NUL is a non-word character to MGCA, as a space is. */
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0')
            text[i] = ' ';
    char *caption;
    int nwords;
    AD_TRY(ad_mgca_caption(text, NULL, &caption, &nwords));
    int rc = AD_OK;
    if (nwords < AD_MGCA_MIN_TOKENS)
        *dropped = 1;
    else
        rc = ad_tokenizer_encode(tok, caption, max_length, ids, n);
    free(caption);
    return rc;
}
