/* The manifest reader on hand-written CSV whose expected fields are spelled out here:
 * RFC 4180 quoting across lines, CRLF / LF, BOM, line numbers of rows that span lines,
 * column and row errors, labels under each policy, splits, views and path resolution. */
#include "testutil.h"

#include "adaptor/config.h"
#include "adaptor/error.h"
#include "adaptor/manifest.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const reports[] = {"impression", "findings"};
static const char *const views[] = {"PA", "AP"};
static const char *const labels[] = {"Edema", "Cardiomegaly"};

static ad_manifest_spec spec(ad_label_policy policy)
{
    ad_manifest_spec s = {.image_column = "Path",
                          .report_columns = reports,
                          .n_report_columns = 2,
                          .split_column = "split",
                          .view_column = "ViewPosition",
                          .views = views,
                          .n_views = 2,
                          .label_columns = labels,
                          .n_label_columns = 2,
                          .label_policy = policy};
    return s;
}

/* Writes text (with "\n" replaced by eol) to <fresh dir>/<name>; path receives the file. */
static void fixture(const char *tag, const char *name, const char *text, const char *eol, char *dir,
                    char *path, size_t n)
{
    tu_tmpdir(dir, n, tag);
    snprintf(path, n, "%s/%s", dir, name);
    size_t len = strlen(text), el = strlen(eol);
    char *buf = malloc(len * el + 1), *o = buf;
    for (const char *s = text; *s; s++) {
        if (*s == '\n') {
            memcpy(o, eol, el);
            o += el;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    tu_write_text(path, buf);
    free(buf);
}

/* Row 0 spans lines 2-4, a blank line follows, row 1 is line 6, row 2 (no final newline)
 * line 7. */
static const char *const quoted =
    "Path,ViewPosition,split,findings,impression,Edema,Cardiomegaly,other\n"
    "a/1.png,PA,train,\"Heart size normal, lungs clear.\n"
    "No \"\"acute\"\" disease,\n"
    "none.\",\"1. Clear.\",1,0,zzz\n"
    "\n"
    "b/2.png, AP ,test,plain findings,\"\",0.0,1.0,\n"
    "/abs/3.png,LATERAL,train,f,i,1,1,\"x,y\"";

static void check_quoted(const char *eol, const char *bom)
{
    char dir[1024], path[1200], text[2048];
    snprintf(text, sizeof text, "%s%s", bom, quoted);
    fixture("manifest_quoted", "m.csv", text, eol, dir, path, sizeof path);
    ad_manifest_spec s = spec(AD_LABEL_STRICT);
    ad_manifest *m;
    tu_assert_ok(ad_manifest_open(path, &s, &m));
    ck_assert_int_eq(ad_manifest_rows(m), 3);
    const ad_manifest_row *r = ad_manifest_row_at(m, 0);
    char want[2048];
    ck_assert_int_eq(r->id, 0);
    ck_assert_int_eq(r->line, 2);
    snprintf(want, sizeof want, "%s/a/1.png", dir);
    ck_assert_str_eq(r->image, want);
    ck_assert_str_eq(r->reports[0], "1. Clear.");
    /* A line end inside quotes is data and keeps its bytes. */
    snprintf(want, sizeof want, "Heart size normal, lungs clear.%sNo \"acute\" disease,%snone.",
             eol, eol);
    ck_assert_str_eq(r->reports[1], want);
    ck_assert_str_eq(r->split, "train");
    ck_assert_str_eq(r->view, "PA");
    ck_assert_int_eq(r->labels[0], 1);
    ck_assert_int_eq(r->labels[1], 0);
    ck_assert_ptr_null(r->mask);
    r = ad_manifest_row_at(m, 1);
    ck_assert_int_eq(r->id, 1);
    ck_assert_int_eq(r->line, 6);
    ck_assert_str_eq(r->view, "AP"); /* spaces around an unquoted field are trimmed */
    ck_assert_str_eq(r->reports[0], "");
    ck_assert_str_eq(r->reports[1], "plain findings");
    ck_assert_int_eq(r->labels[0], 0);
    ck_assert_int_eq(r->labels[1], 1);
    r = ad_manifest_row_at(m, 2);
    ck_assert_int_eq(r->line, 7);
    ck_assert_str_eq(r->image, "/abs/3.png");
    ck_assert_ptr_null(ad_manifest_row_at(m, 3));
    ck_assert_ptr_null(ad_manifest_row_at(m, -1));
    ck_assert_str_eq(ad_manifest_label_name(m, 1), "Cardiomegaly");
    ad_manifest_close(m);
}

START_TEST(quoted_lf)
{
    check_quoted("\n", "");
}
END_TEST
START_TEST(quoted_crlf)
{
    check_quoted("\r\n", "");
}
END_TEST
START_TEST(quoted_crlf_bom)
{
    check_quoted("\r\n", "\xEF\xBB\xBF");
}
END_TEST
START_TEST(quoted_lf_bom)
{
    check_quoted("\n", "\xEF\xBB\xBF");
}
END_TEST
/* A bare CR ends a row for libcsv, so it ends a line for the row numbers too (rows used to
 * keep the line of the previous row: found by tests/fuzz/fuzz_manifest.c). */
START_TEST(quoted_cr)
{
    check_quoted("\r", "");
}
END_TEST

static int open_text(const char *text, ad_label_policy policy, ad_manifest **m, char *path,
                     size_t n)
{
    char dir[1024];
    fixture("manifest_err", "bad.csv", text, "\n", dir, path, n);
    ad_manifest_spec s = spec(policy);
    return ad_manifest_open(path, &s, m);
}

#define HEAD "Path,ViewPosition,split,findings,impression,Edema,Cardiomegaly\n"

START_TEST(missing_column)
{
    char path[1200];
    ad_manifest *m;
    tu_assert_fails(open_text("Path,ViewPosition,split,findings,Edema,Cardiomegaly\n"
                              "a.png,PA,train,f,1,0\n",
                              AD_LABEL_STRICT, &m, path, sizeof path),
                    AD_ERR_FORMAT, "missing column 'impression'");
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), path));
}
END_TEST

