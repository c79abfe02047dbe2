/* Report text from a row's findings: MIMIC-like FINDINGS and IMPRESSION sections with
 * varied phrasing, negations of some absent findings, laterality and numbered impressions.
 *
 * Templates hold {placeholders}; the first letter of every sentence is capitalised after
 * expansion. A sentence never mixes a present finding with a negated one, so a reader
 * (or a test) can judge negation sentence by sentence. The same tables feed
 * ad_synth_lexicon(), from which the tiny BERT's vocabulary is built. */
#include "synth_internal.h"

#include "adaptor/error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tables ------------------------------------------------------------------------ */

static const char *const sev_adj[] = {"small", "moderate", "large"};
static const char *const card_adj[] = {"mild", "moderate", "severe"};
static const char *const card_adv[] = {"mildly", "moderately", "severely"};
static const char *const side_word[] = {"right", "left", "bilateral"};
static const char *const lobe_word[2][3] = {
    {"right upper lobe", "right middle lobe", "right lower lobe"},
    {"left upper lobe", "left upper lobe", "left lower lobe"}};
static const char *const zone_word[2][3] = {
    {"right upper lung", "right mid lung", "right lung base"},
    {"left upper lung", "left mid lung", "left lung base"}};

static const char *const card_pos[] = {
    "the heart is {sevly} enlarged.", "{sev} cardiomegaly is present.",
    "there is {sev} enlargement of the cardiac silhouette.",
    "the cardiac silhouette is {sevly} enlarged.", "{sev} cardiomegaly."};
static const char *const card_imp[] = {"{sev} cardiomegaly.", "cardiomegaly.",
                                       "enlarged cardiac silhouette."};
static const char *const card_neg[] = {"no cardiomegaly.", "the heart is not enlarged.",
                                       "there is no cardiomegaly.",
                                       "the cardiac silhouette is not enlarged."};

static const char *const eff_pos[] = {
    "there is a {sev} {side} pleural effusion.", "{sev} {side} pleural effusion.",
    "{sev} {side} pleural effusion with blunting of the {side} costophrenic angle.",
    "a {sev} {side}-sided pleural effusion is present."};
static const char *const eff_pos_both[] = {"{sev} bilateral pleural effusions.",
                                           "there are {sev} bilateral pleural effusions.",
                                           "{sev} pleural effusions are present bilaterally."};
static const char *const eff_imp[] = {"{sev} {side} pleural effusion.", "{side} pleural effusion."};
static const char *const eff_imp_both[] = {"bilateral pleural effusions.",
                                           "{sev} bilateral pleural effusions."};
static const char *const eff_neg[] = {"no pleural effusion.", "there is no pleural effusion.",
                                      "no pleural effusion is seen.",
                                      "there is no evidence of pleural effusion."};

static const char *const opa_pos[] = {
    "there is a hazy opacity in the {lobe}.", "opacity in the {lobe}, concerning for pneumonia.",
    "patchy airspace opacity is seen in the {lobe}.", "focal consolidation in the {lobe}.",
    "{lobe} opacity may reflect atelectasis or pneumonia."};
static const char *const opa_imp[] = {"{lobe} opacity, possibly pneumonia.",
                                      "consolidation in the {lobe}.",
                                      ("{lobe} opacity concerning for pneumonia in the appropriate "
                                       "clinical setting.")};
static const char *const opa_neg[] = {"no focal consolidation.", "there is no focal consolidation.",
                                      "no focal airspace opacity is seen.",
                                      "there is no focal opacity to suggest pneumonia."};

static const char *const ptx_pos[] = {
    "there is a {sev} {side} apical pneumothorax.", "{sev} {side} pneumothorax.",
    "a {sev} {side} pneumothorax is present.", "{side} pneumothorax is {sev} in size."};
static const char *const ptx_imp[] = {"{sev} {side} pneumothorax.", "{side} pneumothorax."};
static const char *const ptx_neg[] = {"no pneumothorax.", "there is no pneumothorax.",
                                      "no pneumothorax is seen.", "no evidence of pneumothorax."};

static const char *const nod_pos[] = {"there is a nodule measuring {size} in the {zone}.",
                                      ("a nodular density measuring {size} projects over the "
                                       "{zone}."),
                                      "{size} nodule in the {zone}."};
