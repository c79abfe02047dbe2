/* A deterministic synthetic chest X-ray corpus that exercises the real data path.
 *
 * `ad_synth_corpus` writes, under opts->outdir (paths in the manifest are relative to it):
 *   images/...   grayscale phantoms (mostly 8-bit PNG, some 16-bit PNG, some JPEG) of varied
 *                size, with findings drawn into them;
 *   masks/...    one 8-bit PNG per image, same size, value = bitmask of the findings present
 *                at that pixel (bit k = finding k, in manifest column order);
 *   manifest.csv MGCA layout: Path, subject_id, study_id, ViewPosition, split, and the
 *                MIMIC-style report as findings + impression (multi-line, negations,
 *                laterality, numbered impressions), one 0/1 column per finding, mask;
 *   models/      bert-tiny, dinov2-tiny, resnet-tiny: random frozen encoders in the
 *                HuggingFace layout (config.json + model.safetensors);
 *   synth.json   the options that produced the corpus.
 * Row i draws all its randomness from ad_rng_seed(seed, i), so the output is
 * byte-identical whatever the number of ranks. Images are sharded across ranks
 * (row i on rank i % size); rank 0 writes the models, then the manifest last (its presence
 * marks a complete corpus). Collective over `comm`. */
#ifndef ADAPTOR_SYNTH_H
#define ADAPTOR_SYNTH_H

#include <mpi.h>
#include <stdint.h>

enum {
    AD_SYNTH_CARDIOMEGALY,
    AD_SYNTH_EFFUSION,
    AD_SYNTH_OPACITY,
    AD_SYNTH_PNEUMOTHORAX,
    AD_SYNTH_NODULE,
    AD_SYNTH_DEVICE,
    AD_SYNTH_NFINDINGS
};

typedef struct ad_synth_opts {
    const char *outdir;
    int64_t n; /* rows, >= AD_SYNTH_MIN_N */
    uint64_t seed;
    int force; /* overwrite an existing corpus (manifest.csv present) */
} ad_synth_opts;

#define AD_SYNTH_MIN_N 10
#define AD_SYNTH_MAX_N 10000000
/* Bumped whenever the output for a given (seed, n) changes. */
#define AD_SYNTH_FORMAT_VERSION 1

/* Manifest column name of finding k (CheXpert spelling), e.g. "Pleural Effusion". */
const char *ad_synth_finding_name(int k);

int ad_synth_corpus(const ad_synth_opts *opts, MPI_Comm comm);

/* Only the three tiny encoders, into `dir` (models/ of a corpus). */
int ad_synth_write_models(const char *dir, uint64_t seed);

#endif
