/* Classification losses with their gradients side by side (SPEC 8).
 *
 *   BCE with logits (binary / multi-label), per element, as torch's numerically stable
 *   binary_cross_entropy_with_logits:  l = max(z, 0) - z y + log(1 + exp(-|z|)),
 *   dl/dz = sigmoid(z) - y. Labels < 0 (unknown) contribute nothing.
 *   Cross-entropy (multi-class) per row: l = logsumexp(z) - z[c], dl/dz = softmax(z) - e_c.
 *
 * Each returns the SUM of the per-element (per-row) losses times `scale` and writes the
 * gradient of that scaled sum, so a caller normalising by a global count (data-parallel:
 * the rows of all ranks) passes scale = 1 / count and the gradients of the ranks add up. */
#ifndef ADAPTOR_LOSSES_H
#define ADAPTOR_LOSSES_H

#include <stddef.h>
#include <stdint.h>

/* z, y, dz: n elements; dz may be NULL (loss only). */
double ad_bce_logits(const float *z, const int8_t *y, size_t n, double scale, float *dz);
/* z, dz [rows, C]; cls[rows] in 0..C-1 (a negative class leaves the row out). */
double ad_cross_entropy(const float *z, const int32_t *cls, size_t rows, int C, double scale,
                        float *dz);

#endif
