/* Saving and loading one checkpoint folder (layout in include/adaptor/checkpoint.h). */
#include "checkpoint_priv.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/provenance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXP_AVG "exp_avg."
#define EXP_AVG_SQ "exp_avg_sq."
#define STEP_TENSOR "step"

void ad_train_state_clear(ad_train_state *st)
{
    if (!st)
        return;
    free(st->config_text);
    memset(st, 0, sizeof *st);
}

static int tensor_numel(const ad_ckpt_tensor *t, size_t *out)
{
    if (!t->name || !t->name[0])
        return ad_fail(AD_ERR_ARG, "checkpoint layout: tensor without a name");
    if (t->ndim < 0 || t->ndim > AD_ST_MAX_DIMS)
        return ad_fail(AD_ERR_ARG, "checkpoint layout: tensor '%s' has %d dimensions", t->name,
                       t->ndim);
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return ad_fail(AD_ERR_ARG, "checkpoint layout: tensor '%s' has a negative dimension",
                           t->name);
        n *= (size_t)t->shape[i];
    }
    *out = n;
    return AD_OK;
}

int ad_ckpt_layout_check(const ad_ckpt_layout *l)
{
    if (!l || (!l->tensors && l->count))
        return ad_fail(AD_ERR_ARG, "checkpoint layout: no tensors");
    for (size_t i = 0; i < l->count; i++) {
        const ad_ckpt_tensor *a = &l->tensors[i];
        size_t na = 0;
        AD_TRY(tensor_numel(a, &na));
        if (a->offset > l->numel || na > l->numel - a->offset)
            return ad_fail(AD_ERR_ARG,
                           "checkpoint layout: tensor '%s' [%zu, %zu) outside the buffer of %zu",
                           a->name, a->offset, a->offset + na, l->numel);
        /* Layouts hold tens of tensors: the quadratic scan is cheaper than sorting. */
        for (size_t j = 0; j < i; j++) {
            const ad_ckpt_tensor *b = &l->tensors[j];
            size_t nb = 0;
            AD_TRY(tensor_numel(b, &nb));
            if (strcmp(a->name, b->name) == 0)
                return ad_fail(AD_ERR_ARG, "checkpoint layout: tensor '%s' listed twice", a->name);
            if (na && nb && a->offset < b->offset + nb && b->offset < a->offset + na)
                return ad_fail(AD_ERR_ARG, "checkpoint layout: tensors '%s' and '%s' overlap",
                               b->name, a->name);
        }
    }
    return AD_OK;
}

static int prefixed(char *out, size_t n, const char *prefix, const char *name)
{
    int w = snprintf(out, n, "%s%s", prefix, name);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "checkpoint: tensor name '%s%s' too long", prefix, name);
    return AD_OK;
}

static int add_tensors(ad_st_writer *w, const char *prefix, const ad_ckpt_layout *l,
                       const float *data)
{
    for (size_t i = 0; i < l->count; i++) {
        const ad_ckpt_tensor *t = &l->tensors[i];
        char name[1024];
        AD_TRY(prefixed(name, sizeof name, prefix, t->name));
        AD_TRY(ad_st_writer_add(w, name, AD_DT_F32, t->ndim, t->shape, data + t->offset));
    }
    return AD_OK;
}

/* Writes <dir>/<file> from the layout's tensors under each prefix; step >= 0 adds the I64
 * scalar "step" (the optimizer file). */
static int write_st(const char *dir, const char *file, const ad_ckpt_layout *l, int nbuf,
                    const char *const *prefixes, const float *const *bufs, int64_t step,
                    const ad_provenance *prov)
{
    char path[4096], text[64];
    AD_TRY(ad_path_join(path, sizeof path, dir, file));
    ad_st_writer *w = NULL;
    AD_TRY(ad_st_writer_create(&w));
    int rc = AD_OK;
    AD_CHECK(ad_st_writer_set_metadata(w, "format", "pt"));
    AD_CHECK(ad_prov_st_put(w, prov));
    for (int b = 0; b < nbuf; b++)
        AD_CHECK(add_tensors(w, prefixes[b], l, bufs[b]));
    if (step >= 0) {
        snprintf(text, sizeof text, "%lld", (long long)step);
        AD_CHECK(ad_st_writer_set_metadata(w, "step", text));
        AD_CHECK(ad_st_writer_add(w, STEP_TENSOR, AD_DT_I64, 0, NULL, &step));
    }
    AD_CHECK(ad_st_writer_write(w, path));
done:
    ad_st_writer_destroy(w);
    return rc;
}

