/* Reading images as 8-bit grayscale the way OpenCV's imread(path, IMREAD_GRAYSCALE) does
 * (SPEC section 3): PNG through libspng (8/16-bit gray, gray+alpha, RGB, RGBA, palette),
 * JPEG through libjpeg-turbo's own grayscale output. */
#ifndef ADAPTOR_IMAGE_H
#define ADAPTOR_IMAGE_H

#include <stdint.h>

typedef enum {
    AD_DEPTH16_HIGHBYTE, /* v >> 8 (OpenCV) */
    AD_DEPTH16_MAX       /* v * 255 / max, round half even in float32 (MGCA's DICOM path) */
} ad_depth16;

typedef struct ad_image {
    int width, height;
    uint8_t *pixels; /* height rows of width bytes */
} ad_image;

/* Decodes PNG or JPEG (by content, not by extension). Errors name the file. */
int ad_image_read_gray8(const char *path, ad_depth16 depth16, ad_image *out);
void ad_image_free(ad_image *img);

#endif
