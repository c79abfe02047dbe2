/* What a run folder says about its run, read serially from the files alone (no MPI, no job
 * file), so it works on a live run's folder and on one copied off the cluster:
 *   state.json   stage, state, total steps, host and pid of rank 0 (runstate.h)
 *   metrics.nc   step, epoch, loss, lr, samples/s, step times, validation records
 *   checkpoints/ every step folder, verified as resume would (checksums included)
 *   eval.nc      the last `adaptor eval` figures, when present
 *
 * state: "running", "finished", "stopped" (by a signal, resumable), "failed" (an error, or a
 * process that ended without recording an end: killed outright), or "unknown" (a folder
 * without state.json). A "running" record whose host is this machine is checked against
 * the process table; on another host it is reported with the age of its last update. */
#ifndef ADAPTOR_RUNSTATUS_H
#define ADAPTOR_RUNSTATUS_H

#include "adaptor/checkpoint.h"
#include "adaptor/evalfile.h"
#include "adaptor/metrics.h"
#include "adaptor/runstate.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ad_run_status {
    char dir[4096];
    char stage[32];
    char state[16];
    char detail[1200];       /* why this state: the error, the host, the age of the record */
    int have_state;          /* state.json found (s holds it) */
    ad_runstate s;
    int have_metrics;
    int64_t step, total;     /* total 0: unknown */
    int epoch;
    double loss, lr, samples_per_s; /* last step; samples/s: median of the last steps */
    double seconds_per_step; /* median wall time per step over the last steps (0: unknown) */
    double eta_seconds;      /* (total - step) * seconds_per_step; < 0: unknown */
    double age_seconds;      /* since state.json or metrics.nc was last written, whichever
                              * is newer (< 0: unknown; a copy may not keep the times) */
    ad_ckpt_entry *ckpts;    /* newest first */
    size_t nckpts;
    ad_metrics_eval *valid;  /* the last step's validation records of metrics.nc */
    size_t nvalid;
    ad_eval_records eval;    /* eval.nc's records (n = 0: none) */
} ad_run_status;

/* Reads dir into *s (free with ad_run_status_free); fails only on a folder that is not a
 * run folder or on unreadable files, naming them. */
int ad_run_status_read(const char *dir, ad_run_status *s);
void ad_run_status_free(ad_run_status *s);

#endif
