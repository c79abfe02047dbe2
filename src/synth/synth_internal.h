/* Shared by the synth sources: the description of one corpus row and the steps that turn
 * it into text, pixels and masks. Not part of the public API. */
#ifndef ADAPTOR_SYNTH_INTERNAL_H
#define ADAPTOR_SYNTH_INTERNAL_H

#include "adaptor/rng.h"
#include "adaptor/synth.h"

#include <stddef.h>
#include <stdint.h>

/* Image sides are drawn from [AD_SYN_MIN_SIDE, AD_SYN_MAX_SIDE] pixels. */
enum { AD_SYN_MIN_SIDE = 300, AD_SYN_MAX_SIDE = 600 };
enum { AD_SYN_PNG8, AD_SYN_PNG16, AD_SYN_JPEG };
enum { AD_SYN_PA, AD_SYN_AP, AD_SYN_LATERAL };
enum { AD_SYN_TRAIN, AD_SYN_VALID, AD_SYN_TEST };
/* Patient sides: the patient's right is the image's left on a frontal view. */
enum { AD_SYN_RIGHT, AD_SYN_LEFT, AD_SYN_BOTH };
enum { AD_SYN_UPPER, AD_SYN_MIDDLE, AD_SYN_LOWER };
enum { AD_SYN_DEV_ETT = 1, AD_SYN_DEV_CVC = 2, AD_SYN_DEV_NGT = 4, AD_SYN_DEV_PACER = 8 };

typedef struct ad_synth_row {
    int64_t index;
    int width, height, format, view, split;
    uint32_t patient, study;
    int present[AD_SYNTH_NFINDINGS];
    int severity[AD_SYNTH_NFINDINGS]; /* 0 small/mild, 1 moderate, 2 large/severe */
    int side[AD_SYNTH_NFINDINGS];     /* effusion, opacity, pneumothorax, nodule */
    int lobe;                         /* opacity */
    int zone;                         /* nodule: upper / mid / base */
    int nodule_mm;
    double nodule_dx; /* -1..1 across the lung */
    int devices;      /* AD_SYN_DEV_* bits */
    char image_path[96], mask_path[96];
    char *findings, *impression; /* malloc'ed by ad_synth_report_make */
    ad_rng rng; /* the row's stream, positioned after the description and the text */
} ad_synth_row;

/* Samples row i's description and report from ad_rng_seed(seed, i); split is given (it
 * comes from a corpus-wide permutation). */
int ad_synth_row_make(uint64_t seed, int64_t i, int split, ad_synth_row *row);
void ad_synth_row_free(ad_synth_row *row);

/* report.c: fills row->findings and row->impression. */
int ad_synth_report_make(ad_synth_row *row, ad_rng *rng);
/* Every distinct lower-case word the report generator can emit, sorted (caller frees the
 * array and the strings). */
int ad_synth_lexicon(char ***words, size_t *count);

/* Writes cJSON_Print(root) plus a newline atomically (root may be NULL: out of memory). */
struct cJSON;
int ad_synth_write_json(const char *path, struct cJSON *root);

/* phantom.c: img gets width*height intensities in [0,1], mask the finding bits. */
int ad_synth_draw(const ad_synth_row *row, ad_rng *rng, float *img, uint8_t *mask);

#endif
