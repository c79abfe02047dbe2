/* Segmentation masks: reading them as 0/1 pixels, drawing them from bounding boxes, and
 * giving them the geometry of their image's preprocessing (SPEC 3).
 *
 * A mask is an ad_image whose pixels are 0 or 1. Mask PNGs are binary (0/255 or 0/1) or,
 * in bit mode, a bitmask of several findings per pixel (the synthetic corpus: bit k =
 * finding k). RSNA-style annotations give boxes instead, several rows per image, which a
 * box table (below) groups by image.
 *
 * The mask follows its image through MGCA's resize_img and the crop, with OpenCV's
 * INTER_NEAREST in place of INTER_AREA, so mask pixel (y, x) of the crop covers image pixel
 * (y, x) of the crop fed to the encoder. */
#ifndef ADAPTOR_MASK_H
#define ADAPTOR_MASK_H

#include "adaptor/image.h"

#include <stdint.h>

/* bit < 0: binary mode (0/1 or 0/255, anything else is an error naming the file, the pixel
 * and the value); bit 0..7: pixel = (value >> bit) & 1. */
int ad_mask_read(const char *path, int bit, ad_image *out);
/* The same on a decoded 8-bit image (converted in place); `name` labels errors. */
int ad_mask_binarize(ad_image *m, int bit, const char *name);

/* cv::resize(src, dst, Size(dw, dh), 0, 0, INTER_NEAREST) on 8-bit rows:
 * dst(y, x) = src(min(floor(y * sh / dh), sh - 1), min(floor(x * sw / dw), sw - 1)) with
 * OpenCV's double-precision scale factors. */
int ad_resize_nearest_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* The image chain's geometry on a mask of the image's size: resize the longer side to
 * `resize` (ad_resize_dims, nearest), zero-pad centred to resize x resize, crop crop x crop
 * at (top, left). out: crop * crop bytes. */
int ad_mask_preprocess(const ad_image *mask, int resize, int crop, int top, int left,
                       uint8_t *out);

/* One box in image pixels (RSNA: x, y = top-left corner, width, height). */
typedef struct ad_box {
    double x, y, w, h;
} ad_box;

/* A width x height mask with the boxes filled the way MGCA's RSNA dataset does it: rows
 * int(y) .. int(y + h) - 1 and columns int(x) .. int(x + w) - 1 (truncation), clipped to the
 * image. Negative or non-finite values are an error. */
int ad_mask_from_boxes(const ad_box *boxes, int n, int width, int height, ad_image *out);

/* A CSV of box annotations: one row per box, or one row with empty box fields for an
 * image without any; rows of the same image (within its split) are grouped, in the order
 * their image first appears. */
typedef struct ad_box_image {
    const char *image; /* resolved against the root, like manifest paths */
    const char *split; /* "" without a split column */
    int64_t line;      /* 1-based line of the image's first row */
    int nboxes;
    const ad_box *boxes;
} ad_box_image;

typedef struct ad_box_table ad_box_table;

/* columns: the image column, the split column (NULL or "": none) and the four box columns
 * x, y, width, height. root: NULL or "" for the CSV's folder. Errors name file, line and
 * column. */
int ad_box_table_read(const char *path, const char *root, const char *image_column,
                      const char *split_column, const char *const box_columns[4],
                      ad_box_table **out);
void ad_box_table_close(ad_box_table *t);
int64_t ad_box_table_images(const ad_box_table *t);
const ad_box_image *ad_box_table_at(const ad_box_table *t, int64_t i);
const char *ad_box_table_path(const ad_box_table *t);

#endif
