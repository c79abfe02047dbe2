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
#include "adaptor/frozen.h"

#include <mpi.h>

/* modality: "image", "text" or "both". */
int ad_embed(MPI_Comm comm, const ad_config *cfg, const char *modality);

/* What one ad_embed_selection did (this rank's bad rows and times). */
typedef struct ad_embed_stats {
    int64_t bad, parts_done_before;
    int overlapped; /* images were decoded in a helper thread (embed_prefetch.h) */
    double seconds;
    ad_embed_timers tm;
} ad_embed_stats;

/* 1 when path opens as a cache of exactly the selection's rows (a row skipped as bad:
 * -(id + 1)) with this width and token count, made with the same preprocessing attribute
 * (which names arch, output, crop, depth16 and the resolved pos_interp); 0 otherwise (no
 * error is left behind). A cache that differs only in preprocessing is reported, and
 * replaced by the caller's new one, never reused. */
int ad_embed_cache_complete(const char *path, const ad_selection *s, int dim, int tokens,
                            const char *preprocessing);

/* The frozen encoder e over every row of s into the cache at path (metadata e->meta), the
 * way `embed` does it (above): parts of part_rows rows that survive a kill, batches of
 * e->batch dealt round-robin so the contents do not depend on the rank count, progress on
 * rank 0 under label. Collective over comm. st (accumulated) may be NULL. */
int ad_embed_selection(MPI_Comm comm, ad_frozen *e, const ad_selection *s, const char *path,
                       const char *label, int64_t part_rows, int skip_bad, const char *manifest,
                       ad_embed_stats *st);

#endif
