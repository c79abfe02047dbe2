/* Shared between the checkpoint sources (not installed): trainer.json <-> state, and the
 * folder-level checks used by find, verify, load and prune. */
#ifndef ADAPTOR_CHECKPOINT_PRIV_H
#define ADAPTOR_CHECKPOINT_PRIV_H

#include "adaptor/checkpoint.h"

#include <stdint.h>

#define AD_CKPT_DIR "checkpoints"
#define AD_CKPT_MODEL "model.safetensors"
#define AD_CKPT_OPTIM "optimizer.safetensors"
#define AD_CKPT_TRAINER "trainer.json"
#define AD_CKPT_NFILES 2

/* Size and checksum of each data file, in the order {model, optimizer}. */
typedef struct ad_ckpt_sums {
    uint64_t bytes[AD_CKPT_NFILES];
    uint64_t fnv[AD_CKPT_NFILES];
} ad_ckpt_sums;

extern const char *const ad_ckpt_files[AD_CKPT_NFILES];

/* The JSON text of trainer.json (caller frees). */
int ad_ckpt_trainer_json(const ad_train_state *st, const ad_ckpt_sums *sums, char **text);
/* Parses trainer.json (path names it in messages); st may be NULL. */
int ad_ckpt_trainer_parse(const char *path, const char *text, ad_train_state *st,
                          ad_ckpt_sums *sums);

/* Parses trainer.json and checks the data files: sizes always, checksums when `hash`.
 * st may be NULL. */
int ad_ckpt_check_dir(const char *dir, int hash, ad_train_state *st);

/* "step-<digits>" (at least 8) -> step; -1 for anything else. */
int64_t ad_ckpt_parse_name(const char *name);
/* rm -r (the folders hold plain files only, but recurse anyway). */
int ad_ckpt_remove_tree(const char *path);

#endif
