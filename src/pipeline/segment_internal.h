/* Shared by the files of `adaptor segment` (segment.c: training and evaluation,
 * segment_data.c: rows, masks, images and token caches, segment_model.c: features and
 * decoder, segment_overlay.c: overlay PNGs). */
#ifndef ADAPTOR_SEGMENT_INTERNAL_H
#define ADAPTOR_SEGMENT_INTERNAL_H

#include "adaptor/adaptor.h"
#include "adaptor/cache.h"
#include "adaptor/checkpoint.h"
#include "adaptor/config.h"
#include "adaptor/image.h"
#include "adaptor/manifest.h"
#include "adaptor/mask.h"
#include "adaptor/resnet.h"
#include "adaptor/seg_loss.h"
#include "adaptor/segdecoder.h"

#include <mpi.h>
#include <stdint.h>

/* Where rows and masks come from: the manifest (mask PNGs) or a box CSV. */
typedef struct seg_source {
    ad_manifest *man;
    ad_box_table *boxes;
    const char *path; /* the manifest or box CSV, for messages */
    int bit;          /* mask bit, -1: binary masks */
    int resize, crop;
    ad_depth16 depth16;
} seg_source;

/* One split: its candidate rows (every row of the split, the rows of the token cache) and
 * the samples used (a subset, with their preprocessed masks and images). */
typedef struct seg_split {
    char name[64];
    int64_t ncand;
    const char **image; /* [ncand] into the source */
    int64_t *line;      /* [ncand] */
    int64_t *id;        /* [ncand] manifest row id, or box-table image index */
    int64_t n;
    int64_t *cand; /* [n] candidate index (= token cache row) of each sample */
    uint8_t *mask; /* [n][crop * crop] 0/1 */
    uint8_t *pix;  /* [n][crop * crop] the image after resize, pad and centre crop (SPEC 3),
                    * before normalisation: the ResNet's input and the overlays' background */
    ad_cache *cache; /* the DINOv2 token cache (NULL for arch = resnet) */
} seg_split;

int seg_source_open(const ad_config *cfg, seg_source *src);
void seg_source_close(seg_source *src);

/* Collective: the split's candidates, their masks and images (read by all ranks in shares,
 * then gathered), and the samples kept (all, or those with foreground when positive_only). */
int seg_split_load(MPI_Comm comm, const seg_source *src, const char *split, int positive_only,
                   seg_split *s);
/* Keeps samples idx[0..k) (ascending). */
int seg_split_keep(seg_split *s, const int64_t *idx, int64_t k, size_t cc);
void seg_split_free(seg_split *s);

/* Collective: opens the split's token cache, writing it first with the frozen image
 * encoder (tokens output) when it is missing or holds other rows. source: the manifest or
 * box CSV, for messages. */
int seg_token_cache(MPI_Comm comm, const ad_config *cfg, const char *config_text,
                    const char *source, seg_split *s);

/* A copy of cfg with one key changed. */
int seg_config_with(const ad_config *cfg, const char *section, const char *key,
                    const char *value, ad_config **out);

/* Writes <dir>/overlays/<k>-<name>.png for the first n samples of s: the preprocessed image
 * with the truth's outline (left) and the prediction's (right). logits: [n][crop*crop]. */
int seg_write_overlays(const char *dir, const seg_source *src, const seg_split *s,
                       const float *logits, int n);

/* The frozen part and the decoder, with buffers for up to `cap` images. Two paths:
 * DINOv2 (token cache -> Adaptor -> patch grid -> ViT decoder) and ResNet (the frozen
 * network's stages, computed per batch from the kept images -> U-Net). The Adaptor works on
 * pooled embeddings and ViT tokens, not on ResNet feature maps, so the ResNet path is
 * always the encoder baseline. */
typedef struct seg_model {
    ad_adaptor *ad; /* NULL: the encoder's tokens go to the decoder as they are */
    ad_resnet *rn;  /* NULL: DINOv2 tokens from the cache */
    ad_segdec *dec;
    int T, D, C, grid, cc, cap, crop;
    float *tok, *adapted, *feat, *logits, *target, *dlogits;
    float *img, *stage[5]; /* ResNet: normalised images, stage outputs 1..4 */
    const float *in[1 + AD_SEGDEC_MAX_UP]; /* the decoder's inputs (into feat or stage) */
    uint8_t *tmask;
    double t_read, t_adaptor, t_decoder, t_comm; /* this rank's seconds */
} seg_model;

/* "adaptor+vit_decoder", "baseline+vit_decoder" or "baseline+unet_decoder": the model's
 * name in eval.nc. */
const char *seg_model_name(const ad_config *cfg);
/* DINOv2: loads the Adaptor (features = adaptor) and builds the ViT decoder for the cache's
 * token grid. ResNet (cache NULL): loads [image_encoder] model and builds the U-Net over its
 * stages at crop x crop. Buffers for batches of up to cap images. */
int seg_model_create(const ad_config *cfg, const ad_cache *cache, int cap, int crop,
                     seg_model *m);
void seg_model_free(seg_model *m);
/* Decoder inputs (m->in) and targets (m->target) of samples idx[0..n) of split s. */
int seg_prepare(seg_model *m, const seg_split *s, const int64_t *idx, int n);

typedef struct seg_scores {
    ad_seg_counts model, bg, fg;
} seg_scores;
/* Collective: the decoder (eval mode) and the constant predictions over a whole split,
 * shared out in contiguous blocks; every rank ends with the totals. */
int seg_score_split(MPI_Comm comm, seg_model *m, const seg_split *s, seg_scores *sc);

#endif
