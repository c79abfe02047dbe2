/* Writing grayscale images: PNG (8- or 16-bit, libspng) and JPEG (libjpeg-turbo).
 *
 * Images are encoded in memory first, so the file appears under its final name only once
 * it is complete (ad_write_file_atomic). Output bytes depend only on the pixels and the
 * parameters, which keeps synthetic corpora byte-reproducible. */
#ifndef ADAPTOR_IMAGE_WRITE_H
#define ADAPTOR_IMAGE_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* pixels: height rows of width samples, uint8_t (bit_depth 8) or host-order uint16_t
 * (bit_depth 16). *out is malloc'ed; the caller frees it. */
int ad_png_encode_gray(const void *pixels, int width, int height, int bit_depth,
                       unsigned char **out, size_t *len);
/* quality 1..100 (libjpeg's scale). */
int ad_jpeg_encode_gray(const uint8_t *pixels, int width, int height, int quality,
                        unsigned char **out, size_t *len);

/* Encode and write under a temporary name renamed into place; errors name `path`. durable:
 * fsync each file (1), or leave durability to one ad_sync_fs() of a whole batch (0). */
int ad_png_write_gray(const char *path, const void *pixels, int width, int height, int bit_depth,
                      int durable);
int ad_jpeg_write_gray(const char *path, const uint8_t *pixels, int width, int height, int quality,
                       int durable);

#endif