static const char *const nod_imp[] = {"{zone} nodule; recommend chest CT for further evaluation.",
                                      "{size} {zone} nodule."};
static const char *const nod_neg[] = {"no suspicious pulmonary nodules.",
                                      "no pulmonary nodules are identified.",
                                      "there are no nodules."};

static const char *const ett_pos[] = {"endotracheal tube terminates {cm} cm above the carina.",
                                      "an endotracheal tube is in standard position."};
static const char *const cvc_pos[] = {
    "right internal jugular central venous catheter terminates in the mid SVC.",
    "a right internal jugular catheter tip is in the lower superior vena cava."};
static const char *const ngt_pos[] = {
    "nasogastric tube courses below the diaphragm with tip in the stomach.",
    "an enteric tube is seen coursing into the stomach."};
static const char *const pacer_pos[] = {
    "left chest wall pacemaker with a single lead in the right ventricle.",
    "a left-sided pacemaker device is present with lead in the right ventricle."};
static const char *const dev_imp[] = {"support devices in standard position.",
                                      "lines and tubes as described above.",
                                      "support devices as described."};
static const char *const dev_neg[] = {"no support devices are seen.",
                                      "no lines or tubes are present."};

static const char *const opening_frontal[] = {
    "PA and lateral views of the chest.", "frontal and lateral views of the chest were obtained.",
    "comparison is made to the prior study from ___.", "comparison: ___."};
static const char *const opening_ap[] = {"portable AP upright view of the chest.",
                                         "AP semi-upright radiograph of the chest.",
                                         "single frontal view of the chest."};
static const char *const heart_ok[] = {"heart size is normal.",
                                       "the cardiomediastinal silhouette is within normal limits."};
static const char *const neutral[] = {
    "the mediastinal and hilar contours are unremarkable.", "no acute osseous abnormality is seen.",
    "mild degenerative changes of the thoracic spine.", "the lungs are well expanded.",
    "note is made of a \"skin fold\" over the chest wall."};
static const char *const imp_none[] = {"no acute cardiopulmonary process.",
                                       "no acute intrathoracic abnormality.",
                                       "no evidence of acute cardiopulmonary disease."};
static const char *const combined_neg = "no pleural effusion or pneumothorax.";

/* ---- a small string builder --------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) AD_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof tmp) {
        b->failed = 1;
        return;
    }
    sb_putn(b, tmp, (size_t)w);
}

static int sb_take(sbuf *b, char **out, const char *what)
{
    if (b->failed || !b->s) {
        free(b->s);
        *out = NULL;
        return ad_fail(AD_ERR_NOMEM, "synth: out of memory building %s", what);
    }
    *out = b->s;
    return AD_OK;
}

/* ---- expansion ------------------------------------------------------------------------ */

typedef struct vars {
    const char *sev, *sevly, *side, *lobe, *zone, *size, *cm;
} vars;

static const char *var_value(const vars *v, const char *name, size_t n)
{
    static const struct {
        const char *key;
        size_t off;
    } map[] = {{"sev", offsetof(vars, sev)},   {"sevly", offsetof(vars, sevly)},
               {"side", offsetof(vars, side)}, {"lobe", offsetof(vars, lobe)},
               {"zone", offsetof(vars, zone)}, {"size", offsetof(vars, size)},
               {"cm", offsetof(vars, cm)}};
    for (size_t i = 0; i < COUNT(map); i++)
        if (strlen(map[i].key) == n && memcmp(map[i].key, name, n) == 0)
            return *(const char *const *)((const char *)v + map[i].off);
    return NULL;
}

/* Appends one sentence: the template expanded, first letter upper-case. */
static int sentence(sbuf *b, const char *tpl, const vars *v)
{
    size_t start = b->len;
    for (const char *p = tpl; *p;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            const char *val = e ? var_value(v, p + 1, (size_t)(e - p - 1)) : NULL;
            if (!val)
                return ad_fail(AD_ERR_INTERNAL, "synth: template '%s' needs an unset variable",
                               tpl);
            sb_puts(b, val);
            p = e + 1;
        } else {
            sb_putn(b, p, 1);
            p++;
        }
    }
    if (!b->failed && b->len > start)
        b->s[start] = (char)toupper((unsigned char)b->s[start]);
    return AD_OK;
}

