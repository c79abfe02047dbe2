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
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "includes itself");
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

/* Every bad line sits in the middle of an otherwise good file: an error must survive the good
 * lines after it (inih keeps calling the handler after a failure). */
static const char *const GOOD_HEAD = "; head\n[train]\nlr = 1e-4\n";
static const char *const GOOD_TAIL = "[train]\nepochs = 5\n[data]\nmax_words = 50\n";

static void bad_middle(const char *name, const char *bad_section, const char *bad_line,
                       const char *want1, const char *want2)
{
    char path[4200], text[2048];
    /* the bad line is line 5: head (3 lines), its section header (line 4), the line */
    snprintf(text, sizeof text, "%s[%s]\n%s\n%s", GOOD_HEAD, bad_section, bad_line, GOOD_TAIL);
    job(name, text, path, sizeof path);
    ad_config *cfg = fresh();
    char where[256];
    snprintf(where, sizeof where, "%s:5", name);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, where);
    ck_assert_msg(strstr(ad_errmsg(), want1) != NULL, "%s: '%s' lacks '%s'", name, ad_errmsg(),
                  want1);
    if (want2)
        ck_assert_msg(strstr(ad_errmsg(), want2) != NULL, "%s: '%s' lacks '%s'", name,
                      ad_errmsg(), want2);
    ck_assert_msg(strstr(ad_errmsg(), "cannot parse") == NULL, "%s: %s", name, ad_errmsg());
    ad_config_destroy(cfg);
}

START_TEST(errors_in_the_middle_survive)
{
    bad_middle("m_typo.ini", "train", "lrr = 3", "unknown key 'lrr' in section [train]",
               "did you mean 'lr'");
    bad_middle("m_typo2.ini", "adaptor", "num_layer = 3", "'num_layer'", "did you mean 'num_layers'");
    bad_middle("m_int.ini", "train", "batch_size = 12.5", "[train] batch_size", "integer");
    bad_middle("m_enum.ini", "adaptor", "mode = pooling", "[adaptor] mode", "pooled|tokens");
    bad_middle("m_range.ini", "train", "batch_size = 0", "[train] batch_size = 0 is out of range",
               "[1, 100000000]");
    bad_middle("m_frange.ini", "adaptor", "dropout = 1.5", "out of range", "[0, 1]");
    bad_middle("m_bool.ini", "data", "skip_bad_rows = maybe", "skip_bad_rows", NULL);
    bad_middle("m_section.ini", "trian", "lr = 1", "unknown section [trian]", "did you mean [train]");
    bad_middle("m_twice.ini", "train", "lr = 2", "given twice", NULL);
    bad_middle("m_job.ini", "job", "inclued = x.ini", "inclued", NULL);
    /* found by tests/fuzz/fuzz_ini.c: read as a value, stored, it would reload as a comment */
    bad_middle("m_comment.ini", "data", "views =; PA only", "[data] views = ; PA only begins with ';'",
               NULL);
    bad_middle("m_space.ini", "data", "manifest = a ///", "begins or ends with white space", NULL);
    bad_middle("m_ctrl.ini", "data", "manifest = a/\vb.csv", "[data] manifest: the value holds control "
               "character 0x0b", NULL);

    /* A line inih cannot parse, in the middle, is still reported by its own number. */
    char path[4200];
    job("m_garbage.ini", "[train]\nlr = 1e-4\nno equals sign here\nepochs = 5\n", path, sizeof path);
    ad_config *cfg = fresh();
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "m_garbage.ini:3: cannot parse");
    /* The first of two errors is the one reported. */
    job("m_two.ini", "[train]\nlr = 1e-4\nlrr = 1\nbatch_size = x\nepochs = 5\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "m_two.ini:3: unknown key 'lrr'");
    job("m_two2.ini", "[train]\nnope\nlrr = 1\nepochs = 5\n", path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, "m_two2.ini:2: cannot parse");
    ad_config_destroy(cfg);
}
END_TEST

