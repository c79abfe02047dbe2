/* The synthetic corpus, checked from the outside: determinism, a manifest parsed by
 * libcsv's reader, images and masks decoded by the image module, report text judged by
 * keyword lists written here (not the generator's tables), masks against labels and
 * laterality, and the tiny models against the shapes HuggingFace / torchvision expect. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image.h"
#include "adaptor/safetensors.h"
#include "adaptor/synth.h"

#include <cjson/cJSON.h>
#include <csv.h>
#include <ctype.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ROWS 40
#define SEED 7

static char corpus[4096];

/* One corpus shared by the read-only tests (Check runs without fork here). */
static const char *the_corpus(void)
{
    if (!corpus[0]) {
        tu_tmpdir(corpus, sizeof corpus, "synth_a");
        ad_synth_opts o = {corpus, N_ROWS, SEED, 0};
        tu_assert_ok(ad_synth_corpus(&o, MPI_COMM_WORLD));
    }
    return corpus;
}

/* ---- the manifest through libcsv's parser ------------------------------------------ */

typedef struct table {
    char ***rows; /* rows[r][c] */
    int nrows, ncols, cur_cols, cap;
    char **cur;
} table;

static void on_field(void *s, size_t len, void *data)
{
    table *t = data;
    if (!t->cur)
        t->cur = calloc(64, sizeof(char *));
    if (t->cur_cols >= 64)
        ck_abort_msg("manifest row with more than 64 fields");
    char *f = malloc(len + 1);
    memcpy(f, s, len);
    f[len] = '\0';
    t->cur[t->cur_cols++] = f;
}

static void on_row(int c, void *data)
{
    (void)c;
    table *t = data;
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->rows = realloc(t->rows, (size_t)t->cap * sizeof *t->rows);
    }
    if (t->nrows == 0)
        t->ncols = t->cur_cols;
    ck_assert_msg(t->cur_cols == t->ncols, "manifest row %d has %d fields, header %d", t->nrows,
                  t->cur_cols, t->ncols);
    t->rows[t->nrows++] = t->cur;
    t->cur = NULL;
    t->cur_cols = 0;
}

static void read_manifest(const char *dir, table *t)
{
    char path[4096], *text;
    size_t len;
    tu_assert_ok(ad_path_join(path, sizeof path, dir, "manifest.csv"));
    tu_assert_ok(ad_read_file(path, &text, &len));
    memset(t, 0, sizeof *t);
    struct csv_parser p;
    ck_assert_int_eq(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
    ck_assert_msg(csv_parse(&p, text, len, on_field, on_row, t) == len, "csv: %s",
                  csv_strerror(csv_error(&p)));
    ck_assert_int_eq(csv_fini(&p, on_field, on_row, t), 0);
    csv_free(&p);
    free(text);
}

static void free_table(table *t)
{
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
}

static int col(const table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->rows[0][c], name) == 0)
            return c;
    ck_abort_msg("manifest has no column '%s'", name);
    return -1;
}

/* ---- report judgement, independent of the generator ----------------------------------- */

#define NF 6
static const char *const names[NF] = {"Cardiomegaly", "Pleural Effusion", "Lung Opacity",
                                      "Pneumothorax", "Nodule",           "Support Devices"};
/* Word prefixes that mention each finding. */
static const char *const keywords[NF][6] = {
    {"cardiomegaly", "enlarged", "enlargement", NULL},
    {"effusion", NULL},
    {"opacit", "consolidation", "airspace", NULL},
    {"pneumothorax", NULL},
    {"nodule", "nodular", NULL},
    {"tube", "catheter", "pacemaker", "device", "line", NULL}};
static const char *const negation_cues[] = {"no",   "not",    "without", "negative",
                                            "free", "absent", NULL};

enum { SIDE_NONE, SIDE_R, SIDE_L, SIDE_BOTH };

typedef struct judgement {
    int positive, negated; /* sentences mentioning the finding without / with a cue */
    int side;              /* laterality of the positive mentions */
} judgement;

