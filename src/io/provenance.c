/* The provenance record (keys and their meaning in include/adaptor/provenance.h). */
#include "adaptor/provenance.h"

#include "adaptor/blis_select.h"
#include "adaptor/checkpoint.h"
#include "adaptor/error.h"
#include "adaptor/version.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PAIRS 12
#define NAME_LEN 256 /* host names and kernel family names, as gathered */

struct ad_provenance {
    size_t n;
    char *key[MAX_PAIRS];
    char *value[MAX_PAIRS];
};

/* "NULL": what a build knows without a run. */
static const char *const build_keys[] = {"adaptor_version", "git_commit", "config"};
static const char *const build_values[] = {ADAPTOR_VERSION, ADAPTOR_GIT_COMMIT, ""};
#define N_BUILD 3

static int add(ad_provenance *p, const char *key, const char *value)
{
    if (p->n == MAX_PAIRS)
        return ad_fail(AD_ERR_INTERNAL, "provenance: more than %d entries", MAX_PAIRS);
    p->key[p->n] = ad_strdup(key);
    p->value[p->n] = ad_strdup(value ? value : "");
    if (!p->key[p->n] || !p->value[p->n]) {
        free(p->key[p->n]);
        free(p->value[p->n]);
        return ad_fail(AD_ERR_NOMEM, "provenance: out of memory");
    }
    p->n++;
    return AD_OK;
}

static int add_int(ad_provenance *p, const char *key, long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", v);
    return add(p, key, text);
}

/* The distinct names of names[size][NAME_LEN], in rank order, comma-separated. */
static char *distinct(const char *names, int size)
{
    size_t cap = (size_t)size * NAME_LEN + 1, len = 0;
    char *out = ad_malloc(cap, "provenance names");
    if (!out)
        return NULL;
    out[0] = '\0';
    for (int r = 0; r < size; r++) {
        const char *name = names + (size_t)r * NAME_LEN;
        int seen = 0;
        for (int q = 0; q < r && !seen; q++)
            seen = strcmp(name, names + (size_t)q * NAME_LEN) == 0;
        if (!seen)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", name);
    }
    return out;
}

/* Gathers one name per rank to every rank and adds their distinct values under key. */
static int add_gathered(ad_provenance *p, MPI_Comm comm, const char *key, const char *mine)
{
    int size;
    MPI_Comm_size(comm, &size);
    char own[NAME_LEN];
    memset(own, 0, sizeof own);
    snprintf(own, sizeof own, "%s", mine);
    char *all = ad_malloc((size_t)size * NAME_LEN, "provenance names");
    if (!all)
        return AD_ERR_NOMEM;
    /* A collective: it fails on every rank alike. */
    if (MPI_Allgather(own, NAME_LEN, MPI_CHAR, all, NAME_LEN, MPI_CHAR, comm) != MPI_SUCCESS) {
        free(all);
        return ad_fail(AD_ERR_MPI, "provenance: gathering %s failed", key);
    }
    char *list = distinct(all, size);
    free(all);
    if (!list)
        return AD_ERR_NOMEM;
    int rc = add(p, key, list);
    free(list);
    return rc;
}

/* Rank 0's text (at most NAME_LEN - 1 bytes; "" when unset) on every rank. */
static void bcast_text(MPI_Comm comm, int rank, const char *src, char out[NAME_LEN])
{
    memset(out, 0, NAME_LEN);
    if (rank == 0 && src)
        snprintf(out, NAME_LEN, "%s", src);
    MPI_Bcast(out, NAME_LEN, MPI_CHAR, 0, comm);
}

static void host_name(char out[NAME_LEN])
{
    if (gethostname(out, NAME_LEN - 1) != 0)
        snprintf(out, NAME_LEN, "unknown");
    out[NAME_LEN - 1] = '\0';
}

/* The pairs after the gathered ones: Slurm ids, the manifest and its checksum, config. */
static int add_tail(ad_provenance *p, const char *job, const char *task, const char *manifest,
                    const char *sum, const char *config)
{
    if (job && job[0])
        AD_TRY(add(p, "slurm_job_id", job));
    if (task && task[0])
        AD_TRY(add(p, "slurm_array_task_id", task));
    if (manifest && manifest[0])
        AD_TRY(add(p, "manifest", manifest));
    if (sum && sum[0])
        AD_TRY(add(p, "manifest_fnv1a64", sum));
    return add(p, "config", config);
}

