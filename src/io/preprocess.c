/* MGCA preprocessing; the resize is a transcription of OpenCV 4.6's cv::resize with
 * INTER_AREA for CV_8UC1 (modules/imgproc/src/resize.cpp), including the parts whose
 * rounding differs between code paths:
 *   - integer factors: resizeAreaFast_ ((a+b+c+d+2)>>2 for 2x2, else round(sum*(1/area)));
 *   - other shrinking factors: resizeArea_ with float weights from computeResizeAreaTab;
 *   - enlarging either side: resizeGeneric_ bilinear with 11-bit fixed-point weights whose
 *     positions follow the INTER_AREA formula, and VResizeLinearVec_32s8u's SIMD rounding
 *     (>>4, mulhi, (x+2)>>2). */
#include "adaptor/preprocess.h"

#include "adaptor/error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS };

static uint8_t sat_u8_int(long v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* saturate_cast<uchar>(float): cvRound (nearest, ties to even) then clamp. */
static uint8_t sat_u8_float(float v)
{
    return sat_u8_int(lrintf(v));
}

/* ---- integer factors ------------------------------------------------------------------ */

static void resize_area_fast(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                             int kx, int ky)
{
    float scale = 1.f / (float)(kx * ky);
    int wfull = sw / kx;
    for (int dy = 0; dy < dh; dy++) {
        uint8_t *D = dst + (size_t)dy * (size_t)dw;
        int sy0 = dy * ky;
        if (sy0 >= sh) {
            memset(D, 0, (size_t)dw);
            continue;
        }
        int w = sy0 + ky <= sh ? wfull : 0;
        const uint8_t *S = src + (size_t)sy0 * (size_t)sw;
        int dx = 0;
        if (kx == 2 && ky == 2) {
            const uint8_t *N = S + sw;
            for (; dx < w; dx++)
                D[dx] = (uint8_t)((S[2 * dx] + S[2 * dx + 1] + N[2 * dx] + N[2 * dx + 1] + 2) >> 2);
        } else {
            for (; dx < w; dx++) {
                int sum = 0;
                for (int sy = 0; sy < ky; sy++)
                    for (int sx = 0; sx < kx; sx++)
                        sum += S[(size_t)sy * (size_t)sw + (size_t)(dx * kx + sx)];
                D[dx] = sat_u8_float((float)sum * scale);
            }
        }
        /* Cells cut by the border average what they have. */
        for (; dx < dw; dx++) {
            int sum = 0, count = 0, sx0 = dx * kx;
            for (int sy = 0; sy < ky && sy0 + sy < sh; sy++)
                for (int sx = 0; sx < kx && sx0 + sx < sw; sx++) {
                    sum += src[(size_t)(sy0 + sy) * (size_t)sw + (size_t)(sx0 + sx)];
                    count++;
                }
            D[dx] = count ? sat_u8_float((float)sum / (float)count) : 0;
        }
    }
}

/* ---- general shrinking ---------------------------------------------------------------- */

typedef struct area_tap {
    int si, di;
    float alpha;
} area_tap;

/* computeResizeAreaTab: each destination cell covers [dx*scale, (dx+1)*scale) of the
 * source; partial source pixels at both ends get fractional weights. */
static int area_tab(int ssize, int dsize, double scale, area_tap *tab)
{
    int k = 0;
    for (int dx = 0; dx < dsize; dx++) {
        double fsx1 = dx * scale;
        double fsx2 = fsx1 + scale;
        double cell = fmin(scale, ssize - fsx1);
        int sx1 = (int)ceil(fsx1), sx2 = (int)floor(fsx2);
        if (sx2 > ssize - 1)
            sx2 = ssize - 1;
        if (sx1 > sx2)
            sx1 = sx2;
        if (sx1 - fsx1 > 1e-3)
            tab[k++] = (area_tap){(sx1 - 1), dx, (float)((sx1 - fsx1) / cell)};
        for (int sx = sx1; sx < sx2; sx++)
            tab[k++] = (area_tap){sx, dx, (float)(1.0 / cell)};
        if (fsx2 - sx2 > 1e-3)
            tab[k++] = (area_tap){sx2, dx, (float)(fmin(fmin(fsx2 - sx2, 1.), cell) / cell)};
    }
    return k;
}

/* Horizontal pass of resizeArea_ for every source row (8-bit when src8, else float):
 * out[y][d] accumulates S[y][si] * alpha over d's taps from 0.f in table order, exactly as
 * OpenCV's buf[] does. Four rows run side by side so their (order-bound) float chains
 * overlap; `conv` holds them as float. */
static void area_hpass(const uint8_t *src8, const float *srcf, int sw, int sh,
                       const area_tap *xtab, const int *xstart, int dw, float *conv, float *out)
{
    for (int y = 0; y < sh; y += 4) {
        int nr = sh - y < 4 ? sh - y : 4;
        const float *r[4];
        for (int i = 0; i < nr; i++) {
            if (src8) {
                const uint8_t *row = src8 + (size_t)(y + i) * (size_t)sw;
                for (int x = 0; x < sw; x++)
                    conv[(size_t)i * (size_t)sw + (size_t)x] = (float)row[x];
                r[i] = conv + (size_t)i * (size_t)sw;
            } else {
                r[i] = srcf + (size_t)(y + i) * (size_t)sw;
            }
        }
        for (int i = nr; i < 4; i++)
            r[i] = r[0];
        float *o = out + (size_t)y * (size_t)dw;
        for (int d = 0; d < dw; d++) {
            float a[4] = {0.f, 0.f, 0.f, 0.f};
            for (int k = xstart[d]; k < xstart[d + 1]; k++) {
                int si = xtab[k].si;
                float al = xtab[k].alpha;
                for (int i = 0; i < 4; i++)
                    a[i] += r[i][si] * al;
            }
            for (int i = 0; i < nr; i++)
                o[(size_t)i * (size_t)dw + d] = a[i];
        }
    }
}

/* resizeArea_ for a non-integer shrink of an 8-bit (src8) or float (srcf) image; the
 * result stays in float (dst, dw x dh) as OpenCV's sum[] before saturate_cast. */
static int resize_area_general(const uint8_t *src8, const float *srcf, int sw, int sh,
                               float *dst, int dw, int dh, double scale_x, double scale_y)
{
    area_tap *xtab = ad_malloc(sizeof *xtab * 2 * ((size_t)sw + (size_t)sh), "resize tables");
    int *xstart = ad_malloc(sizeof *xstart * ((size_t)dw + 1), "resize tables");
    float *rows = ad_malloc(sizeof *rows * (size_t)sh * (size_t)dw, "resize row buffer");
    float *conv = ad_malloc(sizeof *conv * 4 * (size_t)sw, "resize row buffer");
    int rc = AD_OK;
    if (!xtab || !xstart || !rows || !conv) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    area_tap *ytab = xtab + 2 * (size_t)sw;
    int nx = area_tab(sw, dw, scale_x, xtab);
    int ny = area_tab(sh, dh, scale_y, ytab);
    /* Taps come out grouped by destination index, in increasing order. */
    for (int d = 0, k = 0; d <= dw; d++) {
        while (k < nx && xtab[k].di < d)
            k++;
        xstart[d] = k;
    }
    area_hpass(src8, srcf, sw, sh, xtab, xstart, dw, conv, rows);
    int prev_dy = ytab[0].di;
    float *sum = dst + (size_t)prev_dy * (size_t)dw;
    for (int dx = 0; dx < dw; dx++)
        sum[dx] = 0.f;
    for (int j = 0; j < ny; j++) {
        float beta = ytab[j].alpha;
        int dy = ytab[j].di;
        const float *buf = rows + (size_t)ytab[j].si * (size_t)dw;
        if (dy != prev_dy) {
            sum = dst + (size_t)dy * (size_t)dw;
            for (int dx = 0; dx < dw; dx++)
                sum[dx] = beta * buf[dx];
            prev_dy = dy;
        } else {
            for (int dx = 0; dx < dw; dx++)
                sum[dx] += beta * buf[dx];
        }
    }
done:
    free(xtab);
    free(xstart);
    free(rows);
    free(conv);
    return rc;
}

static int resize_area_general_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw,
                                  int dh, double scale_x, double scale_y)
{
    float *f = ad_malloc(sizeof *f * (size_t)dw * (size_t)dh, "resize output");
    if (!f)
        return AD_ERR_NOMEM;
    int rc = resize_area_general(src, NULL, sw, sh, f, dw, dh, scale_x, scale_y);
    if (rc == AD_OK)
        for (size_t i = 0; i < (size_t)dw * (size_t)dh; i++)
            dst[i] = sat_u8_float(f[i]);
    free(f);
    return rc;
}

