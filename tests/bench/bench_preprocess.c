/* Throughput of MGCA preprocessing (resize 256, centre crop 224, normalise) on a
 * 2500 x 3000 8-bit image, and of the INTER_AREA resize alone for the other sizes used. */
#include "adaptor/error.h"
#include "adaptor/image.h"
#include "adaptor/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(const ad_image *img, int resize, int crop, int iters)
{
    float *out = malloc(sizeof *out * 3 * (size_t)crop * (size_t)crop);
    if (!out)
        return AD_ERR_NOMEM;
    double t0 = now();
    for (int i = 0; i < iters; i++) {
        int rc = ad_preprocess_image(img, resize, crop, NULL, out);
        if (rc != AD_OK) {
            free(out);
            return rc;
        }
    }
    double dt = now() - t0;
    printf("%dx%d -> resize %d crop %d: %.1f images/s (%.2f ms each)\n", img->width,
           img->height, resize, crop, iters / dt, 1e3 * dt / iters);
    free(out);
    return AD_OK;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 50;
    ad_image img = {2500, 3000, malloc(2500u * 3000u)};
    if (!img.pixels)
        return 1;
    unsigned s = 12345;
    for (size_t i = 0; i < 2500u * 3000u; i++) {
        s = s * 1103515245u + 12345u;
        img.pixels[i] = (uint8_t)((i % 2500) / 10 + (s >> 28));
    }
    int rc = run(&img, 256, 224, iters);
    if (rc == AD_OK)
        rc = run(&img, 448, 448, iters);
    if (rc == AD_OK)
        rc = run(&img, 896, 518, iters / 2 + 1);
    ad_image small = {400, 300, img.pixels};
    if (rc == AD_OK)
        rc = run(&small, 896, 518, iters);
    if (rc != AD_OK)
        fprintf(stderr, "bench_preprocess: %s\n", ad_errmsg());
    free(img.pixels);
    return rc == AD_OK ? 0 : 1;
}
