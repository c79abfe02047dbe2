#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/mgca_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

int ad_cli_each_line(const char *cmd, ad_line_fn fn, void *ctx)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, ndropped = 0, first_dropped = 0;
    int rc = AD_OK;
    ssize_t got;
    while (rc == AD_OK && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        int dropped = 0;
        rc = fn(ctx, line, len, &dropped);
        if (rc != AD_OK) {
            ad_fail_ctx(rc, "stdin line %ld", lineno);
        } else if (dropped) {
            fprintf(stderr, "adaptor %s: stdin line %ld: report has fewer than %d words after MGCA "
                    "preprocessing (dropped; empty output line)\n", cmd, lineno, AD_MGCA_MIN_TOKENS);
            if (ndropped++ == 0)
                first_dropped = lineno;
        }
    }
    free(line);
    if (rc == AD_OK && ferror(stdin))
        rc = ad_fail(AD_ERR_IO, "stdin: read error after line %ld", lineno);
    if (rc == AD_OK && ndropped > 0)
        rc = ad_fail(AD_ERR_FORMAT, "stdin: %ld of %ld reports dropped by MGCA preprocessing "
                     "(first: line %ld)", ndropped, lineno, first_dropped);
    return rc;
}
