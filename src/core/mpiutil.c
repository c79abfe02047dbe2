#include "adaptor/mpiutil.h"

#include "adaptor/error.h"

int ad_mpi_agree(MPI_Comm comm, int rc, const char *what)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    /* MAXLOC: the largest code, its lowest rank on ties, so every rank names the same one. */
    struct {
        int bad;
        int rank;
    } in = {rc != AD_OK, rank}, out;
    if (MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "%s: MPI_Allreduce failed", what ? what : "agreement");
    if (!out.bad)
        return AD_OK;
    if (rc != AD_OK)
        return rc;
    return ad_fail(AD_ERR_PEER, "%s%sfailed on rank %d (see its message)", what ? what : "",
                   what ? ": " : "", out.rank);
}

static int mpi_sum(double *v, int n, void *ctx)
{
    MPI_Comm comm = *(const MPI_Comm *)ctx;
    if (MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "MPI_Allreduce failed");
    return AD_OK;
}

ad_reduce ad_mpi_sum(const MPI_Comm *comm)
{
    ad_reduce r = {NULL, NULL};
    if (*comm != MPI_COMM_NULL) {
        r.sum = mpi_sum;
        r.ctx = (void *)comm;
    }
    return r;
}
