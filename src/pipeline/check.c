#include "adaptor/check.h"

#include "adaptor/adaptor.h"
#include "adaptor/error.h"
#include "adaptor/job.h"
#include "adaptor/frozen.h"
#include "adaptor/fsutil.h"
#include "adaptor/gemm_bf16.h"
#include "adaptor/image_encoder.h"
#include "adaptor/manifest.h"
#include "adaptor/mpiutil.h"
#include "adaptor/pipeline.h"
#include "adaptor/safetensors.h"
#include "adaptor/trainplan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Per-core rates (one BLIS thread per rank) behind the plan's times: the README's benchmark
 * figures, measured on the 2-core development VM with BLIS's skx kernels. Other CPUs differ;
 * the plan prints them so that a reader can scale. */
#define RATE_ENCODER_FLOPS 100e9 /* bench_vision, bench_bert: 80-92% of sgemm's 116-145 GFLOP/s */
#define RATE_DECODE_IMAGES 131.0 /* bench_preprocess: 2500 x 3000 8-bit images to 224 px */
#define REF_STEP_SECONDS 1.2     /* bench_pretrain: a 1024-pair step of the reference Adaptor */
static const ad_adaptor_config ref_adaptor = {.dv = 384, .dt = 768, .proj = 768, .ffn = 2048,
                                              .heads = 12, .layers = 2, .dropout = 0.1f,
                                              .ln_eps = 1e-5f, .logit_scale_init = 2.6592f};

static const char *const stage_names[] = {"all", "embed", "pretrain", "eval", "classify",
                                          "segment"};

const char *ad_stage_name(ad_stage s) { return stage_names[s]; }

static int is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

/* The manifest as the stages read it; on failure, a hint at the key to fix. */
static int open_manifest(const ad_config *cfg, ad_manifest **m)
{
    const char *job = ad_config_source(cfg);
    int rc = ad_manifest_open_config(cfg, AD_LABEL_UNCERTAIN, NULL, m);
    if (rc == AD_OK)
        return AD_OK;
    if (!ad_config_is_set(cfg, "data", "manifest"))
        return ad_set_hint(rc, "set [data] manifest in %s, or --set data.manifest=PATH", job);
    if (rc == AD_ERR_IO)
        return ad_set_hint(rc, "fix [data] manifest in %s or --set data.manifest=PATH (`adaptor "
                           "synth DIR` writes a demo corpus)", job);
    if (strstr(ad_errmsg(), "missing column"))
        return ad_set_hint(rc, "name the manifest's columns in [data] of %s (image_column, "
                           "report_columns, split_column, view_column, label_columns)", job);
    return ad_set_hint(rc, "fix the manifest where named");
}

static int check_manifest(const ad_config *cfg)
{
    ad_manifest *m;
    AD_TRY(open_manifest(cfg, &m));
    ad_manifest_close(m);
    return AD_OK;
}

/* The manifest file alone: for stages whose own reader asks for other columns. */
static int check_manifest_file(const ad_config *cfg)
{
    const char *job = ad_config_source(cfg);
    if (ad_config_require(cfg, "data", "manifest") != AD_OK)
        return ad_set_hint(AD_ERR_CONFIG, "set [data] manifest in %s, or --set data.manifest=PATH",
                           job);
    const char *path = ad_config_get(cfg, "data", "manifest");
    if (!ad_path_exists(path) || ad_is_dir(path))
        return ad_set_hint(ad_fail(AD_ERR_IO, "%s: cannot open manifest: no such file", path),
                           "fix [data] manifest in %s or --set data.manifest=PATH", job);
    return AD_OK;
}

static int check_image_arch(const ad_config *cfg)
{
    const char *arch = ad_config_get(cfg, "image_encoder", "arch");
    ad_image_arch a;
    if (ad_image_arch_parse(arch, &a) == AD_OK)
        return AD_OK;
    ad_fail(AD_ERR_CONFIG, "%s: [image_encoder] arch = %s is not implemented",
            ad_config_source(cfg), arch);
    return ad_set_hint(AD_ERR_CONFIG, "set [image_encoder] arch = dinov2, resnet or resnet_ae");
}

