/* Result tables on the console: the one layout of eval, classify and segment.
 *
 * A stage adds rows while it computes and prints the table whole once the numbers are
 * known, so no progress or other message can land inside it and tables come out in the
 * order they are printed. Layout:
 *
 *     <title>
 *       <label>  <col 1>  <col 2> ...
 *       -------  -------  -------
 *       row      0.1234   12.0
 *
 * Numbers are right-aligned with the column's digits after the point; NaN prints "-"
 * (a cell with no value). Rank 0 prints (ad_info); other ranks may build tables too. */
#ifndef ADAPTOR_TABLE_H
#define ADAPTOR_TABLE_H

typedef struct ad_table_col {
    const char *name;
    int digits; /* after the decimal point */
} ad_table_col;

typedef struct ad_table ad_table;

/* label: the heading of the row-name column; cols[ncols] the numeric columns (copied). */
int ad_table_create(const char *title, const char *label, const ad_table_col *cols, int ncols,
                    ad_table **t);
void ad_table_destroy(ad_table *t);
/* One row: its name and ncols values. */
int ad_table_add(ad_table *t, const char *name, const double *values);
int ad_table_rows(const ad_table *t);
/* The table as text (caller frees); one line per table line, each ending in '\n'. */
int ad_table_format(const ad_table *t, char **text);
/* Prints the formatted table through ad_info (rank 0). */
int ad_table_print(const ad_table *t);

#endif
