/* JSON files are read strictly: one object, then only whitespace (as Python's json.load and
 * HuggingFace's loaders require); anything else is an error naming the file. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/json.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];

static void write_bytes(const char *name, const void *data, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

START_TEST(accepts_an_object_and_whitespace)
{
    char path[4200];
    static const char ok[] = " \t{\"a\": 1,\n \"b\": [true, null]}\r\n\n  ";
    write_bytes("ok.json", ok, sizeof ok - 1, path, sizeof path);
    cJSON *j;
    tu_assert_ok(ad_json_read_object(path, &j));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "a")->valueint, 1);
    cJSON_Delete(j);
}
END_TEST

START_TEST(refuses_what_follows_the_object)
{
    /* each case: the object, then something that is not whitespace, then more text */
    static const struct {
        const char *name;
        const char *data;
        size_t n;
        const char *want;
    } cases[] = {
        {"garbage.json", "{\"a\": 1} trailing {\"b\": 2}\n", 27, "after the JSON object at byte 9"},
        {"second.json", "{\"a\": 1}\n{\"a\": 2}\n", 18, "after the JSON object at byte 9"},
        {"bom_after.json", "{\"a\": 1}\xef\xbb\xbf\n", 12, "after the JSON object at byte 8"},
        {"ctrl.json", "{\"a\": 1}\n\x01\x02\n", 12, "after the JSON object at byte 9"},
        {"nul.json", "{\"a\": 1}\0\0 \n", 12, "after the JSON object at byte 8"},
        {"bom_first.json", "\xef\xbb\xbf{\"a\": 1}\n", 12, "byte-order mark"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4200];
        write_bytes(cases[i].name, cases[i].data, cases[i].n, path, sizeof path);
        cJSON *j = (cJSON *)1;
        tu_assert_fails(ad_json_read_object(path, &j), AD_ERR_FORMAT, cases[i].want);
        ck_assert_msg(strstr(ad_errmsg(), cases[i].name) != NULL, "%s", ad_errmsg());
        ck_assert_ptr_null(j);
    }
}
END_TEST

START_TEST(unreadable_files_are_errors)
{
    char path[4200], a[4200], b[4200];
    snprintf(a, sizeof a, "%s/loop_a.json", dir);
    snprintf(b, sizeof b, "%s/loop_b.json", dir);
    ck_assert_int_eq(symlink(b, a), 0);
    ck_assert_int_eq(symlink(a, b), 0);
    cJSON *j;
    tu_assert_fails(ad_json_read_object(a, &j), AD_ERR_IO, "loop_a.json");
    ck_assert_msg(strstr(ad_errmsg(), "symbolic links") != NULL, "%s", ad_errmsg());
    snprintf(path, sizeof path, "%s/folder.json", dir);
    tu_assert_ok(ad_mkdir_p(path));
    tu_assert_fails(ad_json_read_object(path, &j), AD_ERR_IO, "folder.json");
}
END_TEST

int main(void)
{
    tu_tmpdir(dir, sizeof dir, "json");
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, accepts_an_object_and_whitespace);
    tcase_add_test(tc, refuses_what_follows_the_object);
    tcase_add_test(tc, unreadable_files_are_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
