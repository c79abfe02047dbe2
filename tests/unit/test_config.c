/* Job files: defaults, loading, overrides, type checks and the messages users see. */
#include "testutil.h"

#include "adaptor/config.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <stdlib.h>
#include <string.h>

static char dir[4096];

static void job(const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, name);
    tu_write_text(path, text);
}

static ad_config *fresh(void)
{
    ad_config *cfg;
    tu_assert_ok(ad_config_create(&cfg));
    return cfg;
}

START_TEST(defaults_follow_the_spec)
{
    ad_config *cfg = fresh();
    int64_t v;
    double f;
    tu_assert_ok(ad_config_int(cfg, "train", "batch_size", &v));
    ck_assert_int_eq(v, 1024);
    tu_assert_ok(ad_config_int(cfg, "adaptor", "num_heads", &v));
    ck_assert_int_eq(v, 12);
    tu_assert_ok(ad_config_float(cfg, "train", "lr", &f));
    ck_assert_double_eq_tol(f, 2e-5, 1e-12);
    tu_assert_ok(ad_config_float(cfg, "adaptor", "image_weight", &f));
    ck_assert_double_eq_tol(f, 0.75, 1e-12);
    ck_assert_str_eq(ad_config_get(cfg, "adaptor", "mode"), "pooled");
    ck_assert_ptr_null(ad_config_get(cfg, "train", "max_steps"));
    char **items;
    int n;
    tu_assert_ok(ad_config_list(cfg, "data", "report_columns", &items, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(items[0], "impression");
    ck_assert_str_eq(items[1], "findings");
    free(items);
    ad_config_destroy(cfg);
}
END_TEST

START_TEST(file_then_overrides)
{
    char path[4200];
    job("a.ini",
        "; a comment\n[train]\nlr = 1e-4\nbatch_size=64\n\n[data]\nmanifest = corpus/m.csv\n"
        "views = PA , AP,LATERAL\n[output]\ndir = /abs/run\n",
        path, sizeof path);
    ad_config *cfg = fresh();
    tu_assert_ok(ad_config_load_file(cfg, path));
    double lr;
    int64_t b;
    tu_assert_ok(ad_config_float(cfg, "train", "lr", &lr));
    ck_assert_double_eq_tol(lr, 1e-4, 1e-15);
    tu_assert_ok(ad_config_int(cfg, "train", "batch_size", &b));
    ck_assert_int_eq(b, 64);
    /* Relative paths in a job file are relative to the job file's folder. */
    char want[4300];
    snprintf(want, sizeof want, "%s/corpus/m.csv", dir);
    ck_assert_str_eq(ad_config_get(cfg, "data", "manifest"), want);
    ck_assert_str_eq(ad_config_get(cfg, "output", "dir"), "/abs/run");
    char **items;
    int n;
    tu_assert_ok(ad_config_list(cfg, "data", "views", &items, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(items[2], "LATERAL");
    free(items);

    /* Overrides win over the file, in command-line order. */
    tu_assert_ok(ad_config_set_override(cfg, "train.lr=3e-4"));
    tu_assert_ok(ad_config_set_override(cfg, "train.lr=5e-4"));
    tu_assert_ok(ad_config_set_override(cfg, "train.max_steps=7"));
    tu_assert_ok(ad_config_float(cfg, "train", "lr", &lr));
    ck_assert_double_eq_tol(lr, 5e-4, 1e-15);
    tu_assert_ok(ad_config_int(cfg, "train", "max_steps", &b));
    ck_assert_int_eq(b, 7);
    /* An empty override unsets an optional key. */
    tu_assert_ok(ad_config_set_override(cfg, "train.max_steps="));
    ck_assert(!ad_config_is_set(cfg, "train", "max_steps"));
    ad_config_destroy(cfg);
}
END_TEST

START_TEST(errors_name_key_and_file)
{
    char path[4200];
    ad_config *cfg = fresh();
    job("unknown_key.ini", "[train]\nlr = 1e-4\nlrr = 3\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "unknown_key.ini:3");
    ck_assert(strstr(ad_errmsg(), "lrr") != NULL);

    job("unknown_section.ini", "[trian]\nlr = 1\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "unknown section [trian]");

    job("bad_int.ini", "[train]\n\nbatch_size = 12.5\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "bad_int.ini:3");
    ck_assert(strstr(ad_errmsg(), "batch_size") && strstr(ad_errmsg(), "integer"));

    job("bad_float.ini", "[train]\nlr = fast\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "[train] lr");

    job("bad_enum.ini", "[adaptor]\nmode = pooling\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "pooled|tokens");

    job("range.ini", "[adaptor]\ndropout = 1.5\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "out of range");

    job("bool.ini", "[data]\nskip_bad_rows = maybe\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "skip_bad_rows");

    job("twice.ini", "[train]\nlr = 1\nlr = 2\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "given twice");

    job("nosection.ini", "lr = 1\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "outside any [section]");

    job("garbage.ini", "[train]\nthis line has no equals sign\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "garbage.ini:2");

    tu_assert_fails(ad_config_load_file(cfg, "/nonexistent/job.ini"), AD_ERR_CONFIG,
                    "/nonexistent/job.ini");

    tu_assert_fails(ad_config_set_override(cfg, "train.nope=1"), AD_ERR_CONFIG, "nope");
    tu_assert_fails(ad_config_set_override(cfg, "trainlr=1"), AD_ERR_CONFIG, "section.key=value");
    tu_assert_fails(ad_config_set_override(cfg, "train.epochs=ten"), AD_ERR_CONFIG,
                    "--set train.epochs");
    tu_assert_fails(ad_config_set_override(cfg, "train.lr="), AD_ERR_CONFIG, "needs a value");
    ad_config_destroy(cfg);
}
END_TEST

START_TEST(required_keys)
{
    char path[4200];
    job("req.ini", "[train]\nlr = 1e-4\n", path, sizeof path);
    ad_config *cfg = fresh();
    tu_assert_ok(ad_config_load_file(cfg, path));
    tu_assert_fails(ad_config_require(cfg, "data", "manifest"), AD_ERR_CONFIG,
                    "missing required key [data] manifest");
    ck_assert(strstr(ad_errmsg(), "req.ini") != NULL);
    int64_t v;
    tu_assert_fails(ad_config_int(cfg, "train", "max_steps", &v), AD_ERR_CONFIG, "max_steps");
    ad_config_destroy(cfg);
}
END_TEST

START_TEST(dump_round_trips)
{
    char path[4200], path2[4200];
    job("rt.ini", "[train]\nlr = 1e-4\nmax_steps = 9\n[data]\nmanifest = m.csv\n", path, sizeof path);
    ad_config *a = fresh(), *b = fresh();
    tu_assert_ok(ad_config_load_file(a, path));
    tu_assert_ok(ad_config_set_override(a, "adaptor.num_layers=3"));
    char *text, *text2;
    tu_assert_ok(ad_config_dump(a, &text));
    ck_assert(strstr(text, "num_layers = 3") != NULL);
    job("rt2.ini", text, path2, sizeof path2);
    tu_assert_ok(ad_config_load_file(b, path2));
    for (size_t i = 0; ad_config_schema[i].section; i++) {
        const char *s = ad_config_schema[i].section, *k = ad_config_schema[i].key;
        const char *va = ad_config_get(a, s, k), *vb = ad_config_get(b, s, k);
        ck_assert_msg((va == NULL) == (vb == NULL), "[%s] %s set in one only", s, k);
        if (va)
            ck_assert_str_eq(va, vb);
    }
    tu_assert_ok(ad_config_write(a, dir));
    char cfgpath[4300];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.ini", dir);
    ad_config *c = fresh();
    tu_assert_ok(ad_config_load_file(c, cfgpath));
    ck_assert_str_eq(ad_config_get(c, "train", "max_steps"), "9");
    tu_assert_ok(ad_config_dump(b, &text2));
    free(text);
    free(text2);
    ad_config_destroy(a);
    ad_config_destroy(b);
    ad_config_destroy(c);
}
END_TEST

START_TEST(include_then_override)
{
    char base[4200], sub[4300], path[4300];
    snprintf(sub, sizeof sub, "%s/base", dir);
    tu_assert_ok(ad_mkdir_p(sub));
    snprintf(base, sizeof base, "%s/base/paper.ini", dir);
    tu_write_text(base, "[train]\nlr = 2e-5\nepochs = 50\n[data]\nmanifest = mimic/master.csv\n");
    job("run1.ini", "[job]\ninclude = base/paper.ini\n[train]\nepochs = 5\n", path, sizeof path);
    ad_config *cfg = fresh();
    tu_assert_ok(ad_config_load_file(cfg, path));
    int64_t e;
    double lr;
    tu_assert_ok(ad_config_int(cfg, "train", "epochs", &e));
    ck_assert_int_eq(e, 5);
    tu_assert_ok(ad_config_float(cfg, "train", "lr", &lr));
    ck_assert_double_eq_tol(lr, 2e-5, 1e-12);
    /* paths in the included file are relative to the included file */
    char want[4400];
    snprintf(want, sizeof want, "%s/base/mimic/master.csv", dir);
    ck_assert_str_eq(ad_config_get(cfg, "data", "manifest"), want);
    /* ".." and "." are folded away */
    job("dots.ini", "[output]\ndir = ./a/../b/./c/..\n", path, sizeof path);
    tu_assert_ok(ad_config_load_file(cfg, path));
    snprintf(want, sizeof want, "%s/b", dir);
    ck_assert_str_eq(ad_config_get(cfg, "output", "dir"), want);
    ad_config_destroy(cfg);

    cfg = fresh();
    job("late.ini", "[train]\nepochs = 5\n[job]\ninclude = base/paper.ini\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "must come before");
    job("missing.ini", "[job]\ninclude = nowhere.ini\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "nowhere.ini");
    ck_assert(strstr(ad_errmsg(), "missing.ini:2") != NULL);
    job("self.ini", "[job]\ninclude = self.ini\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "deep");
    job("badkey.ini", "[job]\ninclued = base/paper.ini\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "inclued");
    ad_config_destroy(cfg);
}
END_TEST

/* libinih stops at 199 bytes per line and parses the rest as a line of its own: a comment's
 * tail could set a key. Found by tests/fuzz/fuzz_ini.c. */
START_TEST(long_lines_refused_and_dumps_reload)
{
    char path[4200], text[1024], pad[200];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    /* The long line in the middle; its tail "epochs = 999" must not be read as a key. */
    snprintf(text, sizeof text, "[train]\nlr = 1e-4 ; %.*sepochs = 999\nbatch_size = 8\n", 187,
             pad);
    job("long.ini", text, path, sizeof path);
    ad_config *cfg = fresh();
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "long.ini:2: line longer than");
    ck_assert_str_eq(ad_config_get(cfg, "train", "epochs"), "50");
    ad_config_destroy(cfg);

    /* A value that fits, from a source whose name does not fit beside it: the stored
     * configuration drops the origin note and still loads to the same value. */
    cfg = fresh();
    char origin[200], value[160];
    snprintf(origin, sizeof origin, "%.120s.ini:7", pad);
    snprintf(value, sizeof value, "/runs/%.140s", pad);
    tu_assert_ok(ad_config_set(cfg, "output", "dir", value, origin));
    tu_assert_ok(ad_config_set(cfg, "train", "lr", "3e-4", origin));
    tu_assert_ok(ad_config_write(cfg, dir));
    snprintf(path, sizeof path, "%s/config.ini", dir);
    ad_config *again = fresh();
    tu_assert_ok(ad_config_load_file(again, path));
    ck_assert_str_eq(ad_config_get(again, "output", "dir"), value);
    ck_assert_str_eq(ad_config_get(again, "train", "lr"), "3e-4");
    ad_config_destroy(again);
    ad_config_destroy(cfg);
}
END_TEST

int main(void)
{
    tu_tmpdir(dir, sizeof dir, "config");
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults_follow_the_spec);
    tcase_add_test(tc, file_then_overrides);
    tcase_add_test(tc, errors_name_key_and_file);
    tcase_add_test(tc, required_keys);
    tcase_add_test(tc, dump_round_trips);
    tcase_add_test(tc, include_then_override);
    tcase_add_test(tc, long_lines_refused_and_dumps_reload);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
