#include "adaptor/frozen.h"

#include "adaptor/error.h"
#include "adaptor/log.h"
#include "adaptor/mgca_text.h"
#include "adaptor/pipeline.h"
#include "adaptor/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ad_frozen_free(ad_frozen *e)
{
    ad_tokenizer_destroy(e->tok);
    ad_bert_destroy(e->bert);
    ad_image_encoder_destroy(e->img);
    free(e->ids);
    free(e->lengths);
    ad_frozen_batch_free(&e->stage);
    free(e->out);
    free(e->mask);
}

static const char *folder_name(const char *path)
{
    const char *s = strrchr(path, '/');
    while (s && s[1] == '\0' && s > path) { /* trailing slash */
        const char *p = s - 1;
        while (p > path && *p != '/')
            p--;
        return *p == '/' ? p + 1 : p;
    }
    return s ? s + 1 : path;
}

int ad_frozen_open(ad_frozen *e, const ad_config *cfg, const ad_job *job, int image,
                   const ad_provenance *prov)
{
    memset(e, 0, sizeof *e);
    e->image = image;
    const char *sec = image ? "image_encoder" : "text_encoder";
    const char *model;
    int64_t batch;
    AD_TRY(ad_config_string(cfg, sec, "model", &model));
    AD_TRY(ad_config_int(cfg, sec, "batch_size", &batch));
    e->batch = (int)batch;
    e->storage.parallel = job->cache_parallel;
    AD_TRY(ad_config_float(cfg, "cache", "write_timeout", &e->storage.timeout));
    if (image) {
        int64_t resize, crop;
        e->img_out = job->image_output;
        e->pos = job->pos_interp;
        AD_TRY(ad_config_int(cfg, "data", "resize", &resize));
        AD_TRY(ad_config_int(cfg, "data", "crop_size", &crop));
        e->resize = (int)resize;
        e->crop = (int)crop;
        e->depth16 = job->depth16;
        e->prep = ad_image_arch_prep(job->arch);
        AD_TRY(ad_image_encoder_load(model, job->arch, &e->img));
        AD_TRY(ad_image_encoder_set_precision(e->img, job->image_precision));
        e->dim = ad_image_encoder_dim(e->img);
        int count;
        AD_TRY(ad_image_encoder_count(e->img, e->img_out, e->crop, e->crop, &count));
        e->tokens = e->img_out == AD_IMG_TOKENS ? count : 0;
        int ov;
        AD_TRY(ad_config_bool(cfg, "run", "decode_overlap", &ov));
        e->overlap = ov;
        AD_TRY(ad_frozen_batch_create(e, &e->stage));
    } else {
        int64_t mw;
        AD_TRY(ad_config_int(cfg, "data", "max_words", &mw));
        e->max_words = (int)mw;
        e->bert_out = job->pooling;
        AD_TRY(ad_tokenizer_load(model, &e->tok));
        AD_TRY(ad_bert_load(model, &e->bert));
        AD_TRY(ad_bert_set_precision(e->bert, job->text_precision));
        const ad_bert_config *bc = ad_bert_get_config(e->bert);
        if (e->bert_out == AD_BERT_POOLER && !bc->has_pooler)
            return ad_fail(AD_ERR_CONFIG, "%s has no pooler.dense weights (a masked-language-"
                           "modelling checkpoint): set [text_encoder] pooling = cls or mean "
                           "(transformers would silently use a random pooler)", model);
        if (e->max_words > bc->max_positions)
            return ad_fail(AD_ERR_CONFIG, "%s: [data] max_words = %d exceeds the model's %d "
                           "positions", ad_config_where(cfg, "data", "max_words"), e->max_words,
                           bc->max_positions);
        e->dim = bc->hidden;
        e->tokens = e->bert_out == AD_BERT_TOKENS ? e->max_words : 0;
        e->ids = ad_malloc((size_t)e->batch * e->max_words * sizeof(int32_t), "token ids");
        e->lengths = ad_malloc((size_t)e->batch * sizeof(int), "lengths");
        if (!e->ids || !e->lengths)
            return AD_ERR_NOMEM;
    }
    size_t per = (size_t)(e->tokens ? e->tokens : 1) * e->dim;
    e->out = ad_malloc((size_t)e->batch * per * sizeof(float), "embeddings");
    e->mask = ad_calloc((size_t)e->batch * (e->tokens ? e->tokens : 1), 1, "masks");
    if (!e->out || !e->mask)
        return AD_ERR_NOMEM;
    AD_TRY(ad_cache_preprocessing(cfg, image ? "image" : "text", e->meta_pre, sizeof e->meta_pre));
    e->meta = (ad_cache_meta){.modality = image ? "image" : "text", .encoder = folder_name(model),
                              .encoder_path = model,
                              .arch = image ? ad_config_get(cfg, "image_encoder", "arch") : "bert",
                              .output = ad_config_get(cfg, sec, image ? "output" : "pooling"),
                              .preprocessing = e->meta_pre,
                              .pos_interp = image ? ad_pos_interp_name(e->pos) : NULL,
                              .prov = prov};
    return AD_OK;
}


