/* The rows, masks, images and token caches of `adaptor segment`. */
#include "segment_internal.h"

#include "adaptor/embed.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/frozen.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"
#include "adaptor/pipeline.h"
#include "adaptor/preprocess.h"
#include "adaptor/segment.h"
#include "adaptor/share.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int seg_config_with(const ad_config *cfg, const char *section, const char *key,
                    const char *value, ad_config **out)
{
    ad_config *c;
    AD_TRY(ad_config_create(&c));
    int rc = AD_OK;
    for (const ad_cfg_key *k = ad_config_schema; k->section && rc == AD_OK; k++) {
        const char *v = ad_config_get(cfg, k->section, k->key);
        if (v)
            rc = ad_config_set(c, k->section, k->key, v, ad_config_where(cfg, k->section, k->key));
    }
    if (rc == AD_OK)
        rc = ad_config_set(c, section, key, value, ad_config_source(cfg));
    if (rc != AD_OK) {
        ad_config_destroy(c);
        return rc;
    }
    *out = c;
    return AD_OK;
}

int ad_seg_mask_bit(const ad_config *cfg, int *bit)
{
    *bit = -1;
    const char *v = ad_config_get(cfg, "segment", "mask_bit");
    if (!v || !*v)
        return AD_OK;
    if (isdigit((unsigned char)v[0])) {
        char *end;
        long b = strtol(v, &end, 10);
        if (*end || b > 7)
            return ad_fail(AD_ERR_CONFIG, "%s: [segment] mask_bit = %s: give a bit 0..7 or a "
                           "finding of [data] label_columns",
                           ad_config_where(cfg, "segment", "mask_bit"), v);
        *bit = (int)b;
        return AD_OK;
    }
    char **labels = NULL;
    int n = 0;
    if (ad_config_is_set(cfg, "data", "label_columns"))
        AD_TRY(ad_config_list(cfg, "data", "label_columns", &labels, &n));
    for (int k = 0; k < n && *bit < 0; k++)
        if (strcmp(labels[k], v) == 0)
            *bit = k;
    free(labels);
    if (*bit < 0 || *bit > 7)
        return ad_fail(AD_ERR_CONFIG, "%s: [segment] mask_bit = %s is not one of the first 8 "
                       "findings of [data] label_columns",
                       ad_config_where(cfg, "segment", "mask_bit"), v);
    return AD_OK;
}

int seg_source_open(const ad_config *cfg, const ad_job *job, seg_source *src)
{
    memset(src, 0, sizeof *src);
    int64_t resize, crop;
    AD_TRY(ad_config_int(cfg, "data", "resize", &resize));
    AD_TRY(ad_config_int(cfg, "data", "crop_size", &crop));
    src->resize = (int)resize;
    src->crop = (int)crop;
    src->depth16 = job->depth16;
    AD_TRY(ad_seg_mask_bit(cfg, &src->bit));
    if (ad_config_is_set(cfg, "segment", "boxes")) {
        char **cols;
        int n;
        AD_TRY(ad_config_list(cfg, "segment", "box_columns", &cols, &n));
        int rc = n == 4 ? AD_OK
                        : ad_fail(AD_ERR_CONFIG, "%s: [segment] box_columns needs 4 columns "
                                  "(x, y, width, height), got %d",
                                  ad_config_where(cfg, "segment", "box_columns"), n);
        if (rc == AD_OK)
            rc = ad_box_table_read(ad_config_get(cfg, "segment", "boxes"),
                                   ad_config_get(cfg, "data", "image_root"),
                                   ad_config_get(cfg, "data", "image_column"),
                                   ad_config_get(cfg, "data", "split_column"),
                                   (const char *const *)cols, &src->boxes);
        free(cols);
        AD_TRY(rc);
        src->path = ad_box_table_path(src->boxes);
        return AD_OK;
    }
    AD_TRY(ad_config_require(cfg, "data", "manifest"));
    char **views = NULL;
    int nviews = 0;
    ad_manifest_spec spec = {.label_policy = AD_LABEL_AS_ZERO};
    spec.image_root = ad_config_get(cfg, "data", "image_root");
    spec.image_column = ad_config_get(cfg, "data", "image_column");
    spec.split_column = ad_config_get(cfg, "data", "split_column");
    spec.view_column = ad_config_get(cfg, "data", "view_column");
    spec.mask_column = ad_config_get(cfg, "segment", "mask_column");
    if (spec.view_column && *spec.view_column && ad_config_is_set(cfg, "data", "views"))
        AD_TRY(ad_config_list(cfg, "data", "views", &views, &nviews));
    spec.views = (const char *const *)views;
    spec.n_views = nviews;
    int rc = ad_manifest_open(ad_config_get(cfg, "data", "manifest"), &spec, &src->man);
    free(views);
    AD_TRY(rc);
    src->path = ad_manifest_path(src->man);
    return AD_OK;
}