START_TEST(short_row_names_its_line)
{
    char path[1200];
    ad_manifest *m;
    /* Row 0 spans lines 2-4; the short row starts on line 5. */
    tu_assert_fails(open_text(HEAD "a.png,PA,train,\"f\nf\nf\",i,1,0\n"
                                   "b.png,PA,train,f\n",
                              AD_LABEL_STRICT, &m, path, sizeof path),
                    AD_ERR_FORMAT, ":5: row has 4 fields, the header has 7");
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), path));
    /* A long row too, with the row spanning lines reported where it starts (line 3). */
    tu_assert_fails(open_text(HEAD "a.png,PA,train,f,i,1,0\n"
                                   "b.png,PA,train,\"f\n\",i,1,0,extra\n",
                              AD_LABEL_STRICT, &m, path, sizeof path),
                    AD_ERR_FORMAT, ":3: row has 8 fields");
}
END_TEST

START_TEST(malformed_quotes)
{
    char path[1200];
    ad_manifest *m;
    tu_assert_fails(
        open_text(HEAD "a.png,PA,train,\"f\"x,i,1,0\n", AD_LABEL_STRICT, &m, path, sizeof path),
        AD_ERR_FORMAT, ":2: malformed CSV");
    tu_assert_fails(open_text(HEAD "a.png,PA,train,f,i,1,0\nb.png,PA,train,\"never closed\n\n",
                              AD_LABEL_STRICT, &m, path, sizeof path),
                    AD_ERR_FORMAT, ":3: unterminated quoted field");
}
END_TEST

START_TEST(empty_and_header_only)
{
    char path[1200];
    ad_manifest *m;
    tu_assert_fails(open_text("", AD_LABEL_STRICT, &m, path, sizeof path), AD_ERR_FORMAT,
                    "empty file");
    tu_assert_fails(open_text("\xEF\xBB\xBF\n\n", AD_LABEL_STRICT, &m, path, sizeof path),
                    AD_ERR_FORMAT, "empty file");
    tu_assert_ok(open_text(HEAD, AD_LABEL_STRICT, &m, path, sizeof path));
    ck_assert_int_eq(ad_manifest_rows(m), 0);
    int64_t *idx, n = -1;
    tu_assert_ok(ad_manifest_select(m, "train", NULL, 0, 0, &idx, &n));
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(idx);
    tu_assert_fails(ad_manifest_select(m, "train", NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n),
                    AD_ERR_FORMAT, "no rows in split 'train' with views PA,AP");
    ad_manifest_close(m);
    tu_assert_fails(
        ad_manifest_open("/nonexistent/m.csv", &(ad_manifest_spec){.image_column = "Path"}, &m),
        AD_ERR_IO, "/nonexistent/m.csv");
}
END_TEST

START_TEST(duplicate_paths)
{
    char path[1200];
    ad_manifest *m;
    tu_assert_fails(open_text(HEAD "a.png,PA,train,f,i,1,0\n"
                                   "b.png,PA,train,f,i,1,0\n"
                                   "a.png,AP,valid,f,i,1,0\n"
                                   "a.png,AP,train,\"f\n\",i,1,0\n",
                              AD_LABEL_STRICT, &m, path, sizeof path),
                    AD_ERR_FORMAT, "duplicate ids");
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), "lines 2 and 5"));
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), "a.png"));
    /* The same image in two splits is not a duplicate within a split. */
    tu_assert_ok(open_text(HEAD "a.png,PA,train,f,i,1,0\na.png,PA,test,f,i,1,0\n", AD_LABEL_STRICT,
                           &m, path, sizeof path));
    ad_manifest_close(m);
}
END_TEST