void ad_selection_free(ad_selection *s)
{
    for (int64_t i = 0; s->caption && i < s->n; i++)
        free(s->caption[i]);
    free(s->caption);
    free(s->ids);
    free(s->image);
    free(s->line);
    memset(s, 0, sizeof *s);
}

/* The rows of a split: allowed views and a report that MGCA keeps. Identical on every rank
 * and for every encoder. */
int ad_select_rows(const ad_manifest *m, const char *split, ad_selection *s, int64_t *dropped)
{
    memset(s, 0, sizeof *s);
    int64_t *idx, n;
    AD_TRY(ad_manifest_select(m, split, NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &n));
    /* every view (n_views 0): the difference is what the view filter left out */
    static const char *const any_view[1] = {""};
    int64_t *all = NULL, nall = 0;
    int vrc = ad_manifest_select(m, split, any_view, 0, 0, &all, &nall);
    free(all);
    if (vrc != AD_OK) {
        free(idx);
        return vrc;
    }
    s->view_dropped = nall - n;
    s->ids = ad_malloc((size_t)n * sizeof *s->ids, "row ids");
    s->image = ad_malloc((size_t)n * sizeof *s->image, "image paths");
    s->caption = ad_calloc((size_t)n, sizeof *s->caption, "captions");
    s->line = ad_malloc((size_t)n * sizeof *s->line, "lines");
    if (!s->ids || !s->image || !s->caption || !s->line) {
        free(idx);
        return AD_ERR_NOMEM;
    }
    *dropped = 0;
    int nrep = ad_manifest_n_reports(m);
    for (int64_t i = 0; i < n; i++) {
        const ad_manifest_row *r = ad_manifest_row_at(m, idx[i]);
        /* MGCA joins impression and findings; further report columns extend the second. */
        const char *a = nrep > 0 ? r->reports[0] : "", *b = nrep > 1 ? r->reports[1] : NULL;
        char *joined = NULL;
        if (nrep > 2) {
            size_t len = 1;
            for (int k = 1; k < nrep; k++)
                len += strlen(r->reports[k]) + 1;
            joined = ad_malloc(len, "report");
            if (!joined) {
                free(idx);
                return AD_ERR_NOMEM;
            }
            joined[0] = '\0';
            for (int k = 1; k < nrep; k++) {
                strcat(joined, r->reports[k]);
                strcat(joined, " ");
            }
            b = joined;
        }
        char *cap = NULL;
        int ntok = 0;
        int rc = ad_mgca_caption(a, b, &cap, &ntok);
        free(joined);
        if (rc != AD_OK) {
            free(idx);
            return ad_fail_ctx(rc, "%s:%lld", ad_manifest_path(m), (long long)r->line);
        }
        if (ntok < AD_MGCA_MIN_TOKENS) {
            free(cap);
            (*dropped)++;
            continue;
        }
        s->ids[s->n] = r->id;
        s->image[s->n] = r->image;
        s->line[s->n] = r->line;
        s->caption[s->n] = cap;
        s->n++;
    }
    free(idx);
    if (s->n == 0)
        return ad_fail(AD_ERR_CONFIG, "%s: no row of split '%s' has a report with %d or more "
                       "tokens after MGCA preprocessing", ad_manifest_path(m), split,
                       AD_MGCA_MIN_TOKENS);
    return AD_OK;
}


