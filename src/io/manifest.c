/* The manifest CSV through libcsv. The file is fed to the parser one physical line at a
 * time so that the line where each row starts is known (libcsv itself counts nothing);
 * kept fields go into one growing character arena, referenced by offset until the end,
 * when the rows' pointers are fixed. */
#include "adaptor/manifest.h"

#include "adaptor/config.h"
#include "adaptor/error.h"
#include "adaptor/suggest.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROLE_NONE, ROLE_IMAGE, ROLE_SPLIT, ROLE_VIEW, ROLE_MASK, ROLE_REPORT, ROLE_LABEL };

typedef struct row_off {
    int64_t line;
    size_t image, split, view, mask;
} row_off;

struct ad_manifest {
    char *path;
    int nrep, nlab, nviews;
    char **label_names, **views;
    char *arena;
    size_t arena_len, arena_cap;
    int64_t nrows, cap;
    row_off *off;
    size_t *rep_off; /* [cap * nrep] */
    int8_t *labels;  /* [cap * nlab] */
    ad_manifest_row *rows;
    const char **rep_ptr;
};

typedef struct parse_state {
    ad_manifest *m;
    const ad_manifest_spec *spec;
    const char *root; /* NULL: paths kept as written */
    int rc;
    int header_done;
    int ncols, hcap;
    char **header;
    int *role, *role_idx;
    int col;
    int64_t line, row_line;
    int awaiting; /* the next non-blank line starts a row */
} parse_state;

static int grow(void **p, int64_t *cap, int64_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return AD_OK;
    int64_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return ad_fail(AD_ERR_NOMEM, "out of memory growing %s", what);
    *p = q;
    *cap = c;
    return AD_OK;
}

/* Appends a NUL-terminated string (prefix + "/" + s when prefix != NULL) to the arena. */
static int arena_put(ad_manifest *m, const char *prefix, const char *s, size_t len, size_t *off)
{
    size_t plen = prefix ? strlen(prefix) + 1 : 0;
    size_t need = m->arena_len + plen + len + 1;
    if (need > m->arena_cap) {
        size_t c = m->arena_cap ? m->arena_cap : (size_t)1 << 16;
        while (c < need)
            c *= 2;
        char *q = realloc(m->arena, c);
        if (!q)
            return ad_fail(AD_ERR_NOMEM, "%s: out of memory reading the manifest", m->path);
        m->arena = q;
        m->arena_cap = c;
    }
    *off = m->arena_len;
    char *d = m->arena + m->arena_len;
    if (prefix) {
        memcpy(d, prefix, plen - 1);
        d[plen - 1] = '/';
    }
    if (len)
        memcpy(d + plen, s, len);
    d[plen + len] = '\0';
    m->arena_len = need;
    return AD_OK;
}

static int parse_label(parse_state *st, const char *s, int k, int8_t *out)
{
    const ad_manifest_spec *sp = st->spec;
    int unknown = 0;
    if (*s == '\0') {
        unknown = 1;
    } else {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end != '\0' || errno || (v != 0.0 && v != 1.0 && v != -1.0))
            return ad_fail(AD_ERR_FORMAT,
                           "%s:%lld: column '%s': label '%s' is not 0, 1, -1 or empty", st->m->path,
                           (long long)st->row_line, sp->label_columns[k], s);
        if (v == -1.0)
            unknown = 1;
        else
            *out = (int8_t)v;
    }
    if (!unknown)
        return AD_OK;
    switch (sp->label_policy) {
    case AD_LABEL_AS_ZERO:
        *out = 0;
        return AD_OK;
    case AD_LABEL_UNCERTAIN:
        *out = AD_LABEL_UNKNOWN;
        return AD_OK;
    default:
        return ad_fail(AD_ERR_FORMAT,
                       "%s:%lld: column '%s': label is %s (uncertain labels are not allowed here)",
                       st->m->path, (long long)st->row_line, sp->label_columns[k],
                       *s ? s : "empty");
    }
}

