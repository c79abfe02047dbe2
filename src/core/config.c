#include "adaptor/config.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct cfg_value {
    char *value;  /* NULL: unset */
    char *origin; /* "job.ini:12", "--set", "default" */
} cfg_value;

struct ad_config {
    size_t nkeys;
    cfg_value *vals;
    char *file; /* job file, or NULL */
};

static size_t schema_len(void)
{
    size_t n = 0;
    while (ad_config_schema[n].section)
        n++;
    return n;
}

static long find_key(const char *section, const char *key)
{
    for (long i = 0; ad_config_schema[i].section; i++)
        if (strcmp(ad_config_schema[i].section, section) == 0 &&
            strcmp(ad_config_schema[i].key, key) == 0)
            return i;
    return -1;
}

static int section_exists(const char *section)
{
    for (long i = 0; ad_config_schema[i].section; i++)
        if (strcmp(ad_config_schema[i].section, section) == 0)
            return 1;
    return 0;
}

/* Levenshtein distance, capped: enough to spot a misspelt key. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest schema name to `name` (a key of `section`, or a section when section is NULL),
 * when it is close enough to be a typo; NULL otherwise. */
static const char *closest_name(const char *section, const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, len = strlen(name);
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    for (long i = 0; ad_config_schema[i].section; i++) {
        const ad_cfg_key *k = &ad_config_schema[i];
        if (section && strcmp(k->section, section) != 0)
            continue;
        const char *cand = section ? k->key : k->section;
        size_t d = edit_distance(name, cand);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    return best_d <= limit ? best : NULL;
}

static int replace_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src && !(c = ad_strdup(src)))
        return AD_ERR_NOMEM;
    free(*dst);
    *dst = c;
    return AD_OK;
}

typedef struct num_range {
    int64_t ilo, ihi;
    double lo, hi;
} num_range;

static int parse_range(const ad_cfg_key *k, num_range *r);
static int check_value(const ad_cfg_key *k, const char *value, const char *where);

/* The schema checks itself (every range well-formed, every default valid) before any value
 * goes through it: a slip in the table is then an error at start-up, not a crash on the
 * first out-of-range value a user gives. */
static int check_schema(void)
{
    for (long i = 0; ad_config_schema[i].section; i++) {
        const ad_cfg_key *k = &ad_config_schema[i];
        if (k->def && check_value(k, k->def, "configuration schema default") != AD_OK)
            return ad_fail_ctx(AD_ERR_INTERNAL, "internal error");
        if (!k->def && (k->type == AD_CFG_INT || k->type == AD_CFG_FLOAT)) {
            num_range r;
            AD_TRY(parse_range(k, &r));
        }
    }
    return AD_OK;
}

int ad_config_create(ad_config **out)
{
    *out = NULL;
    AD_TRY(check_schema());
    ad_config *cfg = ad_calloc(1, sizeof *cfg, "configuration");
    if (!cfg)
        return AD_ERR_NOMEM;
    cfg->nkeys = schema_len();
    cfg->vals = ad_calloc(cfg->nkeys, sizeof *cfg->vals, "configuration");
    if (!cfg->vals) {
        free(cfg);
        return AD_ERR_NOMEM;
    }
    for (size_t i = 0; i < cfg->nkeys; i++) {
        if (ad_config_schema[i].def) {
            if (replace_str(&cfg->vals[i].value, ad_config_schema[i].def) ||
                replace_str(&cfg->vals[i].origin, "default")) {
                ad_config_destroy(cfg);
                return AD_ERR_NOMEM;
            }
        }
    }
    *out = cfg;
    return AD_OK;
}

void ad_config_destroy(ad_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        free(cfg->vals[i].value);
        free(cfg->vals[i].origin);
    }
    free(cfg->vals);
    free(cfg->file);
    free(cfg);
}

static const char *type_name(ad_cfg_type t)
{
    switch (t) {
    case AD_CFG_STRING: return "string";
    case AD_CFG_INT: return "integer";
    case AD_CFG_FLOAT: return "number";
    case AD_CFG_BOOL: return "boolean";
    case AD_CFG_ENUM: return "choice";
    case AD_CFG_LIST: return "list";
    case AD_CFG_PATH: return "path";
    }
    return "?";
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 1;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return 0;
    *out = (int64_t)x;
    return 1;
}

static int parse_float(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno == ERANGE || !isfinite(x))
        return 0;
    *out = x;
    return 1;
}

