/* The 300 IU X-ray reports of tests/data/reports/iuxray-report-label-300.csv (the
 * "Reports" column, by 1-based data row), read with libcsv; shared by the text tests. */
#ifndef ADAPTOR_TEST_TOK_REPORTS_H
#define ADAPTOR_TEST_TOK_REPORTS_H

#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#define TOK_NREPORTS 300

typedef struct tok_reports {
    char *text[TOK_NREPORTS + 1];
    int row, field;
} tok_reports;

static void tok_csv_field(void *s, size_t n, void *data)
{
    tok_reports *r = data;
    if (r->row >= 1 && r->row <= TOK_NREPORTS && r->field == 1) {
        r->text[r->row] = malloc(n + 1);
        memcpy(r->text[r->row], s, n);
        r->text[r->row][n] = '\0';
    }
    r->field++;
}

static void tok_csv_row(int c, void *data)
{
    tok_reports *r = data;
    r->row++;
    r->field = 0;
}

static void tok_reports_load(tok_reports *r)
{
    memset(r, 0, sizeof *r);
    char path[4096];
    tu_data_path(path, sizeof path, "reports/iuxray-report-label-300.csv");
    char *data;
    size_t len;
    tu_assert_ok(ad_read_file(path, &data, &len));
    struct csv_parser p;
    ck_assert_int_eq(csv_init(&p, CSV_APPEND_NULL), 0);
    ck_assert_uint_eq(csv_parse(&p, data, len, tok_csv_field, tok_csv_row, r), len);
    csv_fini(&p, tok_csv_field, tok_csv_row, r);
    csv_free(&p);
    free(data);
    ck_assert_int_eq(r->row, TOK_NREPORTS + 1);
    for (int i = 1; i <= TOK_NREPORTS; i++)
        ck_assert_ptr_nonnull(r->text[i]);
}

static void tok_reports_free(tok_reports *r)
{
    for (int i = 1; i <= TOK_NREPORTS; i++)
        free(r->text[i]);
}

#endif
