/* The checkpoints/ folder as a whole: which step folders are complete, the newest one to
 * resume from, and pruning. */
#include "checkpoint_priv.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

int ad_ckpt_file_checksum(const char *path, uint64_t *hash, uint64_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ad_fail(AD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    }
    uint64_t h = FNV_OFFSET, n = 0;
    size_t got;
    while ((got = fread(buf, 1, cap, fp)) > 0) {
        for (size_t i = 0; i < got; i++)
            h = (h ^ buf[i]) * FNV_PRIME;
        n += got;
    }
    int err = ferror(fp);
    fclose(fp);
    free(buf);
    if (err)
        return ad_fail(AD_ERR_IO, "%s: read error", path);
    *hash = h;
    if (size)
        *size = n;
    return AD_OK;
}

static uint64_t file_size(const char *path, int *exists)
{
    struct stat sb;
    *exists = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    return *exists ? (uint64_t)sb.st_size : 0;
}

int ad_ckpt_check_dir(const char *dir, int hash, ad_train_state *st)
{
    char path[4096];
    AD_TRY(ad_path_join(path, sizeof path, dir, AD_CKPT_TRAINER));
    char *text = NULL;
    AD_TRY(ad_read_file(path, &text, NULL));
    ad_ckpt_sums want;
    ad_train_state parsed;
    int rc = ad_ckpt_trainer_parse(path, text, &parsed, &want);
    free(text);
    AD_TRY(rc);
    for (int i = 0; rc == AD_OK && i < AD_CKPT_NFILES; i++) {
        AD_CHECK(ad_path_join(path, sizeof path, dir, ad_ckpt_files[i]));
        int exists;
        uint64_t bytes = file_size(path, &exists), fnv = 0;
        if (!exists) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: missing", path);
            goto done;
        }
        if (bytes != want.bytes[i]) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: %llu bytes, trainer.json records %llu (truncated?)",
                         path, (unsigned long long)bytes, (unsigned long long)want.bytes[i]);
            goto done;
        }
        if (hash) {
            AD_CHECK(ad_ckpt_file_checksum(path, &fnv, NULL));
            if (fnv != want.fnv[i]) {
                rc = ad_fail(AD_ERR_FORMAT, "%s: checksum mismatch (corrupt file)", path);
                goto done;
            }
        }
    }
done:
    if (rc == AD_OK && st)
        *st = parsed;
    else
        ad_train_state_clear(&parsed);
    return rc;
}

int ad_ckpt_verify(const char *ckpt_dir) { return ad_ckpt_check_dir(ckpt_dir, 1, NULL); }

int64_t ad_ckpt_parse_name(const char *name)
{
    if (strncmp(name, "step-", 5) != 0)
        return -1;
    const char *d = name + 5;
    size_t n = strlen(d);
    if (n < 8 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        v = v * 10 + (d[i] - '0');
    }
    return v;
}

int ad_ckpt_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? AD_OK
                               : ad_fail(AD_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return ad_fail(AD_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
        struct dirent *e;
        int rc = AD_OK;
        while (rc == AD_OK && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[4096];
            rc = ad_path_join(child, sizeof child, path, e->d_name);
            if (rc == AD_OK)
                rc = ad_ckpt_remove_tree(child);
        }
        closedir(d);
        AD_TRY(rc);
        if (rmdir(path) != 0)
            return ad_fail(AD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return AD_OK;
    }
    if (unlink(path) != 0)
        return ad_fail(AD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return AD_OK;
}

/* The step folders of checkpoints/, and the leftovers of interrupted saves: the folder being
 * built ("step-N.tmp-<pid>") and the one it replaces while being swapped ("step-N.old-<pid>"). */
typedef struct ckpt_entry {
    int64_t step;
    char name[256];
} ckpt_entry;

typedef struct ckpt_listing {
    ckpt_entry *steps;
    size_t n_steps;
    ckpt_entry *tmps;
    size_t n_tmps;
} ckpt_listing;

static void listing_free(ckpt_listing *l)
{
    free(l->steps);
    free(l->tmps);
    memset(l, 0, sizeof *l);
}

static int push(ckpt_entry **arr, size_t *n, size_t *cap, int64_t step, const char *name)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        ckpt_entry *na = realloc(*arr, nc * sizeof *na);
        if (!na)
            return ad_fail(AD_ERR_NOMEM, "checkpoint listing: out of memory");
        *arr = na;
        *cap = nc;
    }
    (*arr)[*n].step = step;
    snprintf((*arr)[*n].name, sizeof (*arr)[*n].name, "%s", name);
    (*n)++;
    return AD_OK;
}

