/* Reading images as 8-bit grayscale the way OpenCV's imread(path, IMREAD_GRAYSCALE) does
 * (SPEC section 3): PNG through libspng (1-16-bit gray, gray+alpha, RGB, RGBA, palette,
 * libpng's rgb->gray including its gAMA/sRGB gamma path for 8-bit colour), JPEG through
 * libjpeg-turbo's own grayscale output; EXIF orientation applied as imread does.
 * Not supported (clear error): CMYK JPEG, 16-bit colour PNG with a gAMA/sRGB chunk. */
#ifndef ADAPTOR_IMAGE_H
#define ADAPTOR_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    AD_DEPTH16_HIGHBYTE, /* v >> 8 (OpenCV) */
    AD_DEPTH16_MAX       /* v * 255 / max, round half even in float32 (MGCA's DICOM path) */
                         /* (only 16-bit PNGs are affected by the choice) */
} ad_depth16;

typedef struct ad_image {
    int width, height;
    uint8_t *pixels; /* height rows of width bytes */
} ad_image;

/* Decodes PNG or JPEG (by content, not by extension). Errors name the file. */
int ad_image_read_gray8(const char *path, ad_depth16 depth16, ad_image *out);
/* The same from bytes in memory; `name` labels error messages. */
int ad_image_decode_gray8(const void *data, size_t len, ad_depth16 depth16, const char *name,
                          ad_image *out);
void ad_image_free(ad_image *img);

#endif