static const char *const splits_text = HEAD "r0.png,PA,train,f,i,1,0\n"
                                            "r1.png,LATERAL,train,f,i,1,0\n"
                                            "r2.png,AP,test,f,i,1,0\n"
                                            "r3.png,AP,train,f,i,1,0\n"
                                            "r4.png,LL,valid,f,i,1,0\n"
                                            "r5.png,PA,test,f,i,1,0\n";

static void assert_ids(const int64_t *idx, int64_t n, const int64_t *want, int64_t nwant)
{
    ck_assert_int_eq(n, nwant);
    for (int64_t i = 0; i < n; i++)
        ck_assert_int_eq(idx[i], want[i]);
}

START_TEST(splits_and_views_keep_ids)
{
    char path[1200];
    ad_manifest *m;
    tu_assert_ok(open_text(splits_text, AD_LABEL_STRICT, &m, path, sizeof path));
    int64_t *idx, n;
    tu_assert_ok(ad_manifest_select(m, "train", NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n));
    assert_ids(idx, n, (const int64_t[]){0, 3}, 2); /* spec views PA, AP */
    free(idx);
    tu_assert_ok(ad_manifest_select(m, "test", NULL, 0, 0, &idx, &n));
    assert_ids(idx, n, (const int64_t[]){2, 5}, 2);
    free(idx);
    static const char *const lat[] = {"LATERAL", "LL"};
    tu_assert_ok(ad_manifest_select(m, NULL, lat, 2, 0, &idx, &n));
    assert_ids(idx, n, (const int64_t[]){1, 4}, 2);
    free(idx);
    tu_assert_ok(ad_manifest_select(m, "train", lat, 0, 0, &idx, &n)); /* every view */
    assert_ids(idx, n, (const int64_t[]){0, 1, 3}, 3);
    free(idx);
    tu_assert_fails(ad_manifest_select(m, "valid", NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n),
                    AD_ERR_FORMAT, "no rows in split 'valid'");
    tu_assert_fails(ad_manifest_select(m, "nosuch", lat, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n),
                    AD_ERR_FORMAT, "no rows in split 'nosuch'");
    ck_assert_int_eq(ad_manifest_row_at(m, 3)->id, 3);
    ck_assert_int_eq(ad_manifest_row_at(m, 3)->line, 5);
    ad_manifest_close(m);
}
END_TEST

START_TEST(labels_by_policy)
{
    const char *text = HEAD "a.png,PA,train,f,i,1,\n"
                            "b.png,PA,train,f,i,-1,0\n"
                            "c.png,PA,train,f,i,-1.0,1.0\n";
    char path[1200];
    ad_manifest *m;
    tu_assert_fails(open_text(text, AD_LABEL_STRICT, &m, path, sizeof path), AD_ERR_FORMAT,
                    ":2: column 'Cardiomegaly': label is empty");
    tu_assert_ok(open_text(text, AD_LABEL_AS_ZERO, &m, path, sizeof path));
    static const int8_t zero[3][2] = {{1, 0}, {0, 0}, {0, 1}};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(ad_manifest_row_at(m, i)->labels[k], zero[i][k]);
    ad_manifest_close(m);
    tu_assert_ok(open_text(text, AD_LABEL_UNCERTAIN, &m, path, sizeof path));
    static const int8_t unc[3][2] = {{1, -1}, {-1, 0}, {-1, 1}};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(ad_manifest_row_at(m, i)->labels[k], unc[i][k]);
    ad_manifest_close(m);
    tu_assert_fails(open_text(HEAD "a.png,PA,train,f,i,1,0\nb.png,PA,train,f,i,2,0\n",
                              AD_LABEL_UNCERTAIN, &m, path, sizeof path),
                    AD_ERR_FORMAT, ":3: column 'Edema': label '2' is not 0, 1, -1 or empty");
    tu_assert_fails(
        open_text(HEAD "a.png,PA,train,f,i,yes,0\n", AD_LABEL_AS_ZERO, &m, path, sizeof path),
        AD_ERR_FORMAT, "label 'yes'");
}
END_TEST