/* A numeric key's optional "min|max" (both ends required, nothing else): integer keys compare
 * as integers so bounds near INT64_MAX stay exact. A malformed range is a schema bug. */
static int parse_range(const ad_cfg_key *k, num_range *r)
{
    r->ilo = INT64_MIN;
    r->ihi = INT64_MAX;
    r->lo = -INFINITY;
    r->hi = INFINITY;
    if (!k->choices)
        return AD_OK;
    const char *bar = strchr(k->choices, '|');
    char lo[64];
    size_t n = bar ? (size_t)(bar - k->choices) : 0;
    int ok = bar && n < sizeof lo;
    if (ok) {
        memcpy(lo, k->choices, n);
        lo[n] = '\0';
        ok = k->type == AD_CFG_INT ? parse_int(lo, &r->ilo) && parse_int(bar + 1, &r->ihi)
                                   : parse_float(lo, &r->lo) && parse_float(bar + 1, &r->hi);
    }
    if (ok && k->type == AD_CFG_INT)
        ok = r->ilo <= r->ihi;
    if (ok && k->type == AD_CFG_FLOAT)
        ok = r->lo <= r->hi;
    if (!ok)
        return ad_fail(AD_ERR_INTERNAL, "configuration schema: [%s] %s has the malformed range "
                       "'%s' (expected min|max)", k->section, k->key, k->choices);
    return AD_OK;
}

/* Checks `value` against the key's type and range; `where` names the source for messages. */
static int check_value(const ad_cfg_key *k, const char *value, const char *where)
{
    int ok = 1;
    num_range r;
    if (k->type == AD_CFG_INT || k->type == AD_CFG_FLOAT)
        AD_TRY(parse_range(k, &r));
    switch (k->type) {
    case AD_CFG_INT: {
        int64_t x;
        ok = parse_int(value, &x);
        if (ok && (x < r.ilo || x > r.ihi))
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = %s is out of range [%lld, %lld]", where,
                           k->section, k->key, value, (long long)r.ilo, (long long)r.ihi);
        break;
    }
    case AD_CFG_FLOAT: {
        double x;
        ok = parse_float(value, &x);
        if (ok && (x < r.lo || x > r.hi))
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = %s is out of range [%g, %g]", where,
                           k->section, k->key, value, r.lo, r.hi);
        break;
    }
    case AD_CFG_BOOL: {
        int b;
        ok = parse_bool(value, &b);
        break;
    }
    case AD_CFG_ENUM: {
        ok = 0;
        size_t n = strlen(value);
        for (const char *c = k->choices; c && *c;) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && strncmp(c, value, n) == 0)
                ok = 1;
            c = bar ? bar + 1 : c + len;
        }
        if (!ok)
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not one of %s", where,
                           k->section, k->key, value, k->choices);
        break;
    }
    case AD_CFG_LIST:
    case AD_CFG_STRING:
    case AD_CFG_PATH:
        ok = k->type == AD_CFG_STRING || value[0] != '\0';
        break;
    }
    if (!ok)
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not a valid %s", where, k->section,
                       k->key, value, type_name(k->type));
    return AD_OK;
}

/* Drops "." segments and "name/.." pairs from an absolute path, lexically (the stored
 * configuration then reads as users expect; symlinked folders are not resolved). */
static void normalize_path(char *p)
{
    if (p[0] != '/')
        return;
    size_t n = strlen(p);
    char *buf = malloc(n + 2);
    if (!buf)
        return; /* the path stays correct, only less tidy */
    size_t out = 0;
    for (const char *in = p + 1; *in;) {
        const char *end = strchr(in, '/');
        size_t len = end ? (size_t)(end - in) : strlen(in);
        if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (out > 0 && buf[out - 1] != '/')
                out--;
            if (out > 0)
                out--; /* and the '/' before the dropped segment */
        } else if (len > 0 && !(len == 1 && in[0] == '.')) {
            buf[out++] = '/';
            memcpy(buf + out, in, len);
            out += len;
        }
        in += len + (end ? 1 : 0);
    }
    if (out == 0)
        buf[out++] = '/';
    buf[out] = '\0';
    memcpy(p, buf, out + 1);
    free(buf);
}

