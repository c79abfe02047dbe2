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

static int replace_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src && !(c = ad_strdup(src)))
        return AD_ERR_NOMEM;
    free(*dst);
    *dst = c;
    return AD_OK;
}

int ad_config_create(ad_config **out)
{
    *out = NULL;
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

/* Checks `value` against the key's type and range; `where` names the source for messages. */
static int check_value(const ad_cfg_key *k, const char *value, const char *where)
{
    int ok = 1;
    double lo = -INFINITY, hi = INFINITY;
    if ((k->type == AD_CFG_INT || k->type == AD_CFG_FLOAT) && k->choices)
        sscanf(k->choices, "%lf|%lf", &lo, &hi);
    switch (k->type) {
    case AD_CFG_INT: {
        int64_t x;
        ok = parse_int(value, &x);
        if (ok && ((double)x < lo || (double)x > hi))
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = %s is out of range (%s..%s)", where,
                           k->section, k->key, value, k->choices, strchr(k->choices, '|') + 1);
        break;
    }
    case AD_CFG_FLOAT: {
        double x;
        ok = parse_float(value, &x);
        if (ok && (x < lo || x > hi))
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = %s is out of range [%g, %g]", where,
                           k->section, k->key, value, lo, hi);
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

static int set_value(ad_config *cfg, const char *section, const char *key, const char *value,
                     const char *origin, const char *where, const char *path_base)
{
    long i = find_key(section, key);
    if (i < 0) {
        if (!section_exists(section))
            return ad_fail(AD_ERR_CONFIG, "%s: unknown section [%s] (key '%s')", where, section,
                           key);
        return ad_fail(AD_ERR_CONFIG, "%s: unknown key '%s' in section [%s]", where, key,
                       section);
    }
    const ad_cfg_key *k = &ad_config_schema[i];
    /* An empty value for a key without default means "unset" (e.g. --set train.max_steps=). */
    if (value[0] == '\0' && k->type != AD_CFG_STRING) {
        if (k->def)
            return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s needs a value (%s)", where, section, key,
                           type_name(k->type));
        AD_TRY(replace_str(&cfg->vals[i].value, NULL));
        return replace_str(&cfg->vals[i].origin, origin);
    }
    AD_TRY(check_value(k, value, where));
    char *v = NULL;
    if (k->type == AD_CFG_PATH)
        AD_TRY(resolve_path(value, path_base, &v));
    else if (!(v = ad_strdup(value)))
        return AD_ERR_NOMEM;
    free(cfg->vals[i].value);
    cfg->vals[i].value = v;
    return replace_str(&cfg->vals[i].origin, origin);
}

int ad_config_set(ad_config *cfg, const char *section, const char *key, const char *value,
                  const char *origin)
{
    return set_value(cfg, section, key, value, origin, origin, NULL);
}

/* One job file being read (an included file gets its own). */
typedef struct parse_ctx {
    ad_config *cfg;
    int rc;
    int line;
    int keys;            /* keys read so far in this file */
    int depth;           /* include nesting */
    const char *file;
    const char *dir;     /* absolute folder of the file, for relative paths */
    unsigned char *seen; /* keys given in this file, to reject duplicates */
} parse_ctx;

#define MAX_INCLUDE_DEPTH 8

static int load_file(ad_config *cfg, const char *path, int depth);

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
    int rc = load_file(pc->cfg, path, pc->depth + 1);
    free(path);
    return rc == AD_OK ? AD_OK : ad_fail_ctx(rc, "%s: included", where);
}

static int job_line_handler(void *user, const char *section, const char *name, const char *value,
                            int lineno)
{
    parse_ctx *pc = user;
    ad_config *cfg = pc->cfg;
    char where[4200];
    snprintf(where, sizeof where, "%s:%d", pc->file, lineno);
    if (strcmp(section, "job") == 0) {
        if (name && strcmp(name, "include") != 0) {
            pc->rc = ad_fail(AD_ERR_CONFIG, "%s: unknown key '%s' in section [job] (include only)",
                             where, name);
            return 0;
        }
        if (name && (pc->rc = include_file(pc, where, value)) != AD_OK)
            return 0;
        return 1;
    }
    if (!name) /* section header alone */ {
        if (!section_exists(section)) {
            pc->rc = ad_fail(AD_ERR_CONFIG, "%s: unknown section [%s]", where, section);
            return 0;
        }
        return 1;
    }
    if (section[0] == '\0') {
        pc->rc = ad_fail(AD_ERR_CONFIG, "%s: key '%s' outside any [section]", where, name);
        return 0;
    }
    long i = find_key(section, name);
    if (i >= 0 && pc->seen[i]) {
        pc->rc = ad_fail(AD_ERR_CONFIG, "%s: [%s] %s is given twice", where, section, name);
        return 0;
    }
    pc->rc = set_value(cfg, section, name, value, where, where, pc->dir);
    if (pc->rc != AD_OK)
        return 0;
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

static int load_file(ad_config *cfg, const char *path, int depth)
{
    char dir[4096], abs[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    AD_TRY(absolute_path(dir, abs, sizeof abs));
    FILE *fp = fopen(path, "r");
    if (!fp)
        return ad_fail(AD_ERR_CONFIG, "%s: cannot open job file: %s", path, strerror(errno));
    parse_ctx pc = {cfg, AD_OK, 0, 0, depth, path, abs, ad_calloc(cfg->nkeys, 1, "configuration")};
    if (!pc.seen) {
        fclose(fp);
        return AD_ERR_NOMEM;
    }
    line_reader lr = {fp, &pc};
    int r = ini_parse_stream(read_line, &lr, handler_counting, &pc);
    fclose(fp);
    free(pc.seen);
    if (pc.rc != AD_OK)
        return pc.rc;
    if (r != 0)
        return ad_fail(AD_ERR_CONFIG, "%s:%d: cannot parse this line (expected [section] or key = value)",
                       path, r);
    return AD_OK;
}

int ad_config_load_file(ad_config *cfg, const char *path)
{
    AD_TRY(replace_str(&cfg->file, path));
    return load_file(cfg, path, 0);
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
    return set_value(cfg, section, key, eq + 1, "--set", where, cwd);
}

const char *ad_config_source(const ad_config *cfg)
{
    return cfg->file ? cfg->file : "(no job file)";
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
                       ad_config_source(cfg), section, key, v);
    return AD_OK;
}

int ad_config_float(const ad_config *cfg, const char *section, const char *key, double *out)
{
    const char *v;
    AD_TRY(get_set(cfg, section, key, &v));
    if (!parse_float(v, out))
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not a number",
                       ad_config_source(cfg), section, key, v);
    return AD_OK;
}

int ad_config_bool(const ad_config *cfg, const char *section, const char *key, int *out)
{
    const char *v;
    AD_TRY(get_set(cfg, section, key, &v));
    if (!parse_bool(v, out))
        return ad_fail(AD_ERR_CONFIG, "%s: [%s] %s = '%s' is not true/false",
                       ad_config_source(cfg), section, key, v);
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
                           ad_config_source(cfg), section, key, v);
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
