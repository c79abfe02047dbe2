/* The training metrics file `metrics.nc` (netCDF-4), written by rank 0 only.
 *
 * Layout (adaptor_metrics_version = 1)
 *   root group: unlimited dimension `step`; variables (step): int64 step (optimizer update,
 *     1-based), int epoch (0-based), double loss, loss_i2t, loss_t2i, lr, grad_norm,
 *     logit_scale, samples_per_s, wall_time (seconds since the run started, including
 *     earlier attempts of a resumed run); dimension `rank` and variables (step, rank) double
 *     compute_time, comm_time, data_time: each rank's seconds of the step (NaN where a rank
 *     did not exist, e.g. before a resume on more ranks).
 *   group `eval`: unlimited dimension `record`; variables (record): int64 step, int epoch,
 *     string split ("valid"), string metric ("loss", "loss_i2t", "loss_t2i", ...), double value; one
 *     record per evaluated number, so evaluations can add metrics without a layout change.
 *   global attributes: adaptor_metrics_version = 1 and the run's provenance (provenance.h:
 *     version, commit, BLIS kernels, threads, ranks, hosts, Slurm job, manifest checksum,
 *     config).
 *
 * Robustness: the records live in memory and the whole file is rewritten atomically
 * (temporary file, fsync, rename) every `flush_every` step records, every
 * ad_metrics_set_flush_seconds() seconds (checked when a record is added: a run can be
 * followed live) and on ad_metrics_flush(); it is small. A killed run therefore leaves the
 * previous complete file. A resumed run reloads it and drops the records after the step
 * it resumes from. */
#ifndef ADAPTOR_METRICS_H
#define ADAPTOR_METRICS_H

#include "adaptor/provenance.h"

#include <stdint.h>

#define AD_METRICS_VERSION 1

typedef struct ad_metrics_step {
    int64_t step;
    int epoch;
    double loss, loss_i2t, loss_t2i, lr, grad_norm, logit_scale, samples_per_s, wall_time;
    /* [ranks][3]: compute, communication and data seconds of each rank of the step (copied
     * by ad_metrics_append; NULL: unknown). */
    const double *rank_times;
} ad_metrics_step;

typedef struct ad_metrics_eval {
    int64_t step;
    int epoch;
    char split[32];
    char metric[64];
    double value;
} ad_metrics_eval;

typedef struct ad_metrics ad_metrics;

/* Starts an empty record set for path (an existing file is replaced at the first flush).
 * flush_every <= 0: only explicit flushes write the file. prov (may be NULL) is stamped on
 * the file and must outlive m. */
int ad_metrics_create(const char *path, const ad_provenance *prov, int ranks, int flush_every,
                      ad_metrics **m);
/* Reloads path, keeping the records with step <= resume_step (step and eval); fails,
 * naming the file, if it is missing or not a metrics file. prov/ranks replace the
 * stored attributes (the resumed run's). */
int ad_metrics_open_existing(const char *path, const ad_provenance *prov, int ranks,
                             int flush_every, int64_t resume_step, ad_metrics **m);
/* Also flush when a record arrives `seconds` (> 0) after the last flush (0: never). */
void ad_metrics_set_flush_seconds(ad_metrics *m, double seconds);
/* Steps must increase; flushes when flush_every records were added since the last flush. */
int ad_metrics_append(ad_metrics *m, const ad_metrics_step *rec);
int ad_metrics_append_eval(ad_metrics *m, int64_t step, int epoch, const char *split,
                           const char *metric, double value);
/* Rewrites the file atomically now. */
int ad_metrics_flush(ad_metrics *m);
/* Frees m without writing (call ad_metrics_flush() first to keep the last records). */
void ad_metrics_destroy(ad_metrics *m);

int64_t ad_metrics_nsteps(const ad_metrics *m);
const ad_metrics_step *ad_metrics_steps(const ad_metrics *m);
/* Columns of the per-rank times and the times of step record i ([columns][3]). */
int ad_metrics_rank_columns(const ad_metrics *m);
const double *ad_metrics_rank_times(const ad_metrics *m, int64_t i);
int64_t ad_metrics_nevals(const ad_metrics *m);
const ad_metrics_eval *ad_metrics_evals(const ad_metrics *m);

#endif
