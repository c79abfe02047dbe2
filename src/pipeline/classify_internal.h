/* The pieces of `adaptor classify` (include/adaptor/classify.h): data, training, metrics. */
#ifndef ADAPTOR_CLASSIFY_INTERNAL_H
#define ADAPTOR_CLASSIFY_INTERNAL_H

#include "adaptor/config.h"
#include "adaptor/evalfile.h"
#include "adaptor/head.h"
#include "adaptor/job.h"
#include "adaptor/label_fraction.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* One split, the same on every rank: features [n, dim], labels [n, nlab], sample ids [n],
 * and with [classify] embeddings what the Adaptor was given, before [n, dim_before]. */
typedef struct cls_split {
    char name[32];
    int64_t n;
    int dim, dim_before;
    float *x, *before;
    int64_t *ids;
    int8_t *labels;
} cls_split;

typedef struct cls_data {
    int nlab;
    char **label_names; /* one allocation (ad_config_list) */
    ad_cls_task task;
    cls_split split[3]; /* train, valid, test */
    int keep_before;    /* [classify] embeddings */
} cls_data;

/* Manifest rows, cached frozen-encoder features, and (adaptor != NULL) the Adaptor's image
 * path over them: pooled, or in token mode the image tokens beside the fixed text context
 * of [classify] prompt (SPEC 6, 8). Collective. */
int cls_data_load(MPI_Comm comm, const ad_config *cfg, const ad_job *job,
                  const ad_provenance *prov, const char *adaptor, cls_data *d);
void cls_data_free(cls_data *d);

/* Records of eval.nc. */

/* Scores [n, nlab] of a split (logits, or probe scores) -> the selection metric (mean
 * AUROC; multiclass: accuracy) and, with R != NULL, every record of that split.
 * softmax: multiclass AUROC over softmax probabilities (heads) instead of raw scores. */
int cls_metrics(const cls_data *d, const cls_split *s, const float *scores, int softmax,
                const char *model, ad_eval_records *R, double *select);

typedef struct cls_train_opts {
    ad_head_config head;
    double lr, weight_decay;
    int64_t epochs, batch;
    uint64_t seed;
} cls_train_opts;

/* Trains a head on the rows sel[nsel] of d->split[0] (all ranks), choosing the epoch by
 * validation; h ends with the best epoch's weights. */
int cls_train_head(MPI_Comm comm, const cls_data *d, const int64_t *sel, int64_t nsel,
                   const cls_train_opts *o, ad_head *h, int64_t *best_epoch, double *best);

/* The ridge probe on the same rows; scores of valid and test ([n, nlab] each, malloc'ed). */
int cls_probe(MPI_Comm comm, const cls_data *d, const int64_t *sel, int64_t nsel,
              double *best_lambda, float **valid_scores, float **test_scores);

#endif
