/* Checkpoint folders: round trip, skipping incomplete or corrupt newest folders with a
 * warning, replacing a corrupt folder, keep-last-K pruning, strict name / shape checks.
 * The round-trip test also leaves $ADAPTOR_TEST_TMP/optim/torch_ckpt for
 * tests/ref/checkpoint_check.py (torch load_state_dict, strict=True). */
#include "testutil.h"

#include "adaptor/checkpoint.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The SPEC 5 parameter names for a small Adaptor (P 8, Dv 12, Dt 10, F 16, two layers); the
 * python check builds the same module. */
enum { P = 8, DV = 12, DT = 10, F = 16, LAYERS = 2, MAXT = 64 };

typedef struct spec_layout {
    ad_ckpt_tensor t[MAXT];
    char names[MAXT][96];
    ad_ckpt_layout l;
} spec_layout;

static void add(spec_layout *s, const char *name, int ndim, int64_t d0, int64_t d1)
{
    size_t i = s->l.count++;
    ck_assert(i < MAXT);
    snprintf(s->names[i], sizeof s->names[i], "%s", name);
    ad_ckpt_tensor *t = &s->t[i];
    memset(t, 0, sizeof *t);
    t->name = s->names[i];
    t->offset = s->l.numel;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)t->shape[d];
    s->l.numel += n;
}

static void make_layout(spec_layout *s, int layers)
{
    memset(s, 0, sizeof *s);
    s->l.tensors = s->t;
    add(s, "projection.visual_projection.weight", 2, P, DV);
    add(s, "projection.text_projection.weight", 2, P, DT);
    for (int l = 0; l < layers; l++) {
        char pre[64], name[96];
        snprintf(pre, sizeof pre, "adaptor_module.encoder.%d.", l);
#define ADD(suffix, nd, a, b)                                       \
    do {                                                            \
        snprintf(name, sizeof name, "%s%s", pre, suffix);           \
        add(s, name, nd, a, b);                                     \
    } while (0)
        ADD("attn.in_proj_weight", 2, 3 * P, P);
        ADD("attn.in_proj_bias", 1, 3 * P, 0);
        ADD("attn.out_proj.weight", 2, P, P);
        ADD("attn.out_proj.bias", 1, P, 0);
        ADD("linear1.weight", 2, F, P);
        ADD("linear1.bias", 1, F, 0);
        ADD("linear2.weight", 2, P, F);
        ADD("linear2.bias", 1, P, 0);
        ADD("norm1.weight", 1, P, 0);
        ADD("norm1.bias", 1, P, 0);
        ADD("norm2.weight", 1, P, 0);
        ADD("norm2.bias", 1, P, 0);
#undef ADD
    }
    add(s, "logit_scale", 0, 0, 0);
}

/* Tensor k, element j holds k + j/1024 (exact in float32); checkpoint_check.py expects it. */
typedef struct bufs {
    float *p, *m, *v;
    ad_ckpt_buffers b;
} bufs;

static void make_bufs(bufs *x, const spec_layout *s, int filled, float shift)
{
    size_t n = s->l.numel;
    x->p = calloc(n, sizeof(float));
    x->m = calloc(n, sizeof(float));
    x->v = calloc(n, sizeof(float));
    ck_assert(x->p && x->m && x->v);
    if (filled)
        for (size_t k = 0; k < s->l.count; k++) {
            const ad_ckpt_tensor *t = &s->t[k];
            size_t numel = 1;
            for (int d = 0; d < t->ndim; d++)
                numel *= (size_t)t->shape[d];
            for (size_t j = 0; j < numel; j++) {
                float val = (float)k + (float)j / 1024.0f + shift;
                x->p[t->offset + j] = val;
                x->m[t->offset + j] = -val;
                x->v[t->offset + j] = val * val;
            }
        }
    x->b.params = x->p;
    x->b.exp_avg = x->m;
    x->b.exp_avg_sq = x->v;
    x->b.opt_step = 0;
}

static void free_bufs(bufs *x)
{
    free(x->p);
    free(x->m);
    free(x->v);
}

static const char *CONFIG_TEXT = "[adaptor]\nnum_layers = 2\nprojection_dim = 8\n";

