/* embeddings.nc: the evaluated image embeddings before and after the Adaptor, so maps of
 * the embedding space (PCA, t-SNE) need neither the caches nor the model.
 *
 * Layout (adaptor_embeddings_version = 1)
 *   one group per evaluated split, named after it ("valid", "test"):
 *     dimensions sample (N), dim_before (D), dim_after (P), label (K, may be 0)
 *     int64 sample_id(sample)            manifest row of each sample
 *     float image_before(sample, dim_before)  the frozen encoder's pooled embedding (the
 *                                        cache row; CLS row for token caches)
 *     float image_after(sample, dim_after)    the trained Adaptor's image output (normalised)
 *     byte  labels(sample, label)        0 / 1 per finding, -1 unknown
 *     string label_names(label)          the [data] label_columns
 *   global attributes: adaptor_embeddings_version = 1, model = "adaptor", and the run's
 *   provenance (provenance.h: adaptor_version, git_commit, hosts, ..., config).
 *
 * Written by one rank as "<path>.tmp.<pid>", fsync'ed and renamed on commit, so a reader
 * never sees a partial file under the final name. */
#ifndef ADAPTOR_EMBFILE_H
#define ADAPTOR_EMBFILE_H

#include "adaptor/provenance.h"

#include <stdint.h>

#define AD_EMBEDDINGS_VERSION 1

typedef struct ad_embfile ad_embfile;

/* One split's rows: before[n][dim_before], after[n][dim_after], labels[n][nlabels]. */
typedef struct ad_emb_split {
    const char *split;
    int64_t n;
    const int64_t *sample_id;
    const float *before;
    int dim_before;
    const float *after;
    int dim_after;
    const int8_t *labels;
    const char *const *label_names;
    int nlabels;
} ad_emb_split;

/* Creates the temporary file beside path. */
int ad_embfile_create(const char *path, const ad_provenance *prov, ad_embfile **f);
/* Adds one split's group (each split once). */
int ad_embfile_put(ad_embfile *f, const ad_emb_split *s);
/* Closes, fsyncs and renames into place; frees f (also on failure, removing the temporary
 * file). */
int ad_embfile_commit(ad_embfile *f);
/* Removes the temporary file and frees f; NULL is a no-op. */
void ad_embfile_abort(ad_embfile *f);

#endif
