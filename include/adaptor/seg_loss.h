/* Binary segmentation losses on logits and Dice / IoU metrics (SPEC 8: MGCA's loss).
 *
 * MGCA (HKU-MedAI/MGCA, mgca/utils/segmentation_loss.py, MixedLoss(alpha=10) as used by
 * mgca/models/ssl_segmenter.py), over all N pixels of the batch, x logits, t targets in
 * [0, 1], p = sigmoid(x):
 *   focal_i = bce(x_i, t_i) * sigmoid(-x_i (2 t_i - 1))^gamma,  bce = softplus(x) - x t
 *   dice    = (2 sum p t + 1) / (sum p + sum t + 1)         (one value for the whole batch)
 *   loss    = alpha * mean_i focal_i - log(dice)             alpha = 10, gamma = 2
 * With a reduction (the ranks of a communicator: ad_mpi_sum) the sums and the mean run over
 * the pixels of ALL ranks, so R ranks with b images each give the loss of one rank with R*b,
 * and the per-rank gradients (which are this rank's pixels' share) add up to the
 * single-process gradient.
 *
 * Metrics follow MGCA's get_dice: prediction = logit > 0 (prob > 0.5), truth = t > 0.5;
 * per image Dice 2|P∩T| / (|P| + |T|) and IoU |P∩T| / |P∪T|, and for an image without
 * positive truth 1 when nothing is predicted, else 0. "Global" metrics pool the pixel
 * counts of all images first. */
#ifndef ADAPTOR_SEG_LOSS_H
#define ADAPTOR_SEG_LOSS_H

#include <stddef.h>

#include "adaptor/reduce.h"

typedef struct ad_seg_loss_parts {
    double loss;       /* alpha * focal - log(dice) */
    double focal;      /* mean focal term */
    double dice;       /* soft dice (not the loss) */
} ad_seg_loss_parts;

/* x, t: this rank's n pixels. dx (may be NULL) receives d loss / d x (overwritten).
 * red: NULL for this rank only. Returns AD_OK or the reduction's failure. */
int ad_seg_mixed_loss(const float *x, const float *t, size_t n, float alpha, float gamma,
                      float *dx, ad_seg_loss_parts *out, const ad_reduce *red);

/* Accumulated metrics over images (add batch by batch, then optionally sum over ranks). */
typedef struct ad_seg_counts {
    double images;         /* images added */
    double dice_sum;       /* sum of per-image Dice */
    double iou_sum;        /* sum of per-image IoU */
    double inter, pred, truth; /* pooled pixel counts |P∩T|, |P|, |T| */
} ad_seg_counts;

/* Per-image Dice and IoU of one image of n pixels (either output may be NULL). */
void ad_seg_image_metrics(const float *x, const float *t, size_t n, double *dice, double *iou);
/* Adds b images of hw pixels each. */
void ad_seg_counts_add(ad_seg_counts *c, const float *x, const float *t, int b, size_t hw);
/* Sums the counts of all ranks into every rank (red NULL: nothing to do). */
int ad_seg_counts_sum(ad_seg_counts *c, const ad_reduce *red);
double ad_seg_mean_dice(const ad_seg_counts *c);   /* mean of per-image Dice */
double ad_seg_mean_iou(const ad_seg_counts *c);
double ad_seg_global_dice(const ad_seg_counts *c); /* 1 when both sets are empty */
double ad_seg_global_iou(const ad_seg_counts *c);

#endif
