/* Decoding overlapped with the encoder: while the encoder (and the cache write) works on
 * one image batch, a helper thread decodes and preprocesses the next one
 * (ad_frozen_load). Decoding a real-size chest X-ray costs as much as encoding it with a
 * small ViT, so the two halves of ad_frozen_encode are best run side by side.
 *
 * The helper thread makes no MPI call, takes no lock shared with the library and logs
 * nothing: a bad row's error (or, with skip_bad, its warning) is handed back and raised
 * by ad_embed_prefetch_encode in the calling thread, word for word what ad_frozen_encode
 * would have said, so the ranks' error agreement is unchanged. The encoded batch is
 * bitwise the one ad_frozen_encode gives: the same code on the same rows.
 *
 * Batches are taken in the order they were submitted; at most two are outstanding (one
 * being decoded, one waiting to be encoded). With e->overlap off, a text encoder, or an
 * MPI library below MPI_THREAD_FUNNELED, everything runs in the caller at
 * ad_embed_prefetch_encode through ad_frozen_encode itself. */
#ifndef ADAPTOR_EMBED_PREFETCH_H
#define ADAPTOR_EMBED_PREFETCH_H

#include "adaptor/frozen.h"

#include <mpi.h>

typedef struct ad_embed_prefetch ad_embed_prefetch;

/* e, s and manifest must outlive the prefetcher. Where no thread can run (MPI below
 * MPI_THREAD_FUNNELED, a rank allowed one CPU) it says why and clears e->overlap, so the
 * encoder's later prefetchers (the next splits) do not say it again. */
int ad_embed_prefetch_create(ad_frozen *e, const ad_selection *s, int skip_bad,
                             const char *manifest, ad_embed_prefetch **out);
/* Queues the batch of the selection's rows rows[0..n) (copied; 1 <= n <= e->batch). */
int ad_embed_prefetch_submit(ad_embed_prefetch *p, const int64_t *rows, int n);
/* Encodes the oldest queued batch into e->out / e->mask, as ad_frozen_encode does. */
int ad_embed_prefetch_encode(ad_embed_prefetch *p, int64_t *ids, int64_t *bad,
                             ad_embed_timers *tm);
/* 1 when a helper thread decodes. */
int ad_embed_prefetch_threaded(const ad_embed_prefetch *p);
/* Stops the helper thread (after the batch it is on, if any) and drops queued batches. */
void ad_embed_prefetch_destroy(ad_embed_prefetch *p);

#endif
