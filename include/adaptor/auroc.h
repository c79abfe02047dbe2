/* AUROC and zero-shot classification (SPEC 8's zero-shot numbers).
 *
 * AUROC is computed exactly as the Mann-Whitney U statistic with ties counted 1/2:
 *     AUROC = (#{(p, q) : s_p > s_q} + 1/2 #{(p, q) : s_p == s_q}) / (n_pos n_neg)
 * over positive p and negative q, in O(n log n) (sort, then one pass over groups of equal
 * scores with integer pair counts, so the value is the exact fraction rounded once).
 * It equals sklearn.metrics.roc_auc_score. Labels are 0 / 1; -1 (AD_LABEL_UNKNOWN of
 * manifest.h, an uncertain finding) leaves the row out. */
#ifndef ADAPTOR_AUROC_H
#define ADAPTOR_AUROC_H

#include <stdint.h>

/* name: what the labels are (the finding's column), for messages. Fails with AD_ERR_ARG
 * naming it when the labels have only one class, AD_ERR_NUMERIC on a non-finite score,
 * AD_ERR_FORMAT on a label other than 0, 1, -1. */
int ad_auroc(const float *score, const int8_t *label, int64_t n, const char *name, double *auc);

/* Zero-shot: image embeddings img [n, p]; per finding k a positive and a negative prompt
 * embedding pos[k], neg[k] ([nlab, p] each). The score of image i for finding k is
 *     cos(img_i, pos_k) - cos(img_i, neg_k)
 * (the two-prompt margin; a softmax over the two cosines is monotone in it, so its AUROC is
 * the same). labels [n, nlab] row-major (the manifest's layout); names[k] (may be NULL)
 * names finding k in messages. auc[k] receives each AUROC, *mean their mean. */
int ad_zeroshot_auroc(const float *img, int64_t n, int p, const float *pos, const float *neg,
                      const int8_t *labels, int nlab, const char *const *names, double *auc,
                      double *mean);

#endif