/* ---- enlarging (bilinear emulation of INTER_AREA) ------------------------------------- */

/* Source position and fixed-point weights of one output coordinate (INTER_AREA branch of
 * cv::hal::resize's coefficient set-up). */
static void linear_area_coef(int d, double scale, double inv_scale, int *s_out, short w[2])
{
    int s = (int)floor(d * scale);
    float f = (float)((d + 1) - (s + 1) * inv_scale);
    f = f <= 0 ? 0.f : f - (float)(int)floorf(f);
    *s_out = s;
    w[0] = (short)lrintf((1.f - f) * COEF_SCALE);
    w[1] = (short)lrintf(f * COEF_SCALE);
}

static int resize_linear_area(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                              double inv_x, double inv_y)
{
    double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
    int *xofs = ad_malloc(sizeof *xofs * (size_t)dw, "resize tables");
    short *alpha = ad_malloc(sizeof *alpha * 2 * (size_t)dw, "resize tables");
    int *rows = ad_malloc(sizeof *rows * 2 * (size_t)dw, "resize row buffer");
    if (!xofs || !alpha || !rows) {
        free(xofs);
        free(alpha);
        free(rows);
        return AD_ERR_NOMEM;
    }
    int xmax = dw;
    for (int dx = 0; dx < dw; dx++) {
        int sx;
        short w[2];
        linear_area_coef(dx, scale_x, inv_x, &sx, w);
        if (sx + 1 >= sw) {
            if (dx < xmax)
                xmax = dx;
            if (sx >= sw - 1) {
                sx = sw - 1;
                w[0] = COEF_SCALE;
                w[1] = 0;
            }
        }
        xofs[dx] = sx;
        alpha[2 * dx] = w[0];
        alpha[2 * dx + 1] = w[1];
    }
    int slot_y[2] = {-1, -1};
    for (int dy = 0; dy < dh; dy++) {
        int sy;
        short b[2];
        linear_area_coef(dy, scale_y, inv_y, &sy, b);
        int y0 = sy >= sh ? sh - 1 : sy, y1 = sy + 1 >= sh ? sh - 1 : sy + 1;
        /* Two row slots, each filled with a horizontally resized source row; a row still
         * held from the previous output row is reused. */
        int s0 = slot_y[0] == y0 ? 0 : slot_y[1] == y0 ? 1 : slot_y[0] == y1 ? 1 : 0;
        int s1 = y1 == y0 ? s0 : 1 - s0;
        int need[2] = {y0, y1}, slot[2] = {s0, s1};
        for (int k = 0; k < 2; k++) {
            if (slot_y[slot[k]] == need[k])
                continue;
            const uint8_t *S = src + (size_t)need[k] * (size_t)sw;
            int *D = rows + (size_t)slot[k] * (size_t)dw;
            int dx = 0;
            for (; dx < xmax; dx++)
                D[dx] = S[xofs[dx]] * alpha[2 * dx] + S[xofs[dx] + 1] * alpha[2 * dx + 1];
            for (; dx < dw; dx++)
                D[dx] = S[xofs[dx]] * COEF_SCALE;
            slot_y[slot[k]] = need[k];
        }
        uint8_t *out = dst + (size_t)dy * (size_t)dw;
        const int *S0 = rows + (size_t)s0 * (size_t)dw, *S1 = rows + (size_t)s1 * (size_t)dw;
        /* OpenCV's VResizeLinearVec_32s8u rounding in int16 lanes: (S >> 4) * beta keeping
         * the high 16 bits, then (s + 2) >> 2.  Debian's OpenCV 4.6 gives this result on
         * every column, tails included (checked against cv2 on widths 2..896); the scalar
         * (S0*b0 + S1*b1 + 2^21) >> 22 differs from it by one on some pixels. */
        for (int x = 0; x < dw; x++) {
            int a = ((S0[x] >> 4) * b[0]) >> 16;
            int c = ((S1[x] >> 4) * b[1]) >> 16;
            out[x] = sat_u8_int((a + c + 2) >> 2);
        }
    }
    free(xofs);
    free(alpha);
    free(rows);
    return AD_OK;
}