/* The manifest's checksum as 16 hex digits, or "" when it cannot be read (not an error:
 * a stage that reads only caches may run where the manifest is not). */
static void manifest_sum(const char *path, char out[17])
{
    uint64_t h = 0;
    out[0] = '\0';
    if (path && path[0] && ad_ckpt_file_checksum(path, &h, NULL) == AD_OK)
        snprintf(out, 17, "%016" PRIx64, h);
    ad_clear_error();
}

static int create(MPI_Comm comm, const ad_config *cfg, const char *config_text,
                  ad_provenance *p)
{
    int rank = 0, size = 1;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank(comm, &rank);
        MPI_Comm_size(comm, &size);
    }
    char host[NAME_LEN], job[NAME_LEN], task[NAME_LEN], sum[NAME_LEN];
    host_name(host);
    AD_TRY(add(p, "adaptor_version", ADAPTOR_VERSION));
    AD_TRY(add(p, "git_commit", ADAPTOR_GIT_COMMIT));
    const char *manifest =
        cfg && ad_config_is_set(cfg, "data", "manifest") ? ad_config_get(cfg, "data", "manifest")
                                                         : NULL;
    char mine[17];
    if (rank == 0)
        manifest_sum(manifest, mine);
    if (comm == MPI_COMM_NULL) {
        AD_TRY(add(p, "blis_kernels", ad_blis_arch_name()));
        AD_TRY(add_int(p, "threads", ad_blis_get_threads()));
        AD_TRY(add_int(p, "ranks", 1));
        AD_TRY(add(p, "hosts", host));
        return add_tail(p, getenv("SLURM_JOB_ID"), getenv("SLURM_ARRAY_TASK_ID"), manifest,
                        mine, config_text);
    }
    AD_TRY(add_gathered(p, comm, "blis_kernels", ad_blis_arch_name()));
    AD_TRY(add_int(p, "threads", ad_blis_get_threads()));
    AD_TRY(add_int(p, "ranks", size));
    AD_TRY(add_gathered(p, comm, "hosts", host));
    bcast_text(comm, rank, getenv("SLURM_JOB_ID"), job);
    bcast_text(comm, rank, getenv("SLURM_ARRAY_TASK_ID"), task);
    bcast_text(comm, rank, mine, sum);
    return add_tail(p, job, task, manifest, sum, config_text);
}

static int create_any(MPI_Comm comm, const ad_config *cfg, const char *text,
                      ad_provenance **out)
{
    *out = NULL;
    ad_provenance *p = ad_calloc(1, sizeof *p, "provenance");
    if (!p)
        return AD_ERR_NOMEM;
    int rc = create(comm, cfg, text, p);
    if (rc != AD_OK) {
        ad_prov_destroy(p);
        return rc;
    }
    *out = p;
    return AD_OK;
}

int ad_prov_create(MPI_Comm comm, const ad_config *cfg, ad_provenance **out)
{
    char *text = NULL;
    int rc = cfg ? ad_config_dump(cfg, &text) : AD_OK;
    /* Every rank dumps the same configuration; only the gathers below are collective. */
    if (rc == AD_OK)
        rc = create_any(comm, cfg, text ? text : "", out);
    free(text);
    return rc;
}

int ad_prov_create_local(const char *config_text, ad_provenance **out)
{
    return create_any(MPI_COMM_NULL, NULL, config_text ? config_text : "", out);
}

void ad_prov_destroy(ad_provenance *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->key[i]);
        free(p->value[i]);
    }
    free(p);
}

size_t ad_prov_count(const ad_provenance *p) { return p ? p->n : N_BUILD; }

const char *ad_prov_key(const ad_provenance *p, size_t i)
{
    return p ? p->key[i] : build_keys[i];
}

const char *ad_prov_value(const ad_provenance *p, size_t i)
{
    return p ? p->value[i] : build_values[i];
}

const char *ad_prov_get(const ad_provenance *p, const char *key)
{
    for (size_t i = 0; i < ad_prov_count(p); i++)
        if (strcmp(ad_prov_key(p, i), key) == 0)
            return ad_prov_value(p, i);
    return NULL;
}

const char *ad_prov_config(const ad_provenance *p)
{
    const char *c = ad_prov_get(p, "config");
    return c ? c : "";
}