static int header_field(parse_state *st, const char *s, size_t len)
{
    if (st->ncols == st->hcap) {
        int c = st->hcap ? 2 * st->hcap : 32;
        char **h = realloc(st->header, sizeof *h * (size_t)c);
        if (!h)
            return ad_fail(AD_ERR_NOMEM, "%s: out of memory reading the header", st->m->path);
        st->header = h;
        st->hcap = c;
    }
    char *name = malloc(len + 1);
    if (!name)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory reading the header", st->m->path);
    if (len)
        memcpy(name, s, len);
    name[len] = '\0';
    st->header[st->ncols++] = name;
    return AD_OK;
}

static int data_field(parse_state *st, const char *s, size_t len)
{
    ad_manifest *m = st->m;
    if (st->col == 0 && m->nrows == m->cap) {
        AD_TRY(grow((void **)&m->off, &m->cap, m->nrows + 1, sizeof *m->off, "manifest rows"));
        /* rep_off and labels follow off's capacity (+1: never a zero-size request). */
        void *r = realloc(m->rep_off, sizeof *m->rep_off * (size_t)(m->cap * m->nrep + 1));
        if (r)
            m->rep_off = r;
        void *l = r ? realloc(m->labels, (size_t)(m->cap * m->nlab + 1)) : NULL;
        if (!l)
            return ad_fail(AD_ERR_NOMEM, "%s: out of memory reading row %lld", m->path,
                           (long long)m->nrows);
        m->labels = l;
    }
    if (st->col == 0) {
        m->off[m->nrows].line = st->row_line;
        m->off[m->nrows].mask = (size_t)-1;
    }
    int c = st->col++;
    if (c >= st->ncols)
        return AD_OK; /* counted; cb_row reports the row */
    row_off *ro = &m->off[m->nrows];
    int k = st->role_idx[c];
    switch (st->role[c]) {
    case ROLE_IMAGE:
        if (len == 0)
            return ad_fail(AD_ERR_FORMAT, "%s:%lld: column '%s' is empty", m->path,
                           (long long)st->row_line, st->spec->image_column);
        return arena_put(m, s[0] == '/' ? NULL : st->root, s, len, &ro->image);
    case ROLE_MASK: /* empty: this row has no mask */
        return len ? arena_put(m, s[0] == '/' ? NULL : st->root, s, len, &ro->mask) : AD_OK;
    case ROLE_SPLIT:
        return arena_put(m, NULL, s, len, &ro->split);
    case ROLE_VIEW:
        return arena_put(m, NULL, s, len, &ro->view);
    case ROLE_REPORT:
        return arena_put(m, NULL, s, len, &m->rep_off[m->nrows * m->nrep + k]);
    case ROLE_LABEL:
        return parse_label(st, s, k, &m->labels[m->nrows * m->nlab + k]);
    default:
        return AD_OK;
    }
}

static void cb_field(void *s, size_t len, void *data)
{
    parse_state *st = data;
    if (st->rc != AD_OK)
        return;
    /* CSV_APPEND_NULL terminates every field, but an empty first field may come as NULL. */
    const char *str = s ? (const char *)s : "";
    st->rc = st->header_done ? data_field(st, str, len) : header_field(st, str, len);
}