static int has_word(char **w, int n, const char *word)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w[i], word) == 0)
            return 1;
    return 0;
}

static void judge_sentence(char *s, judgement *j)
{
    char *w[128];
    int n = 0;
    for (char *p = s; *p;) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        if (!*p)
            break;
        w[n++] = p;
        while (isalnum((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
        if (n == 128)
            ck_abort_msg("sentence with more than 128 words");
    }
    int negated = 0;
    for (int c = 0; negation_cues[c]; c++)
        negated |= has_word(w, n, negation_cues[c]);
    for (int k = 0; k < NF; k++) {
        int mention = 0;
        for (int i = 0; i < n && !mention; i++)
            for (int q = 0; keywords[k][q]; q++)
                if (strncmp(w[i], keywords[k][q], strlen(keywords[k][q])) == 0)
                    mention = 1;
        if (!mention)
            continue;
        if (negated) {
            j[k].negated++;
            continue;
        }
        j[k].positive++;
        int side = has_word(w, n, "bilateral")                          ? SIDE_BOTH
                   : has_word(w, n, "left") && !has_word(w, n, "right") ? SIDE_L
                   : has_word(w, n, "right") && !has_word(w, n, "left") ? SIDE_R
                                                                        : SIDE_NONE;
        if (side != SIDE_NONE)
            j[k].side = side;
    }
}

/* Lower-cases, joins lines, splits at '.', ';' or ':' followed by a space or the end. */
static void judge_text(const char *text, judgement *j)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        *p = *p == '\n' ? ' ' : (char)tolower((unsigned char)*p);
    char *start = s;
    for (char *p = s;; p++) {
        int end = !*p;
        if (end || ((*p == '.' || *p == ';' || *p == ':') && (p[1] == ' ' || !p[1]))) {
            char c = *p;
            *p = '\0';
            judge_sentence(start, j);
            if (end || !c)
                break;
            start = p + 1;
        }
    }
    free(s);
}

/* ---- tests --------------------------------------------------------------------------- */

START_TEST(test_deterministic)
{
    const char *a = the_corpus();
    char b[4096], c[4096], cmd[9000];
    tu_tmpdir(b, sizeof b, "synth_b");
    tu_tmpdir(c, sizeof c, "synth_c");
    ad_synth_opts ob = {b, N_ROWS, SEED, 0}, oc = {c, AD_SYNTH_MIN_N, SEED + 1, 0};
    tu_assert_ok(ad_synth_corpus(&ob, MPI_COMM_WORLD));
    tu_assert_ok(ad_synth_corpus(&oc, MPI_COMM_WORLD));
    snprintf(cmd, sizeof cmd, "diff -r -q '%s' '%s'", a, b);
    ck_assert_msg(system(cmd) == 0, "same seed, different trees: %s", cmd);
    static const char *const must_differ[] = {"manifest.csv", "models/bert-tiny/model.safetensors",
                                              "models/dinov2-tiny/model.safetensors",
                                              "models/resnet-tiny/model.safetensors"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "cmp -s '%s/%s' '%s/%s'", a, must_differ[i], c, must_differ[i]);
        ck_assert_msg(system(cmd) != 0, "seeds %d and %d give the same %s", SEED, SEED + 1,
                      must_differ[i]);
    }
    /* The vocabulary is the generator's, not the seed's. */
    snprintf(cmd, sizeof cmd,
             "cmp -s '%s/models/bert-tiny/vocab.txt' '%s/models/bert-tiny/vocab.txt'", a, c);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_refuses_existing)
{
    const char *a = the_corpus();
    ad_synth_opts o = {a, N_ROWS, SEED, 0};
    tu_assert_fails(ad_synth_corpus(&o, MPI_COMM_WORLD), AD_ERR_ARG, "--force");
    ad_synth_opts small = {a, 5, SEED, 1};
    tu_assert_fails(ad_synth_corpus(&small, MPI_COMM_WORLD), AD_ERR_ARG, "n = 5");
    char d[4096];
    tu_tmpdir(d, sizeof d, "synth_force");
    ad_synth_opts f = {d, AD_SYNTH_MIN_N, 3, 0};
    tu_assert_ok(ad_synth_corpus(&f, MPI_COMM_WORLD));
    f.force = 1;
    tu_assert_ok(ad_synth_corpus(&f, MPI_COMM_WORLD));
}
END_TEST

