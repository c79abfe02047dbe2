/* PNG (libspng) and JPEG (libjpeg-turbo) decoding to 8-bit gray, bit-exact with OpenCV's
 * imread(path, IMREAD_GRAYSCALE).
 *
 * OpenCV hands PNGs to libpng with png_set_strip_alpha, png_set_palette_to_rgb,
 * png_set_expand_gray_1_2_4_to_8, png_set_rgb_to_gray(1, 0.299, 0.587) and
 * png_set_strip_16.  libspng has no such transformations, so the file is decoded in its
 * own format (SPNG_FMT_PNG) and libpng's row transformations are replayed here in
 * libpng's order: expand, strip alpha, rgb->gray (on 16-bit samples for 16-bit files),
 * then keep the high byte.  Both formats get imread's EXIF orientation handling. */
#include "adaptor/image.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <jpeglib.h>
#include <jerror.h>
#include <math.h>
#include <setjmp.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng's integer coefficients for png_set_rgb_to_gray(.., 0.299, 0.587): truncated
 * (29900 * 32768 / 100000), (58700 * 32768 / 100000); blue takes the rest of 32768. */
enum { RGB_GRAY_RC = 9797, RGB_GRAY_GC = 19234, RGB_GRAY_BC = 32768 - 9797 - 19234 };

/* Guards against decompression bombs; far above any radiograph. The side limit alone
 * still lets a 400-byte 16-bit RGBA PNG ask for 8 GB, so the decoded size is bounded too
 * (1 GiB: 32768^2 8-bit gray, 11585^2 16-bit RGBA). */
enum { MAX_SIDE = 1 << 15 };
#define MAX_DECODED_BYTES ((size_t)1 << 30)

void ad_image_free(ad_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = 0;
}

static int image_alloc(ad_image *img, int w, int h, const char *path)
{
    img->width = w;
    img->height = h;
    img->pixels = ad_malloc((size_t)w * (size_t)h, path);
    return img->pixels ? AD_OK : AD_ERR_NOMEM;
}

/* ---- EXIF orientation (OpenCV's imread turns JPEG and PNG images upright) -------------- */

/* Tag 0x0112 of IFD0 in a TIFF-structured EXIF block; 1 (top-left, OpenCV's default)
 * when absent, out of range or unreadable. */
static int exif_orientation(const uint8_t *t, size_t n)
{
    if (n < 8)
        return 1;
    int le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M'))
        return 1;
#define RD16(p) (le ? (unsigned)((p)[0] | (p)[1] << 8) : (unsigned)((p)[0] << 8 | (p)[1]))
#define RD32(p) (le ? ((uint32_t)RD16(p) | (uint32_t)RD16((p) + 2) << 16) \
                    : ((uint32_t)RD16(p) << 16 | (uint32_t)RD16((p) + 2)))
    int result = 1;
    uint32_t ifd = RD32(t + 4);
    if (ifd <= n && n - ifd >= 2) {
        unsigned count = RD16(t + ifd);
        for (unsigned i = 0; i < count; i++) {
            size_t e = ifd + 2 + 12 * (size_t)i;
            if (e + 12 > n)
                break;
            if (RD16(t + e) == 0x0112) {
                unsigned v = RD16(t + e + 8);
                result = v >= 1 && v <= 8 ? (int)v : 1;
                break;
            }
        }
    }
#undef RD16
#undef RD32
    return result;
}

/* OpenCV's ApplyExifOrientation: flips for 2-4, transpose (+ flip) for 5-8. */
static int apply_orientation(ad_image *img, int o, const char *path)
{
    if (o == 1)
        return AD_OK;
    int w = img->width, h = img->height;
    int tr = o >= 5;
    int ow = tr ? h : w, oh = tr ? w : h;
    uint8_t *dst = ad_malloc((size_t)w * (size_t)h, path);
    if (!dst) {
        ad_image_free(img);
        return AD_ERR_NOMEM;
    }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sy, sx;
            switch (o) {
            case 2: sy = y; sx = w - 1 - x; break;
            case 3: sy = h - 1 - y; sx = w - 1 - x; break;
            case 4: sy = h - 1 - y; sx = x; break;
            case 5: sy = x; sx = y; break;
            case 6: sy = h - 1 - x; sx = y; break;
            case 7: sy = h - 1 - x; sx = w - 1 - y; break;
            default: sy = x; sx = w - 1 - y; break; /* 8 */
            }
            dst[(size_t)y * (size_t)ow + (size_t)x] =
                img->pixels[(size_t)sy * (size_t)w + (size_t)sx];
        }
    free(img->pixels);
    img->pixels = dst;
    img->width = ow;
    img->height = oh;
    return AD_OK;
}