void seg_source_close(seg_source *src)
{
    ad_manifest_close(src->man);
    ad_box_table_close(src->boxes);
    memset(src, 0, sizeof *src);
}

void seg_split_free(seg_split *s)
{
    free(s->image);
    free(s->line);
    free(s->id);
    free(s->cand);
    free(s->mask);
    free(s->pix);
    ad_cache_close(s->cache);
    memset(s, 0, sizeof *s);
}

static int candidates(const seg_source *src, const char *split, seg_split *s)
{
    int64_t *idx = NULL, n = 0;
    if (src->man) {
        AD_TRY(ad_manifest_select(src->man, split, NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n));
    } else {
        int64_t N = ad_box_table_images(src->boxes);
        idx = ad_malloc((size_t)(N ? N : 1) * sizeof *idx, "rows");
        if (!idx)
            return AD_ERR_NOMEM;
        for (int64_t i = 0; i < N; i++)
            if (strcmp(ad_box_table_at(src->boxes, i)->split, split) == 0)
                idx[n++] = i;
        if (n == 0) {
            free(idx);
            return ad_fail(AD_ERR_CONFIG, "%s: no image of split '%s'", src->path, split);
        }
    }
    s->ncand = n;
    s->image = ad_malloc((size_t)n * sizeof *s->image, "image paths");
    s->line = ad_malloc((size_t)n * sizeof *s->line, "lines");
    s->id = idx;
    if (!s->image || !s->line)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        if (src->man) {
            const ad_manifest_row *r = ad_manifest_row_at(src->man, idx[i]);
            s->image[i] = r->image;
            s->line[i] = r->line;
        } else {
            const ad_box_image *b = ad_box_table_at(src->boxes, idx[i]);
            s->image[i] = b->image;
            s->line[i] = b->line;
        }
    }
    return AD_OK;
}

/* Candidate i's mask and image, preprocessed into out and pix (crop * crop bytes each; the
 * image is kept before normalisation, which ad_crop_normalize redoes per batch). */
static int load_sample(const seg_source *src, const seg_split *s, int64_t i, uint8_t *out,
                       uint8_t *pix)
{
    ad_image img = {0}, m = {0}, pad = {0};
    const char *mpath = NULL;
    int rc = ad_image_read_gray8(s->image[i], src->depth16, &img);
    if (rc == AD_OK && src->man) {
        mpath = ad_manifest_row_at(src->man, s->id[i])->mask;
        if (!mpath)
            rc = ad_fail(AD_ERR_FORMAT, "the row has no mask (empty [segment] mask_column field)");
        else if (!ad_path_exists(mpath))
            rc = ad_fail(AD_ERR_IO, "%s: mask file not found", mpath);
        else
            rc = ad_mask_read(mpath, src->bit, &m);
    } else if (rc == AD_OK) {
        const ad_box_image *b = ad_box_table_at(src->boxes, s->id[i]);
        rc = ad_mask_from_boxes(b->boxes, b->nboxes, img.width, img.height, &m);
    }
    if (rc == AD_OK && (m.width != img.width || m.height != img.height))
        rc = ad_fail(AD_ERR_FORMAT, "%s: mask is %dx%d but its image %s is %dx%d", mpath,
                     m.width, m.height, s->image[i], img.width, img.height);
    int off = ad_center_crop_offset(src->resize, src->crop);
    if (rc == AD_OK)
        rc = ad_mask_preprocess(&m, src->resize, src->crop, off, off, out);
    if (rc == AD_OK)
        rc = ad_resize_pad(&img, src->resize, &pad);
    for (int y = 0; rc == AD_OK && y < src->crop; y++)
        memcpy(pix + (size_t)y * src->crop, pad.pixels + (size_t)(off + y) * pad.width + off,
               (size_t)src->crop);
    ad_image_free(&img);
    ad_image_free(&m);
    ad_image_free(&pad);
    if (rc != AD_OK)
        return ad_fail_ctx(rc, "%s:%lld", src->path, (long long)s->line[i]);
    return AD_OK;
}

