/* Box annotation CSVs (RSNA style: one row per box, several rows per image) through libcsv,
 * fed one physical line at a time so that errors can name the line. */
#include "adaptor/error.h"
#include "adaptor/mask.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { COL_IMAGE, COL_SPLIT, COL_X, COL_Y, COL_W, COL_H, NCOLS };

typedef struct entry {
    char *image, *split;
    int64_t line;
    int nboxes, cap;
    ad_box *boxes;
} entry;

struct ad_box_table {
    char *path, *root;
    int64_t n, cap;
    entry *e;
    ad_box_image *view;
};

typedef struct state {
    ad_box_table *t;
    const char *names[NCOLS];
    int where[NCOLS]; /* CSV column of each role, -1: absent */
    int header_done, col, ncols;
    char *field[NCOLS];
    int64_t line, row_line;
    int awaiting, rc;
} state;

static void cb_field(void *s, size_t len, void *data)
{
    state *st = data;
    if (st->rc != AD_OK)
        return;
    const char *f = s;
    if (!st->header_done) {
        for (int k = 0; k < NCOLS; k++)
            if (st->names[k] && strlen(st->names[k]) == len && memcmp(st->names[k], f, len) == 0)
                st->where[k] = st->col;
    } else {
        for (int k = 0; k < NCOLS; k++)
            if (st->where[k] == st->col) {
                free(st->field[k]);
                st->field[k] = malloc(len + 1);
                if (!st->field[k]) {
                    st->rc = ad_fail(AD_ERR_NOMEM, "%s: out of memory", st->t->path);
                    return;
                }
                memcpy(st->field[k], f, len);
                st->field[k][len] = '\0';
            }
    }
    st->col++;
}

static int parse_coord(const state *st, int k, double *v, int *empty)
{
    const char *s = st->field[k];
    *empty = !s || !*s;
    if (*empty)
        return AD_OK;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (errno || *end || !isfinite(*v) || *v < 0)
        return ad_fail(AD_ERR_FORMAT, "%s:%lld: column %s: '%s' is not a box coordinate (a "
                       "number >= 0)", st->t->path, (long long)st->row_line, st->names[k], s);
    return AD_OK;
}

static int add_row(state *st)
{
    ad_box_table *t = st->t;
    const char *img = st->field[COL_IMAGE] ? st->field[COL_IMAGE] : "";
    const char *split = st->field[COL_SPLIT] ? st->field[COL_SPLIT] : "";
    if (!*img)
        return ad_fail(AD_ERR_FORMAT, "%s:%lld: empty image path", t->path, (long long)st->row_line);
    double v[4];
    int nempty = 0;
    for (int k = 0; k < 4; k++) {
        int empty;
        AD_TRY(parse_coord(st, COL_X + k, &v[k], &empty));
        nempty += empty;
    }
    if (nempty != 0 && nempty != 4)
        return ad_fail(AD_ERR_FORMAT, "%s:%lld: some box fields are empty: give all four of %s, "
                       "%s, %s, %s or none", t->path, (long long)st->row_line, st->names[COL_X],
                       st->names[COL_Y], st->names[COL_W], st->names[COL_H]);
    /* One entry per row for now; merge_rows() groups them by image at the end. */
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 256;
        entry *ne = realloc(t->e, (size_t)cap * sizeof *ne);
        if (!ne)
            return ad_fail(AD_ERR_NOMEM, "%s: out of memory", t->path);
        t->e = ne;
        t->cap = cap;
    }
    entry *e = &t->e[t->n++];
    memset(e, 0, sizeof *e);
    e->image = st->field[COL_IMAGE];
    st->field[COL_IMAGE] = NULL;
    e->split = strdup(split);
    e->line = st->row_line;
    if (!e->split)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", t->path);
    if (nempty == 4)
        return AD_OK;
    e->boxes = malloc(sizeof *e->boxes);
    if (!e->boxes)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", t->path);
    e->boxes[0] = (ad_box){v[0], v[1], v[2], v[3]};
    e->nboxes = e->cap = 1;
    return AD_OK;
}

