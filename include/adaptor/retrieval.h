/* Image-to-text and text-to-image retrieval over a whole split (SPEC 8's retrieval numbers).
 *
 * Row i of the image embeddings V [N, P] and of the text embeddings T [N, P] are a pair
 * (normally L2-normalised; nothing here depends on it). Scores are dot products
 * s_ij = v_i . t_j. The rank of a query's true partner among all N candidates is
 * PESSIMISTIC under ties:
 *     i2t rank(i) = 1 + #{j : s_ij > s_ii} + #{j != i : s_ij == s_ii}
 *     t2i rank(j) = 1 + #{i : s_ij > s_jj} + #{i != j : s_ij == s_jj}
 * i.e. the number of candidates scoring at least as high as the partner. (argsort-based
 * evaluations place ties in index order instead; a model that scores everything equal gets
 * rank N here, not a lucky 1.) Recall@K = fraction of queries (in [0, 1]) with rank <= K;
 * median rank as numpy's median (mean of the two middle ranks for even N); mean rank.
 *
 * S = V T^T is computed in fixed 384 x 384 tiles aligned to global row numbers (zero rows
 * pad partial tiles), one BLIS sgemm per tile, so memory is O(N P) and every score is the
 * same float whatever the number of ranks: results are identical for any rank count. */
#ifndef ADAPTOR_RETRIEVAL_H
#define ADAPTOR_RETRIEVAL_H

#include <mpi.h>
#include <stdint.h>

#define AD_RETRIEVAL_MAX_K 16
#define AD_RETRIEVAL_TILE 384

typedef struct ad_retrieval_dir {
    double recall[AD_RETRIEVAL_MAX_K]; /* recall[j]: Recall@k[j] */
    double median_rank, mean_rank;
} ad_retrieval_dir;

typedef struct ad_retrieval_result {
    int64_t n; /* queries per direction (the split's size) */
    int nk;
    int k[AD_RETRIEVAL_MAX_K];
    ad_retrieval_dir i2t, t2i;
} ad_retrieval_result;

/* Collective over comm. Each rank passes a contiguous block of rows (rank 0 the first
 * rows, then rank 1, ...; n_local may be 0): v, t [n_local, p]. Every rank returns the
 * same result. ranks_i2t / ranks_t2i: NULL, or N entries receiving every query's rank
 * (on every rank). Non-finite embeddings are an error naming the row; a failure on any
 * rank fails all ranks (the others with AD_ERR_PEER). */
int ad_retrieval(MPI_Comm comm, const float *v, const float *t, int64_t n_local, int p,
                 const int *k, int nk, ad_retrieval_result *res, int64_t *ranks_i2t,
                 int64_t *ranks_t2i);

/* Recall@k, median and mean from n ranks (1-based). */
int ad_retrieval_summarise(const int64_t *ranks, int64_t n, const int *k, int nk,
                           ad_retrieval_dir *out);

#endif
