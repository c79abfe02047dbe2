#include "adaptor/image_write.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <jpeglib.h>
#include <setjmp.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_dims(int width, int height, const char *what)
{
    /* Both formats store 32-bit sizes; JPEG is limited to 65500 per side. */
    if (width <= 0 || height <= 0 || width > 65500 || height > 65500)
        return ad_fail(AD_ERR_ARG, "%s: bad image size %dx%d", what, width, height);
    return AD_OK;
}

int ad_png_encode_gray(const void *pixels, int width, int height, int bit_depth,
                       unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    AD_TRY(check_dims(width, height, "png encode"));
    if (bit_depth != 8 && bit_depth != 16)
        return ad_fail(AD_ERR_ARG, "png encode: bit depth %d (8 or 16 expected)", bit_depth);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx)
        return ad_fail(AD_ERR_NOMEM, "png encode: cannot create libspng context");
    struct spng_ihdr ihdr;
    memset(&ihdr, 0, sizeof ihdr);
    ihdr.width = (uint32_t)width;
    ihdr.height = (uint32_t)height;
    ihdr.bit_depth = (uint8_t)bit_depth;
    ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE;
    size_t nbytes = (size_t)width * (size_t)height * (size_t)(bit_depth / 8);
    int err = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    /* Speed over size: radiographs are noisy, and zlib level 2 with the "up" filter alone
     * encode about twice as fast as the defaults for ~20% larger files. */
    if (!err)
        err = spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, 2);
    if (!err)
        err = spng_set_option(ctx, SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_UP);
    if (!err)
        err = spng_set_ihdr(ctx, &ihdr);
    /* SPNG_FMT_PNG: samples in the PNG's own layout, 16-bit in host order (libspng swaps). */
    if (!err)
        err = spng_encode_image(ctx, pixels, nbytes, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (err) {
        spng_ctx_free(ctx);
        return ad_fail(AD_ERR_INTERNAL, "png encode %dx%d: %s", width, height, spng_strerror(err));
    }
    size_t n = 0;
    void *buf = spng_get_png_buffer(ctx, &n, &err);
    spng_ctx_free(ctx);
    if (!buf || err) {
        free(buf);
        return ad_fail(AD_ERR_INTERNAL, "png encode: no output buffer: %s", spng_strerror(err));
    }
    *out = buf;
    *len = n;
    return AD_OK;
}

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    /* The in-memory destination lives here, beside the jump buffer, because libjpeg may
     * have allocated it when an error jumps back. */
    unsigned char *mem;
    unsigned long size;
} jpeg_err;

static void jpeg_err_exit(j_common_ptr cinfo)
{
    /* libjpeg's default handler calls exit(); return to the caller instead. */
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

int ad_jpeg_encode_gray(const uint8_t *pixels, int width, int height, int quality,
                        unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    AD_TRY(check_dims(width, height, "jpeg encode"));
    if (quality < 1 || quality > 100)
        return ad_fail(AD_ERR_ARG, "jpeg encode: quality %d outside 1..100", quality);
    struct jpeg_compress_struct cinfo;
    jpeg_err jerr;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg_err_exit;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(jerr.mem);
        return ad_fail(AD_ERR_INTERNAL, "jpeg encode %dx%d: %s", width, height, jerr.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &jerr.mem, &jerr.size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 1;
    cinfo.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * (size_t)width);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = jerr.mem;
    *len = (size_t)jerr.size;
    return AD_OK;
}

static int write_encoded(const char *path, int rc, unsigned char *buf, size_t len, int durable)
{
    if (rc != AD_OK)
        return ad_fail_ctx(rc, "%s", path);
    rc = durable ? ad_write_file_atomic(path, buf, len) : ad_write_file_replace(path, buf, len);
    free(buf);
    return rc;
}

int ad_png_write_gray(const char *path, const void *pixels, int width, int height, int bit_depth,
                      int durable)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = ad_png_encode_gray(pixels, width, height, bit_depth, &buf, &len);
    return write_encoded(path, rc, buf, len, durable);
}

int ad_jpeg_write_gray(const char *path, const uint8_t *pixels, int width, int height, int quality,
                       int durable)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = ad_jpeg_encode_gray(pixels, width, height, quality, &buf, &len);
    return write_encoded(path, rc, buf, len, durable);
}
