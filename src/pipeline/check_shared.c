/* Whether every rank sees the same folder: the stages write caches and checkpoints from rank 0
 * and read them on every rank, so a folder on node-local disk (/tmp, a node's scratch) would
 * give the other nodes missing or stale files far into a run. Rank 0 leaves a file with a
 * random token in the folder; every rank reads it back and compares. A path check cannot
 * tell: the folder exists on every node, just not the same one. */
#include "adaptor/check.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_LEN 64

/* A token no earlier run or concurrent job left behind: urandom, else time and pid. */
static void make_token(char *out, size_t n)
{
    uint64_t r[2] = {(uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid(), (uint64_t)clock()};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(r, sizeof r, 1, f) != 1)
            r[1] ^= (uint64_t)getpid();
        fclose(f);
    }
    snprintf(out, n, "%016llx%016llx", (unsigned long long)r[0], (unsigned long long)r[1]);
}

/* This rank's reading of the file rank 0 wrote (token, written on host0). */
static int read_back(const char *path, const char *token, const char *dir, const char *what,
                     int rank, const char *host0)
{
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    char *text = NULL;
    size_t len = 0;
    int present;
    int rc = ad_optional_file(path, &present);
    if (rc == AD_OK && present)
        rc = ad_read_file(path, &text, &len);
    ad_clear_error();
    int same = rc == AD_OK && present && len >= strlen(token) &&
               memcmp(text, token, strlen(token)) == 0;
    free(text);
    if (same)
        return AD_OK;
    ad_fail(AD_ERR_IO, "%s %s is not the folder rank 0 (host %s) writes: rank %d (host %s) %s "
            "the check file rank 0 wrote there, %s", what, dir, host0, rank, host,
            present ? "reads another content from" : "does not see",
            "so this node would not see the caches and checkpoints either");
    return ad_set_hint(AD_ERR_IO, "put %s on a filesystem every node mounts at the same path "
                       "(a shared home or scratch, not node-local /tmp)", what);
}

int ad_check_shared_dir(MPI_Comm comm, const char *dir, const char *what, int reads_only)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (size == 1)
        return AD_OK;
    /* [0, TOKEN_LEN): the token, then rank 0's host name, shipped in one broadcast */
    char msg[TOKEN_LEN + 256], path[4200];
    memset(msg, 0, sizeof msg);
    int rc = AD_OK;
    if (rank == 0) {
        make_token(msg, TOKEN_LEN);
        gethostname(msg + TOKEN_LEN, 255);
        rc = reads_only ? AD_OK : ad_mkdir_p(dir);
    }
    if (rc == AD_OK)
        rc = ad_path_join(path, sizeof path, dir, ".adaptor-shared-");
    size_t used = strlen(path);
    int skip = 0;
    if (rc == AD_OK && rank == 0) {
        snprintf(path + used, sizeof path - used, "%.16s", msg);
        rc = ad_write_file_atomic(path, msg, strlen(msg));
        /* caches on a read-only share are fine for a stage that only reads them */
        if (rc != AD_OK && reads_only) {
            ad_warn("cannot check that every node sees %s %s (rank 0 cannot write there: %s); "
                    "going on", what, dir, ad_errmsg());
            ad_clear_error();
            rc = AD_OK;
            skip = 1;
        } else if (rc != AD_OK) {
            rc = ad_set_hint(rc, "%s must be a folder rank 0 can write", what);
        }
    }
    AD_TRY(ad_mpi_agree(comm, rc, NULL));
    if (MPI_Bcast(&skip, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "checking %s: MPI_Bcast failed", what);
    if (skip)
        return AD_OK;
    if (MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, 0, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "checking %s: MPI_Bcast failed", what);
    snprintf(path + used, sizeof path - used, "%.16s", msg);
    rc = rank == 0 ? AD_OK : read_back(path, msg, dir, what, rank, msg + TOKEN_LEN);
    rc = ad_mpi_agree(comm, rc, NULL);
    if (rank == 0)
        unlink(path); /* every rank has read it (the agreement above is collective) */
    return rc;
}