/* The first APP1 "Exif" segment of a JPEG. */
static int jpeg_exif_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return exif_orientation(m->data + 6, m->data_length - 6);
    return 1;
}

/* ---- libpng gamma replay ------------------------------------------------------------
 * With a gAMA or sRGB chunk whose gamma differs from 1 by more than 5%, libpng's
 * rgb_to_gray linearises with gamma_to_1, mixes with rounding and re-encodes with
 * gamma_from_1 (png_build_gamma_table for 8-bit data, floating-point arithmetic). */

static int png_gamma_significant(long g)
{
    return g < 100000 - 5000 || g > 100000 + 5000;
}

static long png_reciprocal(long a)
{
    double r = floor(1e10 / (double)a + .5);
    return (r <= 2147483647. && r >= -2147483648.) ? (long)r : 0;
}

static void png_build_8bit_table(uint8_t table[256], long gamma_val)
{
    for (int i = 0; i < 256; i++) {
        if (png_gamma_significant(gamma_val) && i > 0 && i < 255)
            table[i] = (uint8_t)floor(255 * pow(i / 255., (double)gamma_val * .00001) + .5);
        else
            table[i] = (uint8_t)i;
    }
}

typedef struct png_gray_conv {
    int use_gamma;
    uint8_t to_1[256], from_1[256];
} png_gray_conv;

/* File gamma as libpng 1.6 resolves it: sRGB wins over gAMA; absent means 1.0. */
static long png_file_gamma(spng_ctx *ctx)
{
    uint8_t intent;
    uint32_t g;
    if (spng_get_srgb(ctx, &intent) == 0)
        return 45455;
    if (spng_get_gama_int(ctx, &g) == 0 && g > 0 && g <= 2147483647u)
        return (long)g;
    return 100000;
}

static void png_gray_conv_init(png_gray_conv *c, long file_gamma)
{
    long screen = png_reciprocal(file_gamma);
    c->use_gamma = png_gamma_significant(file_gamma) || png_gamma_significant(screen);
    if (c->use_gamma) {
        png_build_8bit_table(c->to_1, png_reciprocal(file_gamma));
        png_build_8bit_table(c->from_1, screen > 0 ? png_reciprocal(screen) : file_gamma);
    }
}

/* png_do_rgb_to_gray for 8-bit samples. */
static uint8_t png_rgb8_to_gray(const png_gray_conv *c, unsigned r, unsigned g, unsigned b)
{
    if (r == g && r == b)
        return (uint8_t)r;
    if (c->use_gamma) {
        unsigned lr = c->to_1[r], lg = c->to_1[g], lb = c->to_1[b];
        return c->from_1[(RGB_GRAY_RC * lr + RGB_GRAY_GC * lg + RGB_GRAY_BC * lb + 16384) >> 15];
    }
    /* libpng keeps its historical truncation here (no rounding term). */
    return (uint8_t)((RGB_GRAY_RC * r + RGB_GRAY_GC * g + RGB_GRAY_BC * b) >> 15);
}

/* png_do_rgb_to_gray for 16-bit samples without gamma tables: rounded. */
static unsigned png_rgb16_to_gray(unsigned r, unsigned g, unsigned b)
{
    if (r == g && r == b)
        return r;
    return (RGB_GRAY_RC * r + RGB_GRAY_GC * g + RGB_GRAY_BC * b + 16384) >> 15;
}

/* Reduces a 16-bit gray value to 8 bits per the caller's policy. */
typedef struct depth16_map {
    ad_depth16 mode;
    float scale; /* 255 / max, for AD_DEPTH16_MAX */
} depth16_map;

static uint8_t depth16_apply(const depth16_map *m, unsigned v)
{
    if (m->mode == AD_DEPTH16_HIGHBYTE)
        return (uint8_t)(v >> 8);
    /* cv2.convertScaleAbs(x, alpha=255/max): float32 product, cvRound (half even). */
    float f = fabsf((float)v * m->scale);
    if (!(f >= 0.f))
        return 0;
    long r = lrintf(f);
    return (uint8_t)(r > 255 ? 255 : r);
}

/* Sample i of a row with `bits` bits per sample (PNG bit order, big-endian 16-bit were
 * already converted to host order by SPNG_FMT_PNG). */
static unsigned png_sample(const uint8_t *row, size_t i, int bits)
{
    switch (bits) {
    case 16: {
        uint16_t v;
        memcpy(&v, row + 2 * i, 2);
        return v;
    }
    case 8:
        return row[i];
    default: {
        size_t bit = i * (size_t)bits;
        unsigned byte = row[bit >> 3];
        unsigned shift = 8u - (unsigned)bits - (unsigned)(bit & 7);
        return (byte >> shift) & ((1u << bits) - 1u);
    }
    }
}