/* The reference's autoencoder transform has no random crop, and its 3 x 3 feature map fits
 * neither segmentation decoder. */
static int check_resnet_ae(const ad_config *cfg, ad_stage stage)
{
    if (!is(ad_config_get(cfg, "image_encoder", "arch"), "resnet_ae"))
        return AD_OK;
    if (stage == AD_STAGE_PRETRAIN && is(ad_config_get(cfg, "train", "augment"), "random_crop"))
        return ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s: [train] augment = random_crop is not "
                                   "available with [image_encoder] arch = resnet_ae",
                                   ad_config_where(cfg, "train", "augment")),
                           "set [train] augment = none (the reference resizes the whole "
                           "padded image for the autoencoder)");
    if (stage == AD_STAGE_SEGMENT)
        return ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s: segment does not support [image_encoder] "
                                   "arch = resnet_ae (its 3 x 3 feature map fits neither "
                                   "decoder)", ad_config_where(cfg, "image_encoder", "arch")),
                           "segment with arch = dinov2 or resnet");
    return AD_OK;
}

/* precision = bf16 only where it runs: natively (no silent emulation), and for the
 * encoders whose matrix products have a bf16 path. */
static int check_precision(const ad_config *cfg, const char *section)
{
    const char *prec = ad_config_get(cfg, section, "precision"), *isa;
    if (!prec || !is(prec, "bf16"))
        return AD_OK;
    if (!ad_bf16_supported(&isa))
        return ad_set_hint(ad_fail(AD_ERR_UNSUPPORTED, "%s: [%s] precision = bf16 needs a CPU "
                                   "with AVX512_BF16 or AMX instructions; this one (oneDNN ISA "
                                   "%s) has none", ad_config_where(cfg, section, "precision"),
                                   section, isa),
                           "set [%s] precision = fp32 (the default)", section);
    if (is(section, "image_encoder") && !is(ad_config_get(cfg, section, "arch"), "dinov2"))
        return ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s: [image_encoder] precision = bf16 is "
                                   "implemented for arch = dinov2 only",
                                   ad_config_where(cfg, section, "precision")),
                           "set [image_encoder] precision = fp32");
    return AD_OK;
}

/* A model folder as the loaders expect it: config.json and safetensors weights (only the
 * headers are read). */
static int check_model_folder(const ad_config *cfg, const char *section)
{
    AD_TRY(check_precision(cfg, section));
    const char *job = ad_config_source(cfg);
    if (ad_config_require(cfg, section, "model") != AD_OK)
        return ad_set_hint(AD_ERR_CONFIG, "set [%s] model in %s to a HuggingFace model folder",
                           section, job);
    const char *dir = ad_config_get(cfg, section, "model");
    char path[4200];
    AD_TRY(ad_path_join(path, sizeof path, dir, "config.json"));
    if (!ad_is_dir(dir) || !ad_path_exists(path))
        return ad_set_hint(ad_fail(AD_ERR_IO, "%s: [%s] model %s: %s", job, section, dir,
                                   ad_is_dir(dir) ? "no config.json in the folder"
                                                  : "no such folder"),
                           "download the model (README: Real data) or fix [%s] model in %s",
                           section, job);
    ad_safetensors *st;
    int rc = ad_st_open(dir, &st);
    if (rc != AD_OK)
        return ad_set_hint(rc, "put the weights in the folder as model.safetensors (README: "
                           "Real data converts a pytorch_model.bin)");
    /* A DINOv2 folder left in place after switching to the autoencoder would otherwise only
     * fail when embed loads it. */
    int ae = is(section, "image_encoder") &&
             is(ad_config_get(cfg, "image_encoder", "arch"), "resnet_ae");
    if (ae && !ad_st_find(st, "conv1.weight"))
        rc = ad_set_hint(ad_fail(AD_ERR_FORMAT, "%s: %s: tensor 'conv1.weight' is missing: not "
                                 "a torchxrayvision ResNet autoencoder ([image_encoder] arch = "
                                 "resnet_ae)", job, ad_st_path(st)),
                         "convert the autoencoder's weights (README: Real data) or fix "
                         "[image_encoder] model / arch");
    ad_st_close(st);
    return rc;
}

