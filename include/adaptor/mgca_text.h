/* MGCA report preprocessing (SPEC section 2), as MGCA's create_path_2_sent_mapping does it.
 *
 * caption = impression + " " + findings; split on `[0-9]+\.` and then on "."; each piece
 * is lower-cased (Unicode) and reduced to its `\w+` runs (Unicode word characters, as
 * Python's re); a piece with <= 1 run is dropped; the runs then lose their non-ASCII
 * characters and empty runs vanish; the pieces' runs are joined with single spaces.
 * The report is kept when the ASCII runs number at least AD_MGCA_MIN_TOKENS. */
#ifndef ADAPTOR_MGCA_TEXT_H
#define ADAPTOR_MGCA_TEXT_H

#define AD_MGCA_MIN_TOKENS 3

/* impression / findings: UTF-8 text, either may be NULL (= empty).  *out receives the
 * caption (malloc'ed, possibly ""), *ntokens its word count; the report is kept iff
 * *ntokens >= AD_MGCA_MIN_TOKENS, which the caller checks (and names its row when not).
 * Fails with AD_ERR_FORMAT on invalid UTF-8. */
int ad_mgca_caption(const char *impression, const char *findings, char **out, int *ntokens);

#endif
