#include "adaptor/mask.h"

#include "adaptor/error.h"
#include "adaptor/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ad_mask_binarize(ad_image *m, int bit, const char *name)
{
    size_t n = (size_t)m->width * (size_t)m->height;
    uint8_t *p = m->pixels;
    if (bit > 7)
        return ad_fail(AD_ERR_ARG, "%s: mask bit %d out of range 0..7", name, bit);
    if (bit >= 0) {
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)((p[i] >> bit) & 1u);
        return AD_OK;
    }
    /* A 0/1 mask and a 0/255 mask are both common; a mix is a sign of a wrong file. */
    int seen1 = 0, seen255 = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0 && p[i] != 1 && p[i] != 255)
            return ad_fail(AD_ERR_FORMAT, "%s: mask value %d at pixel (x %zu, y %zu) is not binary "
                           "(0/1 or 0/255; bitmask masks need [segment] mask_bit)", name, p[i],
                           i % (size_t)m->width, i / (size_t)m->width);
        seen1 |= p[i] == 1;
        seen255 |= p[i] == 255;
    }
    if (seen1 && seen255)
        return ad_fail(AD_ERR_FORMAT, "%s: mask mixes the values 1 and 255 (binary masks hold 0/1 "
                       "or 0/255; bitmask masks need [segment] mask_bit)", name);
    for (size_t i = 0; i < n; i++)
        p[i] = p[i] != 0;
    return AD_OK;
}

int ad_mask_read(const char *path, int bit, ad_image *out)
{
    AD_TRY(ad_image_read_gray8(path, AD_DEPTH16_HIGHBYTE, out));
    int rc = ad_mask_binarize(out, bit, path);
    if (rc != AD_OK)
        ad_image_free(out);
    return rc;
}

int ad_resize_nearest_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return ad_fail(AD_ERR_ARG, "nearest resize: bad sizes %dx%d -> %dx%d", sw, sh, dw, dh);
    /* OpenCV's resizeNN: ifx = 1 / (dw / sw) in double, sx = floor(x * ifx). */
    double ifx = 1.0 / ((double)dw / sw), ify = 1.0 / ((double)dh / sh);
    int *xo = malloc((size_t)dw * sizeof *xo);
    if (!xo)
        return ad_fail(AD_ERR_NOMEM, "out of memory for a nearest resize");
    for (int x = 0; x < dw; x++) {
        int sx = (int)floor(x * ifx);
        xo[x] = sx < sw - 1 ? sx : sw - 1;
    }
    for (int y = 0; y < dh; y++) {
        int sy = (int)floor(y * ify);
        sy = sy < sh - 1 ? sy : sh - 1;
        const uint8_t *s = src + (size_t)sy * (size_t)sw;
        uint8_t *d = dst + (size_t)y * (size_t)dw;
        for (int x = 0; x < dw; x++)
            d[x] = s[xo[x]];
    }
    free(xo);
    return AD_OK;
}

int ad_mask_preprocess(const ad_image *mask, int resize, int crop, int top, int left,
                       uint8_t *out)
{
    int rw, rh;
    if (crop <= 0 || top < 0 || left < 0 || top + crop > resize || left + crop > resize)
        return ad_fail(AD_ERR_ARG, "mask crop %d at (%d, %d) outside %dx%d", crop, top, left,
                       resize, resize);
    AD_TRY(ad_resize_dims(mask->width, mask->height, resize, &rw, &rh));
    uint8_t *tmp = malloc((size_t)rw * (size_t)rh);
    if (!tmp)
        return ad_fail(AD_ERR_NOMEM, "out of memory for a resized mask");
    int rc = ad_resize_nearest_u8(mask->pixels, mask->width, mask->height, tmp, rw, rh);
    /* Padding as in ad_resize_pad: floor before, ceil after. */
    int pt = (resize - rh) / 2, pl = (resize - rw) / 2;
    for (int y = 0; rc == AD_OK && y < crop; y++) {
        int sy = top + y - pt;
        uint8_t *d = out + (size_t)y * (size_t)crop;
        for (int x = 0; x < crop; x++) {
            int sx = left + x - pl;
            d[x] = sy >= 0 && sy < rh && sx >= 0 && sx < rw ? tmp[(size_t)sy * rw + sx] : 0;
        }
    }
    free(tmp);
    return rc;
}

int ad_mask_from_boxes(const ad_box *boxes, int n, int width, int height, ad_image *out)
{
    out->pixels = NULL;
    out->width = out->height = 0;
    if (width <= 0 || height <= 0)
        return ad_fail(AD_ERR_ARG, "box mask: bad image size %dx%d", width, height);
    for (int i = 0; i < n; i++) {
        const ad_box *b = &boxes[i];
        if (!isfinite(b->x) || !isfinite(b->y) || !isfinite(b->w) || !isfinite(b->h) ||
            b->x < 0 || b->y < 0 || b->w < 0 || b->h < 0)
            return ad_fail(AD_ERR_FORMAT, "box %d (x %g, y %g, width %g, height %g): negative or "
                           "not a number", i, b->x, b->y, b->w, b->h);
    }
    out->pixels = calloc((size_t)width * (size_t)height, 1);
    if (!out->pixels)
        return ad_fail(AD_ERR_NOMEM, "out of memory for a %dx%d box mask", width, height);
    out->width = width;
    out->height = height;
    for (int i = 0; i < n; i++) {
        /* MGCA: int64 of the corners, then a numpy slice (which clips). */
        double x1 = floor(boxes[i].x), y1 = floor(boxes[i].y);
        double x2 = floor(boxes[i].x + boxes[i].w), y2 = floor(boxes[i].y + boxes[i].h);
        int c0 = x1 < width ? (int)x1 : width, c1 = x2 < width ? (int)x2 : width;
        int r0 = y1 < height ? (int)y1 : height, r1 = y2 < height ? (int)y2 : height;
        for (int y = r0; y < r1; y++)
            if (c1 > c0)
                memset(out->pixels + (size_t)y * (size_t)width + c0, 1, (size_t)(c1 - c0));
    }
    return AD_OK;
}