int ad_resize_area_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return ad_fail(AD_ERR_ARG, "resize: bad size %dx%d -> %dx%d", sw, sh, dw, dh);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * (size_t)sh);
        return AD_OK;
    }
    double inv_x = (double)dw / sw, inv_y = (double)dh / sh;
    double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
    if (scale_x >= 1 && scale_y >= 1) {
        int kx = (int)lrint(scale_x), ky = (int)lrint(scale_y);
        if (fabs(scale_x - kx) < DBL_EPSILON && fabs(scale_y - ky) < DBL_EPSILON) {
            resize_area_fast(src, sw, sh, dst, dw, dh, kx, ky);
            return AD_OK;
        }
        return resize_area_general_u8(src, sw, sh, dst, dw, dh, scale_x, scale_y);
    }
    return resize_linear_area(src, sw, sh, dst, dw, dh, inv_x, inv_y);
}

/* ---- MGCA chain ----------------------------------------------------------------------- */

int ad_resize_dims(int width, int height, int size, int *out_w, int *out_h)
{
    if (width <= 0 || height <= 0 || size <= 0)
        return ad_fail(AD_ERR_ARG, "resize: bad size %dx%d -> %d", width, height, size);
    if (height >= width) {
        *out_h = size;
        *out_w = (int)((double)width * ((double)size / (double)height));
    } else {
        *out_w = size;
        *out_h = (int)((double)height * ((double)size / (double)width));
    }
    if (*out_w <= 0 || *out_h <= 0)
        return ad_fail(AD_ERR_FORMAT, "resize: a %dx%d image becomes empty at size %d", width,
                       height, size);
    return AD_OK;
}