START_TEST(same_values)
{
    ad_config *a = fresh(), *b = fresh();
    tu_assert_ok(ad_config_set_override(a, "train.lr=1e-3"));
    tu_assert_ok(ad_config_set_override(b, "train.lr=0.001"));
    ck_assert(ad_config_same(a, b, "train", "lr"));
    tu_assert_ok(ad_config_set_override(b, "train.lr=0.0011"));
    ck_assert(!ad_config_same(a, b, "train", "lr"));
    tu_assert_ok(ad_config_set_override(a, "data.views=PA, AP ,LL"));
    tu_assert_ok(ad_config_set_override(b, "data.views=PA,AP,LL"));
    ck_assert(ad_config_same(a, b, "data", "views"));
    tu_assert_ok(ad_config_set_override(b, "data.views=PA,AP"));
    ck_assert(!ad_config_same(a, b, "data", "views"));
    tu_assert_ok(ad_config_set_override(b, "data.views=PA,AP,LL,"));
    ck_assert(!ad_config_same(a, b, "data", "views"));
    tu_assert_ok(ad_config_set_override(a, "data.skip_bad_rows=yes"));
    tu_assert_ok(ad_config_set_override(b, "data.skip_bad_rows=true"));
    ck_assert(ad_config_same(a, b, "data", "skip_bad_rows"));
    tu_assert_ok(ad_config_set_override(a, "train.max_steps=5"));
    ck_assert(!ad_config_same(a, b, "train", "max_steps")); /* set vs unset */
    ck_assert(ad_config_same(a, b, "train", "epochs"));
    /* a dump read back as text is the same configuration */
    char *text;
    tu_assert_ok(ad_config_dump(a, &text));
    ad_config *c = fresh();
    tu_assert_ok(ad_config_load_text(c, text, "dump"));
    for (const ad_cfg_key *k = ad_config_schema; k->section; k++)
        ck_assert_msg(ad_config_same(a, c, k->section, k->key), "[%s] %s", k->section, k->key);
    free(text);
    tu_assert_fails(ad_config_load_text(c, "[train]\nlr = 1\nnope = 2\nepochs = 3\n", "saved"),
                    AD_ERR_CONFIG, "saved:3: unknown key 'nope'");
    ad_config_destroy(a);
    ad_config_destroy(b);
    ad_config_destroy(c);
}
END_TEST

START_TEST(integer_ranges)
{
    ad_config *cfg = fresh();
    /* The schema accepted any integer here and the range path crashed on a malformed range. */
    tu_assert_fails(ad_config_set_override(cfg, "eval.pca_components=-1"), AD_ERR_CONFIG,
                    "--set eval.pca_components: [eval] pca_components = -1 is out of range [0, 4096]");
    tu_assert_fails(ad_config_set_override(cfg, "eval.pca_components=4097"), AD_ERR_CONFIG,
                    "out of range [0, 4096]");
    tu_assert_ok(ad_config_set_override(cfg, "eval.pca_components=0"));
    tu_assert_ok(ad_config_set_override(cfg, "eval.pca_components=4096"));
    /* Integer bounds compare as integers (not through double rounding). */
    tu_assert_ok(ad_config_set_override(cfg, "train.seed=9223372036854775807"));
    tu_assert_fails(ad_config_set_override(cfg, "train.seed=-1"), AD_ERR_CONFIG,
                    "[0, 9223372036854775807]");
    tu_assert_fails(ad_config_set_override(cfg, "train.seed=9223372036854775808"), AD_ERR_CONFIG,
                    "not a valid integer");
    tu_assert_fails(ad_config_set_override(cfg, "segment.batch_size=0"), AD_ERR_CONFIG,
                    "[1, 1000000]");
    ck_assert(strchr(ad_errmsg(), '|') == NULL);
    ad_config_destroy(cfg);

    /* Independently of the parser: every numeric key's range is "min|max" with both ends
     * numbers of the key's type, min <= max, and the default inside. */
    for (const ad_cfg_key *k = ad_config_schema; k->section; k++) {
        if ((k->type != AD_CFG_INT && k->type != AD_CFG_FLOAT) || !k->choices)
            continue;
        double lo, hi;
        int used = -1;
        if (k->type == AD_CFG_INT) {
            long long a, b;
            ck_assert_msg(sscanf(k->choices, "%lld|%lld%n", &a, &b, &used) == 2 &&
                              used == (int)strlen(k->choices),
                          "[%s] %s: range '%s'", k->section, k->key, k->choices);
            ck_assert_msg(a <= b, "[%s] %s: empty range", k->section, k->key);
            if (k->def) {
                long long d = strtoll(k->def, NULL, 10);
                ck_assert_msg(d >= a && d <= b, "[%s] %s: default outside", k->section, k->key);
            }
        } else {
            ck_assert_msg(sscanf(k->choices, "%lf|%lf%n", &lo, &hi, &used) == 2 &&
                              used == (int)strlen(k->choices),
                          "[%s] %s: range '%s'", k->section, k->key, k->choices);
            ck_assert_msg(lo <= hi, "[%s] %s: empty range", k->section, k->key);
            if (k->def) {
                double d = strtod(k->def, NULL);
                ck_assert_msg(d >= lo && d <= hi, "[%s] %s: default outside", k->section, k->key);
            }
        }
    }
}
END_TEST

