/* Collective agreement on failure, so no rank waits in a collective for a peer that gave
 * up: after a step that may fail on some ranks only, every rank calls ad_mpi_agree() with
 * its own status. */
#ifndef ADAPTOR_MPIUTIL_H
#define ADAPTOR_MPIUTIL_H

#include <mpi.h>

#include "adaptor/reduce.h"

/* Returns rc on a rank that failed; AD_ERR_PEER ("<what>: failed on rank r") on the others
 * when any rank failed (the failing rank reports the reason, see src/cli/main.c); AD_OK when
 * all passed. what may be NULL. */
int ad_mpi_agree(MPI_Comm comm, int rc, const char *what);

/* The sum kernels take (ad_reduce): MPI_Allreduce(MPI_SUM) of doubles over *comm, which must
 * outlive the returned value; MPI_COMM_NULL gives no reduction (this rank alone). */
ad_reduce ad_mpi_sum(const MPI_Comm *comm);

#endif
