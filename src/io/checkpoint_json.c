/* trainer.json: the checkpoint's bookkeeping, written and read with cJSON. Integers that
 * must survive exactly beyond 2^53 (RNG states, checksums) are hex strings. */
#include "checkpoint_priv.h"

#include "adaptor/error.h"
#include "adaptor/provenance.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_NAME "adaptor-checkpoint"
#define FORMAT_VERSION 1

const char *const ad_ckpt_files[AD_CKPT_NFILES] = {AD_CKPT_MODEL, AD_CKPT_OPTIM};

static void hex64(char out[17], uint64_t x) { snprintf(out, 17, "%016" PRIx64, x); }

static int parse_hex64(const char *s, uint64_t *out)
{
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        x = (x << 4) | (uint64_t)d;
    }
    *out = x;
    return 1;
}

static int add_num(cJSON *obj, const char *key, double v)
{
    return cJSON_AddNumberToObject(obj, key, v) != NULL;
}

static int add_str(cJSON *obj, const char *key, const char *v)
{
    return cJSON_AddStringToObject(obj, key, v) != NULL;
}

static int build(cJSON *root, const ad_train_state *st, const ad_ckpt_sums *sums)
{
    int ok = add_str(root, "format", FORMAT_NAME) &&
             add_num(root, "format_version", FORMAT_VERSION) &&
             add_num(root, "step", (double)st->step) && add_num(root, "epoch", (double)st->epoch) &&
             add_num(root, "epoch_position", (double)st->epoch_pos) &&
             add_num(root, "num_ranks", st->num_ranks) &&
             add_num(root, "global_batch", (double)st->global_batch);
    char seed[17];
    hex64(seed, st->seed);
    ok = ok && add_str(root, "seed", seed);
    cJSON *rng = ok ? cJSON_AddObjectToObject(root, "rng") : NULL;
    for (int i = 0; rng && ok && i < st->n_rng; i++) {
        char hex[4 * 16 + 1];
        for (int j = 0; j < 4; j++)
            hex64(hex + 16 * j, st->rng[i].state.s[j]);
        ok = add_str(rng, st->rng[i].name, hex);
    }
    ok = ok && rng && ad_prov_json_add(root, st->prov) == AD_OK;
    cJSON *files = ok ? cJSON_AddObjectToObject(root, "files") : NULL;
    for (int i = 0; files && ok && i < AD_CKPT_NFILES; i++) {
        cJSON *f = cJSON_AddObjectToObject(files, ad_ckpt_files[i]);
        char hex[17];
        hex64(hex, sums->fnv[i]);
        ok = f && add_num(f, "bytes", (double)sums->bytes[i]) && add_str(f, "fnv1a64", hex);
    }
    return ok && files;
}

int ad_ckpt_trainer_json(const ad_train_state *st, const ad_ckpt_sums *sums, char **text)
{
    *text = NULL;
    for (int i = 0; i < st->n_rng; i++) {
        if (!st->rng[i].name[0] || memchr(st->rng[i].name, '\0', sizeof st->rng[i].name) == NULL)
            return ad_fail(AD_ERR_ARG, "trainer.json: RNG state %d has no proper name", i);
        for (int j = 0; j < i; j++)
            if (strcmp(st->rng[i].name, st->rng[j].name) == 0)
                return ad_fail(AD_ERR_ARG, "trainer.json: RNG state '%s' given twice",
                               st->rng[i].name);
    }
    cJSON *root = cJSON_CreateObject();
    char *out = root && build(root, st, sums) ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!out)
        return ad_fail(AD_ERR_NOMEM, "trainer.json: out of memory");
    *text = out;
    return AD_OK;
}

/* A non-negative integer member that a double holds exactly. */
static int get_count(const char *path, const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it))
        return ad_fail(AD_ERR_FORMAT, "%s: missing number '%s'", path, key);
    double d = it->valuedouble;
    if (!(d >= 0.0 && d <= 9007199254740992.0) || d != floor(d))
        return ad_fail(AD_ERR_FORMAT, "%s: '%s' = %g is not a count", path, key, d);
    *out = (int64_t)d;
    return AD_OK;
}