START_TEST(image_paths_and_masks)
{
    char dir[1024], path[1200];
    fixture("manifest_paths", "m.csv",
            "Path,findings,impression,mask\nimg/a.png,f,i,masks/a.png\n/data/b.png,f,i,\n", "\n",
            dir, path, sizeof path);
    ad_manifest_spec s = spec(AD_LABEL_STRICT);
    s.split_column = "";
    s.view_column = NULL;
    s.n_label_columns = 0;
    s.mask_column = "mask";
    ad_manifest *m;
    tu_assert_ok(ad_manifest_open(path, &s, &m));
    char want[2048];
    const ad_manifest_row *r = ad_manifest_row_at(m, 0);
    snprintf(want, sizeof want, "%s/img/a.png", dir);
    ck_assert_str_eq(r->image, want);
    snprintf(want, sizeof want, "%s/masks/a.png", dir);
    ck_assert_str_eq(r->mask, want);
    ck_assert_str_eq(r->split, "");
    ck_assert_str_eq(r->view, "");
    r = ad_manifest_row_at(m, 1);
    ck_assert_str_eq(r->image, "/data/b.png");
    ck_assert_ptr_null(r->mask);
    /* No view column: the spec's views do not filter. */
    int64_t *idx, n;
    tu_assert_ok(ad_manifest_select(m, NULL, NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n));
    ck_assert_int_eq(n, 2);
    free(idx);
    ad_manifest_close(m);

    s.image_root = "/srv/images";
    tu_assert_ok(ad_manifest_open(path, &s, &m));
    ck_assert_str_eq(ad_manifest_row_at(m, 0)->image, "/srv/images/img/a.png");
    ck_assert_str_eq(ad_manifest_row_at(m, 0)->mask, "/srv/images/masks/a.png");
    ck_assert_str_eq(ad_manifest_row_at(m, 1)->image, "/data/b.png");
    ad_manifest_close(m);

    /* A manifest named without a folder: paths stay relative to the working directory. */
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    s.image_root = NULL;
    int rc = ad_manifest_open("m.csv", &s, &m);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == AD_OK, "%s", ad_errmsg());
    ck_assert_str_eq(ad_manifest_row_at(m, 0)->image, "img/a.png");
    ad_manifest_close(m);
}
END_TEST

START_TEST(from_config)
{
    char dir[1024], path[1200];
    fixture("manifest_cfg", "m.csv",
            "Path,impression,findings,split,ViewPosition,Edema\n"
            "a.png,i,f,train,PA,1\nb.png,i,f,train,LATERAL,\nc.png,i,f,test,AP,0\n",
            "\n", dir, path, sizeof path);
    ad_config *cfg;
    tu_assert_ok(ad_config_create(&cfg));
    ad_manifest *m;
    tu_assert_fails(ad_manifest_open_config(cfg, AD_LABEL_AS_ZERO, NULL, &m), AD_ERR_CONFIG,
                    "manifest");
    tu_assert_ok(ad_config_set(cfg, "data", "manifest", path, "test"));
    tu_assert_ok(ad_config_set(cfg, "data", "label_columns", "Edema", "test"));
    tu_assert_ok(ad_manifest_open_config(cfg, AD_LABEL_AS_ZERO, NULL, &m));
    ck_assert_int_eq(ad_manifest_rows(m), 3);
    ck_assert_int_eq(ad_manifest_n_reports(m), 2);
    ck_assert_int_eq(ad_manifest_n_labels(m), 1);
    ck_assert_int_eq(ad_manifest_row_at(m, 1)->labels[0], 0);
    ck_assert_str_eq(ad_manifest_row_at(m, 0)->reports[0], "i"); /* impression first */
    int64_t *idx, n;
    tu_assert_ok(ad_manifest_select(m, "train", NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n));
    assert_ids(idx, n, (const int64_t[]){0}, 1); /* default views PA,AP */
    free(idx);
    ad_manifest_close(m);
    tu_assert_ok(ad_config_set(cfg, "data", "image_column", "NoSuch", "test"));
    tu_assert_fails(ad_manifest_open_config(cfg, AD_LABEL_AS_ZERO, NULL, &m), AD_ERR_FORMAT,
                    "missing column 'NoSuch'");
    ad_config_destroy(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quoted_lf);
    tcase_add_test(tc, quoted_crlf);
    tcase_add_test(tc, quoted_crlf_bom);
    tcase_add_test(tc, quoted_lf_bom);
    tcase_add_test(tc, quoted_cr);
    tcase_add_test(tc, missing_column);
    tcase_add_test(tc, short_row_names_its_line);
    tcase_add_test(tc, malformed_quotes);
    tcase_add_test(tc, empty_and_header_only);
    tcase_add_test(tc, duplicate_paths);
    tcase_add_test(tc, splits_and_views_keep_ids);
    tcase_add_test(tc, labels_by_policy);
    tcase_add_test(tc, image_paths_and_masks);
    tcase_add_test(tc, from_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