int ad_resize_pad(const ad_image *src, int size, ad_image *out)
{
    int rw, rh;
    out->pixels = NULL;
    out->width = out->height = 0;
    AD_TRY(ad_resize_dims(src->width, src->height, size, &rw, &rh));
    uint8_t *pad = ad_calloc((size_t)size * (size_t)size, 1, "padded image");
    uint8_t *tmp = ad_malloc((size_t)rw * (size_t)rh, "resized image");
    if (!pad || !tmp) {
        free(pad);
        free(tmp);
        return AD_ERR_NOMEM;
    }
    int rc = ad_resize_area_u8(src->pixels, src->width, src->height, tmp, rw, rh);
    if (rc == AD_OK) {
        int top = (size - rh) / 2, left = (size - rw) / 2;
        for (int y = 0; y < rh; y++)
            memcpy(pad + (size_t)(y + top) * (size_t)size + left, tmp + (size_t)y * (size_t)rw,
                   (size_t)rw);
        out->pixels = pad;
        out->width = out->height = size;
    } else {
        free(pad);
    }
    free(tmp);
    return rc;
}

int ad_center_crop_offset(int size, int crop)
{
    int d = size - crop;
    if (d % 2 == 0)
        return d / 2;
    /* Python 3 round() of an exact .5: to the even neighbour. */
    int lo = (d - 1) / 2;
    return lo % 2 == 0 ? lo : lo + 1;
}

int ad_crop_normalize(const ad_image *padded, int crop, int top, int left, float *out)
{
    if (crop <= 0 || top < 0 || left < 0 || top + crop > padded->height ||
        left + crop > padded->width)
        return ad_fail(AD_ERR_ARG, "crop: %dx%d at (%d, %d) does not fit a %dx%d image", crop,
                       crop, top, left, padded->width, padded->height);
    /* torchvision: ToTensor divides by 255 in float32, Normalize subtracts and divides. */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = ((float)v / 255.f - 0.5f) / 0.5f;
    size_t plane = (size_t)crop * (size_t)crop;
    for (int y = 0; y < crop; y++) {
        const uint8_t *row = padded->pixels + (size_t)(top + y) * (size_t)padded->width + left;
        float *o = out + (size_t)y * (size_t)crop;
        for (int x = 0; x < crop; x++)
            o[x] = lut[row[x]];
    }
    memcpy(out + plane, out, plane * sizeof *out);
    memcpy(out + 2 * plane, out, plane * sizeof *out);
    return AD_OK;
}

