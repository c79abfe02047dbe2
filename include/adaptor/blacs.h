/* BLACS process grids and 2-D block-cyclic matrices (ScaLAPACK layout), shared by the
 * probe and PCA.
 *
 * Rows of a data matrix arrive the way the pipeline reads caches: each rank holds a
 * contiguous block of rows, row-major, in floats. Read as column-major, that block is its
 * transpose, so the data enters ScaLAPACK as X^T [width, n] with the samples along the
 * columns and never needs a local transpose. ad_bc_from_rows() moves the rows (shifted by a
 * vector, e.g. the mean, and converted to double) into uniform column blocks over a 1 x P
 * grid of all ranks (MPI_Alltoallv), then redistributes with pdgemr2d onto the 2-D grid.
 *
 * Every entry point validates what ScaLAPACK / BLACS would otherwise reject with their own
 * error handler (which prints and may abort): grid sizes, descriptor leading dimensions. */
#ifndef ADAPTOR_BLACS_H
#define ADAPTOR_BLACS_H

#include <mpi.h>
#include <stdint.h>

typedef struct ad_blacs {
    MPI_Comm comm;
    int size, rank;
    int sys;        /* BLACS system handle of comm */
    int ctxt_all;   /* 1 x P grid of every rank: the source layout, and pdgemr2d's context */
    int ctxt;       /* the pr x pc grid (row-major ranks 0 .. pr*pc-1); -1 outside it */
    int pr, pc;     /* grid shape */
    int myrow, mycol; /* this rank's place, -1 outside the grid */
    int live;       /* 1 once the BLACS contexts exist */
} ad_blacs;

/* Collective over comm. grid_rows x grid_cols > 0 must fit in comm's size; 0 x 0 picks
 * the most square pr x pc = size (pr <= pc). who names the caller in messages. */
int ad_blacs_create(MPI_Comm comm, int grid_rows, int grid_cols, const char *who, ad_blacs *g);
/* Collective. Safe on a zero-initialised or failed-create struct. */
void ad_blacs_destroy(ad_blacs *g);
/* The shape 0 x 0 resolves to for size ranks. */
void ad_blacs_auto_shape(int size, int *pr, int *pc);

/* A distributed m x n double matrix with square nb x nb blocks on g's 2-D grid; on ranks
 * outside the grid it holds nothing (a = NULL, desc[1] = -1). */
typedef struct ad_bcmat {
    int m, n, nb;
    int desc[9];
    int mloc, nloc, lld;
    double *a; /* column-major [lld, nloc], zeroed */
} ad_bcmat;

/* The block size used for a d-wide problem: at least two blocks per grid row / column
 * when d allows (so small tests exercise the cyclic wrap), at most 64. */
int ad_blacs_block(const ad_blacs *g, int d);
/* Allocates A (local, not collective). */
int ad_bcmat_create(const ad_blacs *g, int m, int n, int nb, ad_bcmat *A);
void ad_bcmat_destroy(ad_bcmat *A);
/* Adds v to every diagonal entry this rank owns. */
void ad_bcmat_add_diag(ad_bcmat *A, double v);
/* Collective over g->comm: columns j0 .. j0+ncols-1 (0-based) of A, column-major
 * [m, ncols], on every rank. */
int ad_bcmat_allgather(const ad_blacs *g, const ad_bcmat *A, int j0, int ncols, double *full);

/* Collective: the total row count n, this rank's first global row, and a check that the
 * rows [n_local, width] are finite (AD_ERR_NUMERIC "<who>: <what> row R column C is not
 * finite", R global). Fails on all ranks if any fails. */
int ad_rows_check(MPI_Comm comm, const float *x_local, int64_t n_local, int width,
                  const char *who, const char *what, int64_t *n, int64_t *first);
/* Collective: column means of the distributed rows, in double, on every rank. */
int ad_rows_mean(MPI_Comm comm, const float *x_local, int64_t n_local, int width, int64_t n,
                 double *mean);
/* Collective over g->comm: At = (X - 1 shift^T)^T [width, n], block-cyclic with block nb;
 * shift may be NULL (no shift). n is the total row count (ad_rows_check). */
int ad_bc_from_rows(const ad_blacs *g, const float *x_local, int64_t n_local, int width,
                    const double *shift, int64_t n, int nb, ad_bcmat *At);

#endif