/* Relative paths from a job file are taken relative to the job file's folder. */
static int resolve_path(const char *value, const char *base, char **out)
{
    char buf[4096];
    if (value[0] == '/' || !base) {
        *out = ad_strdup(value);
        return *out ? AD_OK : AD_ERR_NOMEM;
    }
    AD_TRY(ad_path_join(buf, sizeof buf, base, value));
    normalize_path(buf);
    *out = ad_strdup(buf);
    return *out ? AD_OK : AD_ERR_NOMEM;
}

/* An absolute spelling of a folder, without resolving symlinks (users' paths stay
 * recognisable in the stored configuration). */
static int absolute_path(const char *dir, char *out, size_t n)
{
    char cwd[4096];
    if (dir[0] == '/') {
        snprintf(out, n, "%s", dir);
        return AD_OK;
    }
    if (!getcwd(cwd, sizeof cwd))
        return ad_fail(AD_ERR_IO, "cannot determine the working directory: %s", strerror(errno));
    if (strcmp(dir, ".") == 0) {
        snprintf(out, n, "%s", cwd);
        return AD_OK;
    }
    return ad_path_join(out, n, cwd, dir[0] == '.' && dir[1] == '/' ? dir + 2 : dir);
}

/* "unknown key", with the likely intended name when there is one. */
static int unknown_key(const char *section, const char *key, const char *where)
{
    if (!section_exists(section)) {
        const char *near = closest_name(NULL, section);
        if (near)
            return ad_fail(AD_ERR_CONFIG, "%s: unknown section [%s] (did you mean [%s]?)", where,
                           section, near);
        return ad_fail(AD_ERR_CONFIG, "%s: unknown section [%s]", where, section);
    }
    if (!key)
        return AD_OK;
    const char *near = closest_name(section, key);
    if (near)
        return ad_fail(AD_ERR_CONFIG, "%s: unknown key '%s' in section [%s] (did you mean '%s'?)",
                       where, key, section, near);
    for (long i = 0; ad_config_schema[i].section; i++)
        if (strcmp(ad_config_schema[i].key, key) == 0)
            return ad_fail(AD_ERR_CONFIG, "%s: unknown key '%s' in section [%s] (it belongs in "
                           "[%s])", where, key, section, ad_config_schema[i].section);
    return ad_fail(AD_ERR_CONFIG, "%s: unknown key '%s' in section [%s]", where, key, section);
}

static int set_value(ad_config *cfg, const char *section, const char *key, const char *value,
                     const char *origin, const char *where, const char *path_base)
{
    long i = find_key(section, key);
    if (i < 0)
        return unknown_key(section, key, where);
    const ad_cfg_key *k = &ad_config_schema[i];
    /* An empty value for a key without default means "unset" (e.g. --set train.max_steps=). */
    if (value[0] == '\0' && k->type != AD_CFG_STRING) {
        if (k->def)
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s needs a value (%s)", where, section, key,
                           type_name(k->type));
        AD_TRY(replace_str(&cfg->vals[i].value, NULL));
        return replace_str(&cfg->vals[i].origin, origin);
    }
    /* A stored config.ini must load back to the same values: "key = ;x" would read as an
     * empty value with a comment, so a value may not begin with a comment character. */
    if (value[0] == ';')
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = %s begins with ';' (a comment after a "
                       "value needs a space before it)", where, section, key, value);
    /* Control characters (a tab or vertical tab left at the end once a path is normalised)
     * would be stripped or split when config.ini is read back. */
    for (const unsigned char *c = (const unsigned char *)value; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s: the value holds control character "
                           "0x%02x at byte %zu", where, section, key, *c,
                           (size_t)(c - (const unsigned char *)value));
    AD_TRY(check_value(k, value, where));
    char *v = NULL;
    if (k->type == AD_CFG_PATH)
        AD_TRY(resolve_path(value, path_base, &v));
    else if (!(v = ad_strdup(value)))
        return AD_ERR_NOMEM;
    /* config.ini is read back with surrounding white space stripped ("a /" normalises to
     * "a "): such a value would not reload as itself. */
    size_t n = strlen(v);
    if (n > 0 && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]))) {
        int rc = ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' begins or ends with white space",
                         where, section, key, v);
        free(v);
        return rc;
    }
    free(cfg->vals[i].value);
    cfg->vals[i].value = v;
    return replace_str(&cfg->vals[i].origin, origin);
}

