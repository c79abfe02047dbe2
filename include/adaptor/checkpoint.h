/* Training checkpoints: one folder per saved update under <run>/checkpoints/.
 *
 *   step-<8 digits>/model.safetensors      weights under the reference PyTorch state_dict
 *                                          names, so torch users can load_state_dict them
 *                  /optimizer.safetensors  "exp_avg.<name>", "exp_avg_sq.<name>" and the
 *                                          optimizer's update count as I64 scalar "step"
 *                  /trainer.json           step, epoch, position in the epoch, seed and RNG
 *                                          states (hex), ranks, global batch, the run's
 *                                          provenance (provenance.h, config included) and
 *                                          the size + FNV-1a 64 checksum of each file
 *
 * Both safetensors files carry the provenance (config included) as __metadata__ strings.
 *
 * A save builds the whole folder as step-XXXXXXXX.tmp-<pid>, fsyncs every file, renames the
 * folder into place and fsyncs checkpoints/, so a crash leaves either the previous state or
 * the complete new folder. A checkpoint is complete iff its trainer.json parses and the
 * files match their recorded sizes and checksums. Nothing in the layout depends on the
 * number of ranks: the position in the epoch counts samples of the global order, so a run
 * can resume with a different rank count.
 *
 * The caller does the MPI part: rank 0 saves (or prunes); every rank may find and load. */
#ifndef ADAPTOR_CHECKPOINT_H
#define ADAPTOR_CHECKPOINT_H

#include "adaptor/provenance.h"
#include "adaptor/rng.h"
#include "adaptor/safetensors.h"

#include <stddef.h>
#include <stdint.h>

/* One named tensor inside the contiguous parameter buffer (ndim 0: a scalar). */
typedef struct ad_ckpt_tensor {
    const char *name;
    size_t offset; /* in floats */
    int ndim;
    int64_t shape[AD_ST_MAX_DIMS];
} ad_ckpt_tensor;

typedef struct ad_ckpt_layout {
    const ad_ckpt_tensor *tensors;
    size_t count;
    size_t numel; /* length of the parameter buffer */
} ad_ckpt_layout;

/* Every tensor inside [0, numel), no two overlapping, names unique and non-empty. */
int ad_ckpt_layout_check(const ad_ckpt_layout *layout);

/* The buffers a checkpoint holds (all of length layout->numel). On load, exp_avg and
 * exp_avg_sq may be NULL to read the weights only. */
typedef struct ad_ckpt_buffers {
    float *params;
    float *exp_avg;
    float *exp_avg_sq;
    int64_t opt_step; /* the optimizer's update count t */
} ad_ckpt_buffers;

#define AD_CKPT_MAX_RNG 8
#define AD_CKPT_RNG_NAME 32

typedef struct ad_ckpt_rng {
    char name[AD_CKPT_RNG_NAME];
    ad_rng state;
} ad_ckpt_rng;

typedef struct ad_train_state {
    int64_t step;        /* updates done */
    int64_t epoch;       /* current epoch (0-based) */
    int64_t epoch_pos;   /* samples of this epoch's global order already consumed */
    int num_ranks;       /* ranks of the run that saved (informational) */
    int64_t global_batch;
    uint64_t seed;       /* [train] seed the streams derive from (0 in older checkpoints) */
    int n_rng;
    ad_ckpt_rng rng[AD_CKPT_MAX_RNG];
    char *config_text;   /* load: the job file as saved; owned */
    const ad_provenance *prov; /* save: stamped on every file, config included (may be NULL) */
} ad_train_state;

/* Frees what a load allocated (config_text) and zeroes the state. */
void ad_train_state_clear(ad_train_state *st);

/* Writes <run_dir>/checkpoints/step-<st->step>/ (replacing an existing folder of that step).
 * out_dir (may be NULL) receives the folder's path. */
int ad_ckpt_save(const char *run_dir, const ad_ckpt_layout *layout, const ad_ckpt_buffers *buf,
                 const ad_train_state *st, char *out_dir, size_t out_n);

/* The newest complete checkpoint of the run: *step = its step and dir its folder, or
 * *step = -1 and dir = "" when there is no step folder at all (not an error). Incomplete or
 * corrupt newer folders and unfinished saves are skipped with a warning naming them; when
 * step folders exist but none is complete, it fails naming each one and why (a resume must
 * not quietly start over). */
int ad_ckpt_find_latest(const char *run_dir, char *dir, size_t n, int64_t *step);

/* Checks one folder (trainer.json parses, sizes and checksums match). */
int ad_ckpt_verify(const char *ckpt_dir);

/* Verifies ckpt_dir, then reads it into the caller's buffers. Every tensor of the layout must
 * be present with its shape, and the files must hold no other tensor; errors name the tensor
 * and file. st may be NULL; otherwise it is filled (free with ad_train_state_clear). On
 * failure the buffers may be partly overwritten. */
int ad_ckpt_load(const char *ckpt_dir, const ad_ckpt_layout *layout, ad_ckpt_buffers *buf,
                 ad_train_state *st);

/* Weights only, from a model.safetensors file (or a checkpoint folder), with the same strict
 * name and shape checks: initialisation and evaluation from a checkpoint. */
int ad_ckpt_load_weights(const char *path, const ad_ckpt_layout *layout, float *params);

/* Keeps the `keep` (>= 1) newest complete checkpoints and removes every other step folder
 * and every leftover of an interrupted save by another process. "Complete" here means
 * trainer.json parses and the file sizes match: checksums are left to find / load so that a
 * prune after every save stays cheap. */
int ad_ckpt_prune(const char *run_dir, int keep);

/* One step folder of checkpoints/, as ad_ckpt_find_latest judges it. */
typedef struct ad_ckpt_entry {
    int64_t step;
    int valid;           /* complete: trainer.json parses, sizes and checksums match */
    char name[256];      /* folder name, e.g. "step-00000040" */
    char problem[512];   /* why it is not valid ("" when valid) */
} ad_ckpt_entry;

/* Every step folder of <run_dir>/checkpoints, newest first, each verified (checksums
 * included); *n = 0 when there is none. Free *entries with free(). */
int ad_ckpt_list(const char *run_dir, ad_ckpt_entry **entries, size_t *n);

/* FNV-1a 64 of a whole file (the checksum recorded in trainer.json). */
int ad_ckpt_file_checksum(const char *path, uint64_t *hash, uint64_t *size);

/* <run_dir>/stopped: "the run stopped for a signal after its checkpoint of step N was saved
 * durably; resume it". Batch scripts requeue on it (slurm/common.sh) because the launcher's
 * exit status cannot carry that: Open MPI's mpirun exits 1 when its ranks exit 3 after a
 * SIGTERM. Written atomically (temporary + fsync + rename) after the checkpoint; removed
 * when a run starts in the folder. */
#define AD_CKPT_STOPPED_MARKER "stopped"
int ad_ckpt_mark_stopped(const char *run_dir, int64_t step);
int ad_ckpt_clear_stopped(const char *run_dir);

#endif