static int newest_first(const void *a, const void *b)
{
    int64_t x = ((const ckpt_entry *)a)->step, y = ((const ckpt_entry *)b)->step;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Lists <run>/checkpoints (absent: empty). Step folders come newest first. */
static int list_checkpoints(const char *ckdir, ckpt_listing *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(ckdir);
    if (!d)
        return errno == ENOENT ? AD_OK
                               : ad_fail(AD_ERR_IO, "%s: cannot open: %s", ckdir, strerror(errno));
    size_t cap_s = 0, cap_t = 0;
    int rc = AD_OK;
    struct dirent *e;
    while (rc == AD_OK && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) >= sizeof l->steps[0].name)
            continue;
        char base[256];
        snprintf(base, sizeof base, "%s", e->d_name);
        char *dot = strstr(base, ".tmp-");
        if (!dot)
            dot = strstr(base, ".old-");
        if (dot)
            *dot = '\0';
        int64_t step = ad_ckpt_parse_name(base);
        if (step < 0)
            continue;
        if (dot)
            rc = push(&l->tmps, &l->n_tmps, &cap_t, step, e->d_name);
        else
            rc = push(&l->steps, &l->n_steps, &cap_s, step, e->d_name);
    }
    closedir(d);
    if (rc != AD_OK) {
        listing_free(l);
        return rc;
    }
    if (l->n_steps > 1)
        qsort(l->steps, l->n_steps, sizeof *l->steps, newest_first);
    return AD_OK;
}

/* Complete, and the folder's name agrees with the step it records. */
static int check_entry(const char *ckdir, const ckpt_entry *e, int hash, char *path, size_t n)
{
    AD_TRY(ad_path_join(path, n, ckdir, e->name));
    ad_train_state st;
    AD_TRY(ad_ckpt_check_dir(path, hash, &st));
    int64_t recorded = st.step;
    ad_train_state_clear(&st);
    if (recorded != e->step)
        return ad_fail(AD_ERR_FORMAT, "%s: trainer.json records step %lld", path,
                       (long long)recorded);
    return AD_OK;
}

int ad_ckpt_find_latest(const char *run_dir, char *dir, size_t n, int64_t *step)
{
    *step = -1;
    if (n)
        dir[0] = '\0';
    char ckdir[4096], path[4096];
    AD_TRY(ad_path_join(ckdir, sizeof ckdir, run_dir, AD_CKPT_DIR));
    ckpt_listing l;
    AD_TRY(list_checkpoints(ckdir, &l));
    int64_t newest = l.n_steps ? l.steps[0].step : -1;
    for (size_t i = 0; i < l.n_tmps; i++)
        if (l.tmps[i].step > newest && strstr(l.tmps[i].name, ".tmp-"))
            ad_warn("checkpoint: ignoring %s/%s, a save that did not finish", ckdir,
                    l.tmps[i].name);
    int rc = AD_OK;
    /* why each folder was rejected, for the error when none is usable */
    char why[768] = "";
    size_t wlen = 0;
    for (size_t i = 0; i < l.n_steps; i++) {
        if (check_entry(ckdir, &l.steps[i], 1, path, sizeof path) != AD_OK) {
            ad_warn("checkpoint: skipping incomplete or corrupt %s: %s", path, ad_errmsg());
            /* the reason without the folder's own path, which the list already names */
            const char *msg = ad_errmsg();
            size_t pl = strlen(path);
            if (strncmp(msg, path, pl) == 0 && msg[pl] == '/')
                msg += pl + 1;
            else if (strncmp(msg, path, pl) == 0 && msg[pl] == ':')
                msg += pl + 2;
            if (wlen < sizeof why)
                wlen += (size_t)snprintf(why + wlen, sizeof why - wlen, "%s%s: %s",
                                         wlen ? "; " : "", l.steps[i].name, msg);
            ad_clear_error();
            continue;
        }
        if (strlen(path) >= n) {
            rc = ad_fail(AD_ERR_ARG, "%s: path too long", path);
            break;
        }
        memcpy(dir, path, strlen(path) + 1);
        *step = l.steps[i].step;
        break;
    }
    /* Folders exist but none is usable: starting over would silently discard the run (and
     * the first save's prune would then delete the evidence), so refuse and touch nothing. */
    if (rc == AD_OK && *step < 0 && l.n_steps > 0)
        rc = ad_fail(AD_ERR_FORMAT, "%s: no usable checkpoint among %zu (%s); nothing was "
                     "deleted: repair them, or move checkpoints/ away to start the run over",
                     ckdir, l.n_steps, why);
    listing_free(&l);
    return rc;
}

