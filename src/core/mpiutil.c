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