static int parse_rngs(const char *path, const cJSON *rng, ad_train_state *st)
{
    if (!cJSON_IsObject(rng))
        return ad_fail(AD_ERR_FORMAT, "%s: missing object 'rng'", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, rng)
    {
        if (st->n_rng == AD_CKPT_MAX_RNG)
            return ad_fail(AD_ERR_FORMAT, "%s: more than %d RNG states", path, AD_CKPT_MAX_RNG);
        ad_ckpt_rng *r = &st->rng[st->n_rng];
        const char *hex = cJSON_GetStringValue(it);
        if (!it->string || strlen(it->string) >= sizeof r->name || !hex || strlen(hex) != 64)
            return ad_fail(AD_ERR_FORMAT, "%s: rng '%s' is not a name with 64 hex digits", path,
                           it->string ? it->string : "?");
        snprintf(r->name, sizeof r->name, "%s", it->string);
        for (int j = 0; j < 4; j++)
            if (!parse_hex64(hex + 16 * j, &r->state.s[j]))
                return ad_fail(AD_ERR_FORMAT, "%s: rng '%s' is not 64 hex digits", path,
                               it->string);
        st->n_rng++;
    }
    return AD_OK;
}

static int parse_files(const char *path, const cJSON *files, ad_ckpt_sums *sums)
{
    for (int i = 0; i < AD_CKPT_NFILES; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(files, ad_ckpt_files[i]);
        const char *hex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "fnv1a64"));
        int64_t bytes = 0;
        if (!cJSON_IsObject(f) || !hex)
            return ad_fail(AD_ERR_FORMAT, "%s: no checksum for %s", path, ad_ckpt_files[i]);
        AD_TRY(get_count(path, f, "bytes", &bytes));
        if (strlen(hex) != 16 || !parse_hex64(hex, &sums->fnv[i]))
            return ad_fail(AD_ERR_FORMAT, "%s: bad checksum '%s' for %s", path, hex,
                           ad_ckpt_files[i]);
        sums->bytes[i] = (uint64_t)bytes;
    }
    return AD_OK;
}

static int parse_root(const char *path, const cJSON *root, ad_train_state *st,
                      ad_ckpt_sums *sums)
{
    if (!cJSON_IsObject(root))
        return ad_fail(AD_ERR_FORMAT, "%s: not a JSON object (truncated or corrupt)", path);
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0)
        return ad_fail(AD_ERR_FORMAT, "%s: 'format' is not \"%s\"", path, FORMAT_NAME);
    int64_t version = 0, ranks = 0;
    AD_TRY(get_count(path, root, "format_version", &version));
    if (version != FORMAT_VERSION)
        return ad_fail(AD_ERR_UNSUPPORTED, "%s: format_version %lld (this build reads %d)", path,
                       (long long)version, FORMAT_VERSION);
    AD_TRY(parse_files(path, cJSON_GetObjectItemCaseSensitive(root, "files"), sums));
    AD_TRY(get_count(path, root, "step", &st->step));
    AD_TRY(get_count(path, root, "epoch", &st->epoch));
    AD_TRY(get_count(path, root, "epoch_position", &st->epoch_pos));
    AD_TRY(get_count(path, root, "num_ranks", &ranks));
    AD_TRY(get_count(path, root, "global_batch", &st->global_batch));
    if (ranks > 1 << 30)
        return ad_fail(AD_ERR_FORMAT, "%s: num_ranks %lld out of range", path, (long long)ranks);
    st->num_ranks = (int)ranks;
    const char *seed = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "seed"));
    if (seed && (strlen(seed) != 16 || !parse_hex64(seed, &st->seed)))
        return ad_fail(AD_ERR_FORMAT, "%s: 'seed' is not 16 hex digits", path);
    AD_TRY(parse_rngs(path, cJSON_GetObjectItemCaseSensitive(root, "rng"), st));
    const char *cfg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "config"));
    if (!cfg)
        return ad_fail(AD_ERR_FORMAT, "%s: missing string 'config'", path);
    st->config_text = ad_strdup(cfg);
    if (!st->config_text)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    return AD_OK;
}

int ad_ckpt_trainer_parse(const char *path, const char *text, ad_train_state *st,
                          ad_ckpt_sums *sums)
{
    ad_train_state tmp;
    memset(&tmp, 0, sizeof tmp);
    cJSON *root = cJSON_Parse(text);
    if (!root)
        return ad_fail(AD_ERR_FORMAT, "%s: not valid JSON (truncated or corrupt)", path);
    int rc = parse_root(path, root, &tmp, sums);
    cJSON_Delete(root);
    if (rc != AD_OK || !st) {
        ad_train_state_clear(&tmp);
        return rc;
    }
    *st = tmp;
    return AD_OK;
}