int ad_config_set(ad_config *cfg, const char *section, const char *key, const char *value,
                  const char *origin)
{
    return set_value(cfg, section, key, value, origin, origin, NULL);
}

/* The files being read, innermost first (to refuse include cycles). */
typedef struct include_chain {
    const char *real; /* realpath of the file */
    const struct include_chain *outer;
} include_chain;

/* One job file being read (an included file gets its own). */
typedef struct parse_ctx {
    ad_config *cfg;
    int rc;
    int err_line;        /* line of the first error (rc); later lines are not looked at */
    int line;
    int keys;            /* keys read so far in this file */
    int depth;           /* include nesting */
    const char *file;
    const char *dir;     /* absolute folder of the file, for relative paths */
    unsigned char *seen; /* keys given in this file, to reject duplicates */
    const include_chain *chain;
} parse_ctx;

#define MAX_INCLUDE_DEPTH 8

static int load_file(ad_config *cfg, const char *path, int depth, const include_chain *outer);

/* [job] include = FILE reads another job file first; the including file then overrides it.
 * It must come before every other key, so that reading order is also precedence order. */
static int include_file(parse_ctx *pc, const char *where, const char *value)
{
    if (pc->keys > 0)
        return ad_fail(AD_ERR_CONFIG, "%s: [job] include must come before every other key", where);
    if (pc->depth + 1 >= MAX_INCLUDE_DEPTH)
        return ad_fail(AD_ERR_CONFIG, "%s: job files include each other more than %d deep", where,
                       MAX_INCLUDE_DEPTH);
    char *path;
    AD_TRY(resolve_path(value, pc->dir, &path));
    int rc = load_file(pc->cfg, path, pc->depth + 1, pc->chain);
    free(path);
    return rc == AD_OK ? AD_OK : ad_fail_ctx(rc, "%s: [job] include", where);
}

/* Records the first error only: inih goes on calling the handler after a failure, and a
 * later good line must not replace the message of an earlier bad one. */
static int line_failed(parse_ctx *pc, int rc, int lineno)
{
    if (pc->rc == AD_OK) {
        pc->rc = rc;
        pc->err_line = lineno;
    }
    return 0;
}

static int job_line_handler(void *user, const char *section, const char *name, const char *value,
                            int lineno)
{
    parse_ctx *pc = user;
    ad_config *cfg = pc->cfg;
    if (pc->rc != AD_OK)
        return 0;
    char where[4200];
    snprintf(where, sizeof where, "%s:%d", pc->file, lineno);
    if (strcmp(section, "job") == 0) {
        if (name && strcmp(name, "include") != 0)
            return line_failed(pc, ad_fail(AD_ERR_CONFIG, "%s: unknown key '%s' in section [job] "
                                           "(include only)", where, name), lineno);
        int rc = name ? include_file(pc, where, value) : AD_OK;
        return rc == AD_OK ? 1 : line_failed(pc, rc, lineno);
    }
    if (!name) /* section header alone */
        return section_exists(section) ? 1 : line_failed(pc, unknown_key(section, NULL, where),
                                                         lineno);
    if (section[0] == '\0')
        return line_failed(pc, ad_fail(AD_ERR_CONFIG, "%s: key '%s' outside any [section]", where,
                                       name), lineno);
    long i = find_key(section, name);
    if (i >= 0 && pc->seen[i])
        return line_failed(pc, ad_fail(AD_ERR_CONFIG, "%s: [%s] %s is given twice", where, section,
                                       name), lineno);
    int rc = set_value(cfg, section, name, value, where, where, pc->dir);
    if (rc != AD_OK)
        return line_failed(pc, rc, lineno);
    pc->seen[i] = 1;
    pc->keys++;
    return 1;
}

/* inih reports the line of a handler failure but not to the handler itself unless built
 * with INI_HANDLER_LINENO; Debian's build is not, so lines are counted by the reader. */
typedef struct line_reader {
    FILE *fp;
    parse_ctx *pc;
} line_reader;

/* libinih reads into a fixed buffer (INI_MAX_LINE, 200 bytes in Debian's build) and would
 * parse the rest of a longer line as a line of its own: refuse such lines instead. */
static char *read_line(char *str, int num, void *stream)
{
    line_reader *lr = stream;
    char *r = fgets(str, num, lr->fp);
    if (!r)
        return NULL;
    lr->pc->line++;
    if (!strchr(r, '\n') && !feof(lr->fp)) {
        if (lr->pc->rc == AD_OK)
            lr->pc->rc = ad_fail(AD_ERR_CONFIG, "%s:%d: line longer than %d characters",
                                 lr->pc->file, lr->pc->line, num - 2);
        return NULL;
    }
    return r;
}