/* The Adaptor's sizes from [adaptor] (embedding sizes dv, dt when known, else 1). */
static int check_adaptor(const ad_config *cfg, int dv, int dt, int tokens, ad_adaptor_config *ac)
{
    AD_TRY(ad_adaptor_config_from(cfg, dv, dt, tokens, ac));
    const char *job = ad_config_source(cfg);
    if (ac->heads > 0 && ac->proj > 0 && ac->proj % ac->heads != 0) {
        int lo = ac->heads, hi = ac->heads;
        while (lo > 1 && ac->proj % lo)
            lo--;
        while (hi < ac->proj && ac->proj % hi)
            hi++;
        ad_fail(AD_ERR_CONFIG, "%s: [adaptor] num_heads = %d does not divide projection_dim = "
                "%d", job, ac->heads, ac->proj);
        return ad_set_hint(AD_ERR_CONFIG, "set [adaptor] num_heads to a divisor of %d, e.g. %d "
                           "or %d", ac->proj, lo, hi);
    }
    int rc = ad_adaptor_config_check(ac);
    if (rc != AD_OK)
        return ad_set_hint(ad_fail_ctx(rc, "%s: [adaptor]", job), "fix the [adaptor] keys "
                           "named (`adaptor config --reference` gives their ranges)");
    return AD_OK;
}

int ad_check_config(const ad_config *cfg)
{
    ad_adaptor_config ac;
    AD_TRY(check_image_arch(cfg));
    return check_adaptor(cfg, 1, 1, 0, &ac);
}

static int cache_path(const ad_config *cfg, const char *modality, const char *split, char *out,
                      size_t n)
{
    int rc = ad_cache_file(cfg, modality, split, out, n);
    return rc == AD_OK ? AD_OK : ad_set_hint(rc, "set the key named in %s", ad_config_source(cfg));
}

static int require_caches(const ad_config *cfg, const char *split, const char *stage)
{
    static const char *const mod[2] = {"image", "text"};
    for (int i = 0; i < 2; i++) {
        char path[4200];
        AD_TRY(cache_path(cfg, mod[i], split, path, sizeof path));
        if (ad_path_exists(path))
            continue;
        /* A cache of the other precision is never used in its place: say why it is not. */
        const char *sec = i == 0 ? "image_encoder" : "text_encoder";
        const char *want = ad_config_get(cfg, sec, "precision");
        const char *other = want && is(want, "bf16") ? "fp32" : "bf16";
        char alt[4200];
        if (ad_cache_file_as(cfg, mod[i], split, other, alt, sizeof alt) == AD_OK &&
            ad_path_exists(alt))
            return ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s needs the %s cache of split '%s' made "
                                       "with [%s] precision = %s: %s does not exist, and %s "
                                       "(precision = %s) is not used in its place", stage,
                                       mod[i], split, sec, want ? want : "fp32", path, alt, other),
                               "run `adaptor embed %s` with this precision, or set [%s] "
                               "precision = %s", ad_config_source(cfg), sec, other);
        return ad_set_hint(ad_fail(AD_ERR_IO, "%s needs the %s cache of split '%s': %s "
                                   "does not exist", stage, mod[i], split, path),
                           "run `adaptor embed %s` first (with the same --set options)",
                           ad_config_source(cfg));
    }
    return AD_OK;
}

