/* MGCA report preprocessing; see include/adaptor/mgca_text.h for the rules.
 *
 * Splitting on `[0-9]+\.` and then on "." amounts to: every "." ends a piece, and the
 * ASCII digits right before a "." go with it (re.split scans left to right, so a match
 * starts at the first digit of the run).  MGCA's replace("\ufffd\ufffd", " ") is omitted:
 * U+FFFD is no word character, so replacing it by a space changes no token. */
#include "adaptor/mgca_text.h"

#include "adaptor/error.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Python's \w on str: categories L*, N* and "_" (checked over all code points). */
static int is_word(int32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

typedef struct piece_out {
    char *buf; /* the caption being built */
    size_t len;
    int ntokens;
} piece_out;

/* Tokenizes text[0..n) (one piece) and appends its ASCII words when it has >= 2 words. */
static int do_piece(const char *text, size_t n, piece_out *o)
{
    size_t mark = o->len; /* rolled back if the piece is dropped */
    int nruns = 0, nascii = 0, in_run = 0;
    size_t wpos = 0, wlen = 0; /* the current run's ASCII characters, written past o->len */
    size_t i = 0;
    while (i <= n) {
        int32_t lc[2];
        int nl = 0;
        if (i < n) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                                  (utf8proc_ssize_t)(n - i), &c);
            if (k < 0)
                return ad_fail(AD_ERR_FORMAT, "report text: invalid UTF-8 at byte %zu", i);
            i += (size_t)k;
            /* str.lower(): U+0130 is the only code point lowered to two ("i" + U+0307). */
            if (c == 0x130) {
                lc[nl++] = 'i';
                lc[nl++] = 0x307;
            } else {
                lc[nl++] = utf8proc_tolower(c);
            }
        } else {
            i++;
            lc[nl++] = ' '; /* ends the last run */
        }
        for (int k = 0; k < nl; k++) {
            int32_t c = lc[k];
            if (is_word(c)) {
                if (!in_run) {
                    in_run = 1;
                    nruns++;
                    wpos = o->len + (o->len > 0);
                    wlen = 0;
                }
                if (c < 0x80)
                    o->buf[wpos + wlen++] = (char)c;
            } else if (in_run) {
                in_run = 0;
                if (wlen > 0) { /* a run without ASCII characters vanishes */
                    if (o->len > 0)
                        o->buf[o->len] = ' ';
                    o->len = wpos + wlen;
                    nascii++;
                }
            }
        }
    }
    if (nruns <= 1) {
        o->len = mark;
        return AD_OK;
    }
    o->ntokens += nascii;
    return AD_OK;
}

int ad_mgca_caption(const char *impression, const char *findings, char **out, int *ntokens)
{
    *out = NULL;
    *ntokens = 0;
    size_t ni = impression ? strlen(impression) : 0, nf = findings ? strlen(findings) : 0;
    size_t n = ni + 1 + nf;
    char *text = ad_malloc(n + 1, "report text");
    /* Lower-casing U+0130 (2 bytes) yields "i" and a word break: at most 2 bytes per byte. */
    piece_out o = {.buf = ad_malloc(2 * n + 2, "caption")};
    int rc = AD_OK;
    if (!text || !o.buf) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    if (ni)
        memcpy(text, impression, ni);
    text[ni] = ' ';
    if (nf)
        memcpy(text + ni + 1, findings, nf);
    text[n] = '\0';
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && text[i] != '.')
            continue;
        size_t end = i;
        if (i < n) /* "[0-9]+\." takes the digits before the dot */
            while (end > start && text[end - 1] >= '0' && text[end - 1] <= '9')
                end--;
        AD_CHECK(do_piece(text + start, end - start, &o));
        start = i + 1;
    }
    o.buf[o.len] = '\0';
    *out = o.buf;
    o.buf = NULL;
    *ntokens = o.ntokens;
done:
    free(text);
    free(o.buf);
    return rc;
}
