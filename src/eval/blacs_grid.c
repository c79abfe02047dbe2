/* BLACS grids and block-cyclic matrices: creation, diagonal update, gathering. */
#include "adaptor/blacs.h"

#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "scalapack.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void ad_blacs_auto_shape(int size, int *pr, int *pc)
{
    int r = 1;
    for (int q = 1; q * q <= size; q++)
        if (size % q == 0)
            r = q;
    *pr = r;
    *pc = size / r;
}

int ad_blacs_create(MPI_Comm comm, int grid_rows, int grid_cols, const char *who, ad_blacs *g)
{
    memset(g, 0, sizeof *g);
    g->sys = g->ctxt_all = g->ctxt = -1;
    g->myrow = g->mycol = -1;
    g->comm = comm;
    MPI_Comm_size(comm, &g->size);
    MPI_Comm_rank(comm, &g->rank);
    /* Checked here because BLACS itself answers a bad grid with an abort, and agreed on
     * because its grid creation is collective. */
    int rc = AD_OK;
    if (grid_rows == 0 && grid_cols == 0) {
        ad_blacs_auto_shape(g->size, &g->pr, &g->pc);
    } else if (grid_rows <= 0 || grid_cols <= 0) {
        rc = ad_fail(AD_ERR_ARG, "%s: BLACS grid %d x %d: both sides must be positive (or both 0)",
                     who, grid_rows, grid_cols);
    } else if ((int64_t)grid_rows * grid_cols > g->size) {
        rc = ad_fail(AD_ERR_ARG, "%s: BLACS grid %d x %d needs %lld ranks, the job has %d", who,
                     grid_rows, grid_cols, (long long)grid_rows * grid_cols, g->size);
    } else {
        g->pr = grid_rows;
        g->pc = grid_cols;
    }
    AD_TRY(ad_mpi_agree(comm, rc, who));
    int me, np;
    Cblacs_pinfo(&me, &np);
    g->sys = Csys2blacs_handle(comm);
    g->ctxt_all = g->sys;
    Cblacs_gridinit(&g->ctxt_all, "R", 1, g->size);
    int ctxt = g->sys;
    Cblacs_gridinit(&ctxt, "R", g->pr, g->pc);
    g->ctxt = g->rank < g->pr * g->pc ? ctxt : -1;
    g->live = 1;
    if (g->ctxt >= 0) {
        int npr, npc;
        Cblacs_gridinfo(g->ctxt, &npr, &npc, &g->myrow, &g->mycol);
    }
    return AD_OK;
}

void ad_blacs_destroy(ad_blacs *g)
{
    if (!g->live)
        return;
    if (g->ctxt >= 0)
        Cblacs_gridexit(g->ctxt);
    if (g->ctxt_all >= 0)
        Cblacs_gridexit(g->ctxt_all);
    if (g->sys >= 0)
        Cfree_blacs_system_handle(g->sys);
    g->ctxt = g->ctxt_all = g->sys = -1;
    g->live = 0;
}

int ad_blacs_block(const ad_blacs *g, int d)
{
    int p = g->pr > g->pc ? g->pr : g->pc;
    int nb = d / (2 * p);
    return nb < 2 ? 2 : nb > 64 ? 64 : nb;
}

int ad_bcmat_create(const ad_blacs *g, int m, int n, int nb, ad_bcmat *A)
{
    memset(A, 0, sizeof *A);
    A->m = m;
    A->n = n;
    A->nb = nb;
    A->lld = 1;
    int zero = 0, info = 0;
    if (g->ctxt < 0) {
        /* pdgemr2d skips a process whose descriptor names context -1. */
        int d[9] = {1, -1, m, n, nb, nb, 0, 0, 1};
        memcpy(A->desc, d, sizeof d);
        return AD_OK;
    }
    A->mloc = numroc_(&m, &nb, &g->myrow, &zero, &g->pr);
    A->nloc = numroc_(&n, &nb, &g->mycol, &zero, &g->pc);
    A->lld = A->mloc > 1 ? A->mloc : 1;
    descinit_(A->desc, &m, &n, &nb, &nb, &zero, &zero, &g->ctxt, &A->lld, &info);
    if (info != 0)
        return ad_fail(AD_ERR_INTERNAL, "blacs: descinit of a %d x %d matrix failed (info %d)", m,
                       n, info);
    size_t cnt = (size_t)A->lld * (size_t)(A->nloc > 1 ? A->nloc : 1);
    A->a = ad_calloc(cnt, sizeof(double), "block-cyclic matrix");
    return A->a ? AD_OK : AD_ERR_NOMEM;
}

void ad_bcmat_destroy(ad_bcmat *A)
{
    free(A->a);
    A->a = NULL;
}

/* Global index (0-based) of local index l, block nb, this process p of np. */
static int l2g(int l, int nb, int p, int np)
{
    return ((l / nb) * np + p) * nb + l % nb;
}

void ad_bcmat_add_diag(ad_bcmat *A, double v)
{
    if (!A->a)
        return;
    int np_r = 0, np_c = 0, myr = 0, myc = 0;
    Cblacs_gridinfo(A->desc[1], &np_r, &np_c, &myr, &myc);
    for (int jl = 0; jl < A->nloc; jl++) {
        int j = l2g(jl, A->nb, myc, np_c);
        for (int il = 0; il < A->mloc; il++)
            if (l2g(il, A->nb, myr, np_r) == j)
                A->a[(size_t)jl * A->lld + il] += v;
    }
}

int ad_bcmat_allgather(const ad_blacs *g, const ad_bcmat *A, int j0, int ncols, double *full)
{
    size_t cnt = (size_t)A->m * (size_t)ncols;
    if (cnt > INT_MAX)
        return ad_fail(AD_ERR_UNSUPPORTED, "blacs: gathering %zu entries exceeds one message", cnt);
    memset(full, 0, cnt * sizeof *full);
    /* Every entry has exactly one owner and 0 + x == x, so the sum is an exact copy. */
    if (A->a) {
        for (int jl = 0; jl < A->nloc; jl++) {
            int j = l2g(jl, A->nb, g->mycol, g->pc) - j0;
            if (j < 0 || j >= ncols)
                continue;
            for (int il = 0; il < A->mloc; il++)
                full[(size_t)j * A->m + l2g(il, A->nb, g->myrow, g->pr)] =
                    A->a[(size_t)jl * A->lld + il];
        }
    }
    if (MPI_Allreduce(MPI_IN_PLACE, full, (int)cnt, MPI_DOUBLE, MPI_SUM, g->comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "blacs: MPI_Allreduce of a gathered matrix failed");
    return AD_OK;
}