static int png_bit_depth(const char *path)
{
    unsigned char h[26];
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    size_t got = fread(h, 1, sizeof h, fp);
    fclose(fp);
    ck_assert_uint_eq(got, sizeof h);
    if (memcmp(h, "\x89PNG", 4) != 0)
        return h[0] == 0xFF && h[1] == 0xD8 ? -1 : 0; /* -1: JPEG */
    return h[24];
}

START_TEST(test_manifest_images_masks)
{
    const char *dir = the_corpus();
    table t;
    read_manifest(dir, &t);
    ck_assert_int_eq(t.nrows, N_ROWS + 1);
    int c_path = col(&t, "Path"), c_mask = col(&t, "mask"), c_split = col(&t, "split");
    int c_view = col(&t, "ViewPosition"), c_find = col(&t, "findings"),
        c_imp = col(&t, "impression");
    int c_lab[NF];
    for (int k = 0; k < NF; k++)
        c_lab[k] = col(&t, names[k]);
    /* Bit k of the mask is the k-th finding column in manifest order. */
    int bit[NF];
    for (int k = 0; k < NF; k++) {
        bit[k] = 0;
        for (int q = 0; q < NF; q++)
            bit[k] += c_lab[q] < c_lab[k];
    }
    int splits[3] = {0, 0, 0}, views[3] = {0, 0, 0}, fmts[3] = {0, 0, 0}, lab_count[NF] = {0};
    int sides_checked = 0, multiline = 0, numbered = 0, negations = 0;
    for (int r = 1; r < t.nrows; r++) {
        char **row = t.rows[r];
        const char *split = row[c_split], *view = row[c_view];
        splits[0] += strcmp(split, "train") == 0;
        splits[1] += strcmp(split, "valid") == 0;
        splits[2] += strcmp(split, "test") == 0;
        views[0] += strcmp(view, "PA") == 0;
        views[1] += strcmp(view, "AP") == 0;
        views[2] += strcmp(view, "LATERAL") == 0;
        multiline += strchr(row[c_find], '\n') != NULL;
        numbered += strncmp(row[c_imp], "1. ", 3) == 0;

        char ipath[4096], mpath[4096];
        tu_assert_ok(ad_path_join(ipath, sizeof ipath, dir, row[c_path]));
        tu_assert_ok(ad_path_join(mpath, sizeof mpath, dir, row[c_mask]));
        int depth = png_bit_depth(ipath);
        fmts[depth == 8 ? 0 : (depth == 16 ? 1 : 2)]++;
        ck_assert_msg(depth == 8 || depth == 16 || depth == -1, "%s: not PNG 8/16 or JPEG", ipath);
        ck_assert_int_eq(png_bit_depth(mpath), 8);
        ad_image img, mask;
        tu_assert_ok(ad_image_read_gray8(ipath, AD_DEPTH16_HIGHBYTE, &img));
        tu_assert_ok(ad_image_read_gray8(mpath, AD_DEPTH16_HIGHBYTE, &mask));
        ck_assert_msg(img.width == mask.width && img.height == mask.height,
                      "row %d: image %dx%d, mask %dx%d", r, img.width, img.height, mask.width,
                      mask.height);
        ck_assert(img.width >= 300 && img.width <= 600 && img.height >= 300 && img.height <= 600);
        size_t np = (size_t)img.width * (size_t)img.height;
        /* An image, not a flat field. */
        double sum = 0, sum2 = 0;
        for (size_t i = 0; i < np; i++) {
            sum += img.pixels[i];
            sum2 += (double)img.pixels[i] * img.pixels[i];
        }
        double mean = sum / (double)np;
        ck_assert_msg(sqrt(sum2 / (double)np - mean * mean) > 20, "row %d: flat image", r);

        judgement j[NF];
        memset(j, 0, sizeof j);
        judge_text(row[c_find], j);
        judge_text(row[c_imp], j);
        int frontal = strcmp(view, "LATERAL") != 0;
        for (int k = 0; k < NF; k++) {
            const char *lab = row[c_lab[k]];
            ck_assert_msg(strcmp(lab, "0") == 0 || strcmp(lab, "1") == 0, "row %d %s = '%s'", r,
                          names[k], lab);
            int present = lab[0] == '1';
            lab_count[k] += present;
            negations += j[k].negated;
            if (present)
                ck_assert_msg(j[k].positive > 0,
                              "row %d: %s = 1 but the report never affirms it:\n%s\n%s", r,
                              names[k], row[c_find], row[c_imp]);
            else
                ck_assert_msg(j[k].positive == 0,
                              "row %d: %s = 0 but the report affirms it:\n%s\n%s", r, names[k],
                              row[c_find], row[c_imp]);
            /* Where the mask has bit k, and on which side of the image. */
            size_t cnt = 0, left_half = 0;
            for (size_t i = 0; i < np; i++)
                if (mask.pixels[i] & (1u << bit[k])) {
                    cnt++;
                    left_half += (int)(i % (size_t)mask.width) < mask.width / 2;
                }
            ck_assert_msg((cnt > 0) == present, "row %d: %s label %d but %zu mask pixels", r,
                          names[k], present, cnt);
            int lateral_finding = k != 0 && k != 5; /* all but heart and devices */
            if (present && frontal && lateral_finding) {
                /* The patient's right is the image's left on a frontal film. */
                if (j[k].side == SIDE_R)
                    ck_assert_msg(left_half == cnt, "row %d: right %s drawn on the left", r,
                                  names[k]);
                else if (j[k].side == SIDE_L)
                    ck_assert_msg(left_half == 0, "row %d: left %s drawn on the right", r,
                                  names[k]);
                else
                    ck_assert_msg(j[k].side == SIDE_BOTH && left_half > 0 && left_half < cnt,
                                  "row %d: %s side %d", r, names[k], j[k].side);
                sides_checked++;
            }
        }
        /* (Check asserts cost a pipe write each here: test first, assert once.) */
        size_t bad = 0;
        for (size_t i = 0; i < np; i++)
            bad += mask.pixels[i] >= (1u << NF);
        ck_assert_msg(bad == 0, "row %d: %zu mask values with unknown bits", r, bad);
        ad_image_free(&img);
        ad_image_free(&mask);
    }
    ck_assert_msg(splits[0] + splits[1] + splits[2] == N_ROWS, "unknown split names");
    ck_assert(splits[1] > 0 && splits[2] > 0 && splits[0] >= N_ROWS * 7 / 10);
    ck_assert(views[0] + views[1] + views[2] == N_ROWS && views[0] > 0 && views[1] > 0);
    ck_assert_msg(fmts[0] > N_ROWS / 2 && fmts[1] > 0 && fmts[2] > 0, "formats %d/%d/%d", fmts[0],
                  fmts[1], fmts[2]);
    for (int k = 0; k < NF; k++)
        ck_assert_msg(lab_count[k] > 0 && lab_count[k] < N_ROWS / 2, "%s: %d of %d", names[k],
                      lab_count[k], N_ROWS);
    ck_assert(sides_checked > 0 && multiline > 0 && numbered > 0 && negations > N_ROWS);
    free_table(&t);
}
END_TEST