/* eval's weights: --weights, else [output] dir/model.safetensors. */
static int weights_path(const ad_config *cfg, const char *weights, char *out, size_t n)
{
    if (weights) {
        snprintf(out, n, "%s", weights);
        return AD_OK;
    }
    if (ad_config_require(cfg, "output", "dir") != AD_OK)
        return ad_set_hint(AD_ERR_CONFIG, "set [output] dir in %s", ad_config_source(cfg));
    return ad_path_join(out, n, ad_config_get(cfg, "output", "dir"), "model.safetensors");
}

/* Every rank holds at least one pair of each global batch (the contrastive loss and the
 * gradient all-reduce assume it): more ranks than [train] batch_size is refused before any
 * work, by `adaptor check --ranks N` and by the stages alike. */
static int check_ranks(const ad_config *cfg, int ranks)
{
    int64_t G;
    AD_TRY(ad_config_int(cfg, "train", "batch_size", &G));
    if (G >= ranks)
        return AD_OK;
    ad_fail(AD_ERR_CONFIG, "%s: [train] batch_size = %lld is smaller than the %d ranks (every "
            "rank needs at least one pair of each global batch)",
            ad_config_where(cfg, "train", "batch_size"), (long long)G, ranks);
    return ad_set_hint(AD_ERR_CONFIG, "run on at most %lld ranks (e.g. fewer nodes or "
                       "--ntasks-per-node) or raise [train] batch_size, keeping it the same "
                       "when resuming", (long long)G);
}

static int stage_checks(const ad_config *cfg, ad_stage stage, const char *weights,
                        const char *modality, int ranks)
{
    const char *job = ad_config_source(cfg);
    AD_TRY(ad_check_config(cfg));
    switch (stage) {
    case AD_STAGE_EMBED:
        AD_TRY(check_manifest(cfg));
        if (!is(modality, "text")) {
            AD_TRY(check_image_arch(cfg));
            AD_TRY(check_model_folder(cfg, "image_encoder"));
        }
        if (!is(modality, "image"))
            AD_TRY(check_model_folder(cfg, "text_encoder"));
        if (ad_config_require(cfg, "cache", "dir") != AD_OK)
            return ad_set_hint(AD_ERR_CONFIG, "set [cache] dir in %s", job);
        return AD_OK;
    case AD_STAGE_PRETRAIN:
        if (ad_config_require(cfg, "output", "dir") != AD_OK)
            return ad_set_hint(AD_ERR_CONFIG, "set [output] dir in %s", job);
        AD_TRY(check_ranks(cfg, ranks));
        if (is(ad_config_get(cfg, "train", "source"), "online")) {
            AD_TRY(check_manifest(cfg));
            AD_TRY(check_image_arch(cfg));
            AD_TRY(check_resnet_ae(cfg, stage));
            AD_TRY(check_model_folder(cfg, "image_encoder"));
            return check_model_folder(cfg, "text_encoder");
        }
        return require_caches(cfg, "train", "pretrain");
    case AD_STAGE_EVAL: {
        char **splits = NULL, path[4200];
        int n = 0, rc = ad_config_list(cfg, "eval", "splits", &splits, &n);
        for (int s = 0; s < n && rc == AD_OK; s++)
            rc = require_caches(cfg, splits[s], "eval");
        free(splits);
        AD_TRY(rc);
        AD_TRY(weights_path(cfg, weights, path, sizeof path));
        if (!ad_path_exists(path))
            return ad_set_hint(ad_fail(AD_ERR_IO, "eval needs the trained Adaptor: %s does not "
                                       "exist", path),
                               "run `adaptor pretrain %s` first, or give --weights FILE", job);
        if (ad_config_is_set(cfg, "data", "label_columns")) {
            AD_TRY(check_manifest(cfg));
            AD_TRY(check_model_folder(cfg, "text_encoder"));
        }
        return AD_OK;
    }
    case AD_STAGE_CLASSIFY:
    case AD_STAGE_SEGMENT:
        AD_TRY(check_manifest_file(cfg));
        AD_TRY(check_image_arch(cfg));
        AD_TRY(check_resnet_ae(cfg, stage));
        return check_model_folder(cfg, "image_encoder");
    default:
        return AD_OK;
    }
}

