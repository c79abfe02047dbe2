/* `adaptor eval`: retrieval (and zero-shot classification) on the valid / test splits.
 *
 * For each split of [eval] splits the cached embeddings of the image and text encoders are
 * shared out over the ranks and scored three ways:
 *   projection  the frozen encoders through the trained projections only (normalize(x W^T));
 *   adaptor     the full trained Adaptor;
 *   init_projection, init   the same two, untrained (initialised from [train] seed): the
 *               baselines;
 * giving image-to-text and text-to-image Recall@K ([eval] recall_k), median and mean rank
 * over the whole split (include/adaptor/retrieval.h). With [data] label_columns, each
 * finding is also classified zero-shot from the prompts "<finding>" and "no <finding>"
 * (pooled mode), as AUROC per finding and their mean. Results go to <output dir>/eval.nc
 * (include/adaptor/evalfile.h) and are printed as a table by rank 0. The image embeddings
 * of each split before (the frozen encoder's) and after the trained Adaptor, with the
 * findings' labels, go to <output dir>/embeddings.nc (include/adaptor/embfile.h). */
#ifndef ADAPTOR_EVALUATE_H
#define ADAPTOR_EVALUATE_H

#include "adaptor/config.h"

#include <mpi.h>

/* weights: the Adaptor's safetensors file, or NULL for <output dir>/model.safetensors. */
int ad_evaluate(MPI_Comm comm, const ad_config *cfg, const char *weights);

#endif