static int write_folder(const char *dir, const ad_ckpt_layout *l, const ad_ckpt_buffers *buf,
                        const ad_train_state *st)
{
    const char *model_prefix[] = {""};
    const float *model_buf[] = {buf->params};
    const char *opt_prefix[] = {EXP_AVG, EXP_AVG_SQ};
    const float *opt_buf[] = {buf->exp_avg, buf->exp_avg_sq};
    AD_TRY(write_st(dir, AD_CKPT_MODEL, l, 1, model_prefix, model_buf, -1, st->prov));
    AD_TRY(write_st(dir, AD_CKPT_OPTIM, l, 2, opt_prefix, opt_buf, buf->opt_step, st->prov));
    ad_ckpt_sums sums;
    char path[4096];
    for (int i = 0; i < AD_CKPT_NFILES; i++) {
        AD_TRY(ad_path_join(path, sizeof path, dir, ad_ckpt_files[i]));
        AD_TRY(ad_ckpt_file_checksum(path, &sums.fnv[i], &sums.bytes[i]));
    }
    char *json = NULL;
    AD_TRY(ad_ckpt_trainer_json(st, &sums, &json));
    int rc = ad_path_join(path, sizeof path, dir, AD_CKPT_TRAINER);
    if (rc == AD_OK)
        rc = ad_write_file_atomic(path, json, strlen(json));
    free(json);
    return rc;
}

/* Moves the finished folder into place. An existing folder of the same step (a corrupt one
 * that the resumed run is now replacing) is moved aside first and restored on failure. */
static int swap_in(const char *tmp, const char *final)
{
    if (!ad_path_exists(final))
        return ad_fsync_rename(tmp, final);
    char old[4200];
    snprintf(old, sizeof old, "%s.old-%ld", final, (long)getpid());
    AD_TRY(ad_ckpt_remove_tree(old));
    if (rename(final, old) != 0)
        return ad_fail(AD_ERR_IO, "%s: cannot move aside: %s", final, strerror(errno));
    int rc = ad_fsync_rename(tmp, final);
    if (rc != AD_OK) {
        (void)rename(old, final);
        return rc;
    }
    return ad_ckpt_remove_tree(old);
}

/* Removes a failed save's folder without losing the message of the failure. */
static int discard(const char *tmp, int rc)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ad_errmsg());
    (void)ad_ckpt_remove_tree(tmp);
    return ad_fail(rc, "%s", msg);
}

int ad_ckpt_save(const char *run_dir, const ad_ckpt_layout *layout, const ad_ckpt_buffers *buf,
                 const ad_train_state *st, char *out_dir, size_t out_n)
{
    AD_TRY(ad_ckpt_layout_check(layout));
    if (!buf || !buf->params || !buf->exp_avg || !buf->exp_avg_sq || !st)
        return ad_fail(AD_ERR_ARG, "checkpoint save: parameters, both moments and state needed");
    if (st->step < 0 || st->epoch < 0 || st->epoch_pos < 0 || buf->opt_step < 0 ||
        st->n_rng < 0 || st->n_rng > AD_CKPT_MAX_RNG)
        return ad_fail(AD_ERR_ARG, "checkpoint save: bad state (step %lld, %d RNG states)",
                       (long long)st->step, st->n_rng);
    char ckdir[4096], final[4096], tmp[4200], name[64];
    AD_TRY(ad_path_join(ckdir, sizeof ckdir, run_dir, AD_CKPT_DIR));
    AD_TRY(ad_mkdir_p(ckdir));
    snprintf(name, sizeof name, "step-%08lld", (long long)st->step);
    AD_TRY(ad_path_join(final, sizeof final, ckdir, name));
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", final, (long)getpid());
    AD_TRY(ad_ckpt_remove_tree(tmp));
    if (mkdir(tmp, 0777) != 0)
        return ad_fail(AD_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int rc = write_folder(tmp, layout, buf, st);
    if (rc == AD_OK)
        rc = swap_in(tmp, final);
    if (rc != AD_OK)
        return discard(tmp, rc);
    if (out_dir && out_n) {
        if (strlen(final) >= out_n)
            return ad_fail(AD_ERR_ARG, "%s: path too long for the caller's buffer", final);
        memcpy(out_dir, final, strlen(final) + 1);
    }
    return AD_OK;
}

static int find_in_layout(const ad_ckpt_layout *l, const char *prefix, const char *name)
{
    size_t np = strlen(prefix);
    if (strncmp(name, prefix, np) != 0)
        return 0;
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(name + np, l->tensors[i].name) == 0)
            return 1;
    return 0;
}

