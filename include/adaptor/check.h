/* Checks a job before it runs: the dry run of `adaptor check` and the checks every stage
 * makes at its start, with the same code (the manifest reader, the model config readers and
 * the cache names of pipeline.c), so a job that passes `adaptor check` does not fail later on
 * something it could have seen, and a stage fails before it prints its configuration.
 *
 * Failures are ad_fail() messages with a hint (ad_set_hint) saying what to do, e.g. which
 * stage to run first. */
#ifndef ADAPTOR_CHECK_H
#define ADAPTOR_CHECK_H

#include "adaptor/config.h"

#include <mpi.h>
#include <stdio.h>

typedef enum {
    AD_STAGE_ALL, /* the dry run: every stage of the job */
    AD_STAGE_EMBED,
    AD_STAGE_PRETRAIN,
    AD_STAGE_EVAL,
    AD_STAGE_CLASSIFY,
    AD_STAGE_SEGMENT
} ad_stage;

const char *ad_stage_name(ad_stage s);

/* The checks that read no file: the image encoder's architecture and the Adaptor's sizes
 * (heads dividing the projection width). `adaptor config` and every stage run them. */
int ad_check_config(const ad_config *cfg);

/* What `stage` needs before it starts, checked on rank 0 and agreed over comm (every rank
 * returns the same status; rank 0 holds the message). No model weights are read: the
 * manifest and its columns, the image encoder's architecture, the model folders' files,
 * the Adaptor's sizes, and the caches and weights the stage reads. weights: eval's
 * --weights, or NULL; modality: embed's --modality (image, text, both), or NULL. Then, on
 * every rank: more ranks than pretrain's [train] batch_size, and folders some rank does not
 * share with rank 0 (ad_check_shared_dir on [cache] dir and [output] dir as the stage uses
 * them) are refused, before any work. */
int ad_check_stage(MPI_Comm comm, const ad_config *cfg, ad_stage stage, const char *weights,
                   const char *modality);

/* Whether every rank of comm sees the same folder dir: rank 0 writes a file with a random
 * token into it (creating dir unless reads_only), every rank reads it back. On a rank that
 * does not (a node-local folder on a multi-node job), one message naming the folder, the
 * ranks and their hosts; agreed over comm. what names the key, e.g. "[cache] dir". reads_only:
 * the stage only reads dir, so a folder rank 0 cannot write (a read-only share) is left
 * unchecked with a warning. No-op on one rank. */
int ad_check_shared_dir(MPI_Comm comm, const char *dir, const char *what, int reads_only);

/* The dry run on this process: every check above with the encoders loaded, the rows of
 * every split, which caches exist (complete, stale or missing) and the stage to run next, and the plan for `ranks`
 * ranks (steps per epoch, updates, disk sizes, estimated times with the rates they come
 * from), printed to out. Missing caches are reported, not errors. */
int ad_check_job(const ad_config *cfg, int ranks, FILE *out);

#endif