/* png_do_expand for gray 1/2/4-bit: replicate the bit pattern to fill 8 bits. */
static unsigned png_expand_gray(unsigned v, int bits)
{
    switch (bits) {
    case 1:
        return v * 255u;
    case 2:
        return v * 0x55u;
    case 4:
        return v * 0x11u;
    default:
        return v;
    }
}

static int png_channels(int color_type)
{
    switch (color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
        return 2;
    case SPNG_COLOR_TYPE_TRUECOLOR:
        return 3;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
        return 4;
    default:
        return 1; /* gray, or a palette index */
    }
}

/* 16-bit gray of pixel x: the sample, or libpng's 16-bit rgb->gray (alpha dropped). */
static unsigned png_gray16_at(const uint8_t *row, size_t x, int chans)
{
    size_t s = x * (size_t)chans;
    if (chans <= 2)
        return png_sample(row, s, 16);
    return png_rgb16_to_gray(png_sample(row, s, 16), png_sample(row, s + 1, 16),
                             png_sample(row, s + 2, 16));
}

static int png_convert(spng_ctx *ctx, const struct spng_ihdr *ih, const uint8_t *data,
                       size_t stride, const depth16_map *d16, const char *path, ad_image *out)
{
    int w = (int)ih->width, h = (int)ih->height, bits = ih->bit_depth;
    int ct = ih->color_type, chans = png_channels(ct);
    png_gray_conv conv;
    png_gray_conv_init(&conv, png_file_gamma(ctx));
    if (bits == 16 && (chans >= 3) && conv.use_gamma)
        return ad_fail(AD_ERR_UNSUPPORTED,
                       "%s: 16-bit colour PNG with a gAMA/sRGB gamma is not supported", path);

    uint8_t pal_gray[256];
    if (ct == SPNG_COLOR_TYPE_INDEXED) {
        struct spng_plte plte;
        if (spng_get_plte(ctx, &plte) != 0)
            return ad_fail(AD_ERR_FORMAT, "%s: palette PNG without a PLTE chunk", path);
        /* libpng pads the palette with black; out-of-range indices read as black. */
        for (int i = 0; i < 256; i++) {
            unsigned r = 0, g = 0, b = 0;
            if ((uint32_t)i < plte.n_entries) {
                r = plte.entries[i].red;
                g = plte.entries[i].green;
                b = plte.entries[i].blue;
            }
            pal_gray[i] = png_rgb8_to_gray(&conv, r, g, b);
        }
    }

    AD_TRY(image_alloc(out, w, h, path));
    for (int y = 0; y < h; y++) {
        const uint8_t *row = data + (size_t)y * stride;
        uint8_t *dst = out->pixels + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) {
            size_t s = (size_t)x * (size_t)chans;
            if (bits == 16)
                dst[x] = depth16_apply(d16, png_gray16_at(row, (size_t)x, chans));
            else if (ct == SPNG_COLOR_TYPE_INDEXED)
                dst[x] = pal_gray[png_sample(row, (size_t)x, bits)];
            else if (chans <= 2)
                dst[x] = (uint8_t)png_expand_gray(png_sample(row, s, bits), bits);
            else
                dst[x] = png_rgb8_to_gray(&conv, row[s], row[s + 1], row[s + 2]);
        }
    }
    return AD_OK;
}

/* 255 / max over the 16-bit gray values (after rgb->gray), as MGCA's DICOM path. */
static void depth16_prepare(depth16_map *m, ad_depth16 mode, const struct spng_ihdr *ih,
                            const uint8_t *data, size_t stride)
{
    m->mode = mode;
    m->scale = 0.f;
    if (mode != AD_DEPTH16_MAX || ih->bit_depth != 16)
        return;
    int chans = png_channels(ih->color_type);
    unsigned maxv = 0;
    for (uint32_t y = 0; y < ih->height; y++)
        for (uint32_t x = 0; x < ih->width; x++) {
            unsigned v = png_gray16_at(data + (size_t)y * stride, x, chans);
            if (v > maxv)
                maxv = v;
        }
    /* max == 0: numpy gives inf, 0 * inf = NaN, which OpenCV saturates to 0. */
    m->scale = maxv ? (float)(255.0 / (double)maxv) : NAN;
}