/* Finds column `name` in the header and gives it a role. */
static int find_column(parse_state *st, const char *name, int role, int idx)
{
    int found = -1;
    for (int c = 0; c < st->ncols; c++) {
        if (strcmp(st->header[c], name) != 0)
            continue;
        if (found >= 0)
            return ad_fail(AD_ERR_FORMAT, "%s: column '%s' appears twice in the header",
                           st->m->path, name);
        found = c;
    }
    if (found < 0) {
        const char *near = ad_suggest(name, (const char *const *)st->header, st->ncols);
        if (near)
            return ad_fail(AD_ERR_FORMAT, "%s: missing column '%s' (did you mean '%s'?)",
                           st->m->path, name, near);
        return ad_fail(AD_ERR_FORMAT, "%s: missing column '%s' (the header has %d columns, "
                       "'%s' first)", st->m->path, name, st->ncols, st->ncols ? st->header[0] : "");
    }
    if (st->role[found] != ROLE_NONE)
        return ad_fail(AD_ERR_ARG, "%s: column '%s' is asked for twice", st->m->path, name);
    st->role[found] = role;
    st->role_idx[found] = idx;
    return AD_OK;
}

static int map_header(parse_state *st)
{
    const ad_manifest_spec *sp = st->spec;
    st->role = calloc((size_t)st->ncols, sizeof *st->role);
    st->role_idx = calloc((size_t)st->ncols, sizeof *st->role_idx);
    if (!st->role || !st->role_idx)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory reading the header", st->m->path);
    AD_TRY(find_column(st, sp->image_column, ROLE_IMAGE, 0));
    for (int k = 0; k < sp->n_report_columns; k++)
        AD_TRY(find_column(st, sp->report_columns[k], ROLE_REPORT, k));
    if (sp->split_column && *sp->split_column)
        AD_TRY(find_column(st, sp->split_column, ROLE_SPLIT, 0));
    if (sp->view_column && *sp->view_column)
        AD_TRY(find_column(st, sp->view_column, ROLE_VIEW, 0));
    for (int k = 0; k < sp->n_label_columns; k++)
        AD_TRY(find_column(st, sp->label_columns[k], ROLE_LABEL, k));
    if (sp->mask_column && *sp->mask_column)
        AD_TRY(find_column(st, sp->mask_column, ROLE_MASK, 0));
    return AD_OK;
}

static void cb_row(int c, void *data)
{
    parse_state *st = data;
    st->awaiting = 1;
    if (st->rc != AD_OK)
        return;
    if (!st->header_done) {
        st->header_done = 1;
        st->rc = map_header(st);
        st->col = 0;
        return;
    }
    if (st->col != st->ncols) {
        st->rc = ad_fail(AD_ERR_FORMAT, "%s:%lld: row has %d fields, the header has %d",
                         st->m->path, (long long)st->row_line, st->col, st->ncols);
        return;
    }
    st->col = 0;
    st->m->nrows++;
}

/* Fixes the rows' pointers into the arena; an absent split or view column reads as "". */
static int finish_rows(ad_manifest *m, const parse_state *st)
{
    size_t empty = 0;
    AD_TRY(arena_put(m, NULL, "", 0, &empty));
    int has_split = st->spec->split_column && *st->spec->split_column;
    int has_view = st->spec->view_column && *st->spec->view_column;
    m->rows = calloc((size_t)m->nrows + 1, sizeof *m->rows);
    m->rep_ptr = calloc((size_t)(m->nrows * m->nrep) + 1, sizeof *m->rep_ptr);
    if (!m->rows || !m->rep_ptr)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory indexing %lld rows", m->path,
                       (long long)m->nrows);
    for (int64_t i = 0; i < m->nrows; i++) {
        const row_off *o = &m->off[i];
        ad_manifest_row *r = &m->rows[i];
        r->id = i;
        r->line = o->line;
        r->image = m->arena + o->image;
        r->split = m->arena + (has_split ? o->split : empty);
        r->view = m->arena + (has_view ? o->view : empty);
        r->mask = o->mask == (size_t)-1 ? NULL : m->arena + o->mask;
        for (int k = 0; k < m->nrep; k++)
            m->rep_ptr[i * m->nrep + k] = m->arena + m->rep_off[i * m->nrep + k];
        r->reports = m->rep_ptr + i * m->nrep;
        r->labels = m->labels + i * m->nlab;
    }
    return AD_OK;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

