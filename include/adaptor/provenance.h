/* Provenance: what produced an output, gathered once per run and stamped on every output
 * (caches, metrics.nc, checkpoints, final weights, eval.nc, embeddings.nc, pca-*.nc,
 * downstream eval.nc and decoder weights) by the one helper of its format.
 *
 * The record is a list of text key/value pairs, in this order:
 *   adaptor_version   the program's version ("0.1.0")
 *   git_commit        the commit it was built from ("-dirty" when the tree had changes)
 *   blis_kernels      BLIS kernel family (distinct values over the ranks, in rank order)
 *   threads           BLIS threads per rank
 *   ranks             MPI ranks of the run
 *   hosts             distinct host names of the ranks, in rank order, comma-separated
 *   slurm_job_id      $SLURM_JOB_ID of rank 0 (only when set; with
 *                     slurm_array_task_id when the job is an array task)
 *   manifest          [data] manifest (only when the job names one)
 *   manifest_fnv1a64  FNV-1a 64 of the manifest file's bytes, 16 lower-case hex digits
 *                     (offset basis 0xcbf29ce484222325, prime 0x100000001b3; the checksum
 *                     trainer.json uses), computed once by rank 0; absent when the file
 *                     cannot be read (e.g. training from caches copied without it)
 *   config            the effective job file (INI, loadable again)
 *
 * netCDF files carry them as global text attributes, safetensors files as __metadata__
 * entries (strings, as the format requires), trainer.json as string members. NULL stands
 * for "no run": version and commit only, and an empty config (unit tests, tools). */
#ifndef ADAPTOR_PROVENANCE_H
#define ADAPTOR_PROVENANCE_H

#include "adaptor/config.h"
#include "adaptor/safetensors.h"

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stddef.h>

typedef struct ad_provenance ad_provenance;

/* Collective over comm: every rank gets the same record (host names gathered, rank 0's
 * manifest checksum and Slurm ids broadcast). cfg may be NULL (no manifest, empty config). */
int ad_prov_create(MPI_Comm comm, const ad_config *cfg, ad_provenance **out);
/* This process alone, no MPI (serial tools and tests); config_text may be NULL. */
int ad_prov_create_local(const char *config_text, ad_provenance **out);
void ad_prov_destroy(ad_provenance *p);

size_t ad_prov_count(const ad_provenance *p);
const char *ad_prov_key(const ad_provenance *p, size_t i);
const char *ad_prov_value(const ad_provenance *p, size_t i);
/* The value of key, NULL when the record has none. */
const char *ad_prov_get(const ad_provenance *p, const char *key);
/* The effective job file ("" for NULL). */
const char *ad_prov_config(const ad_provenance *p);

/* The stamp, one helper per format (src/io/provenance_stamp.c): every pair as a global text
 * attribute of ncid (in define mode; path names the file in errors), as a safetensors
 * __metadata__ entry, or as a string member of a JSON object. */
int ad_prov_nc_put(int ncid, const char *path, const ad_provenance *p);
int ad_prov_st_put(ad_st_writer *w, const ad_provenance *p);
int ad_prov_json_add(cJSON *obj, const ad_provenance *p);

#endif
