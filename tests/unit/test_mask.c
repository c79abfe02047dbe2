/* Mask IO and geometry (src/io/mask.c, mask_boxes.c) against cv2 + numpy (tests/ref/mask_ref.py,
 * run by the ref.mask_ref fixture), and box tables from hand-written CSVs. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/image_write.h"
#include "adaptor/mask.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_raw(const char *path, size_t n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    unsigned char *b = malloc(n + 1);
    size_t got = fread(b, 1, n + 1, fp);
    fclose(fp);
    ck_assert_msg(got == n, "%s: %zu bytes, expected %zu", path, got, n);
    return b;
}

static FILE *open_cases(void)
{
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    ck_assert_msg(tmp != NULL, "ADAPTOR_TEST_TMP not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/mask_ref/cases.txt", tmp);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "%s missing: run ctest (the ref.mask_ref fixture writes it)", path);
    return fp;
}

static void compare(const unsigned char *got, const unsigned char *want, int w, int h,
                    const char *what)
{
    if (memcmp(got, want, (size_t)w * h) == 0)
        return;
    for (int i = 0; i < w * h; i++)
        ck_assert_msg(got[i] == want[i], "%s: pixel (x %d, y %d) = %d, cv2/numpy %d", what, i % w,
                      i / w, got[i], want[i]);
}

START_TEST(nearest_and_geometry_match_cv2)
{
    FILE *fp = open_cases();
    char line[8192];
    int nn = 0, ng = 0, nb = 0;
    while (fgets(line, sizeof line, fp)) {
        char kind[16], png[4096], ref[4096];
        if (sscanf(line, "%15s", kind) != 1)
            continue;
        if (strcmp(kind, "nearest") == 0) {
            int dw, dh;
            ck_assert_int_eq(sscanf(line, "%*s %4095s %d %d %4095s", png, &dw, &dh, ref), 4);
            ad_image m;
            /* the 0/255 PNG read raw: bit 7 gives 0/1 and keeps the layout */
            tu_assert_ok(ad_mask_read(png, 7, &m));
            unsigned char *want = read_raw(ref, (size_t)dw * dh);
            unsigned char *got = malloc((size_t)dw * dh);
            tu_assert_ok(ad_resize_nearest_u8(m.pixels, m.width, m.height, got, dw, dh));
            for (int i = 0; i < dw * dh; i++)
                want[i] = want[i] != 0;
            compare(got, want, dw, dh, line);
            free(got);
            free(want);
            ad_image_free(&m);
            nn++;
        } else if (strcmp(kind, "geom") == 0) {
            int bit, resize, crop, top, left;
            ck_assert_int_eq(sscanf(line, "%*s %4095s %d %d %d %d %d %4095s", png, &bit, &resize,
                                    &crop, &top, &left, ref),
                             7);
            ad_image m;
            tu_assert_ok(ad_mask_read(png, bit, &m));
            unsigned char *want = read_raw(ref, (size_t)crop * crop);
            unsigned char *got = malloc((size_t)crop * crop);
            tu_assert_ok(ad_mask_preprocess(&m, resize, crop, top, left, got));
            compare(got, want, crop, crop, line);
            free(got);
            free(want);
            ad_image_free(&m);
            ng++;
        } else if (strcmp(kind, "boxes") == 0) {
            int w, h, n, pos;
            ck_assert_int_eq(sscanf(line, "%*s %d %d %d%n", &w, &h, &n, &pos), 3);
            ad_box b[8];
            const char *p = line + pos;
            for (int i = 0; i < n; i++) {
                int used;
                ck_assert_int_eq(sscanf(p, "%lf %lf %lf %lf%n", &b[i].x, &b[i].y, &b[i].w,
                                        &b[i].h, &used),
                                 4);
                p += used;
            }
            ck_assert_int_eq(sscanf(p, "%4095s", ref), 1);
            ad_image m;
            tu_assert_ok(ad_mask_from_boxes(b, n, w, h, &m));
            unsigned char *want = read_raw(ref, (size_t)w * h);
            compare(m.pixels, want, w, h, line);
            free(want);
            ad_image_free(&m);
            nb++;
        }
    }
    fclose(fp);
    ck_assert_msg(nn >= 30 && ng >= 80 && nb >= 10, "too few cases: %d nearest, %d geometry, %d boxes",
                  nn, ng, nb);
}
END_TEST

static void write_png(const char *path, const uint8_t *px, int w, int h)
{
    tu_assert_ok(ad_png_write_gray(path, px, w, h, 8, 0));
}