static int handler_counting(void *user, const char *section, const char *name,
                            const char *value)
{
    parse_ctx *pc = user;
    return job_line_handler(user, section, name, value, pc->line);
}

/* Opens a job file: a regular file (a folder opens for reading on Linux and reads as empty),
 * not one already being read further out (an include cycle). */
static int open_job_file(const char *path, const include_chain *outer, FILE **fp, char **real)
{
    *fp = NULL;
    *real = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return ad_fail(AD_ERR_CONFIG, "%s: cannot open job file: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int dir = S_ISDIR(sb.st_mode);
        fclose(f);
        return ad_fail(AD_ERR_CONFIG, "%s: %s, not a job file", path,
                       dir ? "is a directory" : "is not a regular file");
    }
    char *r = realpath(path, NULL);
    if (!r) {
        fclose(f);
        return ad_fail(AD_ERR_CONFIG, "%s: cannot resolve the path: %s", path, strerror(errno));
    }
    for (const include_chain *c = outer; c; c = c->outer)
        if (strcmp(c->real, r) == 0) {
            int self = c == outer;
            free(r);
            fclose(f);
            return self ? ad_fail(AD_ERR_CONFIG, "%s includes itself", path)
                        : ad_fail(AD_ERR_CONFIG, "%s is already being read (an include cycle)",
                                  path);
        }
    *fp = f;
    *real = r;
    return AD_OK;
}

/* Reads job-file text from fp; `label` names it in messages, `dir` resolves relative paths. */
static int parse_stream(ad_config *cfg, FILE *fp, const char *label, const char *dir, int depth,
                        const include_chain *chain)
{
    parse_ctx pc = {cfg, AD_OK, 0, 0, 0, depth, label, dir,
                    ad_calloc(cfg->nkeys, 1, "configuration"), chain};
    if (!pc.seen)
        return AD_ERR_NOMEM;
    line_reader lr = {fp, &pc};
    int r = ini_parse_stream(read_line, &lr, handler_counting, &pc);
    int read_err = ferror(fp) ? errno : 0;
    free(pc.seen);
    if (read_err)
        return ad_fail(AD_ERR_CONFIG, "%s: read error: %s", label, strerror(read_err));
    /* inih's r is the first line it could not parse or whose handler failed */
    if (r > 0 && (pc.rc == AD_OK || r < pc.err_line))
        return ad_fail(AD_ERR_CONFIG, "%s:%d: cannot parse this line (expected [section] or "
                       "key = value)", label, r);
    if (pc.rc != AD_OK)
        return pc.rc;
    if (r != 0)
        return ad_fail(AD_ERR_CONFIG, "%s: cannot read the job file (inih status %d)", label, r);
    return AD_OK;
}

static int load_file(ad_config *cfg, const char *path, int depth, const include_chain *outer)
{
    char dir[4096], abs[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    AD_TRY(absolute_path(dir, abs, sizeof abs));
    FILE *fp;
    char *real;
    AD_TRY(open_job_file(path, outer, &fp, &real));
    include_chain here = {real, outer};
    int rc = parse_stream(cfg, fp, path, abs, depth, &here);
    fclose(fp);
    free(real);
    return rc;
}

int ad_config_load_text(ad_config *cfg, const char *text, const char *label)
{
    char cwd[4096];
    AD_TRY(absolute_path(".", cwd, sizeof cwd));
    FILE *fp = fmemopen((void *)text, strlen(text), "r");
    if (!fp)
        return ad_fail(AD_ERR_NOMEM, "%s: cannot read the configuration text: %s", label,
                       strerror(errno));
    int rc = parse_stream(cfg, fp, label, cwd, 0, NULL);
    fclose(fp);
    return rc;
}

int ad_config_load_file(ad_config *cfg, const char *path)
{
    AD_TRY(replace_str(&cfg->file, path));
    return load_file(cfg, path, 0, NULL);
}

int ad_config_set_override(ad_config *cfg, const char *assignment)
{
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq || dot == assignment || eq == dot + 1)
        return ad_fail(AD_ERR_CONFIG, "--set %s: expected section.key=value", assignment);
    char section[128], key[128];
    size_t ls = (size_t)(dot - assignment), lk = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || lk >= sizeof key)
        return ad_fail(AD_ERR_CONFIG, "--set %s: key too long", assignment);
    memcpy(section, assignment, ls);
    section[ls] = '\0';
    memcpy(key, dot + 1, lk);
    key[lk] = '\0';
    char where[512];
    snprintf(where, sizeof where, "--set %s.%s", section, key);
    char cwd[4096];
    AD_TRY(absolute_path(".", cwd, sizeof cwd));
    return set_value(cfg, section, key, eq + 1, where, where, cwd);
}