static void make_state(ad_train_state *st, int64_t step)
{
    memset(st, 0, sizeof *st);
    st->step = step;
    st->epoch = step / 7;
    st->epoch_pos = 64 * (step % 7);
    st->num_ranks = 3;
    st->global_batch = 64;
    st->n_rng = 2;
    snprintf(st->rng[0].name, sizeof st->rng[0].name, "shuffle");
    ad_rng_seed(&st->rng[0].state, 42, 1);
    snprintf(st->rng[1].name, sizeof st->rng[1].name, "dropout");
    ad_rng_seed(&st->rng[1].state, 42, (uint64_t)step);
    (void)ad_rng_u64(&st->rng[1].state);
    static ad_provenance *prov; /* made once, kept to the end of the test */
    if (!prov)
        tu_assert_ok(ad_prov_create_local(CONFIG_TEXT, &prov));
    st->prov = prov;
    st->seed = 0xfedcba9876543210ull;
}

/* Saves step `step` with values shifted by the step, so loads can tell checkpoints apart. */
static void save_step(const char *run, const spec_layout *s, int64_t step)
{
    bufs x;
    make_bufs(&x, s, 1, (float)step);
    x.b.opt_step = step;
    ad_train_state st;
    make_state(&st, step);
    tu_assert_ok(ad_ckpt_save(run, &s->l, &x.b, &st, NULL, 0));
    free_bufs(&x);
}

/* Runs find_latest with stderr captured; returns the step found and the warnings. */
static int64_t find_capturing(const char *run, char *dir, size_t n, char *warn, size_t wn)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/stderr.txt", run);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ck_assert(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int64_t step = -2;
    int rc = ad_ckpt_find_latest(run, dir, n, &step);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_msg(rc == AD_OK, "find_latest: %s", ad_errmsg());
    char *text = NULL;
    tu_assert_ok(ad_read_file(log, &text, NULL));
    snprintf(warn, wn, "%s", text);
    free(text);
    unlink(log);
    return step;
}

static void ckpt_file(char *out, size_t n, const char *run, int64_t step, const char *file)
{
    snprintf(out, n, "%s/checkpoints/step-%08lld/%s", run, (long long)step, file);
}

START_TEST(test_round_trip)
{
    char run[1024], dir[4096], found[4096];
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    snprintf(run, sizeof run, "%s/optim/torch_ckpt", tmp ? tmp : "/tmp");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
    ck_assert(system(cmd) == 0);
    spec_layout s;
    make_layout(&s, LAYERS);
    bufs x, y;
    make_bufs(&x, &s, 1, 0.0f);
    x.b.opt_step = 20;
    ad_train_state st, back;
    make_state(&st, 20);
    int64_t step = -2;
    tu_assert_ok(ad_ckpt_find_latest(run, found, sizeof found, &step));
    ck_assert_int_eq(step, -1);
    ck_assert_str_eq(found, "");
    tu_assert_ok(ad_ckpt_save(run, &s.l, &x.b, &st, dir, sizeof dir));
    ck_assert_msg(strstr(dir, "/checkpoints/step-00000020") != NULL, "%s", dir);
    tu_assert_ok(ad_ckpt_find_latest(run, found, sizeof found, &step));
    ck_assert_int_eq(step, 20);
    ck_assert_str_eq(found, dir);
    tu_assert_ok(ad_ckpt_verify(dir));

    make_bufs(&y, &s, 0, 0.0f);
    tu_assert_ok(ad_ckpt_load(found, &s.l, &y.b, &back));
    size_t bytes = s.l.numel * sizeof(float);
    ck_assert(memcmp(x.p, y.p, bytes) == 0 && memcmp(x.m, y.m, bytes) == 0 &&
              memcmp(x.v, y.v, bytes) == 0);
    ck_assert_int_eq(y.b.opt_step, 20);
    ck_assert_int_eq(back.step, 20);
    ck_assert_int_eq(back.epoch, st.epoch);
    ck_assert_int_eq(back.epoch_pos, st.epoch_pos);
    ck_assert_int_eq(back.num_ranks, 3);
    ck_assert_int_eq(back.global_batch, 64);
    ck_assert_int_eq(back.n_rng, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_str_eq(back.rng[i].name, st.rng[i].name);
        ck_assert(memcmp(&back.rng[i].state, &st.rng[i].state, sizeof(ad_rng)) == 0);
    }
    ck_assert_str_eq(back.config_text, CONFIG_TEXT);
    ck_assert(back.seed == 0xfedcba9876543210ull);
    ad_train_state_clear(&back);

    /* Both safetensors files carry the provenance, the configuration included. */
    for (int f = 0; f < 2; f++) {
        char path[4200];
        ad_safetensors *sf;
        snprintf(path, sizeof path, "%s/%s", dir, f ? "optimizer.safetensors" : "model.safetensors");
        tu_assert_ok(ad_st_open(path, &sf));
        ck_assert_str_eq(ad_st_metadata(sf, "format"), "pt");
        ck_assert_str_eq(ad_st_metadata(sf, "config"), CONFIG_TEXT);
        for (size_t i = 0; i < ad_prov_count(st.prov); i++)
            ck_assert_str_eq(ad_st_metadata(sf, ad_prov_key(st.prov, i)),
                             ad_prov_value(st.prov, i));
        ad_st_close(sf);
    }
    ck_assert_ptr_null(back.config_text);

    /* Weights only (evaluation), from the folder or the file. */
    memset(y.p, 0, bytes);
    tu_assert_ok(ad_ckpt_load_weights(found, &s.l, y.p));
    ck_assert(memcmp(x.p, y.p, bytes) == 0);
    ad_ckpt_buffers wonly = {.params = y.p};
    tu_assert_ok(ad_ckpt_load(found, &s.l, &wonly, NULL));
    free_bufs(&x);
    free_bufs(&y);
}
END_TEST