int ad_check_stage(MPI_Comm comm, const ad_config *cfg, ad_stage stage, const char *weights,
                   const char *modality)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    AD_TRY(ad_mpi_agree(comm, rank == 0 ? stage_checks(cfg, stage, weights, modality, size)
                                        : AD_OK, NULL));
    /* The folders rank 0 writes and every rank reads (embed: caches; pretrain: caches unless
     * it encodes online, and the run dir; eval: both), checked before any work. */
    int online = is(ad_config_get(cfg, "train", "source"), "online");
    if ((stage == AD_STAGE_EMBED || stage == AD_STAGE_EVAL ||
         (stage == AD_STAGE_PRETRAIN && !online)) && ad_config_is_set(cfg, "cache", "dir"))
        AD_TRY(ad_check_shared_dir(comm, ad_config_get(cfg, "cache", "dir"), "[cache] dir",
                                   stage != AD_STAGE_EMBED));
    if ((stage == AD_STAGE_PRETRAIN || stage == AD_STAGE_EVAL) &&
        ad_config_is_set(cfg, "output", "dir"))
        AD_TRY(ad_check_shared_dir(comm, ad_config_get(cfg, "output", "dir"), "[output] dir", 0));
    return AD_OK;
}

/* ---- the dry run ----------------------------------------------------------------------- */

static void human_bytes(double b, char *out, size_t n)
{
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4) {
        b /= 1000;
        u++;
    }
    snprintf(out, n, u ? "%.2f %s" : "%.0f %s", b, unit[u]);
}

static void human_time(double s, char *out, size_t n)
{
    if (s < 60)
        snprintf(out, n, "%.1f s", s);
    else if (s < 3600)
        snprintf(out, n, "%.1f min", s / 60);
    else
        snprintf(out, n, "%.2f h", s / 3600);
}

/* Bytes of a cache's variables (netCDF headers aside): embeddings, sample ids, and for
 * token caches the token mask and lengths. */
static double cache_bytes(int64_t rows, int dim, int tokens)
{
    double r = (double)rows, T = tokens ? tokens : 1;
    return r * T * dim * 4 + r * 8 + (tokens ? r * T + r * 4 : 0);
}

/* FLOPs of one training step: forward + backward of every parameter per sample (and per
 * token in token mode), and the logits of the contrastive loss both ways. */
static double step_flops(double nparams, double G, double P, double tokens)
{
    return 6.0 * nparams * G * tokens + 6.0 * G * G * P;
}

typedef struct split_rows {
    int64_t all, viewed, kept;
} split_rows;

static int count_split(const ad_manifest *m, const char *split, split_rows *r, FILE *out)
{
    int64_t *idx = NULL;
    static const char *const any[1] = {""};
    AD_TRY(ad_manifest_select(m, split, any, 0, 0, &idx, &r->all));
    free(idx);
    AD_TRY(ad_manifest_select(m, split, NULL, 0, 0, &idx, &r->viewed));
    free(idx);
    ad_selection s;
    int64_t dropped = 0;
    int rc = ad_select_rows(m, split, &s, &dropped);
    if (rc != AD_OK)
        return ad_set_hint(rc, "check [cache] splits, [data] split_column and [data] views");
    r->kept = s.n;
    ad_selection_free(&s);
    fprintf(out, "  split %-6s %lld rows, %lld after the view filter (%lld of other views left "
            "out), %lld with a report MGCA keeps (%lld dropped)\n", split, (long long)r->all,
            (long long)r->viewed, (long long)(r->all - r->viewed), (long long)r->kept,
            (long long)dropped);
    return AD_OK;
}