const char *ad_prep_kind_name(ad_prep_kind kind) { return kind == AD_PREP_XRV ? "xrv" : "mgca"; }

int ad_xrv_normalize_resize(const ad_image *padded, int crop, float *out)
{
    int sw = padded->width, sh = padded->height;
    if (crop <= 0 || crop > sw || crop > sh)
        return ad_fail(AD_ERR_ARG, "preprocess: the torchxrayvision resize of a %dx%d image to "
                       "%dx%d would enlarge it (only shrinking is supported)", sw, sh, crop, crop);
    size_t n = (size_t)sw * (size_t)sh, plane = (size_t)crop * (size_t)crop;
    float *f = ad_malloc(sizeof *f * n, "normalised image");
    if (!f)
        return AD_ERR_NOMEM;
    /* numpy float32: img / 255, * 2, - 1., * 1024, each rounded (the products by 2 and
     * 1024 are exact, so a fused multiply-add cannot change the result). */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = ((float)v / 255.f * 2.f - 1.f) * 1024.f;
    for (size_t i = 0; i < n; i++)
        f[i] = lut[padded->pixels[i]];
    int rc = AD_OK;
    if (crop == sw && crop == sh)
        memcpy(out, f, plane * sizeof *out);
    else /* an integer factor goes through the same area weights: equal to cv2's
          * resizeAreaFast to float round-off */
        rc = resize_area_general(NULL, f, sw, sh, out, crop, crop, (double)sw / crop,
                                 (double)sh / crop);
    free(f);
    if (rc == AD_OK) {
        memcpy(out + plane, out, plane * sizeof *out);
        memcpy(out + 2 * plane, out, plane * sizeof *out);
    }
    return rc;
}

int ad_preprocess_image_as(ad_prep_kind kind, const ad_image *src, int resize, int crop,
                           ad_rng *rng, float *out)
{
    if (crop <= 0 || resize <= 0 || crop > resize)
        return ad_fail(AD_ERR_ARG, "preprocess: crop size %d must be in 1..resize (%d)", crop,
                       resize);
    if (kind == AD_PREP_XRV && rng)
        return ad_fail(AD_ERR_ARG, "preprocess: the torchxrayvision preprocessing has no "
                       "random crop");
    ad_image pad;
    AD_TRY(ad_resize_pad(src, resize, &pad));
    int rc;
    if (kind == AD_PREP_XRV) {
        rc = ad_xrv_normalize_resize(&pad, crop, out);
    } else {
        int top, left;
        if (rng) {
            top = (int)ad_rng_below(rng, (uint64_t)(resize - crop + 1));
            left = (int)ad_rng_below(rng, (uint64_t)(resize - crop + 1));
        } else {
            top = left = ad_center_crop_offset(resize, crop);
        }
        rc = ad_crop_normalize(&pad, crop, top, left, out);
    }
    ad_image_free(&pad);
    return rc;
}

int ad_preprocess_image(const ad_image *src, int resize, int crop, ad_rng *rng, float *out)
{
    return ad_preprocess_image_as(AD_PREP_MGCA, src, resize, crop, rng, out);
}

int ad_preprocess_file_as(ad_prep_kind kind, const char *path, ad_depth16 depth16, int resize,
                          int crop, ad_rng *rng, float *out)
{
    ad_image img;
    AD_TRY(ad_image_read_gray8(path, depth16, &img));
    int rc = ad_preprocess_image_as(kind, &img, resize, crop, rng, out);
    ad_image_free(&img);
    if (rc != AD_OK)
        return ad_fail_ctx(rc, "%s", path);
    return AD_OK;
}

int ad_preprocess_file(const char *path, ad_depth16 depth16, int resize, int crop, ad_rng *rng,
                       float *out)
{
    return ad_preprocess_file_as(AD_PREP_MGCA, path, depth16, resize, crop, rng, out);
}