#define PICK(rng, table) ((table)[ad_rng_below((rng), COUNT(table))])

/* Joins sentences with spaces; the caller's list is a sequence of finished sentences. */
typedef struct slist {
    sbuf text;
    int count;
} slist;

static int add_sentence(slist *l, const char *tpl, const vars *v)
{
    if (l->count++ > 0)
        sb_putn(&l->text, " ", 1);
    return sentence(&l->text, tpl, v);
}

/* MIMIC reports are wrapped at a fixed width; wrapping only replaces spaces. */
static void wrap_lines(char *s, int width)
{
    int col = 0;
    char *last_space = NULL;
    for (char *p = s; *p; p++) {
        if (*p == '\n') {
            col = 0;
            last_space = NULL;
            continue;
        }
        if (*p == ' ')
            last_space = p;
        if (++col > width && last_space) {
            *last_space = '\n';
            col = (int)(p - last_space);
            last_space = NULL;
        }
    }
}

/* ---- the report ------------------------------------------------------------------------ */

static void fill_vars(const ad_synth_row *r, int k, vars *v, char *size, size_t nsize, char *cm,
                      size_t ncm)
{
    memset(v, 0, sizeof *v);
    int sev = r->severity[k];
    v->sev = k == AD_SYNTH_CARDIOMEGALY ? card_adj[sev] : sev_adj[sev];
    v->sevly = card_adv[sev];
    v->side = side_word[r->side[k]];
    int s = r->side[k] == AD_SYN_LEFT;
    v->lobe = lobe_word[s][r->lobe];
    v->zone = zone_word[s][r->zone];
    if (r->nodule_mm < 10 || (r->nodule_mm % 2))
        snprintf(size, nsize, "%d mm", r->nodule_mm);
    else
        snprintf(size, nsize, "%d.%d cm", r->nodule_mm / 10, r->nodule_mm % 10);
    v->size = size;
    snprintf(cm, ncm, "%d", 3 + (int)(r->study % 4));
    v->cm = cm;
}