int seg_split_load(MPI_Comm comm, const seg_source *src, const char *split, int positive_only,
                   seg_split *s)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", split);
    AD_TRY(ad_mpi_agree(comm, candidates(src, split, s), NULL));
    size_t cc = (size_t)src->crop * (size_t)src->crop;
    int64_t N = s->ncand;
    s->mask = ad_malloc((size_t)N * cc, "masks");
    s->pix = ad_malloc((size_t)N * cc, "images");
    int *cnt = ad_malloc(2 * (size_t)size * sizeof *cnt, "counts");
    int lrc = s->mask && s->pix && cnt ? AD_OK : AD_ERR_NOMEM;
    /* Contiguous shares, gathered in candidate order. */
    int64_t first = 0, mine = 0;
    ad_share(N, rank, size, &first, &mine);
    for (int64_t i = first; lrc == AD_OK && i < first + mine; i++)
        lrc = load_sample(src, s, i, s->mask + (size_t)i * cc, s->pix + (size_t)i * cc);
    int rc = ad_mpi_agree(comm, lrc, "reading masks and images");
    if (rc != AD_OK) {
        free(cnt);
        return rc;
    }
    int *displ = cnt + size;
    rc = ad_share_counts(N, size, 1, cnt, displ, "segment: masks and images");
    if (rc != AD_OK) {
        free(cnt);
        return rc;
    }
    MPI_Datatype row;
    MPI_Type_contiguous((int)cc, MPI_UNSIGNED_CHAR, &row);
    MPI_Type_commit(&row);
    int mrc = MPI_Allgatherv(MPI_IN_PLACE, 0, row, s->mask, cnt, displ, row, comm);
    if (mrc == MPI_SUCCESS)
        mrc = MPI_Allgatherv(MPI_IN_PLACE, 0, row, s->pix, cnt, displ, row, comm);
    MPI_Type_free(&row);
    free(cnt);
    if (mrc != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "gathering the masks and images of split %s failed", split);
    s->cand = ad_malloc((size_t)(N ? N : 1) * sizeof *s->cand, "samples");
    if (!s->cand)
        return AD_ERR_NOMEM;
    for (int64_t i = 0; i < N; i++) {
        const uint8_t *m = s->mask + (size_t)i * cc;
        int fg = 0;
        for (size_t p = 0; p < cc && !fg; p++)
            fg = m[p] != 0;
        if (positive_only && !fg)
            continue;
        if (s->n != i) {
            memmove(s->mask + (size_t)s->n * cc, m, cc);
            memmove(s->pix + (size_t)s->n * cc, s->pix + (size_t)i * cc, cc);
        }
        s->cand[s->n++] = i;
    }
    if (s->n == 0)
        return ad_fail(AD_ERR_CONFIG, "%s: no row of split '%s' has foreground in its mask "
                       "(check [segment] mask_bit, or set [segment] rows = all)", src->path, split);
    return AD_OK;
}

int seg_split_keep(seg_split *s, const int64_t *idx, int64_t k, size_t cc)
{
    for (int64_t j = 0; j < k; j++) {
        if (idx[j] < j || idx[j] >= s->n)
            return ad_fail(AD_ERR_INTERNAL, "sample subset not ascending");
        s->cand[j] = s->cand[idx[j]];
        if (idx[j] != j) {
            memmove(s->mask + (size_t)j * cc, s->mask + (size_t)idx[j] * cc, cc);
            memmove(s->pix + (size_t)j * cc, s->pix + (size_t)idx[j] * cc, cc);
        }
    }
    s->n = k;
    return AD_OK;
}

static uint32_t fnv1a32(uint32_t h, const char *p)
{
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    return h;
}

/* "<cache dir>/segment-<the embedding-cache name with output = tokens>-<8 hex of the source
 * file and the image list>.nc": keyed by the encoder, its preprocessing and exactly which
 * images it holds (the sample ids are row numbers of the source). */