typedef enum { LEFT_TMP, TRUNCATED, BAD_CHECKSUM, GARBAGE_JSON, NO_JSON, WRONG_STEP } damage;

static void damage_step30(const char *run, damage d)
{
    char path[4200];
    switch (d) {
    case LEFT_TMP:
        snprintf(path, sizeof path, "%s/checkpoints/step-00000030.tmp-99999", run);
        tu_assert_ok(ad_mkdir_p(path));
        strcat(path, "/model.safetensors");
        tu_write_text(path, "partial");
        return;
    case TRUNCATED: {
        ckpt_file(path, sizeof path, run, 30, "model.safetensors");
        struct stat sb;
        ck_assert(stat(path, &sb) == 0);
        ck_assert(truncate(path, sb.st_size / 2) == 0);
        return;
    }
    case BAD_CHECKSUM: {
        /* Same size, one flipped bit in the data: only the checksum can tell. */
        ckpt_file(path, sizeof path, run, 30, "optimizer.safetensors");
        FILE *fp = fopen(path, "r+b");
        ck_assert(fp != NULL);
        ck_assert(fseek(fp, -3, SEEK_END) == 0);
        int c = fgetc(fp);
        ck_assert(fseek(fp, -3, SEEK_END) == 0);
        fputc(c ^ 0x10, fp);
        fclose(fp);
        return;
    }
    case GARBAGE_JSON:
        ckpt_file(path, sizeof path, run, 30, "trainer.json");
        tu_write_text(path, "{\"format\": \"adaptor-checkpoint\", \"step\": 3");
        return;
    case NO_JSON:
        ckpt_file(path, sizeof path, run, 30, "trainer.json");
        ck_assert(unlink(path) == 0);
        return;
    case WRONG_STEP: {
        char from[4200];
        snprintf(from, sizeof from, "%s/checkpoints/step-00000030", run);
        snprintf(path, sizeof path, "%s/checkpoints/step-00000031", run);
        ck_assert(rename(from, path) == 0);
        return;
    }
    }
}

static const char *const damage_needle[] = {"step-00000030.tmp-99999", "truncated", "checksum",
                                            "not valid JSON", "trainer.json", "records step 30"};
static const char *const damage_folder[] = {"step-00000030.tmp-99999", "step-00000030",
                                            "step-00000030", "step-00000030", "step-00000030",
                                            "step-00000031"};

START_TEST(test_newest_incomplete_skipped)
{
    damage d = (damage)_i;
    char run[1024], dir[4096], warn[8192];
    tu_tmpdir(run, sizeof run, "ckpt_damage");
    spec_layout s;
    make_layout(&s, LAYERS);
    save_step(run, &s, 10);
    save_step(run, &s, 20);
    if (d != LEFT_TMP)
        save_step(run, &s, 30);
    damage_step30(run, d);
    int64_t step = find_capturing(run, dir, sizeof dir, warn, sizeof warn);
    ck_assert_msg(step == 20, "case %d: found step %lld", (int)d, (long long)step);
    ck_assert_msg(strstr(warn, damage_folder[d]) && strstr(warn, damage_needle[d]),
                  "case %d: warning '%s' does not name %s / %s", (int)d, warn, damage_folder[d],
                  damage_needle[d]);
    if (d != LEFT_TMP && d != WRONG_STEP) {
        char bad[4200];
        snprintf(bad, sizeof bad, "%s/checkpoints/step-00000030", run);
        ck_assert_msg(ad_ckpt_verify(bad) != AD_OK, "case %d: damaged folder verifies", (int)d);
        ck_assert_msg(strstr(ad_errmsg(), "step-00000030"), "%s", ad_errmsg());
    }

    /* The previous checkpoint loads: its own values, not step 30's. */
    bufs y;
    make_bufs(&y, &s, 0, 0.0f);
    tu_assert_ok(ad_ckpt_load(dir, &s.l, &y.b, NULL));
    ck_assert(y.p[0] == 20.0f && y.b.opt_step == 20);

    /* Resuming from 20 and saving 30 again replaces the damaged folder. */
    save_step(run, &s, 30);
    step = find_capturing(run, dir, sizeof dir, warn, sizeof warn);
    ck_assert_int_eq(step, 30);
    tu_assert_ok(ad_ckpt_load(dir, &s.l, &y.b, NULL));
    ck_assert(y.p[0] == 30.0f && y.b.opt_step == 30);
    free_bufs(&y);
}
END_TEST

