/* Linear probe: exact ridge-regularised least squares on frozen features, distributed with
 * ScaLAPACK (SPEC 8's linear-probe numbers).
 *
 * Problem, per ridge value lambda >= 0 (sklearn's Ridge(alpha = lambda, fit_intercept)):
 *     minimise over W [d, k], b [k]:  sum_i || y_i - W^T x_i - b ||^2 + lambda ||W||_F^2
 * The bias is NOT regularised. It is handled by centring: with the training means xbar,
 * ybar, W solves (Xc^T Xc + lambda I) W = Xc^T Yc on the centred Xc = X - 1 xbar^T,
 * Yc = Y - 1 ybar^T, and b = ybar - W^T xbar. This is the exact minimiser of the objective
 * above, and centring before forming the Gram matrix also removes the large mean
 * component that would otherwise cost digits in X^T X.
 *
 * Method: Cholesky on the normal equations (pdsyrk + pdposv), not QR (pdgels) on the
 * augmented system [Xc; sqrt(lambda) I]. Cost: forming G = Xc^T Xc is O(n d^2) once for
 * the whole sweep; each lambda then costs one O(d^3 / 3) factorisation of G + lambda I
 * (independent of n), where QR would redo O(n d^2) work per lambda. Conditioning: the
 * normal equations square the condition number of X, but the ridge bounds it,
 * kappa(G + lambda I) <= (sigma_max^2 + lambda) / lambda, and probe features (embeddings
 * of width d << n) are far from rank-deficient; a rank-deficient X at lambda = 0 is
 * reported as an error instead of a silently inaccurate answer.
 *
 * Distribution: each rank passes a contiguous block of the training rows (rank 0 the
 * first rows, then rank 1, ...), as the pipeline reads caches. The rows are moved (as
 * doubles) into uniform column blocks of Xc^T over a 1 x P BLACS grid, then with pdgemr2d
 * into a 2-D block-cyclic layout over a grid_rows x grid_cols grid (0 x 0 = chosen from
 * the rank count: the most square factorisation, see include/adaptor/blacs.h). Ranks
 * outside a smaller grid still take part in the collectives and receive the results.
 *
 * Errors (one line, every rank fails: the detecting rank with the cause, or all ranks with
 * the same message): fewer training rows than ranks, a lambda < 0 or non-finite,
 * lambda = 0 with n < d + 1 rows, a non-finite feature or target (naming the global row),
 * a BLACS grid larger than the communicator, a matrix that is not positive definite at
 * some lambda (linearly dependent features without ridge). ScaLAPACK's own argument
 * errors cannot occur: every argument is validated first. */
#ifndef ADAPTOR_PROBE_H
#define ADAPTOR_PROBE_H

#include <mpi.h>
#include <stdint.h>

/* Collective over comm. x_local [n_local, d] and y_local [n_local, k] row-major (targets:
 * one-hot for multi-class, 0/1 per label for binary / multi-label). lambdas[nl]: the ridge
 * sweep. grid_rows x grid_cols: the BLACS grid (0, 0 = automatic). w receives, on every
 * rank, nl blocks of [d + 1][k] row-major: rows 0..d-1 the weights, row d the bias, so the
 * score of row x for output c is sum_j x_j w[j][c] + w[d][c]. */
int ad_probe_fit(MPI_Comm comm, const float *x_local, int64_t n_local, int d,
                 const float *y_local, int k, const double *lambdas, int nl, int grid_rows,
                 int grid_cols, double *w);

/* The log grid lo, ..., hi of n values (lo, hi > 0; n == 1 gives lo): e.g. 1e-6 .. 1e3. */
int ad_probe_log_grid(double lo, double hi, int n, double *lambdas);

/* Local and serial: scores [n, k] = x [n, d] W + b for one [d + 1][k] block of w. */
int ad_probe_predict(const float *x, int64_t n, int d, const double *w, int k, float *scores);

/* A validation metric, higher is better: scores and targets [n, k] of the WHOLE
 * validation split (the same on every rank). */
typedef int (*ad_probe_metric)(const float *scores, const float *y, int64_t n, int k,
                               void *ctx, double *value);

/* Multi-class: fraction of rows whose arg-max score is the arg-max (one-hot) target. */
int ad_probe_metric_accuracy(const float *scores, const float *y, int64_t n, int k, void *ctx,
                             double *value);
/* Binary / multi-label: mean over the outputs of the AUROC (include/adaptor/auroc.h) of
 * scores[:, c] against y[:, c] (1 positive, 0 negative, a negative value = unknown, left
 * out). Outputs whose validation labels have a single class are skipped; none left is an
 * AD_ERR_ARG error. */
int ad_probe_metric_mean_auroc(const float *scores, const float *y, int64_t n, int k,
                               void *ctx, double *value);

/* Collective over comm: scores every lambda's weights w [nl][d + 1][k] on the validation
 * rows (each rank its contiguous block xval_local, yval_local of nval_local rows; the
 * blocks are gathered in rank order) with metric; value[nl] (may be NULL) receives every
 * score, *best the index of the highest (the first in the order given on ties). Same on
 * every rank. */
int ad_probe_select(MPI_Comm comm, const float *xval_local, const float *yval_local,
                    int64_t nval_local, int d, int k, const double *w, int nl,
                    ad_probe_metric metric, void *ctx, double *value, int *best);

#endif
