/* MGCA image preprocessing (SPEC section 3): aspect-preserving resize of the longer side
 * with OpenCV's INTER_AREA, centred zero padding to a square, a centre or random crop,
 * 3-channel replication and normalisation to [-1, 1] (mean 0.5, std 0.5).
 * Every step reproduces the reference (cv2 + torchvision) bit for bit. */
#ifndef ADAPTOR_PREPROCESS_H
#define ADAPTOR_PREPROCESS_H

#include "adaptor/image.h"
#include "adaptor/rng.h"

#include <stdint.h>

/* Which preprocessing follows the resize and padding (SPEC sections 3 and 4). */
typedef enum {
    AD_PREP_MGCA, /* MGCA: centre or random crop, 3 planes in [-1, 1] */
    AD_PREP_XRV   /* the reference's torchxrayvision chain for resnet_ae (below) */
} ad_prep_kind;

/* "mgca" or "xrv", as output files record it. */
const char *ad_prep_kind_name(ad_prep_kind kind);

/* cv::resize(src, dst, Size(dw, dh), 0, 0, INTER_AREA) on 8-bit single-channel rows
 * (tightly packed): area averaging when shrinking, OpenCV's fixed-point bilinear variant
 * when enlarging either side. */
int ad_resize_area_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* The size MGCA's resize_img gives before padding: the longer side (height for squares)
 * becomes `size`, the other int(float(side) * (size / float(longer))). */
int ad_resize_dims(int width, int height, int size, int *out_w, int *out_h);

/* MGCA's resize_img: resize as above and zero-pad the short side centred (floor before,
 * ceil after) to size x size. `out` is allocated (free with ad_image_free). */
int ad_resize_pad(const ad_image *src, int size, ad_image *out);

/* torchvision CenterCrop's offset: int(round((size - crop) / 2.0)), ties to even. */
int ad_center_crop_offset(int size, int crop);

/* Crops crop x crop at (top, left) of a padded image, replicates it to 3 channels and
 * normalises: out[c][y][x] = (v / 255 - 0.5) / 0.5 in float32, planar [3][crop][crop]. */
int ad_crop_normalize(const ad_image *padded, int crop, int top, int left, float *out);

/* The whole chain on a decoded image: resize_pad to `resize`, then a centre crop when
 * rng is NULL, else a random crop with top then left drawn uniformly from rng. */
int ad_preprocess_image(const ad_image *src, int resize, int crop, ad_rng *rng, float *out);

/* Reads `path` (PNG/JPEG) and runs ad_preprocess_image; errors name the file. */
int ad_preprocess_file(const char *path, ad_depth16 depth16, int resize, int crop, ad_rng *rng,
                       float *out);

/* The reference's AutoEncoderDataTransforms after MGCA's get_imgs: the padded image is
 * scaled by xrv.datasets.normalize(v, 255) = (2 * (v / 255) - 1) * 1024 in float32, then
 * cv2.resize(..., (crop, crop), INTER_AREA) in float32 (XRayResizer(crop, engine="cv2");
 * XRayCenterCrop keeps a square as it is). Written to the 3 planes of out (all equal).
 * Only shrinking (crop <= padded size) is supported. */
int ad_xrv_normalize_resize(const ad_image *padded, int crop, float *out);

/* ad_preprocess_image / ad_preprocess_file with the preprocessing `kind`; AD_PREP_XRV has
 * no random crop (the reference does not augment for the autoencoder), so rng must be
 * NULL. */
int ad_preprocess_image_as(ad_prep_kind kind, const ad_image *src, int resize, int crop,
                           ad_rng *rng, float *out);
int ad_preprocess_file_as(ad_prep_kind kind, const char *path, ad_depth16 depth16, int resize,
                          int crop, ad_rng *rng, float *out);

#endif
