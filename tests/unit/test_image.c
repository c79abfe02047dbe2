/* Bad image files: every failure is a non-zero status and one message naming the file. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image.h"

#include <jpeglib.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot write %s", path);
    ck_assert(fwrite(data, 1, len, fp) == len);
    fclose(fp);
}

/* Writes the first `keep` bytes of tests/data/images/<name> (keep == 0: all) to dir/out,
 * optionally flipping one byte, and returns its path in `path`. */
static size_t copy_image(const char *name, const char *dir, const char *out, size_t keep,
                         long flip_at, char *path, size_t n)
{
    char src[1024];
    char *data;
    size_t len;
    tu_data_path(src, sizeof src, name);
    ck_assert_msg(ad_read_file(src, &data, &len) == AD_OK, "%s", ad_errmsg());
    if (keep == 0 || keep > len)
        keep = len;
    if (flip_at >= 0 && (size_t)flip_at < keep)
        data[flip_at] ^= 0x5a;
    snprintf(path, n, "%s/%s", dir, out);
    write_bytes(path, data, keep);
    free(data);
    return len;
}

static void expect_failure(const char *path, int code, const char *needle)
{
    ad_image img = {0, 0, NULL};
    tu_assert_fails(ad_image_read_gray8(path, AD_DEPTH16_HIGHBYTE, &img), code, needle);
    ck_assert_msg(strstr(ad_errmsg(), path) != NULL, "message '%s' does not name %s", ad_errmsg(),
                  path);
    ck_assert_msg(strchr(ad_errmsg(), '\n') == NULL, "message '%s' is not one line", ad_errmsg());
    ck_assert_ptr_null(img.pixels);
}

START_TEST(good_files_decode)
{
    const char *names[] = {"images/00000001_000.png", "images/1.jpg", "images/1-mask.png"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[1024];
        ad_image img;
        tu_data_path(p, sizeof p, names[i]);
        tu_assert_ok(ad_image_read_gray8(p, AD_DEPTH16_HIGHBYTE, &img));
        ck_assert_int_eq(img.width, 512);
        ck_assert_int_eq(img.height, 512);
        ad_image_free(&img);
    }
}
END_TEST

START_TEST(missing_and_unreadable)
{
    char dir[1024], p[1200];
    tu_tmpdir(dir, sizeof dir, "image_bad");
    snprintf(p, sizeof p, "%s/does_not_exist.png", dir);
    expect_failure(p, AD_ERR_IO, "does_not_exist.png");
    /* A directory cannot be read as a file. */
    ad_image img = {0, 0, NULL};
    ad_clear_error();
    ck_assert_int_ne(ad_image_read_gray8(dir, AD_DEPTH16_HIGHBYTE, &img), AD_OK);
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), dir));
}
END_TEST

START_TEST(empty_and_not_an_image)
{
    char dir[1024], p[1200];
    tu_tmpdir(dir, sizeof dir, "image_bad");
    snprintf(p, sizeof p, "%s/empty.png", dir);
    write_bytes(p, "", 0);
    expect_failure(p, AD_ERR_FORMAT, "empty");
    snprintf(p, sizeof p, "%s/report.png", dir);
    tu_write_text(p, "FINDINGS: no acute cardiopulmonary process.\n");
    expect_failure(p, AD_ERR_UNSUPPORTED, "not a PNG or JPEG");
    /* Signature only. */
    snprintf(p, sizeof p, "%s/sig.png", dir);
    write_bytes(p, "\x89PNG\r\n\x1a\n", 8);
    expect_failure(p, AD_ERR_FORMAT, "bad PNG");
    snprintf(p, sizeof p, "%s/soi.jpg", dir);
    write_bytes(p, "\xff\xd8\xff", 3);
    expect_failure(p, AD_ERR_FORMAT, "bad JPEG");
}
END_TEST

START_TEST(truncated_png)
{
    char dir[1024], p[1200];
    tu_tmpdir(dir, sizeof dir, "image_bad");
    size_t len = copy_image("images/00000001_000.png", dir, "half.png", 0, -1, p, sizeof p);
    copy_image("images/00000001_000.png", dir, "half.png", len / 2, -1, p, sizeof p);
    expect_failure(p, AD_ERR_FORMAT, "bad PNG");
    copy_image("images/00000001_000.png", dir, "header.png", 40, -1, p, sizeof p);
    expect_failure(p, AD_ERR_FORMAT, "bad PNG");
    /* A damaged byte inside the compressed data fails its CRC. */
    copy_image("images/00000001_000.png", dir, "flipped.png", 0, (long)(len / 3), p, sizeof p);
    expect_failure(p, AD_ERR_FORMAT, "bad PNG");
}
END_TEST

