/* Rewrites the images named on the command line as real-size chest X-rays for
 * bench_embed.py: each becomes one of the real radiographs in tests/data/images (JPEG or
 * PNG by the target's extension) enlarged bilinearly to a clinical size with a little film
 * grain, 8-bit gray: 2544 x 3056 for a JPEG (quality 95; a typical MIMIC-CXR-JPG image),
 * 2048 x 2500 for a PNG (a CheXpert-sized radiograph; PNG corpora keep full resolution).
 *
 * usage: bench_cxr_images TESTS_DATA_IMAGES TARGET...  */
#include "adaptor/error.h"
#include "adaptor/image.h"
#include "adaptor/image_write.h"
#include "adaptor/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sources[] = {"1.jpg", "2.jpg", "3.jpg", "4.jpg", "00000001_000.png",
                                      "00027426_000.png"};

/* Film grain of +-3.5 levels on the enlarged image (the library's bilinear enlargement). */
static void add_grain(uint8_t *px, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        double v = px[i] + (double)(seed >> 29) - 3.5;
        px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TESTS_DATA_IMAGES TARGET...\n", argv[0]);
        return 2;
    }
    uint8_t *buf = malloc((size_t)2544 * 3056);
    if (!buf)
        return 1;
    for (int i = 2; i < argc; i++) {
        char src[4096];
        snprintf(src, sizeof src, "%s/%s", argv[1], sources[(i - 2) % 6]);
        ad_image im = {0};
        int jpeg = strstr(argv[i], ".jpg") != NULL;
        int w = jpeg ? 2544 : 2048, h = jpeg ? 3056 : 2500;
        int rc = ad_image_read_gray8(src, AD_DEPTH16_HIGHBYTE, &im);
        if (rc == AD_OK) {
            rc = ad_resize_area_u8(im.pixels, im.width, im.height, buf, w, h);
        }
        if (rc == AD_OK) {
            add_grain(buf, (size_t)w * h, (uint32_t)i);
            rc = jpeg ? ad_jpeg_write_gray(argv[i], buf, w, h, 95, 0)
                      : ad_png_write_gray(argv[i], buf, w, h, 8, 0);
        }
        ad_image_free(&im);
        if (rc != AD_OK) {
            fprintf(stderr, "bench_cxr_images: %s\n", ad_errmsg());
            free(buf);
            return 1;
        }
    }
    free(buf);
    return 0;
}
