/* Labelled training fractions for downstream classification (SPEC 8: 1%, 10%, 100%).
 *
 * Rows are grouped by their label pattern (the class for binary and multi-class tasks, the
 * whole 0/1 vector for multi-label ones). The fraction's size round(pct * n) is shared out
 * over the groups proportionally (largest remainders, ties to the earlier group), and each
 * group's rows are drawn by a seeded shuffle. The selection is made on the GLOBAL row list
 * (before any sharding over ranks), so it is the same for every rank count. */
#ifndef ADAPTOR_LABEL_FRACTION_H
#define ADAPTOR_LABEL_FRACTION_H

#include <stdint.h>

typedef enum { AD_TASK_BINARY = 0, AD_TASK_MULTICLASS = 1, AD_TASK_MULTILABEL = 2 } ad_cls_task;

int ad_cls_task_parse(const char *name, ad_cls_task *out);
const char *ad_cls_task_name(ad_cls_task t);

/* Checks labels [n, nlab] (0/1) fit the task: binary needs one column, multi-class exactly
 * one 1 per row (one-hot columns), multi-label at most 64 columns. what names the rows
 * (e.g. "manifest.csv split train"), names[k] the columns; row_lines (may be NULL) gives
 * each row's manifest line for messages. */
int ad_cls_check_labels(const int8_t *labels, int64_t n, int nlab, ad_cls_task task,
                        const char *const *names, const char *what, const int64_t *row_lines);

/* Every class (binary: 0 and 1; multi-class: each column; multi-label: a positive of each
 * column) has an example among rows sel[n] (NULL: 0..n-1); else an error naming it. */
int ad_cls_check_classes(const int8_t *labels, const int64_t *sel, int64_t n, int nlab,
                         ad_cls_task task, const char *const *names, const char *what);

/* The stratified fraction pct (0 < pct <= 1) of the n rows: *sel (malloc'ed, ascending
 * positions in 0..n-1) and *nsel. pct = 1 selects every row. */
int ad_label_fraction(const int8_t *labels, int64_t n, int nlab, ad_cls_task task, double pct,
                      uint64_t seed, int64_t **sel, int64_t *nsel);

/* The class of row i of a multi-class task (the column holding its 1). */
int ad_cls_class_of(const int8_t *row, int nlab);

#endif