static int decode_png(const uint8_t *buf, size_t len, ad_depth16 depth16, const char *path,
                      ad_image *out)
{
    int rc = AD_OK, err;
    uint8_t *data = NULL;
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx)
        return ad_fail(AD_ERR_NOMEM, "%s: cannot create PNG decoder", path);
    spng_set_image_limits(ctx, MAX_SIDE, MAX_SIDE);
    /* libpng (OpenCV) rejects a bad CRC in critical chunks, drops bad ancillary ones. */
    spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
    struct spng_ihdr ih;
    size_t size = 0;
    if ((err = spng_set_png_buffer(ctx, buf, len)) != 0 || (err = spng_get_ihdr(ctx, &ih)) != 0 ||
        (err = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &size)) != 0) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: bad PNG: %s", path, spng_strerror(err));
        goto done;
    }
    if (size > MAX_DECODED_BYTES) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: PNG of %ux%u (%u-bit, colour type %u) decodes to %zu MB, "
                     "over the %zu MB limit", path, ih.width, ih.height, ih.bit_depth,
                     ih.color_type, size >> 20, MAX_DECODED_BYTES >> 20);
        goto done;
    }
    data = ad_malloc(size, path);
    if (!data) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    if ((err = spng_decode_image(ctx, data, size, SPNG_FMT_PNG, 0)) != 0) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: bad PNG: %s", path, spng_strerror(err));
        goto done;
    }
    depth16_map d16;
    depth16_prepare(&d16, depth16, &ih, data, size / ih.height);
    AD_CHECK(png_convert(ctx, &ih, data, size / ih.height, &d16, path, out));
    struct spng_exif exif;
    if (spng_get_exif(ctx, &exif) == 0)
        AD_CHECK(apply_orientation(out, exif_orientation((const uint8_t *)exif.data, exif.length),
                                   path));
done:
    free(data);
    spng_ctx_free(ctx);
    return rc;
}

/* ---- JPEG ---------------------------------------------------------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* libjpeg reports a damaged scan as a warning and fills the rest of the image with gray;
 * those warnings are errors here.  Harmless ones (extraneous bytes between markers,
 * unknown JFIF versions) are ignored, as OpenCV decodes such files. */
static void jpeg_emit_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        jpeg_error_exit(cinfo);
        break;
    default:
        break;
    }
}

static int decode_jpeg(const uint8_t *buf, size_t len, const char *path, ad_image *out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    /* Accessed after longjmp: keep them in memory. */
    ad_image *volatile res = out;
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_error_exit;
    jerr.pub.emit_message = jpeg_emit_message;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        ad_image_free(res);
        return ad_fail(AD_ERR_FORMAT, "%s: bad JPEG: %s", path, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components == 4) {
        jpeg_destroy_decompress(&cinfo);
        return ad_fail(AD_ERR_UNSUPPORTED, "%s: CMYK JPEG is not supported", path);
    }
    if (cinfo.image_width > MAX_SIDE || cinfo.image_height > MAX_SIDE) {
        jpeg_destroy_decompress(&cinfo);
        return ad_fail(AD_ERR_FORMAT, "%s: JPEG of %ux%u exceeds the size limit", path,
                       (unsigned)cinfo.image_width, (unsigned)cinfo.image_height);
    }
    /* What OpenCV asks for with IMREAD_GRAYSCALE; its DCT method is libjpeg's default. */
    cinfo.out_color_space = JCS_GRAYSCALE;
    cinfo.out_color_components = 1;
    jpeg_start_decompress(&cinfo);
    if (image_alloc(res, (int)cinfo.output_width, (int)cinfo.output_height, path) != AD_OK) {
        jpeg_destroy_decompress(&cinfo);
        return AD_ERR_NOMEM;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = res->pixels + (size_t)cinfo.output_scanline * (size_t)res->width;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    /* imread (without IMREAD_IGNORE_ORIENTATION) turns the image upright.  Saved markers
     * live in the image pool, which jpeg_finish_decompress releases. */
    int orientation = jpeg_exif_orientation(&cinfo);
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return apply_orientation(res, orientation, path);
}

int ad_image_decode_gray8(const void *data, size_t len, ad_depth16 depth16, const char *name,
                          ad_image *out)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *b = data;
    out->width = out->height = 0;
    out->pixels = NULL;
    if (len == 0)
        return ad_fail(AD_ERR_FORMAT, "%s: empty file", name);
    if (len >= 8 && memcmp(b, png_sig, 8) == 0)
        return decode_png(b, len, depth16, name, out);
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return decode_jpeg(b, len, name, out);
    return ad_fail(AD_ERR_UNSUPPORTED, "%s: not a PNG or JPEG image", name);
}

int ad_image_read_gray8(const char *path, ad_depth16 depth16, ad_image *out)
{
    char *buf = NULL;
    size_t len = 0;
    out->width = out->height = 0;
    out->pixels = NULL;
    AD_TRY(ad_read_file(path, &buf, &len));
    int rc = ad_image_decode_gray8(buf, len, depth16, path, out);
    free(buf);
    return rc;
}