static int token_cache_path(const ad_config *tcfg, const char *source, const seg_split *s,
                            char *out, size_t n)
{
    char base[4096];
    AD_TRY(ad_cache_file(tcfg, "image", s->name, base, sizeof base));
    uint32_t h = fnv1a32(2166136261u, source);
    for (int64_t i = 0; i < s->ncand; i++) {
        h = fnv1a32(h, s->image[i]);
        h = fnv1a32(h, "\n");
    }
    char *slash = strrchr(base, '/');
    const char *file = slash ? slash + 1 : base;
    size_t dl = slash ? (size_t)(slash - base) + 1 : 0;
    size_t fl = strlen(file);
    if (fl > 3 && strcmp(file + fl - 3, ".nc") == 0)
        fl -= 3;
    int w = snprintf(out, n, "%.*ssegment-%.*s-%08" PRIx32 ".nc", (int)dl, base, (int)fl, file, h);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "token cache path too long under %s", base);
    return AD_OK;
}

/* The patch tokens of the split's candidate rows, encoded once into the embed-cache layout
 * (resumable parts, rank-count independent; see embed.h) and kept while the rows match. */
static int write_token_cache(MPI_Comm comm, ad_frozen *e, const ad_selection *sel,
                             const ad_config *tcfg, const char *manifest, const char *path,
                             const char *split)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int64_t part_rows;
    AD_TRY(ad_mpi_agree(comm, ad_config_int(tcfg, "cache", "part_rows", &part_rows), NULL));
    AD_TRY(ad_mpi_agree(comm, rank == 0 ? ad_mkdir_p(ad_config_get(tcfg, "cache", "dir")) : AD_OK,
                        NULL));
    e->meta.split = split;
    char label[96];
    snprintf(label, sizeof label, "segment: token cache %s", split);
    ad_embed_stats st;
    memset(&st, 0, sizeof st);
    AD_TRY(ad_embed_selection(comm, e, sel, path, label, part_rows, 0, manifest, &st));
    const ad_embed_timers *tm = &st.tm;
    double tot = tm->read + tm->prep + tm->encode;
    if (tot > 0)
        ad_info("segment: token cache %s: rank 0 spent %.1f s: decoding %.0f%%, preprocessing "
                "%.0f%%, frozen encoder %.0f%% (%.1f images/s in the encoder)", split, tot,
                100 * tm->read / tot, 100 * tm->prep / tot, 100 * tm->encode / tot,
                tm->encode > 0 ? (double)sel->n / size / tm->encode : 0.0);
    return AD_OK;
}

int seg_token_cache(MPI_Comm comm, const ad_config *cfg, const ad_provenance *prov,
                    const char *source, seg_split *s)
{
    ad_config *tcfg;
    char path[4200];
    int rank;
    MPI_Comm_rank(comm, &rank);
    AD_TRY(ad_mpi_agree(comm, seg_config_with(cfg, "image_encoder", "output", "tokens", &tcfg),
                        NULL));
    ad_frozen e;
    memset(&e, 0, sizeof e);
    ad_job tjob; /* the job's choices with image_encoder.output = tokens */
    int rc = token_cache_path(tcfg, source, s, path, sizeof path);
    if (rc == AD_OK)
        rc = ad_job_parse(tcfg, &tjob);
    if (rc == AD_OK)
        rc = ad_frozen_open(&e, tcfg, &tjob, 1, prov);
    if (rc == AD_OK && e.tokens < 2)
        rc = ad_fail(AD_ERR_CONFIG, "%s: the image encoder gives no patch tokens",
                     ad_config_get(tcfg, "image_encoder", "model"));
    rc = ad_mpi_agree(comm, rc, NULL);
    /* ad_frozen_encode reads only the ids, paths and lines of a selection. */
    ad_selection sel = {.n = s->ncand, .ids = s->id, .image = s->image, .line = s->line};
    /* Rank 0's view of the file decides, so every rank takes the same branch. */
    int ok = rc == AD_OK && rank == 0 && ad_embed_cache_complete(path, &sel, e.dim, e.tokens,
                                                                 e.meta.preprocessing);
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    if (rc == AD_OK && !ok)
        rc = write_token_cache(comm, &e, &sel, tcfg, source, path, s->name);
    else if (rc == AD_OK)
        ad_info("segment: token cache %s: %s is complete, kept", s->name, path);
    ad_frozen_free(&e);
    ad_config_destroy(tcfg);
    if (rc == AD_OK)
        rc = ad_mpi_agree(comm, ad_cache_open(path, &s->cache), NULL);
    return rc;
}