const char *ad_config_source(const ad_config *cfg)
{
    return cfg->file ? cfg->file : "(no job file)";
}

static const cfg_value *lookup(const ad_config *cfg, const char *section, const char *key);

const char *ad_config_where(const ad_config *cfg, const char *section, const char *key)
{
    const cfg_value *v = lookup(cfg, section, key);
    return v && v->origin && strcmp(v->origin, "default") != 0 ? v->origin : ad_config_source(cfg);
}

static const cfg_value *lookup(const ad_config *cfg, const char *section, const char *key)
{
    long i = find_key(section, key);
    return i < 0 ? NULL : &cfg->vals[i];
}

const char *ad_config_get(const ad_config *cfg, const char *section, const char *key)
{
    const cfg_value *v = lookup(cfg, section, key);
    return v ? v->value : NULL;
}

/* Lists compare item by item: "PA, AP" and "PA,AP" are the same list. */
static int same_list(const char *x, const char *y)
{
    for (;;) {
        while (isspace((unsigned char)*x))
            x++;
        while (isspace((unsigned char)*y))
            y++;
        size_t nx = strcspn(x, ","), ny = strcspn(y, ",");
        size_t ex = nx, ey = ny;
        while (ex > 0 && isspace((unsigned char)x[ex - 1]))
            ex--;
        while (ey > 0 && isspace((unsigned char)y[ey - 1]))
            ey--;
        if (ex != ey || strncmp(x, y, ex) != 0 || (x[nx] == ',') != (y[ny] == ','))
            return 0;
        if (x[nx] != ',')
            return 1;
        x += nx + 1;
        y += ny + 1;
    }
}

int ad_config_same(const ad_config *a, const ad_config *b, const char *section, const char *key)
{
    long i = find_key(section, key);
    if (i < 0)
        return 0;
    const char *x = a->vals[i].value, *y = b->vals[i].value;
    if (!x || !y)
        return x == y;
    switch (ad_config_schema[i].type) {
    case AD_CFG_INT: {
        int64_t p, q;
        return parse_int(x, &p) && parse_int(y, &q) ? p == q : strcmp(x, y) == 0;
    }
    case AD_CFG_FLOAT: {
        double p, q;
        return parse_float(x, &p) && parse_float(y, &q) ? p == q : strcmp(x, y) == 0;
    }
    case AD_CFG_BOOL: {
        int p, q;
        return parse_bool(x, &p) && parse_bool(y, &q) ? p == q : strcmp(x, y) == 0;
    }
    case AD_CFG_LIST:
        return same_list(x, y);
    default:
        return strcmp(x, y) == 0;
    }
}

int ad_config_is_set(const ad_config *cfg, const char *section, const char *key)
{
    return ad_config_get(cfg, section, key) != NULL;
}

int ad_config_require(const ad_config *cfg, const char *section, const char *key)
{
    if (find_key(section, key) < 0)
        return ad_fail(AD_ERR_INTERNAL, "no such configuration key [%s] %s", section, key);
    if (!ad_config_is_set(cfg, section, key))
        return ad_fail(AD_ERR_CONFIG, "%s: missing required key [%s] %s", ad_config_source(cfg),
                       section, key);
    return AD_OK;
}

static int get_set(const ad_config *cfg, const char *section, const char *key, const char **v)
{
    AD_TRY(ad_config_require(cfg, section, key));
    *v = ad_config_get(cfg, section, key);
    return AD_OK;
}

int ad_config_int(const ad_config *cfg, const char *section, const char *key, int64_t *out)
{
    const char *v;
    AD_TRY(get_set(cfg, section, key, &v));
    if (!parse_int(v, out))
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not an integer",
                       ad_config_where(cfg, section, key), section, key, v);
    return AD_OK;
}