/* Each (split, image) once: open addressing over row indices. */
static int check_duplicates(const ad_manifest *m)
{
    if (m->nrows < 2)
        return AD_OK;
    size_t cap = 1;
    while (cap < (size_t)m->nrows * 2)
        cap *= 2;
    int64_t *slot = malloc(sizeof *slot * cap);
    if (!slot)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory checking for duplicate ids", m->path);
    memset(slot, 0xff, sizeof *slot * cap);
    int rc = AD_OK;
    for (int64_t i = 0; i < m->nrows && rc == AD_OK; i++) {
        const ad_manifest_row *r = &m->rows[i];
        size_t h = (size_t)hash_str(hash_str(14695981039346656037ull, r->split), r->image);
        for (size_t j = h & (cap - 1);; j = (j + 1) & (cap - 1)) {
            if (slot[j] < 0) {
                slot[j] = i;
                break;
            }
            const ad_manifest_row *q = &m->rows[slot[j]];
            if (strcmp(q->image, r->image) == 0 && strcmp(q->split, r->split) == 0) {
                rc = ad_fail(
                    AD_ERR_FORMAT,
                    "%s: duplicate ids: image '%s' appears at lines %lld and %lld (split '%s')",
                    m->path, r->image, (long long)q->line, (long long)r->line, r->split);
                break;
            }
        }
    }
    free(slot);
    return rc;
}

/* Feeds one physical line (or the part of it in this chunk) to libcsv. */
static int feed(struct csv_parser *p, parse_state *st, const char *s, size_t n)
{
    if (st->awaiting) {
        for (size_t i = 0; i < n; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                st->awaiting = 0;
                st->row_line = st->line;
                break;
            }
    }
    size_t used = csv_parse(p, s, n, cb_field, cb_row, st);
    if (st->rc != AD_OK)
        return st->rc;
    if (used != n)
        return ad_fail(AD_ERR_FORMAT, "%s:%lld: malformed CSV (%s)", st->m->path,
                       (long long)st->line, csv_strerror(csv_error(p)));
    return AD_OK;
}

/* The length of the physical line at s[0..n): through its '\n', or through a '\r' that no
 * '\n' follows (libcsv ends a row there, so row numbers must count it as a line end).
 * *ends is 0 when the buffer ends first. A '\r' at the end of the buffer peeks at fp. */
static size_t line_len(const char *s, size_t n, FILE *fp, int *ends)
{
    *ends = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            return i + 1;
        if (s[i] != '\r')
            continue;
        int next = i + 1 < n ? (unsigned char)s[i + 1] : getc(fp);
        if (i + 1 == n && next != EOF)
            ungetc(next, fp);
        if (next != '\n')
            return i + 1;
    }
    *ends = 0;
    return n;
}

static int parse_file(FILE *fp, parse_state *st)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI) != 0)
        return ad_fail(AD_ERR_NOMEM, "%s: cannot initialise the CSV parser", st->m->path);
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    int rc = buf ? AD_OK : ad_fail(AD_ERR_NOMEM, "%s: out of memory", st->m->path);
    int first = 1;
    size_t got;
    while (rc == AD_OK && (got = fread(buf, 1, CHUNK, fp)) > 0) {
        const char *s = buf;
        if (first && got >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            got -= 3;
        }
        first = 0;
        while (rc == AD_OK && got > 0) {
            int ends;
            size_t n = line_len(s, got, fp, &ends);
            rc = feed(&p, st, s, n);
            if (ends)
                st->line++;
            s += n;
            got -= n;
        }
    }
    if (rc == AD_OK && ferror(fp))
        rc = ad_fail(AD_ERR_IO, "%s: read failed", st->m->path);
    if (rc == AD_OK && csv_fini(&p, cb_field, cb_row, st) != 0)
        rc = ad_fail(AD_ERR_FORMAT, "%s:%lld: unterminated quoted field in the row starting here",
                     st->m->path, (long long)st->row_line);
    if (rc == AD_OK)
        rc = st->rc;
    if (rc == AD_OK && !st->header_done)
        rc = ad_fail(AD_ERR_FORMAT, "%s: empty file (no header row)", st->m->path);
    csv_free(&p);
    free(buf);
    return rc;
}

