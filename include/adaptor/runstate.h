/* <run dir>/state.json: what the stage writing into a run folder is doing, so that
 * `adaptor status` can tell a live run from a finished, stopped or failed one on a folder
 * copied off the cluster. Rank 0 rewrites it atomically (temporary file, fsync, rename)
 * when the stage starts, at every checkpoint, and when it finishes, stops on a signal or
 * fails; a process killed outright (SIGKILL, node failure) leaves "running", which status
 * checks against the recorded host and pid.
 *
 *   {"stage": "pretrain", "state": "running" | "finished" | "stopped" | "failed",
 *    "step": 120, "total": 400, "host": "node17", "pid": 4242, "slurm_job_id": "991",
 *    "started": 1796301234.5, "updated": 1796301290.1,     (Unix time, seconds)
 *    "message": "..."}                                     (the error of a failed run) */
#ifndef ADAPTOR_RUNSTATE_H
#define ADAPTOR_RUNSTATE_H

#include <stdint.h>

#define AD_RUNSTATE_FILE "state.json"

typedef struct ad_runstate {
    char stage[32];
    char state[16];
    int64_t step, total;
    char host[256];
    long pid;
    char slurm_job_id[64];
    double started, updated;
    char message[1024];
} ad_runstate;

/* Fills host, pid, Slurm job id and both times for a stage starting now. */
void ad_runstate_begin(ad_runstate *s, const char *stage, int64_t step, int64_t total);
/* Sets state (and message, may be NULL), stamps `updated` and writes run_dir/state.json. */
int ad_runstate_write(const char *run_dir, ad_runstate *s, const char *state,
                      const char *message);
/* Reads run_dir/state.json; *found = 0 (and AD_OK) when there is none. */
int ad_runstate_read(const char *run_dir, ad_runstate *s, int *found);
/* Unix time now, in seconds. */
double ad_wall_clock(void);

#endif