int ad_config_float(const ad_config *cfg, const char *section, const char *key, double *out)
{
    const char *v;
    AD_TRY(get_set(cfg, section, key, &v));
    if (!parse_float(v, out))
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not a number",
                       ad_config_where(cfg, section, key), section, key, v);
    return AD_OK;
}

int ad_config_bool(const ad_config *cfg, const char *section, const char *key, int *out)
{
    const char *v;
    AD_TRY(get_set(cfg, section, key, &v));
    if (!parse_bool(v, out))
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not true/false",
                       ad_config_where(cfg, section, key), section, key, v);
    return AD_OK;
}

int ad_config_string(const ad_config *cfg, const char *section, const char *key,
                     const char **out)
{
    return get_set(cfg, section, key, out);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int ad_config_list(const ad_config *cfg, const char *section, const char *key, char ***items,
                   int *count)
{
    const char *v;
    *items = NULL;
    *count = 0;
    AD_TRY(get_set(cfg, section, key, &v));
    size_t len = strlen(v);
    int n = 1;
    for (const char *c = v; *c; c++)
        n += *c == ',';
    /* One block: the pointer array followed by a copy of the text. */
    char **arr = ad_malloc((size_t)n * sizeof(char *) + len + 1, "list");
    if (!arr)
        return AD_ERR_NOMEM;
    char *text = (char *)(arr + n);
    memcpy(text, v, len + 1);
    int k = 0;
    for (char *tok = text;;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        char *t = trim(tok);
        if (t[0] == '\0') {
            free(arr);
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' has an empty item",
                           ad_config_where(cfg, section, key), section, key, v);
        }
        arr[k++] = t;
        if (!comma)
            break;
        tok = comma + 1;
    }
    *items = arr;
    *count = k;
    return AD_OK;
}

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) AD_PRINTF(2, 3);
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->len + (size_t)w < b->cap) {
            b->len += (size_t)w;
            return;
        }
        size_t nc = (b->cap + (size_t)w + 1) * 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

int ad_config_dump(const ad_config *cfg, char **text)
{
    strbuf b = {0};
    b.s = malloc(1024);
    b.cap = b.s ? 1024 : 0;
    b.oom = !b.s;
    if (b.s)
        b.s[0] = '\0';
    sb_printf(&b, "; effective configuration (job file: %s)\n", ad_config_source(cfg));
    const char *cur = NULL;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const ad_cfg_key *k = &ad_config_schema[i];
        if (!cur || strcmp(cur, k->section) != 0) {
            sb_printf(&b, "%s[%s]\n", cur ? "\n" : "", k->section);
            cur = k->section;
        }
        const cfg_value *v = &cfg->vals[i];
        /* The origin comment is dropped where it would make the line too long to load. */
        int note = v->value && strcmp(v->origin, "default") != 0 &&
                   strlen(k->key) + strlen(v->value) + strlen(v->origin) + 15 <= INI_MAX_LINE - 1;
        if (v->value)
            sb_printf(&b, "%s = %s%s%s\n", k->key, v->value, note ? "    ; from " : "",
                      note ? v->origin : "");
        else
            sb_printf(&b, ";%s =\n", k->key);
    }
    if (b.oom) {
        free(b.s);
        return ad_fail(AD_ERR_NOMEM, "out of memory writing the configuration");
    }
    *text = b.s;
    return AD_OK;
}

int ad_config_write(const ad_config *cfg, const char *dir)
{
    char *text, path[4096];
    AD_TRY(ad_path_join(path, sizeof path, dir, "config.ini"));
    AD_TRY(ad_config_dump(cfg, &text));
    int rc = ad_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

void ad_config_print_reference(FILE *fp)
{
    const char *cur = NULL;
    for (size_t i = 0; ad_config_schema[i].section; i++) {
        const ad_cfg_key *k = &ad_config_schema[i];
        if (!cur || strcmp(cur, k->section) != 0) {
            fprintf(fp, "%s[%s]\n", cur ? "\n" : "", k->section);
            cur = k->section;
        }
        char type[160];
        if (k->type == AD_CFG_ENUM)
            snprintf(type, sizeof type, "%s", k->choices);
        else
            snprintf(type, sizeof type, "%s", type_name(k->type));
        fprintf(fp, "  %-18s %-26s default: %-20s %s\n", k->key, type, k->def ? k->def : "(none)",
                k->doc);
    }
}