static int copy_list(const char *const *src, int n, char ***dst)
{
    *dst = calloc((size_t)n + 1, sizeof **dst);
    if (!*dst)
        return ad_fail(AD_ERR_NOMEM, "out of memory copying the manifest spec");
    for (int i = 0; i < n; i++)
        if (!((*dst)[i] = ad_strdup(src[i])))
            return AD_ERR_NOMEM;
    return AD_OK;
}

static void free_list(char **l, int n)
{
    if (!l)
        return;
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* The image root: the spec's, else the manifest's folder; NULL means "as written" ("."). */
static int image_root(const char *path, const ad_manifest_spec *spec, char **root)
{
    *root = NULL;
    if (spec->image_root && *spec->image_root) {
        *root = ad_strdup(spec->image_root);
        return *root ? AD_OK : AD_ERR_NOMEM;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        return AD_OK;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    *root = malloc(n + 1);
    if (!*root)
        return ad_fail(AD_ERR_NOMEM, "out of memory");
    memcpy(*root, path, n);
    (*root)[n] = '\0';
    return AD_OK;
}

int ad_manifest_open(const char *path, const ad_manifest_spec *spec, ad_manifest **out)
{
    *out = NULL;
    if (!spec || !spec->image_column || !*spec->image_column || spec->n_report_columns < 0 ||
        spec->n_label_columns < 0 || spec->n_views < 0)
        return ad_fail(AD_ERR_ARG, "%s: manifest spec without an image column", path);
    ad_manifest *m = calloc(1, sizeof *m);
    if (!m)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    parse_state st = {.m = m, .spec = spec, .line = 1, .row_line = 1, .awaiting = 1};
    char *root = NULL;
    FILE *fp = NULL;
    int rc = AD_OK;
    m->nrep = spec->n_report_columns;
    m->nlab = spec->n_label_columns;
    /* Without a view column there is nothing to filter on. */
    m->nviews = spec->view_column && *spec->view_column ? spec->n_views : 0;
    if (!(m->path = ad_strdup(path))) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    AD_CHECK(copy_list(spec->label_columns, m->nlab, &m->label_names));
    AD_CHECK(copy_list(spec->views, m->nviews, &m->views));
    AD_CHECK(image_root(path, spec, &root));
    /* Paths under "." stay as written. */
    st.root = root && strcmp(root, ".") != 0 ? root : NULL;
    fp = fopen(path, "rb");
    if (!fp) {
        rc = ad_fail(AD_ERR_IO, "%s: cannot open manifest: %s", path, strerror(errno));
        goto done;
    }
    AD_CHECK(parse_file(fp, &st));
    AD_CHECK(finish_rows(m, &st));
    AD_CHECK(check_duplicates(m));
done:
    if (fp)
        fclose(fp);
    free(root);
    free_list(st.header, st.ncols);
    free(st.role);
    free(st.role_idx);
    if (rc != AD_OK)
        ad_manifest_close(m);
    else
        *out = m;
    return rc;
}

int ad_manifest_open_config(const ad_config *cfg, ad_label_policy policy, const char *mask_column,
                            ad_manifest **m)
{
    *m = NULL;
    AD_TRY(ad_config_require(cfg, "data", "manifest"));
    char **reports = NULL, **views = NULL, **labels = NULL;
    int nrep = 0, nviews = 0, nlab = 0, rc = AD_OK;
    ad_manifest_spec spec = {.label_policy = policy, .mask_column = mask_column};
    spec.image_root = ad_config_get(cfg, "data", "image_root");
    spec.split_column = ad_config_get(cfg, "data", "split_column");
    spec.view_column = ad_config_get(cfg, "data", "view_column");
    AD_CHECK(ad_config_string(cfg, "data", "image_column", &spec.image_column));
    AD_CHECK(ad_config_list(cfg, "data", "report_columns", &reports, &nrep));
    if (spec.view_column && *spec.view_column && ad_config_is_set(cfg, "data", "views"))
        AD_CHECK(ad_config_list(cfg, "data", "views", &views, &nviews));
    if (ad_config_is_set(cfg, "data", "label_columns"))
        AD_CHECK(ad_config_list(cfg, "data", "label_columns", &labels, &nlab));
    spec.report_columns = (const char *const *)reports;
    spec.n_report_columns = nrep;
    spec.views = (const char *const *)views;
    spec.n_views = nviews;
    spec.label_columns = (const char *const *)labels;
    spec.n_label_columns = nlab;
    rc = ad_manifest_open(ad_config_get(cfg, "data", "manifest"), &spec, m);
done:
    free(reports);
    free(views);
    free(labels);
    return rc;
}

void ad_manifest_close(ad_manifest *m)
{
    if (!m)
        return;
    free_list(m->label_names, m->nlab);
    free_list(m->views, m->nviews);
    free(m->path);
    free(m->arena);
    free(m->off);
    free(m->rep_off);
    free(m->labels);
    free(m->rows);
    free(m->rep_ptr);
    free(m);
}

int64_t ad_manifest_rows(const ad_manifest *m)
{
    return m->nrows;
}

const ad_manifest_row *ad_manifest_row_at(const ad_manifest *m, int64_t i)
{
    return i >= 0 && i < m->nrows ? &m->rows[i] : NULL;
}

const char *ad_manifest_path(const ad_manifest *m)
{
    return m->path;
}
int ad_manifest_n_reports(const ad_manifest *m)
{
    return m->nrep;
}
int ad_manifest_n_labels(const ad_manifest *m)
{
    return m->nlab;
}

const char *ad_manifest_label_name(const ad_manifest *m, int k)
{
    return k >= 0 && k < m->nlab ? m->label_names[k] : NULL;
}

static int view_ok(const char *view, const char *const *views, int n)
{
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++)
        if (strcmp(view, views[i]) == 0)
            return 1;
    return 0;
}

int ad_manifest_select(const ad_manifest *m, const char *split, const char *const *views,
                       int n_views, int flags, int64_t **idx, int64_t *n)
{
    *idx = NULL;
    *n = 0;
    if (!views) {
        views = (const char *const *)m->views;
        n_views = m->nviews;
    }
    int64_t cnt = 0;
    for (int64_t i = 0; i < m->nrows; i++)
        cnt += (!split || strcmp(m->rows[i].split, split) == 0) &&
               view_ok(m->rows[i].view, views, n_views);
    if (cnt == 0) {
        if (!(flags & AD_MANIFEST_REQUIRE_ROWS))
            return AD_OK;
        char vs[512] = "";
        size_t len = 0;
        for (int v = 0; v < n_views && len < sizeof vs; v++)
            len += (size_t)snprintf(vs + len, sizeof vs - len, "%s%s", v ? "," : "", views[v]);
        return ad_fail(AD_ERR_FORMAT, "%s: no rows in split '%s'%s%s", m->path,
                       split ? split : "(any)", n_views ? " with views " : "", n_views ? vs : "");
    }
    int64_t *out = malloc(sizeof *out * (size_t)cnt);
    if (!out)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory selecting rows", m->path);
    int64_t j = 0;
    for (int64_t i = 0; i < m->nrows; i++)
        if ((!split || strcmp(m->rows[i].split, split) == 0) &&
            view_ok(m->rows[i].view, views, n_views))
            out[j++] = i;
    *idx = out;
    *n = cnt;
    return AD_OK;
}
