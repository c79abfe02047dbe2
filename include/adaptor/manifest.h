/* The corpus manifest: an MGCA-style CSV with one row per image (SPEC 1, 9 [data]).
 *
 * Read with libcsv in strict mode: RFC 4180 quoting (fields with commas, doubled quotes
 * and newlines, as MIMIC reports have), LF or CRLF line ends, a UTF-8 byte-order mark
 * tolerated, blank lines skipped. The first row names the columns. Only the columns the
 * caller names are kept; a missing one is an error naming the column and the file.
 *
 * Rows are numbered 0, 1, ... in file order (header excluded): that number is the row id
 * (the sample_id of the embedding caches) and survives every filter. `line` is the 1-based
 * line of the file where the row starts (a quoted report spans lines); every error about
 * a row names the file and that line.
 *
 * Image (and mask) paths are resolved against the image root (default: the manifest's
 * folder) unless they are absolute. The same image path twice within one split is an
 * error naming both lines. */
#ifndef ADAPTOR_MANIFEST_H
#define ADAPTOR_MANIFEST_H

#include <stdint.h>

typedef struct ad_config ad_config;

/* What an empty or -1 label field means. */
typedef enum {
    AD_LABEL_STRICT,   /* an error naming file, line and column */
    AD_LABEL_AS_ZERO,  /* negative */
    AD_LABEL_UNCERTAIN /* kept as AD_LABEL_UNKNOWN (-1); ad_auroc leaves such rows out */
} ad_label_policy;

#define AD_LABEL_UNKNOWN (-1)

typedef struct ad_manifest_spec {
    const char *image_root;            /* NULL or "": the manifest's folder */
    const char *image_column;          /* required */
    const char *const *report_columns; /* kept separately, in this order */
    int n_report_columns;
    const char *split_column;         /* NULL or "": no split (every row has split "") */
    const char *view_column;          /* NULL or "": no view (every row has view "") */
    const char *const *views;         /* views ad_manifest_select keeps by default; */
    int n_views;                      /* 0: every view */
    const char *const *label_columns; /* 0/1 columns (also "0.0" / "1.0") */
    int n_label_columns;
    ad_label_policy label_policy;
    const char *mask_column; /* NULL or "": none (row.mask == NULL) */
} ad_manifest_spec;

typedef struct ad_manifest_row {
    int64_t id;                 /* 0-based order in the file */
    int64_t line;               /* 1-based line where the row starts */
    const char *image;          /* resolved path */
    const char *const *reports; /* n_report_columns fields, in the spec's order */
    const char *split;
    const char *view;
    const int8_t *labels; /* n_label_columns values: 0, 1 or AD_LABEL_UNKNOWN */
    const char *mask;     /* resolved path, or NULL without a mask column */
} ad_manifest_row;

typedef struct ad_manifest ad_manifest;

/* Reads the whole manifest. An empty file (no header) is an error; a header without rows
 * is not (ad_manifest_select reports the empty split). */
int ad_manifest_open(const char *path, const ad_manifest_spec *spec, ad_manifest **m);
/* The same from the job file's [data] keys: manifest (required), image_root, image_column,
 * report_columns, split_column, view_column, views, label_columns; mask_column may be
 * NULL. */
int ad_manifest_open_config(const ad_config *cfg, ad_label_policy policy, const char *mask_column,
                            ad_manifest **m);
void ad_manifest_close(ad_manifest *m);

int64_t ad_manifest_rows(const ad_manifest *m);
/* Row i (0 <= i < rows), or NULL out of range. Valid until ad_manifest_close. */
const ad_manifest_row *ad_manifest_row_at(const ad_manifest *m, int64_t i);
const char *ad_manifest_path(const ad_manifest *m);
int ad_manifest_n_reports(const ad_manifest *m);
int ad_manifest_n_labels(const ad_manifest *m);
const char *ad_manifest_label_name(const ad_manifest *m, int k);

#define AD_MANIFEST_REQUIRE_ROWS 1

/* The ids, ascending, of the rows in `split` (NULL: every split) whose view is one of
 * `views` (views == NULL: the spec's views; n_views == 0 with views != NULL: every view).
 * *idx is malloc'ed (NULL when *n == 0). With AD_MANIFEST_REQUIRE_ROWS an empty selection
 * is an error naming the file, the split and the views. */
int ad_manifest_select(const ad_manifest *m, const char *split, const char *const *views,
                       int n_views, int flags, int64_t **idx, int64_t *n);

#endif
