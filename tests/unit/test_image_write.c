/* PNG (8/16-bit) and JPEG writing, read back through the image module: 8-bit exact,
 * 16-bit as the high byte (which catches a byte-order slip), JPEG close to the source;
 * bad arguments and unwritable paths fail with a message. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image.h"
#include "adaptor/image_write.h"

#include <stdlib.h>
#include <string.h>

enum { W = 37, H = 23 };

START_TEST(test_png8_exact)
{
    char dir[4096], path[4096];
    tu_tmpdir(dir, sizeof dir, "imgw8");
    tu_assert_ok(ad_path_join(path, sizeof path, dir, "a.png"));
    uint8_t pix[W * H];
    for (int i = 0; i < W * H; i++)
        pix[i] = (uint8_t)((i * 97 + i / W) & 255);
    tu_assert_ok(ad_png_write_gray(path, pix, W, H, 8, 1));
    ad_image img;
    tu_assert_ok(ad_image_read_gray8(path, AD_DEPTH16_HIGHBYTE, &img));
    ck_assert_int_eq(img.width, W);
    ck_assert_int_eq(img.height, H);
    ck_assert(memcmp(img.pixels, pix, sizeof pix) == 0);
    ad_image_free(&img);
}
END_TEST

START_TEST(test_png16_high_byte)
{
    char dir[4096], path[4096];
    tu_tmpdir(dir, sizeof dir, "imgw16");
    tu_assert_ok(ad_path_join(path, sizeof path, dir, "a.png"));
    uint16_t pix[W * H];
    for (int i = 0; i < W * H; i++) /* high and low bytes differ everywhere */
        pix[i] = (uint16_t)(0x0102 + (unsigned)i * 61u);
    tu_assert_ok(ad_png_write_gray(path, pix, W, H, 16, 1));
    unsigned char head[26];
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fread(head, 1, sizeof head, fp), sizeof head);
    fclose(fp);
    ck_assert_int_eq(head[24], 16); /* IHDR bit depth */
    ck_assert_int_eq(head[25], 0);  /* grayscale */
    ad_image img;
    tu_assert_ok(ad_image_read_gray8(path, AD_DEPTH16_HIGHBYTE, &img));
    int bad = 0;
    for (int i = 0; i < W * H; i++)
        bad += img.pixels[i] != (pix[i] >> 8);
    ck_assert_msg(bad == 0, "%d pixels differ from the high byte", bad);
    ad_image_free(&img);
}
END_TEST

START_TEST(test_jpeg_close)
{
    char dir[4096], path[4096];
    tu_tmpdir(dir, sizeof dir, "imgwj");
    tu_assert_ok(ad_path_join(path, sizeof path, dir, "a.jpg"));
    enum { JW = 64, JH = 48 };
    uint8_t pix[JW * JH];
    for (int y = 0; y < JH; y++)
        for (int x = 0; x < JW; x++)
            pix[y * JW + x] = (uint8_t)(40 + 2 * x + y);
    tu_assert_ok(ad_jpeg_write_gray(path, pix, JW, JH, 90, 1));
    ad_image img;
    tu_assert_ok(ad_image_read_gray8(path, AD_DEPTH16_HIGHBYTE, &img));
    ck_assert_int_eq(img.width, JW);
    ck_assert_int_eq(img.height, JH);
    int worst = 0;
    for (int i = 0; i < JW * JH; i++) {
        int d = abs((int)img.pixels[i] - (int)pix[i]);
        worst = d > worst ? d : worst;
    }
    ck_assert_msg(worst <= 4, "JPEG q90 of a smooth ramp off by %d", worst);
    ad_image_free(&img);
}
END_TEST

START_TEST(test_errors)
{
    uint8_t pix[4] = {0};
    unsigned char *buf = NULL;
    size_t len = 0;
    tu_assert_fails(ad_png_encode_gray(pix, 0, 2, 8, &buf, &len), AD_ERR_ARG, "bad image size");
    tu_assert_fails(ad_png_encode_gray(pix, 2, 2, 12, &buf, &len), AD_ERR_ARG, "bit depth 12");
    tu_assert_fails(ad_jpeg_encode_gray(pix, 2, 2, 0, &buf, &len), AD_ERR_ARG, "quality 0");
    ck_assert_ptr_null(buf);
    tu_assert_fails(ad_png_write_gray("/nonexistent-dir/a.png", pix, 2, 2, 8, 1), AD_ERR_IO,
                    "/nonexistent-dir/a.png");
    tu_assert_fails(ad_jpeg_write_gray("/nonexistent-dir/a.jpg", pix, 2, 2, 90, 1), AD_ERR_IO,
                    "/nonexistent-dir/a.jpg");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image_write");
    TCase *tc = tcase_create("image_write");
    tcase_add_test(tc, test_png8_exact);
    tcase_add_test(tc, test_png16_high_byte);
    tcase_add_test(tc, test_jpeg_close);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
