/* `adaptor segment`: segmentation decoders trained on frozen image-encoder tokens (SPEC 8).
 *
 * Data. The rows of each split of [segment] splits (train, valid, test) come from the
 * manifest ([data] views filter, mask PNG paths in [segment] mask_column) or from a box CSV
 * ([segment] boxes, RSNA style). A mask must have its image's size; binary masks hold 0/1
 * or 0/255, bitmask masks (the synthetic corpus) are cut to one finding with [segment]
 * mask_bit. Masks follow the image's preprocessing (resize + pad + centre crop, nearest
 * neighbour). [segment] rows = positive keeps the rows whose mask has foreground. The
 * training rows are then cut to [segment] data_pct with classification's stratified
 * fraction (include/adaptor/label_fraction.h; stratum: the mask has foreground), drawn from
 * [train] seed alone, so the subset is the same for any number of ranks (listed in
 * <dir>/train_rows.csv).
 *
 * Features. The frozen DINOv2 runs once per split over every candidate row into a token
 * cache (CLS + patch tokens, "<cache dir>/segment-...nc", the embedding-cache layout), reused
 * by later runs. Each step then reads its rows' tokens, runs the trained Adaptor's image
 * path in self-attention mode over them ([segment] features = adaptor; `encoder`: the
 * tokens as they are, the baseline), drops the CLS token, and the g x g patch grid (NHWC)
 * goes through the ViT decoder to 224 x 224 logits.
 *
 * Training. Data-parallel: each rank takes a contiguous share of every global batch; the
 * loss (MGCA's focal + Dice mix) and BatchNorm statistics run over the pixels of all ranks,
 * the decoder's gradients are summed with one all-reduce, AdamW with cosine warm restarts
 * (T_0 = 40% of the updates, eta_min 1e-8). The decoder with the best validation Dice
 * (per-image mean) is kept (<dir>/decoder.safetensors) and scored on the test split.
 *
 * Outputs in [segment] dir: eval.nc (task = segment, dataset, data_pct; per split the model
 * "<adaptor|baseline>+vit_decoder" and the constant predictions all_background and
 * all_foreground: dice_mean, dice_global, iou_mean, iou_global, images), decoder.safetensors,
 * train_rows.csv, config.ini, and overlays/ (test images: truth | prediction contours). */
#ifndef ADAPTOR_SEGMENT_H
#define ADAPTOR_SEGMENT_H

#include "adaptor/config.h"

#include <mpi.h>
#include <stdint.h>

int ad_segment(MPI_Comm comm, const ad_config *cfg);

/* [segment] mask_bit as a bit index: a number 0..7, or the position of a finding in [data]
 * label_columns. -1 when unset (binary masks). */
int ad_seg_mask_bit(const ad_config *cfg, int *bit);

#endif