START_TEST(binary_masks_and_errors)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir, "mask");
    uint8_t px[12] = {0, 255, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255};
    snprintf(path, sizeof path, "%s/a.png", dir);
    write_png(path, px, 4, 3);
    ad_image m;
    tu_assert_ok(ad_mask_read(path, -1, &m));
    ck_assert_int_eq(m.width, 4);
    ck_assert_int_eq(m.height, 3);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(m.pixels[i], px[i] == 255);
    ad_image_free(&m);
    /* 0/1 masks too */
    for (int i = 0; i < 12; i++)
        px[i] = px[i] ? 1 : 0;
    write_png(path, px, 4, 3);
    tu_assert_ok(ad_mask_read(path, -1, &m));
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(m.pixels[i], px[i]);
    ad_image_free(&m);
    /* a bitmask value is not binary: the message names the file, the pixel and the value */
    px[6] = 6;
    write_png(path, px, 4, 3);
    tu_assert_fails(ad_mask_read(path, -1, &m), AD_ERR_FORMAT, "mask value 6 at pixel (x 2, y 1)");
    tu_assert_fails(ad_mask_read(path, -1, &m), AD_ERR_FORMAT, path);
    /* ... but fine in bit mode */
    tu_assert_ok(ad_mask_read(path, 2, &m));
    ck_assert_int_eq(m.pixels[6], 1);
    ck_assert_int_eq(m.pixels[1], 0);
    ad_image_free(&m);
    px[6] = 255;
    write_png(path, px, 4, 3);
    tu_assert_fails(ad_mask_read(path, -1, &m), AD_ERR_FORMAT, "mixes the values 1 and 255");
    snprintf(path, sizeof path, "%s/missing.png", dir);
    tu_assert_fails(ad_mask_read(path, -1, &m), AD_ERR_IO, "missing.png");
    ad_box bad = {1, 2, -3, 4};
    tu_assert_fails(ad_mask_from_boxes(&bad, 1, 10, 10, &m), AD_ERR_FORMAT, "negative");
    /* the real lung mask of tests/data is binary */
    tu_data_path(path, sizeof path, "images/1-mask.png");
    tu_assert_ok(ad_mask_read(path, -1, &m));
    size_t fg = 0;
    for (size_t i = 0; i < (size_t)m.width * m.height; i++)
        fg += m.pixels[i];
    ck_assert_msg(fg > 1000 && fg < (size_t)m.width * m.height, "lung mask foreground %zu", fg);
    ad_image_free(&m);
}
END_TEST

START_TEST(box_table_groups_rows)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir, "boxes");
    snprintf(path, sizeof path, "%s/boxes.csv", dir);
    tu_write_text(path, "patientId,x,y,width,height,split,Target\n"
                        "a.png,10,20,30,40,train,1\n"
                        "b.png,,,,,train,0\n"
                        "a.png,1.5,2.5,3,4,train,1\n"
                        "\"c,1.png\",5,5,5,5,test,1\n"
                        "/abs/d.png,0,0,1,1,train,1\n"
                        "a.png,7,7,7,7,test,1\n");
    const char *cols[4] = {"x", "y", "width", "height"};
    ad_box_table *t;
    tu_assert_ok(ad_box_table_read(path, NULL, "patientId", "split", cols, &t));
    ck_assert_int_eq(ad_box_table_images(t), 5);
    const ad_box_image *a = ad_box_table_at(t, 0);
    char want[4300];
    snprintf(want, sizeof want, "%s/a.png", dir);
    ck_assert_str_eq(a->image, want);
    ck_assert_str_eq(a->split, "train");
    ck_assert_int_eq(a->line, 2);
    ck_assert_int_eq(a->nboxes, 2);
    ck_assert(a->boxes[0].x == 10 && a->boxes[0].h == 40);
    ck_assert(a->boxes[1].x == 1.5 && a->boxes[1].y == 2.5);
    const ad_box_image *b = ad_box_table_at(t, 1);
    ck_assert_int_eq(b->nboxes, 0);
    ck_assert_int_eq(b->line, 3);
    ck_assert(strstr(ad_box_table_at(t, 2)->image, "c,1.png") != NULL);
    ck_assert_str_eq(ad_box_table_at(t, 3)->image, "/abs/d.png");
    /* the same image in another split is another image */
    ck_assert_str_eq(ad_box_table_at(t, 4)->split, "test");
    ck_assert_int_eq(ad_box_table_at(t, 4)->nboxes, 1);
    ck_assert_ptr_null(ad_box_table_at(t, 5));
    ad_box_table_close(t);

    tu_write_text(path, "patientId,x,y,width,height\na.png,1,2,3,4\na.png,1,x,3,4\n");
    tu_assert_fails(ad_box_table_read(path, NULL, "patientId", NULL, cols, &t), AD_ERR_FORMAT,
                    "boxes.csv:3: column y: 'x'");
    tu_write_text(path, "patientId,x,y,width,height\na.png,1,,3,4\n");
    tu_assert_fails(ad_box_table_read(path, NULL, "patientId", NULL, cols, &t), AD_ERR_FORMAT,
                    "boxes.csv:2: some box fields are empty");
    tu_write_text(path, "patientId,x,y,w,height\na.png,1,2,3,4\n");
    tu_assert_fails(ad_box_table_read(path, NULL, "patientId", NULL, cols, &t), AD_ERR_FORMAT,
                    "no column 'width'");
    tu_write_text(path, "patientId,x,y,width,height\na.png,1,2,3\n");
    tu_assert_fails(ad_box_table_read(path, NULL, "patientId", NULL, cols, &t), AD_ERR_FORMAT,
                    "boxes.csv:2: 4 fields");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mask");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, nearest_and_geometry_match_cv2);
    tcase_add_test(tc, binary_masks_and_errors);
    tcase_add_test(tc, box_table_groups_rows);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
