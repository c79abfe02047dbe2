/* Resuming a training run: what may differ from the run being continued, and the record of
 * each resume.
 *
 * A resumed run must continue the trajectory the checkpoint belongs to, so every key that
 * can change what it computes (learning rate, epochs, seed, schedule, data, model, ...) must
 * keep the checkpoint's value; only keys that cannot (threads, log and checkpoint intervals,
 * checkpoints kept, and the downstream sections pretrain never reads) may change. The run
 * folder's config.ini stays the first run's; each resume appends a line to resumes.log and
 * stores its own effective configuration as config-resume-<N>.ini. */
#ifndef ADAPTOR_RESUME_H
#define ADAPTOR_RESUME_H

#include "adaptor/config.h"

#include <stdint.h>

/* 1 when [section] key may differ between a checkpoint and the run resuming from it. */
int ad_resume_key_may_change(const char *section, const char *key);

/* Compares the configuration saved with a checkpoint (saved_text, dumped INI; label names it
 * in messages) with the resuming run's. Fails naming every refused key with its old and new
 * values; *changes (may be NULL) receives a malloc'ed "[s] k a -> b; ..." list of the allowed
 * changes ("" when none). */
int ad_resume_check_config(const char *saved_text, const char *label, const ad_config *now,
                           char **changes);

/* Rank 0, after a successful check: writes <run_dir>/config-resume-<N>.ini (N = 1, 2, ...)
 * and appends "<UTC time> resume <N>: from <ckpt> (step S) on R ranks; changed: ..." to
 * <run_dir>/resumes.log, both atomically. config.ini is left as the first run wrote it. */
int ad_resume_record(const char *run_dir, const ad_config *now, const char *ckpt_dir,
                     int64_t step, int ranks, const char *changes);

#endif
