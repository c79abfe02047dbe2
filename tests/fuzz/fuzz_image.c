/* PNG / JPEG decoding from a file (libspng, libjpeg-turbo, EXIF orientation) and the MGCA
 * preprocessing chain of images and masks on whatever decodes. The input's length picks
 * the 16-bit mapping, centre or random crop and the mask mode, so every input byte is
 * image data. */
#include "adaptor/error.h"
#include "adaptor/image.h"
#include "adaptor/mask.h"
#include "adaptor/preprocess.h"
#include "adaptor/rng.h"
#include "fuzzutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { RESIZE = 64, CROP = 56 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write("in.img", data, size, path, sizeof path);
    ad_depth16 depth16 = (size & 1) ? AD_DEPTH16_MAX : AD_DEPTH16_HIGHBYTE;
    ad_image img;
    if (ad_image_read_gray8(path, depth16, &img) != AD_OK) {
        fz_assert(img.pixels == NULL, "a failure leaves no object");
        fz_rejected();
        return 0;
    }
    fz_assert(img.width > 0 && img.height > 0 && img.pixels, "decoded image has pixels");

    static float out[3 * CROP * CROP];
    ad_rng rng;
    ad_rng_seed(&rng, size, 0);
    fz_assert(ad_preprocess_image(&img, RESIZE, CROP, (size & 2) ? &rng : NULL, out) == AD_OK,
              "preprocessing a decoded image succeeds");
    for (size_t i = 0; i < sizeof out / sizeof *out; i++)
        fz_assert(out[i] >= -1.0f && out[i] <= 1.0f, "normalised pixels in [-1, 1]");

    /* The same bytes as a segmentation mask: binarise (bit mode or binary) and follow the
     * image's geometry. */
    int bit = (int)(size % 9) - 1;
    if (ad_mask_binarize(&img, bit, path) == AD_OK) {
        static uint8_t m[CROP * CROP];
        int off = ad_center_crop_offset(RESIZE, CROP);
        fz_assert(ad_mask_preprocess(&img, RESIZE, CROP, off, off, m) == AD_OK,
                  "mask preprocessing succeeds");
        for (size_t i = 0; i < sizeof m; i++)
            fz_assert(m[i] <= 1, "mask pixels are 0/1");
    }
    ad_image_free(&img);
    return 0;
}