/* ---- the tiny models -------------------------------------------------------------------- */

static cJSON *read_json(const char *dir, const char *rel)
{
    char path[4096], *text;
    tu_assert_ok(ad_path_join(path, sizeof path, dir, rel));
    tu_assert_ok(ad_read_file(path, &text, NULL));
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "%s: bad JSON", path);
    free(text);
    return j;
}

static int jint(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    ck_assert_msg(cJSON_IsNumber(v), "config has no number '%s'", key);
    return v->valueint;
}

static const char *jstr(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    ck_assert_msg(cJSON_IsString(v), "config has no string '%s'", key);
    return v->valuestring;
}

/* Asserts the tensor exists, is F32 with this shape; returns it. */
static const ad_st_tensor *expect(const ad_safetensors *st, const char *name, int ndim, int64_t d0,
                                  int64_t d1, int64_t d2, int64_t d3)
{
    const ad_st_tensor *t = ad_st_find(st, name);
    ck_assert_msg(t != NULL, "%s: no tensor %s", ad_st_path(st), name);
    ck_assert_msg(t->dtype == AD_DT_F32, "%s: %s is %s", ad_st_path(st), name,
                  ad_dtype_name(t->dtype));
    int64_t want[4] = {d0, d1, d2, d3};
    ck_assert_msg(t->ndim == ndim, "%s: ndim %d, expected %d", name, t->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        ck_assert_msg(t->shape[d] == want[d], "%s: dim %d is %lld, expected %lld", name, d,
                      (long long)t->shape[d], (long long)want[d]);
    return t;
}

static void stats(const ad_st_tensor *t, double *mean, double *sd, double *mn, double *mx)
{
    double s = 0, s2 = 0;
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int64_t i = 0; i < t->numel; i++) {
        float v;
        memcpy(&v, (const char *)t->data + i * 4, 4);
        s += v;
        s2 += (double)v * v;
        *mn = fmin(*mn, v);
        *mx = fmax(*mx, v);
    }
    *mean = s / (double)t->numel;
    *sd = sqrt(fmax(0, s2 / (double)t->numel - *mean * *mean));
}