START_TEST(truncated_jpeg)
{
    char dir[1024], p[1200];
    tu_tmpdir(dir, sizeof dir, "image_bad");
    size_t len = copy_image("images/1.jpg", dir, "half.jpg", 0, -1, p, sizeof p);
    copy_image("images/1.jpg", dir, "half.jpg", len / 2, -1, p, sizeof p);
    expect_failure(p, AD_ERR_FORMAT, "bad JPEG");
    copy_image("images/1.jpg", dir, "header.jpg", 200, -1, p, sizeof p);
    expect_failure(p, AD_ERR_FORMAT, "bad JPEG");
    /* The process is still alive and the decoder still works after longjmp. */
    ad_image img;
    char good[1024];
    tu_data_path(good, sizeof good, "images/1.jpg");
    tu_assert_ok(ad_image_read_gray8(good, AD_DEPTH16_HIGHBYTE, &img));
    ad_image_free(&img);
}
END_TEST

START_TEST(decode_from_memory_matches_file)
{
    char p[1024];
    char *data;
    size_t len;
    ad_image a, b;
    tu_data_path(p, sizeof p, "images/2.jpg");
    tu_assert_ok(ad_read_file(p, &data, &len));
    tu_assert_ok(ad_image_decode_gray8(data, len, AD_DEPTH16_HIGHBYTE, "mem:2.jpg", &a));
    tu_assert_ok(ad_image_read_gray8(p, AD_DEPTH16_HIGHBYTE, &b));
    ck_assert_int_eq(a.width, b.width);
    ck_assert(memcmp(a.pixels, b.pixels, (size_t)a.width * (size_t)a.height) == 0);
    ad_image_free(&a);
    tu_assert_fails(ad_image_decode_gray8(data, 10, AD_DEPTH16_HIGHBYTE, "mem:2.jpg", &a),
                    AD_ERR_FORMAT, "mem:2.jpg");
    ck_assert_ptr_null(a.pixels);
    free(data);
    ad_image_free(&b);
}
END_TEST

/* The two inputs the decoder refuses rather than decode differently from OpenCV. */
START_TEST(unsupported_variants_fail_cleanly)
{
    char dir[1024], p[1200];
    tu_tmpdir(dir, sizeof dir, "image_unsupported");

    /* 16-bit RGB with gAMA 0.45455: libpng would use its 16-bit gamma tables. */
    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    ck_assert_ptr_nonnull(enc);
    spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ih = {4, 3, 16, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, 0};
    ck_assert_int_eq(spng_set_ihdr(enc, &ih), 0);
    ck_assert_int_eq(spng_set_gama(enc, 0.45455), 0);
    uint16_t px[4 * 3 * 3];
    for (size_t i = 0; i < sizeof px / sizeof *px; i++)
        px[i] = (uint16_t)(i * 5000);
    ck_assert_int_eq(spng_encode_image(enc, px, sizeof px, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
    size_t len;
    int err;
    void *png = spng_get_png_buffer(enc, &len, &err);
    ck_assert_ptr_nonnull(png);
    snprintf(p, sizeof p, "%s/rgb16_gamma.png", dir);
    write_bytes(p, png, len);
    free(png);
    spng_ctx_free(enc);
    expect_failure(p, AD_ERR_UNSUPPORTED, "gamma");

    /* A CMYK JPEG (OpenCV converts it with its own CMYK->gray). */
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *jpg = NULL;
    unsigned long jlen = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &jpg, &jlen);
    c.image_width = 8;
    c.image_height = 8;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char row[8 * 4];
    for (int i = 0; i < 8 * 4; i++)
        row[i] = (unsigned char)(i * 7);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    snprintf(p, sizeof p, "%s/cmyk.jpg", dir);
    write_bytes(p, jpg, jlen);
    jpeg_destroy_compress(&c);
    free(jpg);
    expect_failure(p, AD_ERR_UNSUPPORTED, "CMYK");
}
END_TEST

/* A 390-byte PNG whose header asks for 20000 x 20000 16-bit RGBA (3.2 GB decoded): refused
 * before allocating (found by tests/fuzz; the side limit alone let it through). */
START_TEST(decompression_bomb_refused)
{
    char dir[1024], p[1200];
    tu_tmpdir(dir, sizeof dir, "image_bomb");
    copy_image("bad_images/bomb-rgba16-20000.png", dir, "bomb.png", 0, -1, p, sizeof p);
    expect_failure(p, AD_ERR_FORMAT, "20000x20000 (16-bit, colour type 6) decodes to 3051 MB");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, good_files_decode);
    tcase_add_test(tc, missing_and_unreadable);
    tcase_add_test(tc, empty_and_not_an_image);
    tcase_add_test(tc, truncated_png);
    tcase_add_test(tc, truncated_jpeg);
    tcase_add_test(tc, decode_from_memory_matches_file);
    tcase_add_test(tc, unsupported_variants_fail_cleanly);
    tcase_add_test(tc, decompression_bomb_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