static int findings_text(ad_synth_row *r, ad_rng *rng, char **out)
{
    slist l;
    memset(&l, 0, sizeof l);
    vars v[AD_SYNTH_NFINDINGS];
    char size[AD_SYNTH_NFINDINGS][24], cm[AD_SYNTH_NFINDINGS][8];
    for (int k = 0; k < AD_SYNTH_NFINDINGS; k++)
        fill_vars(r, k, &v[k], size[k], sizeof size[k], cm[k], sizeof cm[k]);
    int rc = AD_OK;
    /* Which absent findings get an explicit negation (drawn up front so the stream's
     * consumption does not depend on the order below). */
    int negate[AD_SYNTH_NFINDINGS];
    for (int k = 0; k < AD_SYNTH_NFINDINGS; k++)
        negate[k] = !r->present[k] && ad_rng_uniform(rng) < 0.6f;

    if (ad_rng_uniform(rng) < 0.5f)
        AD_CHECK(add_sentence(
            &l, r->view == AD_SYN_AP ? PICK(rng, opening_ap) : PICK(rng, opening_frontal), &v[0]));
    const vars *dv = &v[AD_SYNTH_DEVICE];
    if (r->devices & AD_SYN_DEV_ETT)
        AD_CHECK(add_sentence(&l, PICK(rng, ett_pos), dv));
    if (r->devices & AD_SYN_DEV_CVC)
        AD_CHECK(add_sentence(&l, PICK(rng, cvc_pos), dv));
    if (r->devices & AD_SYN_DEV_NGT)
        AD_CHECK(add_sentence(&l, PICK(rng, ngt_pos), dv));
    if (r->devices & AD_SYN_DEV_PACER)
        AD_CHECK(add_sentence(&l, PICK(rng, pacer_pos), dv));
    if (r->present[AD_SYNTH_OPACITY])
        AD_CHECK(add_sentence(&l, PICK(rng, opa_pos), &v[AD_SYNTH_OPACITY]));
    if (r->present[AD_SYNTH_NODULE])
        AD_CHECK(add_sentence(&l, PICK(rng, nod_pos), &v[AD_SYNTH_NODULE]));
    if (r->present[AD_SYNTH_EFFUSION])
        AD_CHECK(add_sentence(&l,
                              r->side[AD_SYNTH_EFFUSION] == AD_SYN_BOTH ? PICK(rng, eff_pos_both)
                                                                        : PICK(rng, eff_pos),
                              &v[AD_SYNTH_EFFUSION]));
    if (r->present[AD_SYNTH_PNEUMOTHORAX])
        AD_CHECK(add_sentence(&l, PICK(rng, ptx_pos), &v[AD_SYNTH_PNEUMOTHORAX]));
    if (negate[AD_SYNTH_OPACITY])
        AD_CHECK(add_sentence(&l, PICK(rng, opa_neg), &v[0]));
    if (negate[AD_SYNTH_EFFUSION] && negate[AD_SYNTH_PNEUMOTHORAX] && ad_rng_uniform(rng) < 0.5f) {
        AD_CHECK(add_sentence(&l, combined_neg, &v[0]));
    } else {
        if (negate[AD_SYNTH_EFFUSION])
            AD_CHECK(add_sentence(&l, PICK(rng, eff_neg), &v[0]));
        if (negate[AD_SYNTH_PNEUMOTHORAX])
            AD_CHECK(add_sentence(&l, PICK(rng, ptx_neg), &v[0]));
    }
    if (negate[AD_SYNTH_NODULE])
        AD_CHECK(add_sentence(&l, PICK(rng, nod_neg), &v[0]));
    if (r->present[AD_SYNTH_CARDIOMEGALY])
        AD_CHECK(add_sentence(&l, PICK(rng, card_pos), &v[AD_SYNTH_CARDIOMEGALY]));
    else if (negate[AD_SYNTH_CARDIOMEGALY])
        AD_CHECK(add_sentence(&l, PICK(rng, card_neg), &v[0]));
    else if (ad_rng_uniform(rng) < 0.5f)
        AD_CHECK(add_sentence(&l, PICK(rng, heart_ok), &v[0]));
    if (ad_rng_uniform(rng) < 0.6f)
        AD_CHECK(add_sentence(&l, PICK(rng, neutral), &v[0]));
    if (negate[AD_SYNTH_DEVICE])
        AD_CHECK(add_sentence(&l, PICK(rng, dev_neg), &v[0]));
    if (l.count == 0)
        AD_CHECK(add_sentence(&l, PICK(rng, neutral), &v[0]));
    AD_CHECK(sb_take(&l.text, out, "findings"));
    if (ad_rng_uniform(rng) < 0.6f)
        wrap_lines(*out, 56 + (int)ad_rng_below(rng, 23));
    return AD_OK;
done:
    free(l.text.s);
    return rc;
}

static int impression_text(ad_synth_row *r, ad_rng *rng, char **out)
{
    vars v[AD_SYNTH_NFINDINGS];
    char size[AD_SYNTH_NFINDINGS][24], cm[AD_SYNTH_NFINDINGS][8];
    for (int k = 0; k < AD_SYNTH_NFINDINGS; k++)
        fill_vars(r, k, &v[k], size[k], sizeof size[k], cm[k], sizeof cm[k]);
    /* Most urgent first, as radiologists order their impressions. */
    static const int order[] = {AD_SYNTH_PNEUMOTHORAX, AD_SYNTH_OPACITY, AD_SYNTH_EFFUSION,
                                AD_SYNTH_CARDIOMEGALY, AD_SYNTH_NODULE,  AD_SYNTH_DEVICE};
    const char *items[AD_SYNTH_NFINDINGS + 1];
    const vars *iv[AD_SYNTH_NFINDINGS + 1];
    int n = 0;
    for (size_t j = 0; j < COUNT(order); j++) {
        int k = order[j];
        if (!r->present[k])
            continue;
        const char *t = NULL;
        switch (k) {
        case AD_SYNTH_PNEUMOTHORAX: t = PICK(rng, ptx_imp); break;
        case AD_SYNTH_OPACITY: t = PICK(rng, opa_imp); break;
        case AD_SYNTH_EFFUSION:
            t = r->side[k] == AD_SYN_BOTH ? PICK(rng, eff_imp_both) : PICK(rng, eff_imp);
            break;
        case AD_SYNTH_CARDIOMEGALY: t = PICK(rng, card_imp); break;
        case AD_SYNTH_NODULE: t = PICK(rng, nod_imp); break;
        default: t = PICK(rng, dev_imp); break;
        }
        items[n] = t;
        iv[n++] = &v[k];
    }
    if (n > 0 && !r->present[AD_SYNTH_PNEUMOTHORAX] && ad_rng_uniform(rng) < 0.3f) {
        items[n] = "no pneumothorax.";
        iv[n++] = &v[0];
    }
    sbuf b;
    memset(&b, 0, sizeof b);
    int rc = AD_OK;
    if (n == 0) {
        AD_CHECK(sentence(&b, PICK(rng, imp_none), &v[0]));
    } else if (n == 1) {
        AD_CHECK(sentence(&b, items[0], iv[0]));
    } else {
        const char *sep = ad_rng_uniform(rng) < 0.5f ? "\n" : " ";
        for (int j = 0; j < n; j++) {
            sb_printf(&b, "%s%d. ", j ? sep : "", j + 1);
            AD_CHECK(sentence(&b, items[j], iv[j]));
        }
    }
    return sb_take(&b, out, "impression");
done:
    free(b.s);
    return rc;
}