int ad_check_job(const ad_config *cfg, int ranks, FILE *out)
{
    const char *job = ad_config_source(cfg);
    char **splits = NULL, **esplits = NULL;
    int nsplits = 0, nes = 0, rc;
    ad_manifest *m = NULL;
    ad_frozen enc[2];
    ad_adaptor *model = NULL, *ref = NULL;
    split_rows *rows = NULL;
    memset(enc, 0, sizeof enc);
    fprintf(out, "check %s for %d rank%s\n", job, ranks, ranks > 1 ? "s" : "");
    AD_CHECK(ad_config_list(cfg, "cache", "splits", &splits, &nsplits));
    AD_CHECK(ad_config_list(cfg, "eval", "splits", &esplits, &nes));
    rows = ad_calloc((size_t)nsplits, sizeof *rows, "split rows");
    AD_CHECK(rows ? AD_OK : AD_ERR_NOMEM);

    /* 1. the manifest and its rows */
    AD_CHECK(open_manifest(cfg, &m));
    fprintf(out, "manifest %s: %lld rows, columns found\n", ad_manifest_path(m),
            (long long)ad_manifest_rows(m));
    int64_t ntrain = -1;
    for (int s = 0; s < nsplits; s++) {
        AD_CHECK(count_split(m, splits[s], &rows[s], out));
        if (is(splits[s], "train"))
            ntrain = rows[s].kept;
    }
    if (ntrain < 0) {
        rc = ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s: [cache] splits has no 'train' split to "
                                 "pretrain on", job), "add train to [cache] splits");
        goto done;
    }

    /* 2. the encoders, loaded as embed loads them */
    AD_CHECK(check_image_arch(cfg));
    if (is(ad_config_get(cfg, "train", "source"), "online"))
        AD_CHECK(check_resnet_ae(cfg, AD_STAGE_PRETRAIN));
    AD_CHECK(check_model_folder(cfg, "image_encoder"));
    AD_CHECK(check_model_folder(cfg, "text_encoder"));
    ad_job choices;
    AD_CHECK(ad_job_parse(cfg, &choices));
    if ((rc = ad_frozen_open(&enc[0], cfg, &choices, 1, NULL)) != AD_OK) {
        ad_set_hint(rc, "fix [image_encoder] in %s", job);
        goto done;
    }
    if ((rc = ad_frozen_open(&enc[1], cfg, &choices, 0, NULL)) != AD_OK) {
        ad_set_hint(rc, "fix [text_encoder] or [data] in %s", job);
        goto done;
    }
    int dv = ad_frozen_dim(&enc[0]), tv = ad_frozen_tokens(&enc[0]);
    int dt = ad_frozen_dim(&enc[1]), tt = ad_frozen_tokens(&enc[1]);
    double f_img = ad_frozen_flops(&enc[0]), f_txt = ad_frozen_flops(&enc[1]);
    fprintf(out, "image encoder %s: %s, %d-d embeddings x %d, %.3g GFLOP per %s px image\n",
            ad_config_get(cfg, "image_encoder", "model"), ad_config_get(cfg, "image_encoder", "arch"),
            dv, tv ? tv : 1, f_img / 1e9, ad_config_get(cfg, "data", "crop_size"));
    fprintf(out, "text encoder %s: BERT, %d-d embeddings x %d (%s), %.3g GFLOP per %s-token "
            "report\n", ad_config_get(cfg, "text_encoder", "model"), dt, tt ? tt : 1,
            ad_config_get(cfg, "text_encoder", "pooling"), f_txt / 1e9,
            ad_config_get(cfg, "data", "max_words"));

    /* 3. the Adaptor on these widths */
    int tokens = is(ad_config_get(cfg, "adaptor", "mode"), "tokens");
    if (tokens != (tv > 0) || tokens != (tt > 0)) {
        rc = ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s: [adaptor] mode = %s, but the encoders give "
                                 "%s image and %s text embeddings", job,
                                 tokens ? "tokens" : "pooled", tv ? "token" : "pooled",
                                 tt ? "token" : "pooled"),
                         tokens ? "set [image_encoder] output = tokens and [text_encoder] "
                                  "pooling = tokens"
                                : "set [image_encoder] output = cls or mean and [text_encoder] "
                                  "pooling = pooler, cls or mean");
        goto done;
    }
    ad_adaptor_config ac;
    AD_CHECK(check_adaptor(cfg, dv, dt, tokens, &ac));
    AD_CHECK(ad_adaptor_create(&ac, &model));
    AD_CHECK(ad_adaptor_create(&ref_adaptor, &ref));
    double np = (double)model->nparams;
    fprintf(out, "Adaptor: %s, %d layers, projection %d, %d heads, ffn %d: %zu parameters\n",
            tokens ? "tokens" : "pooled", ac.layers, ac.proj, ac.heads, ac.ffn, model->nparams);

    /* 4. what exists, and the stage to run next */
    int missing = 0;
    fprintf(out, "caches in %s:\n", ad_config_get(cfg, "cache", "dir"));
    for (int s = 0; s < nsplits; s++)
        for (int i = 0; i < 2; i++) {
            char path[4200];
            AD_CHECK(cache_path(cfg, i ? "text" : "image", splits[s], path, sizeof path));
            const char *state = "missing";
            ad_cache *c;
            if (ad_path_exists(path)) {
                state = "unreadable";
                if (ad_cache_open(path, &c) == AD_OK) {
                    state = ad_cache_rows(c) == rows[s].kept &&
                                    ad_cache_dim(c) == ad_frozen_dim(&enc[i]) &&
                                    ad_cache_tokens(c) == ad_frozen_tokens(&enc[i])
                                ? "present"
                                : "stale";
                    ad_cache_close(c);
                }
                ad_clear_error();
            }
            missing += !is(state, "present");
            fprintf(out, "  %-10s %s\n", state, path);
        }
    char wpath[4200];
    AD_CHECK(weights_path(cfg, NULL, wpath, sizeof wpath));
    int online = is(ad_config_get(cfg, "train", "source"), "online");
    const char *next = missing && !online ? "embed" : !ad_path_exists(wpath) ? "pretrain" : "eval";
    fprintf(out, "weights %s: %s\n", wpath, ad_path_exists(wpath) ? "present" : "missing");
    fprintf(out, "next: run `adaptor %s %s`%s\n", next, job,
            is(next, "embed") ? " (caches missing or stale: embed writes them)" : "");

    /* 5. the plan */
    int64_t G, epochs, every, keep;
    AD_CHECK(ad_config_int(cfg, "train", "batch_size", &G));
    AD_CHECK(ad_config_int(cfg, "train", "epochs", &epochs));
    AD_CHECK(ad_config_int(cfg, "train", "checkpoint_every", &every));
    AD_CHECK(ad_config_int(cfg, "train", "keep_checkpoints", &keep));
    if (G > ntrain) {
        rc = ad_set_hint(ad_fail(AD_ERR_CONFIG, "%s: [train] batch_size = %lld is larger than "
                                 "the %lld training pairs", job, (long long)G, (long long)ntrain),
                         "set [train] batch_size to at most %lld", (long long)ntrain);
        goto done;
    }
    AD_CHECK(check_ranks(cfg, ranks));
    ad_train_plan tp;
    AD_CHECK(ad_train_plan_make(cfg, ntrain, &tp));
    int64_t spe = tp.spe, updates = tp.total;
    int64_t written = (every > 0 ? updates / every : 0) + (every > 0 && updates % every == 0 ? 0 : 1);
    int64_t kept = written < keep ? written : keep;
    double ck_one = 3.0 * np * 4 + 4, model_b = np * 4, caches_b = 0;
    for (int s = 0; s < nsplits; s++)
        caches_b += cache_bytes(rows[s].kept, dv, tv) + cache_bytes(rows[s].kept, dt, tt);
    char b1[32], b2[32], b3[32];
    fprintf(out, "plan on %d rank%s:\n", ranks, ranks > 1 ? "s" : "");
    fprintf(out, "  pretrain: %lld pairs / global batch %lld = %lld steps per epoch (%lld per "
            "rank per step), %lld epochs -> %lld updates\n", (long long)ntrain, (long long)G,
            (long long)spe, (long long)(G / ranks), (long long)epochs, (long long)updates);
    if (tp.last != G || ntrain % G)
        fprintf(out, "  each epoch's last step: %lld pairs%s\n", (long long)(tp.drop_last ?
                ntrain % G : tp.last), tp.drop_last ? " dropped ([train] drop_last = true)" : "");
    human_bytes(caches_b, b1, sizeof b1);
    human_bytes(ck_one, b2, sizeof b2);
    human_bytes((double)kept * ck_one + model_b, b3, sizeof b3);
    fprintf(out, "  disk: caches %s (%.0f bytes); checkpoints %lld written, %lld kept x %s "
            "(%.0f bytes each) + final weights = %s\n", b1, caches_b, (long long)written,
            (long long)kept, b2, ck_one, b3);

    /* 6. times from the per-core rates */
    double rate_step = step_flops((double)ref->nparams, 1024, ref_adaptor.proj, 1) /
                       REF_STEP_SECONDS;
    int64_t all_rows = 0;
    for (int s = 0; s < nsplits; s++)
        all_rows += rows[s].kept;
    double t_embed = (double)all_rows * (1.0 / RATE_DECODE_IMAGES + (f_img + f_txt) /
                                         RATE_ENCODER_FLOPS) / ranks;
    double tok = tokens ? 0.5 * (tv + tt) : 1;
    double t_train = (double)updates * step_flops(np, (double)G, ac.proj, tok) / rate_step / ranks;
    double f_eval = 0;
    for (int s = 0; s < nes; s++)
        for (int k = 0; k < nsplits; k++)
            if (is(esplits[s], splits[k])) {
                double n = (double)rows[k].kept;
                f_eval += 4 * (2.0 * n * np * tok + 2.0 * n * n * ac.proj);
            }
    double t_eval = f_eval / RATE_ENCODER_FLOPS / ranks;
    fprintf(out, "  rates per core (README benchmarks, 2-core development VM, BLIS skx kernels, "
            "linear scaling over ranks assumed): encoders %.0f GFLOP/s (bench_vision, "
            "bench_bert), image decoding + preprocessing %.0f images/s (bench_preprocess), "
            "Adaptor training %.1f GFLOP/s (bench_pretrain: %.1f s per 1024-pair step of the "
            "paper's Adaptor)\n", RATE_ENCODER_FLOPS / 1e9, RATE_DECODE_IMAGES, rate_step / 1e9,
            REF_STEP_SECONDS);
    char t1[32], t2[32], t3[32];
    human_time(t_embed, t1, sizeof t1);
    human_time(t_train, t2, sizeof t2);
    human_time(t_eval, t3, sizeof t3);
    fprintf(out, "  time: embed %s (%.1f s: %lld rows x (1/%.0f s + %.4g GFLOP / %.0f GFLOP/s) "
            "/ %d)\n", t1, t_embed, (long long)all_rows, RATE_DECODE_IMAGES, (f_img + f_txt) / 1e9,
            RATE_ENCODER_FLOPS / 1e9, ranks);
    fprintf(out, "  time: pretrain %s (%.1f s: %lld updates x %.4g GFLOP / %.1f GFLOP/s / %d)\n",
            t2, t_train, (long long)updates, step_flops(np, (double)G, ac.proj, tok) / 1e9,
            rate_step / 1e9, ranks);
    fprintf(out, "  time: eval %s (%.1f s: retrieval products of 4 models over [eval] splits)\n",
            t3, t_eval);
    rc = AD_OK;
done:
    ad_adaptor_destroy(model);
    ad_adaptor_destroy(ref);
    ad_frozen_free(&enc[0]);
    ad_frozen_free(&enc[1]);
    ad_manifest_close(m);
    free(rows);
    free(splits);
    free(esplits);
    return rc;
}