int ad_frozen_batch_create(const ad_frozen *e, ad_frozen_batch *b)
{
    memset(b, 0, sizeof *b);
    b->pixels = ad_malloc((size_t)e->batch * 3 * e->crop * e->crop * sizeof(float), "images");
    b->where = ad_malloc((size_t)e->batch * sizeof *b->where, "batch map");
    b->ids = ad_malloc((size_t)e->batch * sizeof *b->ids, "batch ids");
    b->skipped = ad_calloc((size_t)e->batch, sizeof *b->skipped, "batch warnings");
    return b->pixels && b->where && b->ids && b->skipped ? AD_OK : AD_ERR_NOMEM;
}

void ad_frozen_batch_free(ad_frozen_batch *b)
{
    for (int i = 0; b->skipped && i < b->n; i++)
        free(b->skipped[i]);
    free(b->skipped);
    free(b->pixels);
    free(b->where);
    free(b->ids);
    memset(b, 0, sizeof *b);
}

int ad_frozen_load(const ad_frozen *e, const ad_selection *s, const int64_t *rows, int n,
                   int skip_bad, const char *manifest, ad_rng *crop, ad_frozen_batch *b)
{
    size_t img = (size_t)3 * e->crop * e->crop;
    for (int i = 0; i < b->n; i++) { /* left by a load that stopped at a bad row */
        free(b->skipped[i]);
        b->skipped[i] = NULL;
    }
    b->good = 0;
    b->tm = (ad_embed_timers){0, 0, 0, 0, 0};
    for (b->n = 0; b->n < n; b->n++) {
        int i = b->n;
        int64_t r = rows[i];
        b->ids[i] = s->ids[r];
        b->skipped[i] = NULL;
        ad_image im = {0};
        double t0 = ad_now();
        int rc = ad_image_read_gray8(s->image[r], e->depth16, &im);
        double t1 = ad_now();
        if (rc == AD_OK)
            rc = ad_preprocess_image_as(e->prep, &im, e->resize, e->crop, crop,
                                        b->pixels + (size_t)b->good * img);
        if (rc != AD_OK && !strstr(ad_errmsg(), s->image[r])) /* the reader names it */
            ad_fail_ctx(rc, "%s", s->image[r]);
        ad_image_free(&im);
        b->tm.read += t1 - t0;
        b->tm.prep += ad_now() - t1;
        if (rc != AD_OK) {
            if (!skip_bad) {
                ad_fail_ctx(rc, "%s:%lld", manifest, (long long)s->line[r]);
                return ad_set_hint(rc, "fix the row's image, or set [data] skip_bad_rows = "
                                   "true to leave such rows out");
            }
            size_t len = strlen(manifest) + strlen(ad_errmsg()) + 48;
            b->skipped[i] = ad_malloc(len, "warning");
            if (!b->skipped[i])
                return AD_ERR_NOMEM;
            snprintf(b->skipped[i], len, "%s:%lld: skipped: %s", manifest,
                     (long long)s->line[r], ad_errmsg());
            b->ids[i] = -(s->ids[r] + 1);
            b->where[i] = -1;
            continue;
        }
        b->where[i] = b->good++;
    }
    return AD_OK;
}

int ad_frozen_run(ad_frozen *e, ad_frozen_batch *b, int64_t *ids, int64_t *bad,
                  ad_embed_timers *tm)
{
    size_t per = (size_t)(e->tokens ? e->tokens : 1) * e->dim;
    int T = e->tokens ? e->tokens : 1, n = b->n;
    for (int i = 0; i < n; i++) {
        ids[i] = b->ids[i];
        if (b->skipped[i]) {
            ad_warn("%s", b->skipped[i]);
            free(b->skipped[i]);
            b->skipped[i] = NULL;
            (*bad)++;
        }
    }
    tm->read += b->tm.read;
    tm->prep += b->tm.prep;
    double t0 = ad_now();
    int rc = b->good ? ad_image_encoder_forward(e->img, b->pixels, b->good, e->crop, e->crop,
                                                e->img_out, e->pos, e->out)
                     : AD_OK;
    tm->encode += ad_now() - t0;
    /* Spread the encoded rows back into batch order, zeros for skipped ones. */
    for (int i = n - 1; rc == AD_OK && i >= 0; i--) {
        float *dst = e->out + (size_t)i * per;
        if (b->where[i] < 0)
            memset(dst, 0, per * sizeof(float));
        else if (b->where[i] != i)
            memmove(dst, e->out + (size_t)b->where[i] * per, per * sizeof(float));
        memset(e->mask + (size_t)i * T, b->where[i] >= 0, (size_t)T);
    }
    return rc;
}