static int count_entries(const char *dir, const char *needle)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c -- '%s'", dir, needle);
    FILE *fp = popen(cmd, "r");
    ck_assert(fp != NULL);
    int n = -1;
    ck_assert(fscanf(fp, "%d", &n) == 1);
    pclose(fp);
    return n;
}

/* Every checkpoint damaged: resuming must not silently start over (and later prune them
 * away); the error names each folder and why it was rejected, and nothing is removed. */
START_TEST(test_all_damaged_refused)
{
    char run[1024], dir[4096], path[4200];
    tu_tmpdir(run, sizeof run, "ckpt_all_bad");
    spec_layout s;
    make_layout(&s, LAYERS);
    save_step(run, &s, 10);
    save_step(run, &s, 20);
    save_step(run, &s, 30);
    ckpt_file(path, sizeof path, run, 10, "model.safetensors");
    ck_assert(truncate(path, 1000) == 0);
    damage_step30(run, GARBAGE_JSON);
    ckpt_file(path, sizeof path, run, 20, "model.safetensors");
    ck_assert(truncate(path, 1000) == 0);
    int64_t step = -2;
    tu_assert_fails(ad_ckpt_find_latest(run, dir, sizeof dir, &step), AD_ERR_FORMAT,
                    "no usable checkpoint");
    const char *msg = ad_errmsg();
    ck_assert_msg(strstr(msg, "step-00000030: trainer.json") && strstr(msg, "not valid JSON"),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "step-00000020: model.safetensors: 1000 bytes"), "%s", msg);
    ck_assert_msg(strstr(msg, "step-00000010: model.safetensors: 1000 bytes"), "%s", msg);
    ck_assert_msg(strchr(msg, '\n') == NULL, "%s", msg);
    ck_assert_int_eq(step, -1);
    char ck[2048];
    snprintf(ck, sizeof ck, "%s/checkpoints", run);
    ck_assert_int_eq(count_entries(ck, "step-"), 3);
    struct stat sb;
    ckpt_file(path, sizeof path, run, 10, "model.safetensors");
    ck_assert(stat(path, &sb) == 0 && sb.st_size == 1000);

    /* Only leftovers of a save that never finished: nothing to resume, a fresh start. */
    tu_tmpdir(run, sizeof run, "ckpt_only_tmp");
    damage_step30(run, LEFT_TMP);
    tu_assert_ok(ad_ckpt_find_latest(run, dir, sizeof dir, &step));
    ck_assert_int_eq(step, -1);
}
END_TEST

START_TEST(test_prune_keep_last)
{
    char run[1024], ck[2048], path[4200];
    tu_tmpdir(run, sizeof run, "ckpt_prune");
    snprintf(ck, sizeof ck, "%s/checkpoints", run);
    spec_layout s;
    make_layout(&s, 1);
    for (int step = 10; step <= 50; step += 10)
        save_step(run, &s, step);
    snprintf(path, sizeof path, "%s/step-00000060.tmp-1", ck);
    tu_assert_ok(ad_mkdir_p(path));
    tu_assert_fails(ad_ckpt_prune(run, 0), AD_ERR_ARG, "keep");
    tu_assert_ok(ad_ckpt_prune(run, 2));
    ck_assert_int_eq(count_entries(ck, "step-"), 2);
    ck_assert(ad_is_dir(strcat(strcpy(path, ck), "/step-00000040")));
    ck_assert(ad_is_dir(strcat(strcpy(path, ck), "/step-00000050")));

    /* A damaged newest folder does not count towards the K kept. */
    for (int step = 60; step <= 70; step += 10)
        save_step(run, &s, step);
    ckpt_file(path, sizeof path, run, 70, "model.safetensors");
    ck_assert(truncate(path, 100) == 0);
    tu_assert_ok(ad_ckpt_prune(run, 2));
    ck_assert_int_eq(count_entries(ck, "step-"), 2);
    ck_assert(ad_is_dir(strcat(strcpy(path, ck), "/step-00000050")));
    ck_assert(ad_is_dir(strcat(strcpy(path, ck), "/step-00000060")));
}
END_TEST

