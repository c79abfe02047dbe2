/* The provenance record under mpirun: the same pairs on every rank, in the documented order,
 * the rank count, the host names gathered (one distinct name when all ranks share a host),
 * rank 0's Slurm job id broadcast, and the manifest's FNV-1a 64 checked against the
 * published test vector of "foobar" (0x85944171f73967e8). */
#include "mpitest.h"
#include "testutil.h"

#include "adaptor/config.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/provenance.h"
#include "adaptor/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ad_provenance *make(const char *manifest)
{
    ad_config *cfg;
    ad_provenance *p = NULL;
    MT_CHECK(ad_config_create(&cfg) == AD_OK, "config: %s", ad_errmsg());
    MT_CHECK(ad_config_set(cfg, "data", "manifest", manifest, "test") == AD_OK, "set: %s",
             ad_errmsg());
    int rc = ad_prov_create(MPI_COMM_WORLD, cfg, &p);
    MT_CHECK(rc == AD_OK && p, "create: %s", ad_errmsg());
    ad_config_destroy(cfg);
    return p;
}

static const char *value(const ad_provenance *p, const char *key)
{
    const char *v = ad_prov_get(p, key);
    return v ? v : "(absent)";
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char dir[4096] = "", manifest[4200], missing[4200], host[256] = "", ranks[16];
    if (rank == 0)
        tu_tmpdir(dir, sizeof dir, "provenance");
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
    snprintf(missing, sizeof missing, "%s/no-such-manifest.csv", dir);
    if (rank == 0)
        MT_CHECK(ad_write_file_atomic(manifest, "foobar", 6) == AD_OK, "%s", ad_errmsg());
    MPI_Barrier(MPI_COMM_WORLD);
    gethostname(host, sizeof host - 1);
    snprintf(ranks, sizeof ranks, "%d", size);
    /* Different values per rank: the record must carry rank 0's. */
    setenv("SLURM_JOB_ID", rank == 0 ? "4242" : "9999", 1);
    unsetenv("SLURM_ARRAY_TASK_ID");

    ad_provenance *p = make(manifest);
    static const char *const order[] = {"adaptor_version", "git_commit", "blis_kernels",
                                        "threads", "ranks", "hosts", "slurm_job_id",
                                        "manifest", "manifest_fnv1a64", "config"};
    size_t n = sizeof order / sizeof order[0];
    MT_CHECK(ad_prov_count(p) == n, "%zu pairs", ad_prov_count(p));
    for (size_t i = 0; i < n && i < ad_prov_count(p); i++)
        MT_CHECK(strcmp(ad_prov_key(p, i), order[i]) == 0, "pair %zu is %s, expected %s", i,
                 ad_prov_key(p, i), order[i]);
    MT_CHECK(strcmp(value(p, "adaptor_version"), ADAPTOR_VERSION) == 0, "version");
    MT_CHECK(strcmp(value(p, "git_commit"), ADAPTOR_GIT_COMMIT) == 0, "commit");
    MT_CHECK(strcmp(value(p, "ranks"), ranks) == 0, "ranks %s", value(p, "ranks"));
    MT_CHECK(strcmp(value(p, "hosts"), host) == 0, "hosts '%s', this host '%s'",
             value(p, "hosts"), host);
    MT_CHECK(strcmp(value(p, "slurm_job_id"), "4242") == 0, "job %s", value(p, "slurm_job_id"));
    MT_CHECK(strcmp(value(p, "manifest"), manifest) == 0, "manifest %s", value(p, "manifest"));
    MT_CHECK(strcmp(value(p, "manifest_fnv1a64"), "85944171f73967e8") == 0, "checksum %s",
             value(p, "manifest_fnv1a64"));
    MT_CHECK(strcmp(value(p, "threads"), "1") == 0, "threads %s", value(p, "threads"));
    MT_CHECK(value(p, "blis_kernels")[0] && !strchr(value(p, "blis_kernels"), ','),
             "kernels %s", value(p, "blis_kernels"));
    MT_CHECK(strstr(ad_prov_config(p), manifest) != NULL, "config without the manifest");
    ad_prov_destroy(p);

    /* An unreadable manifest (a stage that reads caches only): no checksum, not an error. */
    unsetenv("SLURM_JOB_ID");
    p = make(missing);
    MT_CHECK(!ad_prov_get(p, "manifest_fnv1a64") && !ad_prov_get(p, "slurm_job_id") &&
                 strcmp(value(p, "manifest"), missing) == 0,
             "missing manifest: %s %s", value(p, "manifest_fnv1a64"), value(p, "manifest"));
    ad_prov_destroy(p);

    /* No run: version, commit and an empty config. */
    MT_CHECK(ad_prov_count(NULL) == 3 && strcmp(ad_prov_key(NULL, 0), "adaptor_version") == 0 &&
                 strcmp(ad_prov_config(NULL), "") == 0 && !ad_prov_get(NULL, "hosts"),
             "NULL record");
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
