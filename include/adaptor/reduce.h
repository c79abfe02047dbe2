/* A sum over every process that holds part of a batch, for kernels whose statistics span
 * ranks (synchronised batch norm, the segmentation loss) but that know nothing of MPI: the
 * layer that owns the communicator hands them one (ad_mpi_sum in mpiutil.h). */
#ifndef ADAPTOR_REDUCE_H
#define ADAPTOR_REDUCE_H

typedef struct ad_reduce {
    /* v[0..n) <- its sum over the processes, in place; AD_OK or a status with a message. */
    int (*sum)(double *v, int n, void *ctx);
    void *ctx;
} ad_reduce;

/* Applies red to v; red NULL or without sum: this process alone (v unchanged). what names
 * the values in the message of a failure. */
int ad_reduce_sum(const ad_reduce *red, double *v, int n, const char *what);

#endif
