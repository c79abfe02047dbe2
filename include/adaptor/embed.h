/* `adaptor embed`: the frozen encoders over the corpus, once, into the embedding caches.
 *
 * For each split of [cache] splits, the manifest's rows of that split and of the allowed
 * views whose report survives MGCA's preprocessing (SPEC 2: fewer than 3 tokens drops the
 * row) are encoded in parts of [cache] part_rows rows, each part cut into batches of the
 * encoder's batch_size dealt round-robin to the ranks, and written into ONE netCDF-4 cache
 * per encoder and split (include/adaptor/cache.h), named by ad_cache_file(). The row
 * selection does not depend on the encoders, so one image cache pairs with every text
 * cache; the batches do not depend on the number of ranks, so the cache contents are the
 * same for any rank count.
 *
 * Work done survives a kill: each part is committed as its own file and skipped when the
 * job runs again; the parts are merged at the end. A cache that is already complete is
 * left alone. A row whose image cannot be read stops the job with its manifest line, or,
 * with [data] skip_bad_rows = true, is reported, counted, and kept in place with a zero
 * embedding and sample_id -(id + 1) so the trainer leaves it out. */
#ifndef ADAPTOR_EMBED_H
#define ADAPTOR_EMBED_H

#include "adaptor/config.h"

#include <mpi.h>

/* modality: "image", "text" or "both". */
int ad_embed(MPI_Comm comm, const ad_config *cfg, const char *modality);

#endif
