#include "adaptor/share.h"

#include <limits.h>

#include "adaptor/error.h"

void ad_share(int64_t n, int rank, int size, int64_t *first, int64_t *count)
{
    int64_t base = n / size, extra = n % size;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

int ad_share_counts(int64_t n, int size, int64_t unit, int *counts, int *displs,
                    const char *what)
{
    for (int r = 0; r < size; r++) {
        int64_t first, count;
        ad_share(n, r, size, &first, &count);
        /* MPI counts are int: a larger block needs a derived row type, not a silent wrap. */
        if ((first + count) * unit > INT_MAX)
            return ad_fail(AD_ERR_ARG, "%s: %lld x %lld elements exceed an MPI count",
                           what ? what : "gather", (long long)(first + count), (long long)unit);
        counts[r] = (int)(count * unit);
        displs[r] = (int)(first * unit);
    }
    return AD_OK;
}
