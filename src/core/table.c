/* Console result tables (include/adaptor/table.h). */
#include "adaptor/table.h"

#include "adaptor/error.h"
#include "adaptor/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ad_table {
    char *title, *label;
    int ncols, nrows, cap;
    char **col_name;
    int *digits;
    char **row_name;
    double *values; /* [cap][ncols] */
};

int ad_table_create(const char *title, const char *label, const ad_table_col *cols, int ncols,
                    ad_table **out)
{
    *out = NULL;
    if (ncols < 1)
        return ad_fail(AD_ERR_ARG, "table '%s': no columns", title ? title : "");
    ad_table *t = ad_calloc(1, sizeof *t, "table");
    if (!t)
        return AD_ERR_NOMEM;
    t->ncols = ncols;
    t->title = ad_strdup(title ? title : "");
    t->label = ad_strdup(label ? label : "");
    t->col_name = ad_calloc((size_t)ncols, sizeof *t->col_name, "table columns");
    t->digits = ad_calloc((size_t)ncols, sizeof *t->digits, "table columns");
    int rc = t->title && t->label && t->col_name && t->digits ? AD_OK : AD_ERR_NOMEM;
    for (int c = 0; c < ncols && rc == AD_OK; c++) {
        t->col_name[c] = ad_strdup(cols[c].name);
        t->digits[c] = cols[c].digits < 0 ? 0 : cols[c].digits > 12 ? 12 : cols[c].digits;
        if (!t->col_name[c])
            rc = AD_ERR_NOMEM;
    }
    if (rc != AD_OK) {
        ad_table_destroy(t);
        return rc;
    }
    *out = t;
    return AD_OK;
}

void ad_table_destroy(ad_table *t)
{
    if (!t)
        return;
    for (int c = 0; t->col_name && c < t->ncols; c++)
        free(t->col_name[c]);
    for (int r = 0; r < t->nrows; r++)
        free(t->row_name[r]);
    free(t->col_name);
    free(t->digits);
    free(t->row_name);
    free(t->values);
    free(t->title);
    free(t->label);
    free(t);
}

int ad_table_add(ad_table *t, const char *name, const double *values)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 8;
        char **rn = realloc(t->row_name, (size_t)cap * sizeof *rn);
        if (!rn)
            return ad_fail(AD_ERR_NOMEM, "out of memory (table rows)");
        t->row_name = rn;
        double *v = realloc(t->values, (size_t)cap * t->ncols * sizeof *v);
        if (!v)
            return ad_fail(AD_ERR_NOMEM, "out of memory (table rows)");
        t->values = v;
        t->cap = cap;
    }
    char *copy = ad_strdup(name ? name : "");
    if (!copy)
        return AD_ERR_NOMEM;
    t->row_name[t->nrows] = copy;
    memcpy(t->values + (size_t)t->nrows * t->ncols, values, (size_t)t->ncols * sizeof *values);
    t->nrows++;
    return AD_OK;
}

int ad_table_rows(const ad_table *t) { return t->nrows; }

static int cell(char *buf, size_t n, double v, int digits)
{
    return isnan(v) ? snprintf(buf, n, "-") : snprintf(buf, n, "%.*f", digits, v);
}

/* Appends to a growing buffer; *len counts what would have been written. */
static void put(char *text, size_t cap, size_t *len, const char *fmt, ...) AD_PRINTF(4, 5);
static void put(char *text, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(text ? text + *len : NULL, text ? cap - *len : 0, fmt, ap);
    va_end(ap);
    *len += w > 0 ? (size_t)w : 0;
}

static void layout(const ad_table *t, const int *width, int lw, char *text, size_t cap,
                   size_t *len)
{
    char buf[64];
    put(text, cap, len, "%s\n  %-*s", t->title, lw, t->label);
    for (int c = 0; c < t->ncols; c++)
        put(text, cap, len, "  %*s", width[c], t->col_name[c]);
    put(text, cap, len, "\n  ");
    for (int i = 0; i < lw; i++)
        put(text, cap, len, "-");
    for (int c = 0; c < t->ncols; c++) {
        put(text, cap, len, "  ");
        for (int i = 0; i < width[c]; i++)
            put(text, cap, len, "-");
    }
    put(text, cap, len, "\n");
    for (int r = 0; r < t->nrows; r++) {
        put(text, cap, len, "  %-*s", lw, t->row_name[r]);
        for (int c = 0; c < t->ncols; c++) {
            cell(buf, sizeof buf, t->values[(size_t)r * t->ncols + c], t->digits[c]);
            put(text, cap, len, "  %*s", width[c], buf);
        }
        put(text, cap, len, "\n");
    }
}

int ad_table_format(const ad_table *t, char **text)
{
    *text = NULL;
    int *width = ad_malloc((size_t)t->ncols * sizeof *width, "table widths");
    if (!width)
        return AD_ERR_NOMEM;
    int lw = (int)strlen(t->label);
    for (int r = 0; r < t->nrows; r++)
        lw = (int)strlen(t->row_name[r]) > lw ? (int)strlen(t->row_name[r]) : lw;
    char buf[64];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = (int)strlen(t->col_name[c]);
        for (int r = 0; r < t->nrows; r++) {
            int w = cell(buf, sizeof buf, t->values[(size_t)r * t->ncols + c], t->digits[c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    size_t len = 0;
    layout(t, width, lw, NULL, 0, &len);
    char *out = ad_malloc(len + 1, "table text");
    int rc = out ? AD_OK : AD_ERR_NOMEM;
    if (rc == AD_OK) {
        size_t used = 0;
        layout(t, width, lw, out, len + 1, &used);
        *text = out;
    }
    free(width);
    return rc;
}

int ad_table_print(const ad_table *t)
{
    if (ad_log_rank() != 0)
        return AD_OK;
    char *text;
    AD_TRY(ad_table_format(t, &text));
    ad_info("%s", "");
    /* line by line: each line is one message, as every other console line */
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        ad_info("%s", line);
    }
    free(text);
    return AD_OK;
}
