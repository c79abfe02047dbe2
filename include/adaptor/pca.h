/* Principal component analysis of frozen or Adaptor embeddings, distributed with ScaLAPACK.
 *
 * The rows of X [n, d] are mean-centred (Xc = X - 1 mean^T) and the covariance
 * C = Xc^T Xc / (n - 1) (sklearn's PCA convention) is formed with pdsyrk over a 2-D
 * block-cyclic Xc^T (the same layout as include/adaptor/probe.h), then diagonalised with
 * pdsyevd. Components are C's eigenvectors for the m largest eigenvalues, in decreasing
 * order; the sign of each is fixed so that its entry of largest magnitude (the first such
 * on ties) is positive, so results do not depend on the grid. explained_var[j] is the j-th
 * eigenvalue (the variance of the data along component j); total_var the trace of C (so
 * explained_var / total_var is sklearn's explained_variance_ratio_). The projections of
 * each rank's own rows are proj = Xc comps^T.
 *
 * Errors as in probe.h (fewer rows than ranks, n < 2, m outside 1..d, non-finite features
 * naming the global row, a grid larger than the communicator): one line, all ranks fail. */
#ifndef ADAPTOR_PCA_H
#define ADAPTOR_PCA_H

#include "adaptor/provenance.h"

#include <mpi.h>
#include <stdint.h>

/* Collective over comm. x_local [n_local, d] row-major: this rank's contiguous block of
 * rows (rank order). grid_rows x grid_cols: the BLACS grid (0, 0 = automatic). On every
 * rank: mean [d], comps [m][d] (row j = component j, unit length), explained_var [m],
 * *total_var (may be NULL). proj_local [n_local][m] (may be NULL): this rank's rows
 * projected. */
int ad_pca_fit(MPI_Comm comm, const float *x_local, int64_t n_local, int d, int m,
               int grid_rows, int grid_cols, double *mean, double *comps, double *explained_var,
               double *total_var, float *proj_local);

/* pca.nc, for the analysis package (adaptor_pca_version = 1):
 *   dimensions  sample (N), component (M), dim (D)
 *   variables   double mean(dim), double components(component, dim),
 *               double explained_variance(component), double explained_variance_ratio(component),
 *               float projection(sample, component), int64 sample_id(sample)
 *   attributes  adaptor_pca_version = 1, total_variance (double), source (what was
 *               analysed, e.g. the cache path), and the run's provenance (provenance.h)
 * Collective over comm: every rank passes its rows' projections proj_local [n_local][m]
 * and sample ids ids_local [n_local] (rank order); rank 0 gathers them and writes the file
 * atomically (temporary name, fsync, rename). source and prov may be NULL. */
int ad_pca_write(MPI_Comm comm, const char *path, int d, int m, const double *mean,
                 const double *comps, const double *explained_var, double total_var,
                 const float *proj_local, const int64_t *ids_local, int64_t n_local,
                 const char *source, const ad_provenance *prov);

#endif
