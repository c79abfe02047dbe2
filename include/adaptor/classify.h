/* `adaptor classify`: downstream classification on frozen features (SPEC 8).
 *
 * Data: [data] manifest with [classify] labels (0/1 columns; multiclass: one-hot), splits
 * [classify] splits (train, valid, test), [data] view filter; no report is needed. Per split
 * the frozen image encoder's features ([image_encoder] output = cls | mean) are cached in
 * [cache] dir as "classify-<dataset>-<the image cache name of `embed`>" (include/adaptor/
 * cache.h layout; reused when it holds exactly the split's rows), then passed through the
 * trained Adaptor's pooled image path ([classify] adaptor; unset or 'none': the features
 * themselves, the baseline).
 *
 * Training fraction: [classify] data_pct of the training rows, stratified per class and
 * seeded (include/adaptor/label_fraction.h), chosen on the global row list, so the same for
 * any rank count; a class without an example in it is an error.
 *
 * Heads (include/adaptor/head.h): linear or mlp, trained data-parallel (each rank its share
 * of every global batch, SyncBatchNorm, one all-reduce of the gradient buffer) with AdamW
 * and cosine warm restarts (T_0 = 40% of the updates, eta_min 1e-8) on BCE with logits
 * (binary, multilabel) or cross-entropy (multiclass). After every epoch the validation
 * metric (mean AUROC; multiclass: accuracy) picks the best epoch, whose weights give the
 * reported numbers. head = probe fits the ScaLAPACK ridge probe (include/adaptor/probe.h)
 * over a lambda grid 1e-6 .. 1e3 instead, selecting lambda on validation.
 *
 * Results: AUROC per label ("auroc_<label>"; multiclass one-vs-rest), "auroc_mean",
 * "accuracy" for the valid and test splits, and "best_epoch" / "best_lambda", "train_rows"
 * (split train), written to [output] dir/eval.nc (include/adaptor/evalfile.h, task =
 * classify, dataset, data_pct) under model "<adaptor|baseline>+<head>", and printed. */
#ifndef ADAPTOR_CLASSIFY_H
#define ADAPTOR_CLASSIFY_H

#include "adaptor/config.h"

#include <mpi.h>

int ad_classify(MPI_Comm comm, const ad_config *cfg);

#endif