int ad_synth_report_make(ad_synth_row *r, ad_rng *rng)
{
    r->findings = r->impression = NULL;
    AD_TRY(findings_text(r, rng, &r->findings));
    return impression_text(r, rng, &r->impression);
}

/* ---- lexicon ---------------------------------------------------------------------------- */

typedef struct wordset {
    char **w;
    size_t n, cap;
    int failed;
} wordset;

static void add_word(wordset *ws, const char *s, size_t n)
{
    if (ws->failed || n == 0)
        return;
    for (size_t i = 0; i < ws->n; i++)
        if (strlen(ws->w[i]) == n && memcmp(ws->w[i], s, n) == 0)
            return;
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 256;
        char **nw = realloc(ws->w, cap * sizeof *nw);
        if (!nw) {
            ws->failed = 1;
            return;
        }
        ws->w = nw;
        ws->cap = cap;
    }
    char *c = malloc(n + 1);
    if (!c) {
        ws->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        c[i] = (char)tolower((unsigned char)s[i]);
    c[n] = '\0';
    ws->w[ws->n++] = c;
}

/* Words are the alphanumeric runs outside {placeholders}, like BERT's basic tokenizer. */
static void add_text(wordset *ws, const char *t)
{
    const char *p = t;
    while (*p) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            p = e ? e + 1 : p + strlen(p);
            continue;
        }
        if (isalnum((unsigned char)*p)) {
            const char *s = p;
            while (isalnum((unsigned char)*p))
                p++;
            add_word(ws, s, (size_t)(p - s));
        } else {
            p++;
        }
    }
}

static void add_table(wordset *ws, const char *const *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        add_text(ws, t[i]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ad_synth_lexicon(char ***words, size_t *count)
{
    wordset ws;
    memset(&ws, 0, sizeof ws);
/* clang-format off */
#define T(t) add_table(&ws, t, COUNT(t))
    T(sev_adj); T(card_adj); T(card_adv); T(side_word); T(lobe_word[0]); T(lobe_word[1]);
    T(zone_word[0]); T(zone_word[1]); T(card_pos); T(card_imp); T(card_neg); T(eff_pos);
    T(eff_pos_both); T(eff_imp); T(eff_imp_both); T(eff_neg); T(opa_pos); T(opa_imp);
    T(opa_neg); T(ptx_pos); T(ptx_imp); T(ptx_neg); T(nod_pos); T(nod_imp); T(nod_neg);
    T(ett_pos); T(cvc_pos); T(ngt_pos); T(pacer_pos); T(dev_imp); T(dev_neg);
    T(opening_frontal); T(opening_ap); T(heart_ok); T(neutral); T(imp_none);
#undef T
    /* clang-format on */
    add_text(&ws, combined_neg);
    add_text(&ws, "mm cm");
    if (ws.failed) {
        for (size_t i = 0; i < ws.n; i++)
            free(ws.w[i]);
        free(ws.w);
        return ad_fail(AD_ERR_NOMEM, "synth: out of memory building the lexicon");
    }
    qsort(ws.w, ws.n, sizeof *ws.w, cmp_str);
    *words = ws.w;
    *count = ws.n;
    return AD_OK;
}