/* Reads every layout tensor under each prefix, then insists the file holds nothing else
 * (torch's load_state_dict(strict=True) rule), except the optional `extra` tensor. */
static int read_strict(const ad_safetensors *f, const ad_ckpt_layout *l, int nbuf,
                       const char *const *prefixes, float *const *bufs, const char *extra)
{
    for (int b = 0; b < nbuf; b++)
        for (size_t i = 0; i < l->count; i++) {
            const ad_ckpt_tensor *t = &l->tensors[i];
            char name[1024];
            AD_TRY(prefixed(name, sizeof name, prefixes[b], t->name));
            AD_TRY(ad_st_read_f32(f, name, t->ndim, t->shape, bufs[b] + t->offset));
        }
    for (size_t i = 0; i < ad_st_count(f); i++) {
        const char *name = ad_st_at(f, i)->name;
        int known = extra && strcmp(name, extra) == 0;
        for (int b = 0; b < nbuf && !known; b++)
            known = find_in_layout(l, prefixes[b], name);
        if (!known)
            return ad_fail(AD_ERR_FORMAT, "%s: unexpected tensor '%s' (not part of this model)",
                           ad_st_path(f), name);
    }
    return AD_OK;
}

static int read_weights(const char *path, const ad_ckpt_layout *l, float *params)
{
    ad_safetensors *f = NULL;
    AD_TRY(ad_st_open(path, &f));
    const char *prefix[] = {""};
    float *bufs[] = {params};
    int rc = read_strict(f, l, 1, prefix, bufs, NULL);
    ad_st_close(f);
    return rc;
}

static int read_optimizer(const char *path, const ad_ckpt_layout *l, ad_ckpt_buffers *buf)
{
    ad_safetensors *f = NULL;
    AD_TRY(ad_st_open(path, &f));
    const char *prefix[] = {EXP_AVG, EXP_AVG_SQ};
    float *bufs[] = {buf->exp_avg, buf->exp_avg_sq};
    int rc = AD_OK;
    AD_CHECK(read_strict(f, l, 2, prefix, bufs, STEP_TENSOR));
    const ad_st_tensor *t = ad_st_find(f, STEP_TENSOR);
    if (!t || t->dtype != AD_DT_I64 || t->numel != 1) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: no I64 scalar tensor '%s'", path, STEP_TENSOR);
        goto done;
    }
    int64_t step;
    memcpy(&step, t->data, sizeof step);
    if (step < 0) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: negative optimizer step %lld", path, (long long)step);
        goto done;
    }
    buf->opt_step = step;
done:
    ad_st_close(f);
    return rc;
}

int ad_ckpt_load_weights(const char *path, const ad_ckpt_layout *layout, float *params)
{
    AD_TRY(ad_ckpt_layout_check(layout));
    if (!params)
        return ad_fail(AD_ERR_ARG, "%s: no parameter buffer to load into", path);
    return read_weights(path, layout, params);
}

int ad_ckpt_load(const char *ckpt_dir, const ad_ckpt_layout *layout, ad_ckpt_buffers *buf,
                 ad_train_state *st)
{
    AD_TRY(ad_ckpt_layout_check(layout));
    if (!buf || !buf->params || !buf->exp_avg != !buf->exp_avg_sq)
        return ad_fail(AD_ERR_ARG, "%s: load needs the parameter buffer and both or neither moment",
                       ckpt_dir);
    ad_train_state parsed;
    AD_TRY(ad_ckpt_check_dir(ckpt_dir, 1, &parsed));
    char path[4096];
    int rc = AD_OK;
    AD_CHECK(ad_path_join(path, sizeof path, ckpt_dir, AD_CKPT_MODEL));
    AD_CHECK(read_weights(path, layout, buf->params));
    if (buf->exp_avg) {
        AD_CHECK(ad_path_join(path, sizeof path, ckpt_dir, AD_CKPT_OPTIM));
        AD_CHECK(read_optimizer(path, layout, buf));
    }
done:
    if (rc == AD_OK && st)
        *st = parsed;
    else
        ad_train_state_clear(&parsed);
    return rc;
}