int ad_frozen_encode(ad_frozen *e, const ad_selection *s, const int64_t *rows, int n,
                     int skip_bad, const char *manifest, ad_rng *crop, int64_t *ids,
                     int64_t *bad, ad_embed_timers *tm)
{
    size_t per = (size_t)(e->tokens ? e->tokens : 1) * e->dim;
    int T = e->tokens ? e->tokens : 1;
    if (e->image) { /* ad_frozen_run sets every row's mask */
        int rc = ad_frozen_load(e, s, rows, n, skip_bad, manifest, crop, &e->stage);
        if (rc == AD_OK)
            return ad_frozen_run(e, &e->stage, ids, bad, tm); /* adds the load's timers */
        tm->read += e->stage.tm.read;
        tm->prep += e->stage.tm.prep;
        return rc;
    }
    memset(e->mask, 0, (size_t)n * T); /* text sets only each row's first lengths[i] bytes */
    double t0 = ad_now();
    for (int i = 0; i < n; i++) {
        int64_t r = rows[i];
        ids[i] = s->ids[r];
        int rc = ad_tokenizer_encode(e->tok, s->caption[r], e->max_words,
                                     e->ids + (size_t)i * e->max_words, &e->lengths[i]);
        if (rc != AD_OK)
            return ad_fail_ctx(rc, "%s:%lld", manifest, (long long)s->line[r]);
        if (e->tokens)
            memset(e->mask + (size_t)i * T, 1, (size_t)e->lengths[i]);
    }
    double t1 = ad_now();
    tm->read += t1 - t0; /* text: tokenizing */
    int rc;
    if (e->tokens) {
        /* The cache's token axis is max_words long; the encoder pads only to the batch's
         * longest report, so spread its rows out. */
        int Tb = 0;
        for (int i = 0; i < n; i++)
            Tb = e->lengths[i] > Tb ? e->lengths[i] : Tb;
        rc = ad_bert_forward(e->bert, e->ids, e->lengths, n, e->max_words, e->bert_out, e->out);
        for (int i = n - 1; rc == AD_OK && i >= 0; i--) {
            float *dst = e->out + (size_t)i * per;
            memmove(dst, e->out + (size_t)i * Tb * e->dim, (size_t)Tb * e->dim * sizeof(float));
            memset(dst + (size_t)Tb * e->dim, 0, (size_t)(T - Tb) * e->dim * sizeof(float));
        }
    } else {
        rc = ad_bert_forward(e->bert, e->ids, e->lengths, n, e->max_words, e->bert_out, e->out);
    }
    tm->encode += ad_now() - t1;
    return rc;
}

int ad_frozen_dim(const ad_frozen *e) { return e->dim; }

int ad_frozen_tokens(const ad_frozen *e) { return e->tokens; }

double ad_frozen_flops(const ad_frozen *e)
{
    if (e->image)
        return ad_image_encoder_flops(e->img, 1, e->crop, e->crop);
    int len = e->max_words;
    return ad_bert_flops(ad_bert_get_config(e->bert), &len, 1);
}

int ad_frozen_encode_rows(ad_frozen *e, const ad_selection *s, const int64_t *rows, int64_t n,
                          const char *manifest, ad_rng *crop, float *out, uint8_t *mask)
{
    int T = e->tokens ? e->tokens : 1;
    size_t row = (size_t)T * e->dim;
    int64_t *ids = ad_malloc((size_t)e->batch * sizeof *ids, "encoder batch ids");
    if (!ids)
        return AD_ERR_NOMEM;
    int rc = AD_OK;
    for (int64_t at = 0; rc == AD_OK && at < n; at += e->batch) {
        int nb = (int)(n - at < e->batch ? n - at : e->batch);
        int64_t bad = 0;
        ad_embed_timers tm = {0, 0, 0, 0, 0};
        rc = ad_frozen_encode(e, s, rows + at, nb, 0, manifest, crop, ids, &bad, &tm);
        if (rc == AD_OK) {
            memcpy(out + (size_t)at * row, e->out, (size_t)nb * row * sizeof(float));
            if (mask)
                memcpy(mask + (size_t)at * T, e->mask, (size_t)nb * T);
        }
    }
    free(ids);
    return rc;
}