START_TEST(test_load_checks_names_and_shapes)
{
    char run[1024], dir[4096];
    tu_tmpdir(run, sizeof run, "ckpt_shapes");
    spec_layout s, other;
    make_layout(&s, LAYERS);
    save_step(run, &s, 5);
    snprintf(dir, sizeof dir, "%s/checkpoints/step-00000005", run);
    bufs y;
    make_bufs(&y, &s, 0, 0.0f);

    /* Same element count, transposed shape. */
    other = s;
    other.l.tensors = other.t;
    for (size_t i = 0; i < other.l.count; i++)
        other.t[i].name = other.names[i];
    ad_ckpt_tensor *t = &other.t[6]; /* adaptor_module.encoder.0.linear1.weight */
    ck_assert_str_eq(t->name, "adaptor_module.encoder.0.linear1.weight");
    t->shape[0] = P;
    t->shape[1] = F;
    tu_assert_fails(ad_ckpt_load(dir, &other.l, &y.b, NULL), AD_ERR_FORMAT,
                    "'adaptor_module.encoder.0.linear1.weight' in ");
    ck_assert_msg(strstr(ad_errmsg(), "model.safetensors has shape [16, 8], expected [8, 16]"),
                  "%s", ad_errmsg());

    /* A one-layer model cannot take a two-layer checkpoint, and vice versa. */
    make_layout(&other, 1);
    tu_assert_fails(ad_ckpt_load(dir, &other.l, &y.b, NULL), AD_ERR_FORMAT,
                    "unexpected tensor 'adaptor_module.encoder.1.");
    make_layout(&other, 3);
    bufs z;
    make_bufs(&z, &other, 0, 0.0f);
    tu_assert_fails(ad_ckpt_load_weights(dir, &other.l, z.p), AD_ERR_FORMAT,
                    "tensor 'adaptor_module.encoder.2.attn.in_proj_weight' is missing");
    free_bufs(&z);

    tu_assert_ok(ad_ckpt_load(dir, &s.l, &y.b, NULL));
    free_bufs(&y);
}
END_TEST

START_TEST(test_layout_and_argument_errors)
{
    spec_layout s;
    make_layout(&s, 1);
    s.t[1].offset = s.t[0].offset + 3;
    tu_assert_fails(ad_ckpt_layout_check(&s.l), AD_ERR_ARG, "overlap");
    make_layout(&s, 1);
    s.t[1].name = s.t[0].name;
    tu_assert_fails(ad_ckpt_layout_check(&s.l), AD_ERR_ARG, "listed twice");
    make_layout(&s, 1);
    s.l.numel -= 1;
    tu_assert_fails(ad_ckpt_layout_check(&s.l), AD_ERR_ARG, "'logit_scale'");

    char run[1024];
    tu_tmpdir(run, sizeof run, "ckpt_args");
    make_layout(&s, 1);
    bufs x;
    make_bufs(&x, &s, 1, 0.0f);
    ad_train_state st;
    make_state(&st, 1);
    st.n_rng = 2;
    snprintf(st.rng[1].name, sizeof st.rng[1].name, "%s", st.rng[0].name);
    tu_assert_fails(ad_ckpt_save(run, &s.l, &x.b, &st, NULL, 0), AD_ERR_ARG, "given twice");
    x.b.exp_avg = NULL;
    make_state(&st, 1);
    tu_assert_fails(ad_ckpt_save(run, &s.l, &x.b, &st, NULL, 0), AD_ERR_ARG, "moments");
    /* Nothing half-written stays behind. */
    ck_assert_int_eq(count_entries(run, "checkpoints"), 1);
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/checkpoints", run);
    ck_assert_int_eq(count_entries(ck, "step"), 0);
    tu_assert_fails(ad_ckpt_verify(run), AD_ERR_IO, "trainer.json");
    free_bufs(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_test(tc, test_round_trip);
    tcase_add_loop_test(tc, test_newest_incomplete_skipped, LEFT_TMP, WRONG_STEP + 1);
    tcase_add_test(tc, test_prune_keep_last);
    tcase_add_test(tc, test_all_damaged_refused);
    tcase_add_test(tc, test_load_checks_names_and_shapes);
    tcase_add_test(tc, test_layout_and_argument_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