int ad_ckpt_list(const char *run_dir, ad_ckpt_entry **entries, size_t *n)
{
    *entries = NULL;
    *n = 0;
    char ckdir[4096], path[4096];
    AD_TRY(ad_path_join(ckdir, sizeof ckdir, run_dir, AD_CKPT_DIR));
    ckpt_listing l;
    AD_TRY(list_checkpoints(ckdir, &l));
    ad_ckpt_entry *out = ad_calloc(l.n_steps ? l.n_steps : 1, sizeof *out, "checkpoint list");
    if (!out) {
        listing_free(&l);
        return AD_ERR_NOMEM;
    }
    for (size_t i = 0; i < l.n_steps; i++) {
        out[i].step = l.steps[i].step;
        snprintf(out[i].name, sizeof out[i].name, "%s", l.steps[i].name);
        out[i].valid = check_entry(ckdir, &l.steps[i], 1, path, sizeof path) == AD_OK;
        if (!out[i].valid)
            snprintf(out[i].problem, sizeof out[i].problem, "%s", ad_errmsg());
        ad_clear_error();
    }
    *entries = out;
    *n = l.n_steps;
    listing_free(&l);
    return AD_OK;
}

int ad_ckpt_prune(const char *run_dir, int keep)
{
    if (keep < 1)
        return ad_fail(AD_ERR_ARG, "checkpoint prune: keep = %d, must be >= 1", keep);
    char ckdir[4096], path[4096];
    AD_TRY(ad_path_join(ckdir, sizeof ckdir, run_dir, AD_CKPT_DIR));
    ckpt_listing l;
    AD_TRY(list_checkpoints(ckdir, &l));
    int rc = AD_OK, kept = 0;
    for (size_t i = 0; rc == AD_OK && i < l.n_steps; i++) {
        /* Sizes, not checksums: a prune follows every save and must stay cheap; a folder
         * only becomes a step folder by the final rename of a finished save. */
        if (kept < keep && check_entry(ckdir, &l.steps[i], 0, path, sizeof path) == AD_OK) {
            kept++;
            continue;
        }
        ad_clear_error();
        rc = ad_path_join(path, sizeof path, ckdir, l.steps[i].name);
        if (rc == AD_OK)
            rc = ad_ckpt_remove_tree(path);
    }
    char own[64];
    snprintf(own, sizeof own, "-%ld", (long)getpid());
    for (size_t i = 0; rc == AD_OK && i < l.n_tmps; i++) {
        const char *name = l.tmps[i].name, *pid = strrchr(name, '-');
        if (pid && strcmp(pid, own) == 0)
            continue;
        rc = ad_path_join(path, sizeof path, ckdir, l.tmps[i].name);
        if (rc == AD_OK)
            rc = ad_ckpt_remove_tree(path);
    }
    listing_free(&l);
    return rc;
}