static int by_image(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->split, y->split);
    if (!c)
        c = strcmp(x->image, y->image);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_line(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

/* Sorting by (split, image, line) brings an image's rows together; the groups are then put
 * back in the order of their first row. */
static int merge_rows(ad_box_table *t)
{
    if (t->n == 0)
        return AD_OK;
    qsort(t->e, (size_t)t->n, sizeof *t->e, by_image);
    int64_t k = 0;
    for (int64_t i = 0; i < t->n; i++) {
        entry *e = &t->e[i];
        if (k > 0 && strcmp(t->e[k - 1].split, e->split) == 0 &&
            strcmp(t->e[k - 1].image, e->image) == 0) {
            entry *g = &t->e[k - 1];
            if (e->nboxes) {
                ad_box *nb = realloc(g->boxes, (size_t)(g->nboxes + 1) * sizeof *nb);
                if (!nb)
                    return ad_fail(AD_ERR_NOMEM, "%s: out of memory", t->path);
                g->boxes = nb;
                g->boxes[g->nboxes++] = e->boxes[0];
            }
            free(e->image);
            free(e->split);
            free(e->boxes);
            continue;
        }
        t->e[k++] = *e;
    }
    t->n = k;
    qsort(t->e, (size_t)t->n, sizeof *t->e, by_line);
    return AD_OK;
}

static void cb_row(int c, void *data)
{
    (void)c;
    state *st = data;
    if (st->rc != AD_OK)
        return;
    if (!st->header_done) {
        st->header_done = 1;
        st->ncols = st->col;
        for (int k = 0; k < NCOLS; k++)
            if (st->names[k] && st->where[k] < 0)
                st->rc = ad_fail(AD_ERR_FORMAT, "%s: no column '%s'", st->t->path, st->names[k]);
    } else if (st->col != st->ncols) {
        st->rc = ad_fail(AD_ERR_FORMAT, "%s:%lld: %d fields, the header has %d", st->t->path,
                         (long long)st->row_line, st->col, st->ncols);
    } else {
        st->rc = add_row(st);
    }
    for (int k = 0; k < NCOLS; k++) {
        free(st->field[k]);
        st->field[k] = NULL;
    }
    st->col = 0;
    st->awaiting = 1;
}

static int parse(FILE *fp, state *st)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI) != 0)
        return ad_fail(AD_ERR_NOMEM, "%s: cannot initialise the CSV parser", st->t->path);
    char buf[65536];
    int rc = AD_OK;
    st->line = 1;
    st->awaiting = 1;
    while (rc == AD_OK && fgets(buf, sizeof buf, fp)) {
        size_t n = strlen(buf);
        const char *s = buf;
        if (st->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            n -= 3;
        }
        if (st->awaiting && strspn(s, " \t\r\n") < n) {
            st->awaiting = 0;
            st->row_line = st->line;
        }
        if (csv_parse(&p, s, n, cb_field, cb_row, st) != n)
            rc = ad_fail(AD_ERR_FORMAT, "%s:%lld: malformed CSV (%s)", st->t->path,
                         (long long)st->line, csv_strerror(csv_error(&p)));
        else
            rc = st->rc;
        if (n && s[n - 1] == '\n')
            st->line++;
    }
    if (rc == AD_OK && ferror(fp))
        rc = ad_fail(AD_ERR_IO, "%s: read failed", st->t->path);
    if (rc == AD_OK && csv_fini(&p, cb_field, cb_row, st) != 0)
        rc = ad_fail(AD_ERR_FORMAT, "%s:%lld: unterminated quoted field", st->t->path,
                     (long long)st->row_line);
    if (rc == AD_OK)
        rc = st->rc;
    if (rc == AD_OK && !st->header_done)
        rc = ad_fail(AD_ERR_FORMAT, "%s: empty file (no header row)", st->t->path);
    csv_free(&p);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s)
        return strdup(".");
    size_t n = (size_t)(s - path);
    char *d = malloc(n + 2);
    if (d) {
        memcpy(d, path, n ? n : 1);
        d[n ? n : 1] = '\0';
    }
    return d;
}

/* Paths are resolved once every row is in (the entries' strings move when resolved). */
static int resolve(ad_box_table *t)
{
    size_t rl = strlen(t->root);
    for (int64_t i = 0; i < t->n; i++) {
        entry *e = &t->e[i];
        if (e->image[0] == '/')
            continue;
        char *p = malloc(rl + strlen(e->image) + 2);
        if (!p)
            return ad_fail(AD_ERR_NOMEM, "%s: out of memory", t->path);
        sprintf(p, "%s/%s", t->root, e->image);
        free(e->image);
        e->image = p;
    }
    t->view = calloc((size_t)(t->n ? t->n : 1), sizeof *t->view);
    if (!t->view)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", t->path);
    for (int64_t i = 0; i < t->n; i++)
        t->view[i] = (ad_box_image){t->e[i].image, t->e[i].split, t->e[i].line,
                                    t->e[i].nboxes, t->e[i].boxes};
    return AD_OK;
}

int ad_box_table_read(const char *path, const char *root, const char *image_column,
                      const char *split_column, const char *const box_columns[4],
                      ad_box_table **out)
{
    *out = NULL;
    ad_box_table *t = calloc(1, sizeof *t);
    if (!t)
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    t->path = strdup(path);
    t->root = root && *root ? strdup(root) : dir_of(path);
    if (!t->path || !t->root) {
        ad_box_table_close(t);
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    }
    state st;
    memset(&st, 0, sizeof st);
    st.t = t;
    st.names[COL_IMAGE] = image_column;
    st.names[COL_SPLIT] = split_column && *split_column ? split_column : NULL;
    for (int k = 0; k < 4; k++)
        st.names[COL_X + k] = box_columns[k];
    for (int k = 0; k < NCOLS; k++)
        st.where[k] = -1;
    FILE *fp = fopen(path, "rb");
    int rc = fp ? parse(fp, &st)
                : ad_fail(AD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fp)
        fclose(fp);
    for (int k = 0; k < NCOLS; k++)
        free(st.field[k]);
    if (rc == AD_OK)
        rc = merge_rows(t);
    if (rc == AD_OK)
        rc = resolve(t);
    if (rc != AD_OK) {
        ad_box_table_close(t);
        return rc;
    }
    *out = t;
    return AD_OK;
}

void ad_box_table_close(ad_box_table *t)
{
    if (!t)
        return;
    for (int64_t i = 0; i < t->n; i++) {
        free(t->e[i].image);
        free(t->e[i].split);
        free(t->e[i].boxes);
    }
    free(t->e);
    free(t->view);
    free(t->path);
    free(t->root);
    free(t);
}

int64_t ad_box_table_images(const ad_box_table *t) { return t->n; }
const ad_box_image *ad_box_table_at(const ad_box_table *t, int64_t i)
{
    return i >= 0 && i < t->n ? &t->view[i] : NULL;
}
const char *ad_box_table_path(const ad_box_table *t) { return t->path; }