START_TEST(set_values_name_the_set_argument)
{
    char path[4200];
    job("blame.ini", "[train]\nlr = 1e-4\n[data]\nviews = PA\n", path, sizeof path);
    ad_config *cfg = fresh();
    tu_assert_ok(ad_config_load_file(cfg, path));
    tu_assert_ok(ad_config_set_override(cfg, "data.views=PA,,AP"));
    char **items;
    int n;
    tu_assert_fails(ad_config_list(cfg, "data", "views", &items, &n), AD_ERR_CONFIG,
                    "--set data.views");
    ck_assert_msg(strstr(ad_errmsg(), "blame.ini") == NULL, "%s", ad_errmsg());
    /* where each value came from: file:line, the --set argument, or the job file for defaults */
    ck_assert_str_eq(ad_config_where(cfg, "data", "views"), "--set data.views");
    char want[4300];
    snprintf(want, sizeof want, "%s:2", path);
    ck_assert_str_eq(ad_config_where(cfg, "train", "lr"), want);
    ck_assert_str_eq(ad_config_where(cfg, "train", "epochs"), path);
    /* a file value that does not list cleanly names the file and line */
    job("blame2.ini", "[train]\nlr = 1e-4\n[data]\nviews = PA,,AP\nmax_words = 50\n", path,
        sizeof path);
    ad_config *c2 = fresh();
    tu_assert_ok(ad_config_load_file(c2, path));
    tu_assert_fails(ad_config_list(c2, "data", "views", &items, &n), AD_ERR_CONFIG,
                    "blame2.ini:4");
    /* a misspelt --set key gets a suggestion */
    tu_assert_fails(ad_config_set_override(cfg, "train.epoch=3"), AD_ERR_CONFIG,
                    "did you mean 'epochs'");
    tu_assert_fails(ad_config_set_override(cfg, "trian.lr=3"), AD_ERR_CONFIG,
                    "did you mean [train]");
    ad_config_destroy(cfg);
    ad_config_destroy(c2);
}
END_TEST

/* Writes a job file, loads it and expects a failure at `where` mentioning `needle`. */
static void load_fails(ad_config *cfg, const char *name, const char *text, const char *where,
                       const char *needle)
{
    char path[4200];
    job(name, text, path, sizeof path);
    tu_assert_fails(ad_config_load_file(cfg, path), AD_ERR_CONFIG, where);
    ck_assert_msg(strstr(ad_errmsg(), needle), "%s: %s", name, ad_errmsg());
}

START_TEST(includes_and_directories)
{
    char path[4200], sub[4300];
    ad_config *cfg = fresh();
    /* a missing include, a file including itself, two including each other, a folder as an
     * include: each followed by good lines */
    load_fails(cfg, "i_missing.ini", "[job]\ninclude = nowhere.ini\n[train]\nlr = 1e-4\nepochs = 3\n",
               "i_missing.ini:2", "nowhere.ini: cannot open job file: No such file");
    load_fails(cfg, "i_self.ini", "[job]\ninclude = i_self.ini\n[train]\nlr = 1e-4\nepochs = 3\n",
               "i_self.ini:2", "includes itself");
    job("i_b.ini", "[job]\ninclude = ./i_a.ini\n[train]\nepochs = 3\n", path, sizeof path);
    load_fails(cfg, "i_a.ini", "[job]\ninclude = i_b.ini\n[train]\nlr = 1e-4\n", "i_b.ini:2",
               "cycle");
    snprintf(sub, sizeof sub, "%s/folder.ini", dir);
    tu_assert_ok(ad_mkdir_p(sub));
    load_fails(cfg, "i_dir.ini", "[job]\ninclude = folder.ini\n[train]\nlr = 1e-4\nepochs = 3\n",
               "i_dir.ini:2", "folder.ini: is a directory");
    /* a folder as the job file */
    tu_assert_fails(ad_config_load_file(cfg, sub), AD_ERR_CONFIG, "folder.ini: is a directory");
    /* an error inside an included file names that file and line, and the include line */
    job("i_inner.ini", "[train]\nlr = 1e-4\nlrr = 1\nepochs = 3\n", path, sizeof path);
    load_fails(cfg, "i_outer.ini", "[job]\ninclude = i_inner.ini\n[train]\nbatch_size = 8\n",
               "i_outer.ini:2", "i_inner.ini:3: unknown key 'lrr'");
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
    tcase_add_test(tc, errors_in_the_middle_survive);
    tcase_add_test(tc, integer_ranges);
    tcase_add_test(tc, same_values);
    tcase_add_test(tc, set_values_name_the_set_argument);
    tcase_add_test(tc, includes_and_directories);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
