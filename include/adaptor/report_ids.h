/* A report (or any text) to token ids the way the pipeline feeds the text encoder: MGCA's
 * preprocessing (SPEC 2) then WordPiece, or WordPiece alone on the raw text. */
#ifndef ADAPTOR_REPORT_IDS_H
#define ADAPTOR_REPORT_IDS_H

#include "adaptor/wordpiece.h"

#include <stddef.h>
#include <stdint.h>

/* text[0..len) (NUL bytes allowed; with MGCA they count as non-word characters and text is
 * modified in place) -> ids[*n], *n <= max_length. *dropped = 1 (and *n = 0) when MGCA drops
 * the report for having fewer than AD_MGCA_MIN_TOKENS words. */
int ad_report_ids(const ad_tokenizer *tok, char *text, size_t len, int max_length, int raw,
                  int32_t *ids, int *n, int *dropped);

#endif