static void expect_const(const ad_st_tensor *t, double value)
{
    double mean, sd, mn, mx;
    stats(t, &mean, &sd, &mn, &mx);
    ck_assert_msg(mn == value && mx == value, "%s: expected all %g, range [%g, %g]", t->name, value,
                  mn, mx);
}

static void expect_normal(const ad_st_tensor *t, double std)
{
    double mean, sd, mn, mx;
    stats(t, &mean, &sd, &mn, &mx);
    ck_assert_msg(fabs(sd - std) < 0.1 * std && fabs(mean) < 0.1 * std,
                  "%s: mean %g sd %g, expected N(0, %g)", t->name, mean, sd, std);
}

START_TEST(test_bert_tiny)
{
    char dir[4096];
    tu_assert_ok(ad_path_join(dir, sizeof dir, the_corpus(), "models/bert-tiny"));
    cJSON *c = read_json(dir, "config.json");
    ck_assert_str_eq(jstr(c, "model_type"), "bert");
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "architectures"), 0)->valuestring,
                     "BertModel");
    ck_assert_str_eq(jstr(c, "hidden_act"), "gelu");
    ck_assert(fabs(cJSON_GetObjectItem(c, "layer_norm_eps")->valuedouble - 1e-12) < 1e-20);
    int V = jint(c, "vocab_size"), D = jint(c, "hidden_size"), L = jint(c, "num_hidden_layers");
    int I = jint(c, "intermediate_size"), P = jint(c, "max_position_embeddings");
    int heads = jint(c, "num_attention_heads");
    ck_assert_int_eq(D % heads, 0);
    ck_assert_int_eq(jint(c, "type_vocab_size"), 2);
    ck_assert_int_eq(jint(c, "pad_token_id"), 0);
    ck_assert(P >= 112);
    cJSON_Delete(c);
    cJSON *tk = read_json(dir, "tokenizer_config.json");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(tk, "do_lower_case")));
    ck_assert_str_eq(jstr(tk, "tokenizer_class"), "BertTokenizer");
    ck_assert_int_eq(jint(tk, "model_max_length"), 512);
    cJSON_Delete(tk);

    /* vocab.txt: V lines, the specials first, characters with their ## forms. */
    char path[4096], *vocab;
    tu_assert_ok(ad_path_join(path, sizeof path, dir, "vocab.txt"));
    tu_assert_ok(ad_read_file(path, &vocab, NULL));
    int lines = 0;
    for (char *p = vocab; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, V);
    ck_assert(strncmp(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", 31) == 0);
    static const char *const must[] = {"\na\n",
                                       "\n##a\n",
                                       "\n9\n",
                                       "\n##9\n",
                                       "\n.\n",
                                       "\n##.\n",
                                       "\n_\n",
                                       "\n\"\n",
                                       "\npneumothorax\n",
                                       "\neffusion\n",
                                       "\ncardiomegaly\n",
                                       "\nleft\n",
                                       "\nright\n"};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++)
        ck_assert_msg(strstr(vocab, must[i]) != NULL, "vocab.txt lacks %s", must[i] + 1);

    /* Every alphabetic word of every report is a whole vocabulary entry. */
    table t;
    read_manifest(the_corpus(), &t);
    int cols[2] = {col(&t, "findings"), col(&t, "impression")};
    for (int r = 1; r < t.nrows; r++)
        for (int q = 0; q < 2; q++)
            for (const char *p = t.rows[r][cols[q]]; *p;) {
                if (!isalpha((unsigned char)*p)) {
                    p++;
                    continue;
                }
                char w[80] = "\n";
                size_t n = 1;
                while (isalnum((unsigned char)*p) && n < sizeof w - 2)
                    w[n++] = (char)tolower((unsigned char)*p++);
                w[n++] = '\n';
                w[n] = '\0';
                if (n > 3 && !strstr(vocab, w))
                    ck_abort_msg("report word '%s' not in vocab", w + 1);
            }
    free_table(&t);
    free(vocab);

    ad_safetensors *st;
    tu_assert_ok(ad_st_open(dir, &st));
    ck_assert_str_eq(ad_st_metadata(st, "format"), "pt");
    ck_assert_uint_eq(ad_st_count(st), (size_t)(5 + 16 * L + 2));
    const ad_st_tensor *we = expect(st, "embeddings.word_embeddings.weight", 2, V, D, 0, 0);
    float row0[64];
    ck_assert_int_le(D, 64);
    memcpy(row0, we->data, (size_t)D * 4);
    for (int i = 0; i < D; i++)
        ck_assert_msg(row0[i] == 0.0f, "the [PAD] embedding is not zero");
    /* Variance-keeping random features (see src/synth/tinymodels.c). */
    expect_normal(expect(st, "embeddings.position_embeddings.weight", 2, P, D, 0, 0), 0.1);
    expect(st, "embeddings.token_type_embeddings.weight", 2, 2, D, 0, 0);
    expect_const(expect(st, "embeddings.LayerNorm.weight", 1, D, 0, 0, 0), 1.0);
    expect_const(expect(st, "embeddings.LayerNorm.bias", 1, D, 0, 0, 0), 0.0);
    char name[256];
    for (int l = 0; l < L; l++) {
        static const char *const qkv[] = {"query", "key", "value"};
        for (int j = 0; j < 3; j++) {
            snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.weight", l, qkv[j]);
            expect(st, name, 2, D, D, 0, 0);
            snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.bias", l, qkv[j]);
            expect_const(expect(st, name, 1, D, 0, 0, 0), 0.0);
        }
        snprintf(name, sizeof name, "encoder.layer.%d.attention.output.dense.weight", l);
        expect(st, name, 2, D, D, 0, 0);
        snprintf(name, sizeof name, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        expect_const(expect(st, name, 1, D, 0, 0, 0), 1.0);
        snprintf(name, sizeof name, "encoder.layer.%d.intermediate.dense.weight", l);
        expect_normal(expect(st, name, 2, I, D, 0, 0), 1.0 / sqrt((double)D));
        snprintf(name, sizeof name, "encoder.layer.%d.intermediate.dense.bias", l);
        expect(st, name, 1, I, 0, 0, 0);
        snprintf(name, sizeof name, "encoder.layer.%d.output.dense.weight", l);
        expect(st, name, 2, D, I, 0, 0);
        snprintf(name, sizeof name, "encoder.layer.%d.output.LayerNorm.bias", l);
        expect(st, name, 1, D, 0, 0, 0);
    }
    expect(st, "pooler.dense.weight", 2, D, D, 0, 0);
    expect(st, "pooler.dense.bias", 1, D, 0, 0, 0);
    ad_st_close(st);
}
END_TEST

START_TEST(test_dinov2_tiny)
{
    char dir[4096];
    tu_assert_ok(ad_path_join(dir, sizeof dir, the_corpus(), "models/dinov2-tiny"));
    cJSON *c = read_json(dir, "config.json");
    ck_assert_str_eq(jstr(c, "model_type"), "dinov2");
    int D = jint(c, "hidden_size"), L = jint(c, "num_hidden_layers"), ps = jint(c, "patch_size");
    int img = jint(c, "image_size"), ch = jint(c, "num_channels"), ratio = jint(c, "mlp_ratio");
    double ls = cJSON_GetObjectItem(c, "layerscale_value")->valuedouble;
    ck_assert_int_eq(ps, 14);
    ck_assert_int_eq(img, 518);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "use_swiglu_ffn")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "qkv_bias")));
    ck_assert(fabs(cJSON_GetObjectItem(c, "layer_norm_eps")->valuedouble - 1e-6) < 1e-15);
    ck_assert_int_eq(D % jint(c, "num_attention_heads"), 0);
    cJSON_Delete(c);
    int grid = img / ps;
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(dir, &st));
    ck_assert_str_eq(ad_st_metadata(st, "format"), "pt");
    ck_assert_uint_eq(ad_st_count(st), (size_t)(5 + 18 * L + 2));
    expect(st, "embeddings.cls_token", 3, 1, 1, D, 0);
    expect_const(expect(st, "embeddings.mask_token", 2, 1, D, 0, 0), 0.0);
    expect_normal(expect(st, "embeddings.position_embeddings", 3, 1, grid * grid + 1, D, 0), 0.02);
    expect_normal(expect(st, "embeddings.patch_embeddings.projection.weight", 4, D, ch, ps, ps),
                  1.0 / sqrt((double)ch * ps * ps));
    expect(st, "embeddings.patch_embeddings.projection.bias", 1, D, 0, 0, 0);
    char name[256];
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "encoder.layer.%d.norm1.weight", l);
        expect_const(expect(st, name, 1, D, 0, 0, 0), 1.0);
        snprintf(name, sizeof name, "encoder.layer.%d.attention.attention.key.weight", l);
        expect(st, name, 2, D, D, 0, 0);
        snprintf(name, sizeof name, "encoder.layer.%d.attention.attention.value.bias", l);
        expect(st, name, 1, D, 0, 0, 0);
        snprintf(name, sizeof name, "encoder.layer.%d.attention.output.dense.weight", l);
        expect(st, name, 2, D, D, 0, 0);
        snprintf(name, sizeof name, "encoder.layer.%d.layer_scale1.lambda1", l);
        expect_const(expect(st, name, 1, D, 0, 0, 0), ls);
        snprintf(name, sizeof name, "encoder.layer.%d.layer_scale2.lambda1", l);
        expect_const(expect(st, name, 1, D, 0, 0, 0), ls);
        snprintf(name, sizeof name, "encoder.layer.%d.norm2.bias", l);
        expect_const(expect(st, name, 1, D, 0, 0, 0), 0.0);
        snprintf(name, sizeof name, "encoder.layer.%d.mlp.fc1.weight", l);
        expect_normal(expect(st, name, 2, D * ratio, D, 0, 0), 1.0 / sqrt((double)D));
        snprintf(name, sizeof name, "encoder.layer.%d.mlp.fc2.weight", l);
        expect(st, name, 2, D, D * ratio, 0, 0);
    }
    expect_const(expect(st, "layernorm.weight", 1, D, 0, 0, 0), 1.0);
    expect(st, "layernorm.bias", 1, D, 0, 0, 0);
    ad_st_close(st);
}
END_TEST

