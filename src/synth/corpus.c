/* The corpus: splits, sharded image writing, then (rank 0) models, synth.json and the
 * manifest, which is written last so that its presence means the corpus is complete. */
#include "synth_internal.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image_write.h"
#include "adaptor/log.h"
#include "adaptor/share.h"
#include "adaptor/version.h"

#include <cjson/cJSON.h>
#include <csv.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stream ids above any row index (rows use 0..n-1). */
#define SPLIT_STREAM 0xFFFFFFFF00000001ull

static const char *const finding_names[AD_SYNTH_NFINDINGS] = {"Cardiomegaly", "Pleural Effusion",
                                                              "Lung Opacity", "Pneumothorax",
                                                              "Nodule",       "Support Devices"};
static const char *const split_names[3] = {"train", "valid", "test"};
static const char *const view_names[3] = {"PA", "AP", "LATERAL"};

const char *ad_synth_finding_name(int k)
{
    return k >= 0 && k < AD_SYNTH_NFINDINGS ? finding_names[k] : NULL;
}

/* About 80/10/10, never an empty split: a seeded permutation takes the first tenth as
 * valid and the next as test. */
static int make_splits(uint64_t seed, int64_t n, unsigned char **out)
{
    int64_t *idx = ad_malloc((size_t)n * sizeof *idx, "synth split permutation");
    unsigned char *split = ad_malloc((size_t)n, "synth splits");
    if (!idx || !split) {
        free(idx);
        free(split);
        return AD_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    ad_rng rng;
    ad_rng_seed(&rng, seed, SPLIT_STREAM);
    ad_rng_shuffle(&rng, idx, n);
    int64_t nv = (n + 5) / 10, nt = (n + 5) / 10;
    for (int64_t p = 0; p < n; p++)
        split[idx[p]] = p < nv ? AD_SYN_VALID : (p < nv + nt ? AD_SYN_TEST : AD_SYN_TRAIN);
    free(idx);
    *out = split;
    return AD_OK;
}

static int ensure_parent(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    return ad_mkdir_p(dirname(buf));
}

/* Draws row r and writes its image and mask under outdir. */
static int write_row(const char *outdir, ad_synth_row *r, float *img, uint8_t *pix8,
                     uint16_t *pix16, uint8_t *mask)
{
    char path[4096];
    AD_TRY(ad_synth_draw(r, &r->rng, img, mask));
    size_t np = (size_t)r->width * (size_t)r->height;
    AD_TRY(ad_path_join(path, sizeof path, outdir, r->image_path));
    AD_TRY(ensure_parent(path));
    if (r->format == AD_SYN_PNG16) {
        for (size_t i = 0; i < np; i++)
            pix16[i] = (uint16_t)lrint(img[i] * 65535.0f);
        AD_TRY(ad_png_write_gray(path, pix16, r->width, r->height, 16, 0));
    } else {
        for (size_t i = 0; i < np; i++)
            pix8[i] = (uint8_t)lrint(img[i] * 255.0f);
        if (r->format == AD_SYN_JPEG)
            AD_TRY(ad_jpeg_write_gray(path, pix8, r->width, r->height, 90, 0));
        else
            AD_TRY(ad_png_write_gray(path, pix8, r->width, r->height, 8, 0));
    }
    AD_TRY(ad_path_join(path, sizeof path, outdir, r->mask_path));
    AD_TRY(ensure_parent(path));
    /* Not fsync'ed one by one: the corpus is synced once, before the manifest marks it
     * complete. */
    return ad_png_write_gray(path, mask, r->width, r->height, 8, 0);
}

static int write_images(const ad_synth_opts *o, const unsigned char *split, int rank, int size)
{
    size_t maxp = (size_t)AD_SYN_MAX_SIDE * AD_SYN_MAX_SIDE;
    float *img = ad_malloc(maxp * sizeof *img, "synth image");
    uint8_t *pix8 = ad_malloc(maxp, "synth pixels");
    uint16_t *pix16 = ad_malloc(maxp * sizeof *pix16, "synth pixels");
    uint8_t *mask = ad_malloc(maxp, "synth mask");
    int rc = AD_OK;
    if (!img || !pix8 || !pix16 || !mask) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    int64_t first, mine; /* rows are dealt round-robin: only the count is shared out */
    ad_share(o->n, rank, size, &first, &mine);
    ad_progress prog;
    ad_progress_start(&prog, "synth: images (rank 0)", "img", mine, mine / 10 > 0 ? mine / 10 : 1);
    for (int64_t i = rank; i < o->n; i += size) {
        ad_synth_row r;
        AD_CHECK(ad_synth_row_make(o->seed, i, split[i], &r));
        rc = write_row(o->outdir, &r, img, pix8, pix16, mask);
        ad_synth_row_free(&r);
        if (rc != AD_OK)
            goto done;
        ad_progress_step(&prog, 1, NULL);
    }
    ad_progress_finish(&prog, NULL);
    rc = ad_sync_fs(o->outdir);
done:
    free(img);
    free(pix8);
    free(pix16);
    free(mask);
    return rc;
}

/* One CSV field through libcsv, which quotes it (commas, quotes and newlines survive). */
static int csv_field(FILE *fp, const char *s, int last)
{
    if (csv_fwrite(fp, s, strlen(s)) != 0 || fputc(last ? '\n' : ',', fp) == EOF)
        return ad_fail(AD_ERR_IO, "manifest.csv: write failed");
    return AD_OK;
}

static int write_manifest(const ad_synth_opts *o, const unsigned char *split,
                          int64_t counts[3][AD_SYNTH_NFINDINGS + 1])
{
    char path[4096];
    AD_TRY(ad_path_join(path, sizeof path, o->outdir, "manifest.csv"));
    ad_atomic_file af;
    AD_TRY(ad_atomic_open(&af, path));
    FILE *fp = af.fp;
    int rc = AD_OK;
    static const char *const head1[] = {"Path",  "subject_id", "study_id",  "ViewPosition",
                                        "split", "findings",   "impression"};
    for (size_t j = 0; j < sizeof head1 / sizeof *head1; j++)
        AD_CHECK(csv_field(fp, head1[j], 0));
    for (int k = 0; k < AD_SYNTH_NFINDINGS; k++)
        AD_CHECK(csv_field(fp, finding_names[k], 0));
    AD_CHECK(csv_field(fp, "mask", 1));
    for (int64_t i = 0; i < o->n; i++) {
        ad_synth_row r;
        AD_CHECK(ad_synth_row_make(o->seed, i, split[i], &r));
        char num[32];
        rc = csv_field(fp, r.image_path, 0);
        snprintf(num, sizeof num, "%u", r.patient);
        if (rc == AD_OK)
            rc = csv_field(fp, num, 0);
        snprintf(num, sizeof num, "%u", r.study);
        if (rc == AD_OK)
            rc = csv_field(fp, num, 0);
        if (rc == AD_OK)
            rc = csv_field(fp, view_names[r.view], 0);
        if (rc == AD_OK)
            rc = csv_field(fp, split_names[r.split], 0);
        if (rc == AD_OK)
            rc = csv_field(fp, r.findings, 0);
        if (rc == AD_OK)
            rc = csv_field(fp, r.impression, 0);
        for (int k = 0; k < AD_SYNTH_NFINDINGS && rc == AD_OK; k++) {
            rc = csv_field(fp, r.present[k] ? "1" : "0", 0);
            counts[r.split][k] += r.present[k];
        }
        counts[r.split][AD_SYNTH_NFINDINGS]++;
        if (rc == AD_OK)
            rc = csv_field(fp, r.mask_path, 1);
        ad_synth_row_free(&r);
        if (rc != AD_OK)
            goto done;
    }
    return ad_atomic_commit(&af);
done:
    ad_atomic_abort(&af);
    return rc;
}

int ad_synth_write_json(const char *path, cJSON *root)
{
    char *text = root ? cJSON_Print(root) : NULL;
    if (!text)
        return ad_fail(AD_ERR_NOMEM, "%s: cannot format JSON", path);
    size_t n = strlen(text);
    char *buf = malloc(n + 2);
    if (!buf) {
        cJSON_free(text);
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(buf, text, n);
    buf[n] = '\n';
    cJSON_free(text);
    int rc = ad_write_file_atomic(path, buf, n + 1);
    free(buf);
    return rc;
}

static int write_synth_json(const ad_synth_opts *o)
{
    char path[4096];
    AD_TRY(ad_path_join(path, sizeof path, o->outdir, "synth.json"));
    cJSON *root = cJSON_CreateObject();
    cJSON *names = cJSON_CreateArray();
    if (root && names) {
        cJSON_AddStringToObject(root, "generator", "adaptor synth");
        cJSON_AddStringToObject(root, "version", ADAPTOR_VERSION);
        cJSON_AddNumberToObject(root, "format_version", AD_SYNTH_FORMAT_VERSION);
        cJSON_AddNumberToObject(root, "seed", (double)o->seed);
        cJSON_AddNumberToObject(root, "n", (double)o->n);
        for (int k = 0; k < AD_SYNTH_NFINDINGS; k++)
            cJSON_AddItemToArray(names, cJSON_CreateString(finding_names[k]));
        cJSON_AddItemToObject(root, "findings", names);
        names = NULL;
    }
    int rc = ad_synth_write_json(path, root);
    cJSON_Delete(names);
    cJSON_Delete(root);
    return rc;
}

static void print_summary(const ad_synth_opts *o, int64_t counts[3][AD_SYNTH_NFINDINGS + 1])
{
    ad_info("synth: %lld rows in %s: train %lld, valid %lld, test %lld", (long long)o->n, o->outdir,
            (long long)counts[0][AD_SYNTH_NFINDINGS], (long long)counts[1][AD_SYNTH_NFINDINGS],
            (long long)counts[2][AD_SYNTH_NFINDINGS]);
    for (int k = 0; k < AD_SYNTH_NFINDINGS; k++) {
        int64_t total = counts[0][k] + counts[1][k] + counts[2][k];
        ad_info("synth:   %-16s %6lld (%4.1f%%)  train %lld  valid %lld  test %lld",
                finding_names[k], (long long)total, 100.0 * (double)total / (double)o->n,
                (long long)counts[0][k], (long long)counts[1][k], (long long)counts[2][k]);
    }
}

/* Every rank learns whether any rank failed, and with the first failing rank's message:
 * whichever rank's report survives MPI_Abort then names the real cause. */
static int agree(MPI_Comm comm, int rc)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int in[2] = {rc, rc != AD_OK ? rank : size}, out[2] = {AD_OK, size};
    if (MPI_Allreduce(&in[0], &out[0], 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS ||
        MPI_Allreduce(&in[1], &out[1], 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "synth: MPI_Allreduce failed");
    if (out[0] == AD_OK)
        return AD_OK;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rank == out[1] ? ad_errmsg() : "");
    if (MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, out[1], comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "synth: MPI_Bcast failed");
    return ad_fail(rc != AD_OK ? rc : out[0], "%s", msg);
}

int ad_synth_corpus(const ad_synth_opts *o, MPI_Comm comm)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (!o->outdir || !o->outdir[0])
        return ad_fail(AD_ERR_ARG, "synth: no output directory");
    if (o->n < AD_SYNTH_MIN_N || o->n > AD_SYNTH_MAX_N)
        return ad_fail(AD_ERR_ARG, "synth: n = %lld outside %d..%d", (long long)o->n,
                       AD_SYNTH_MIN_N, AD_SYNTH_MAX_N);
    int rc = AD_OK;
    if (rank == 0) {
        char path[4096];
        rc = ad_path_join(path, sizeof path, o->outdir, "manifest.csv");
        if (rc == AD_OK && !o->force && ad_path_exists(path))
            rc = ad_fail(AD_ERR_ARG, "%s: a corpus is already there (use --force to overwrite)",
                         path);
        if (rc == AD_OK)
            rc = ad_mkdir_p(o->outdir);
    }
    AD_TRY(agree(comm, rc));

    unsigned char *split = NULL;
    rc = make_splits(o->seed, o->n, &split);
    if (rc == AD_OK)
        rc = write_images(o, split, rank, size);
    rc = agree(comm, rc);
    if (rc == AD_OK && rank == 0) {
        char path[4096];
        int64_t counts[3][AD_SYNTH_NFINDINGS + 1];
        memset(counts, 0, sizeof counts);
        rc = ad_path_join(path, sizeof path, o->outdir, "models");
        if (rc == AD_OK)
            rc = ad_synth_write_models(path, o->seed);
        if (rc == AD_OK)
            rc = write_synth_json(o);
        if (rc == AD_OK)
            rc = write_manifest(o, split, counts);
        if (rc == AD_OK)
            print_summary(o, counts);
    }
    free(split);
    rc = agree(comm, rc);
    if (MPI_Barrier(comm) != MPI_SUCCESS && rc == AD_OK)
        rc = ad_fail(AD_ERR_MPI, "synth: MPI_Barrier failed");
    return rc;
}
