/* Rank shares: how n items (rows, images, a batch) are split over the ranks of a
 * communicator in contiguous blocks, rank 0 first; the first n % size ranks take one more.
 * Every stage splits this way so a row's owner is the same everywhere. */
#ifndef ADAPTOR_SHARE_H
#define ADAPTOR_SHARE_H

#include <stdint.h>

/* The block of rank (0 <= rank < size) among n items: [*first, *first + *count). */
void ad_share(int64_t n, int rank, int size, int64_t *first, int64_t *count);

/* Every rank's block in units of `unit` elements (counts[r], displs[r], size entries each),
 * as MPI_Allgatherv takes them. Fails (AD_ERR_ARG, naming what) when an entry exceeds int. */
int ad_share_counts(int64_t n, int size, int64_t unit, int *counts, int *displs,
                    const char *what);

#endif