START_TEST(test_resnet_tiny)
{
    char dir[4096];
    tu_assert_ok(ad_path_join(dir, sizeof dir, the_corpus(), "models/resnet-tiny"));
    cJSON *c = read_json(dir, "config.json");
    ck_assert_str_eq(jstr(c, "model_type"), "torchvision_resnet");
    int w = jint(c, "width"), e = jint(c, "expansion"), nc = jint(c, "num_classes");
    const cJSON *layers = cJSON_GetObjectItem(c, "layers");
    ck_assert_int_eq(cJSON_GetArraySize(layers), 4);
    int nblocks = 0;
    for (int s = 0; s < 4; s++)
        nblocks += cJSON_GetArrayItem(layers, s)->valueint;
    cJSON_Delete(c);
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(dir, &st));
    /* conv1 + bn1 (6), per block 3 convs + 3 BNs (18), per stage a downsample (6), fc (2). */
    ck_assert_uint_eq(ad_st_count(st), (size_t)(6 + 18 * nblocks + 6 * 4 + 2));
    double sd_expected = sqrt(2.0 / (w * 49.0));
    expect_normal(expect(st, "conv1.weight", 4, w, 3, 7, 7), sd_expected);
    expect_const(expect(st, "bn1.weight", 1, w, 0, 0, 0), 1.0);
    int64_t inpl = w;
    char name[256];
    for (int s = 0; s < 4; s++) {
        int64_t planes = (int64_t)w << s;
        snprintf(name, sizeof name, "layer%d.0.conv1.weight", s + 1);
        expect(st, name, 4, planes, inpl, 1, 1);
        snprintf(name, sizeof name, "layer%d.0.conv2.weight", s + 1);
        expect(st, name, 4, planes, planes, 3, 3);
        snprintf(name, sizeof name, "layer%d.0.conv3.weight", s + 1);
        expect(st, name, 4, planes * e, planes, 1, 1);
        snprintf(name, sizeof name, "layer%d.0.bn3.running_mean", s + 1);
        expect(st, name, 1, planes * e, 0, 0, 0);
        snprintf(name, sizeof name, "layer%d.0.downsample.0.weight", s + 1);
        expect(st, name, 4, planes * e, inpl, 1, 1);
        snprintf(name, sizeof name, "layer%d.0.downsample.1.running_var", s + 1);
        const ad_st_tensor *rv = expect(st, name, 1, planes * e, 0, 0, 0);
        double mean, sd, mn, mx;
        stats(rv, &mean, &sd, &mn, &mx);
        ck_assert_msg(mn > 0 && sd > 0.05 && fabs(mean - 1) < 0.5, "%s: mean %g sd %g min %g", name,
                      mean, sd, mn);
        snprintf(name, sizeof name, "layer%d.0.bn2.num_batches_tracked", s + 1);
        const ad_st_tensor *nbt = ad_st_find(st, name);
        ck_assert_msg(nbt && nbt->dtype == AD_DT_I64 && nbt->ndim == 0, "%s: not an I64 scalar",
                      name);
        inpl = planes * e;
    }
    expect(st, "fc.weight", 2, nc, inpl, 0, 0);
    expect(st, "fc.bias", 1, nc, 0, 0, 0);
    ad_st_close(st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("synth");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_manifest_images_masks);
    tcase_add_test(tc, test_bert_tiny);
    tcase_add_test(tc, test_dinov2_tiny);
    tcase_add_test(tc, test_resnet_tiny);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_refuses_existing);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    /* MPI does not survive Check's fork per test; the corpus is shared between tests. */
    return tu_run_mpi_suite(&argc, &argv, suite());
}
