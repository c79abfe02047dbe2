/* Drawing a chest phantom and its findings, with a pixel mask per finding.
 *
 * Anatomy is a few soft-edged ellipses (body, lungs, heart) plus mediastinum, trachea,
 * ribs and value-noise "lung markings"; findings change the pixels the way they change a
 * radiograph (effusion: dense basal meniscus; pneumothorax: dark peripheral rim without
 * markings and a pleural line; cardiomegaly: wide heart; nodule: dense blob; lobar
 * opacity: hazy patch; devices: thin radio-opaque lines). Frontal views put the patient's
 * right on the image's left. A lateral view projects both lungs onto one field. */
#include "synth_internal.h"

#include "adaptor/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ell {
    double cx, cy, rx, ry;
} ell;

typedef struct geom {
    int W, H, lateral;
    ell body, lung[2], heart;
    double lat_sign[2]; /* image x direction pointing away from the midline, per side */
    double dome[2];     /* diaphragm height below the lung centre, in units of ry */
    double med_x, med_hw, carina_y, spine_x;
} geom;

#define NOISE_G 24 /* value-noise grid cells per side (coarse octave) */

typedef struct vnoise {
    int g;
    float v[(2 * NOISE_G + 1) * (2 * NOISE_G + 1)];
} vnoise;

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }
static double mix(double a, double b, double t) { return a + (b - a) * t; }

static double ell_r(const ell *e, double x, double y)
{
    double dx = (x - e->cx) / e->rx, dy = (y - e->cy) / e->ry;
    return sqrt(dx * dx + dy * dy);
}

/* 1 inside, 0 outside, linear over `edge` pixels at the boundary. */
static double ell_inside(const ell *e, double x, double y, double edge)
{
    if (fabs(x - e->cx) > e->rx + edge || fabs(y - e->cy) > e->ry + edge)
        return 0;
    double r = ell_r(e, x, y);
    double scale = e->rx < e->ry ? e->rx : e->ry;
    return clamp01((1.0 - r) * scale / edge + 0.5);
}

/* Uniform in [lo, hi) from the row stream. */
static double unif(ad_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * ad_rng_uniform_d(rng);
}

static void noise_init(vnoise *n, int g, ad_rng *rng)
{
    n->g = g;
    for (int i = 0; i < (g + 1) * (g + 1); i++)
        n->v[i] = ad_rng_uniform(rng);
}

/* Smoothly interpolated value noise at (u, v) in [0,1]^2. */
static double noise_at(const vnoise *n, double u, double v)
{
    double fx = u * n->g, fy = v * n->g;
    int ix = (int)fx, iy = (int)fy;
    if (ix >= n->g)
        ix = n->g - 1;
    if (iy >= n->g)
        iy = n->g - 1;
    double tx = fx - ix, ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const float *p = n->v + (size_t)iy * (size_t)(n->g + 1) + (size_t)ix;
    double a = mix(p[0], p[1], tx), b = mix(p[n->g + 1], p[n->g + 2], tx);
    return mix(a, b, ty);
}

/* Cheap approximately normal noise: the sum of four 16-bit uniforms, scaled. */
static double pixel_noise(ad_rng *rng, double sigma)
{
    uint64_t r = ad_rng_u64(rng);
    double s = (double)(r & 0xffff) + (double)((r >> 16) & 0xffff) + (double)((r >> 32) & 0xffff) +
               (double)(r >> 48);
    return (s / 65536.0 - 2.0) * (sigma / 0.57735);
}

static void make_geom(const ad_synth_row *r, ad_rng *rng, geom *g)
{
    memset(g, 0, sizeof *g);
    double W = r->width, H = r->height;
    g->W = r->width;
    g->H = r->height;
    g->lateral = r->view == AD_SYN_LATERAL;
    double ap = r->view == AD_SYN_AP;
    int sev = r->severity[AD_SYNTH_CARDIOMEGALY];
    g->body = (ell){W * unif(rng, 0.48, 0.52), H * unif(rng, 0.54, 0.58), W * unif(rng, 0.43, 0.47),
                    H * unif(rng, 0.56, 0.6)};
    if (!g->lateral) {
        double lry = H * unif(rng, 0.28, 0.31) * (ap ? 0.93 : 1.0);
        g->lung[AD_SYN_RIGHT] = (ell){W * unif(rng, 0.30, 0.32), H * unif(rng, 0.43, 0.46),
                                      W * unif(rng, 0.13, 0.14), lry};
        g->lung[AD_SYN_LEFT] = (ell){W * unif(rng, 0.68, 0.70), H * unif(rng, 0.44, 0.47),
                                     W * unif(rng, 0.12, 0.13), lry};
        g->lat_sign[AD_SYN_RIGHT] = -1;
        g->lat_sign[AD_SYN_LEFT] = 1;
        g->dome[AD_SYN_RIGHT] = 0.50;
        g->dome[AD_SYN_LEFT] = 0.56;
        double hrx = W * unif(rng, 0.105, 0.125);
        if (r->present[AD_SYNTH_CARDIOMEGALY])
            hrx = W * (0.165 + 0.02 * sev + unif(rng, 0.0, 0.01));
        hrx *= ap ? 1.08 : 1.0;
        g->heart = (ell){W * 0.535 + 0.4 * (hrx - 0.115 * W), H * unif(rng, 0.62, 0.65), hrx,
                         H * 0.13 + 0.3 * (hrx - 0.115 * W) * H / W};
        g->med_x = W * unif(rng, 0.495, 0.505);
        g->med_hw = W * 0.06;
        g->carina_y = H * unif(rng, 0.30, 0.33);
    } else {
        ell field = {W * unif(rng, 0.50, 0.53), H * unif(rng, 0.43, 0.46),
                     W * unif(rng, 0.26, 0.28), H * unif(rng, 0.29, 0.32)};
        g->lung[0] = g->lung[1] = field;
        g->lat_sign[0] = g->lat_sign[1] = 1; /* posterior is the image's right */
        g->dome[0] = g->dome[1] = 0.55;
        double hrx = W * unif(rng, 0.15, 0.17);
        if (r->present[AD_SYNTH_CARDIOMEGALY])
            hrx = W * (0.21 + 0.02 * sev);
        g->heart = (ell){W * 0.36, H * unif(rng, 0.61, 0.64), hrx, H * 0.15};
        g->spine_x = W * unif(rng, 0.78, 0.8);
        g->med_x = W * 0.47;
        g->carina_y = H * 0.32;
    }
}

/* Inside lung s above its diaphragm, soft-edged. */
static double lung_factor(const geom *g, int s, double x, double y)
{
    const ell *e = &g->lung[s];
    double f = ell_inside(e, x, y, 3.0);
    if (f <= 0)
        return 0;
    double dxn = (x - e->cx) / e->rx;
    double limit = e->cy + e->ry * (g->dome[s] + 0.45 * dxn * dxn);
    return f * clamp01((limit - y) / 3.0 + 0.5);
}

/* Where a finding on side s is drawn: both lungs for AD_SYN_BOTH, lung s otherwise. */
static int side_has(int side, int s) { return side == AD_SYN_BOTH || side == s; }

static double effusion_factor(const ad_synth_row *r, const geom *g, int s, double x, double y)
{
    static const double level[3] = {0.45, 0.2, -0.1};
    const ell *e = &g->lung[s];
    double lat = clamp01(((x - e->cx) / e->rx) * g->lat_sign[s] * 0.5 + 0.5); /* 0 medial */
    double ym = e->cy + e->ry * (level[r->severity[AD_SYNTH_EFFUSION]] - 0.45 * lat);
    return ell_inside(e, x, y, 2.0) * clamp01((y - ym) / 5.0 + 0.5);
}

/* The pneumothorax rim: the lung periphery on the lateral/apical side. */
static double ptx_factor(const ad_synth_row *r, const geom *g, int s, double x, double y,
                         double *line)
{
    static const double width[3] = {0.12, 0.2, 0.3};
    const ell *e = &g->lung[s];
    *line = 0;
    if (lung_factor(g, s, x, y) < 0.5)
        return 0;
    double dx = (x - e->cx) / e->rx, dy = (y - e->cy) / e->ry;
    double rr = sqrt(dx * dx + dy * dy);
    if (rr < 1e-9)
        return 0;
    double dir = (dx * g->lat_sign[s] * 0.6 - dy * 0.8) / rr;
    if (dir < -0.1)
        return 0;
    double w = width[r->severity[AD_SYNTH_PNEUMOTHORAX]];
    double px = (e->rx < e->ry ? e->rx : e->ry);
    double d = (rr - (1.0 - w)) * px; /* pixels outside the collapsed lung's edge */
    if (d > -1.5 && d < 0.5)
        *line = 1;
    return d >= 0 ? 1.0 : 0.0;
}

static void opacity_center(const ad_synth_row *r, const geom *g, int s, ell *blob)
{
    const ell *e = &g->lung[s];
    static const double dy[3] = {-0.45, 0.12, 0.36};
    double cx = e->cx - (r->lobe == AD_SYN_MIDDLE ? g->lat_sign[s] * 0.15 * e->rx : 0.0);
    *blob = (ell){cx, e->cy + dy[r->lobe] * e->ry, 0.75 * e->rx, 0.33 * e->ry};
}

static void nodule_center(const ad_synth_row *r, const geom *g, double *cx, double *cy, double *rad)
{
    const ell *e = &g->lung[r->side[AD_SYNTH_NODULE]];
    static const double dy[3] = {-0.5, 0.0, 0.32};
    *cx = e->cx + r->nodule_dx * 0.45 * e->rx;
    *cy = e->cy + dy[r->zone] * e->ry;
    *rad = 0.5 * r->nodule_mm * g->W / 360.0;
    if (*rad < 2.5)
        *rad = 2.5;
}

/* Distance from (x, y) to the segment a-b. */
static double seg_dist(double x, double y, double ax, double ay, double bx, double by)
{
    double vx = bx - ax, vy = by - ay, wx = x - ax, wy = y - ay;
    double l2 = vx * vx + vy * vy;
    double t = l2 > 0 ? (wx * vx + wy * vy) / l2 : 0;
    t = t < 0 ? 0 : (t > 1 ? 1 : t);
    double dx = wx - t * vx, dy = wy - t * vy;
    return sqrt(dx * dx + dy * dy);
}

static void draw_polyline(const geom *g, const double *pts, int npts, double thick, float *img,
                          uint8_t *mask, uint8_t bit)
{
    for (int k = 0; k + 1 < npts; k++) {
        double ax = pts[2 * k] * g->W, ay = pts[2 * k + 1] * g->H;
        double bx = pts[2 * k + 2] * g->W, by = pts[2 * k + 3] * g->H;
        int x0 = (int)floor(fmin(ax, bx) - thick - 2), x1 = (int)ceil(fmax(ax, bx) + thick + 2);
        int y0 = (int)floor(fmin(ay, by) - thick - 2), y1 = (int)ceil(fmax(ay, by) + thick + 2);
        x0 = x0 < 0 ? 0 : x0;
        y0 = y0 < 0 ? 0 : y0;
        x1 = x1 >= g->W ? g->W - 1 : x1;
        y1 = y1 >= g->H ? g->H - 1 : y1;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                double d = seg_dist(x + 0.5, y + 0.5, ax, ay, bx, by);
                double f = clamp01(thick * 0.5 + 0.5 - d);
                size_t i = (size_t)y * (size_t)g->W + (size_t)x;
                if (f > 0)
                    img[i] = (float)mix(img[i], 0.93, f);
                if (d <= thick * 0.5 + 0.5)
                    mask[i] |= bit;
            }
    }
}

static void draw_devices(const ad_synth_row *r, const geom *g, float *img, uint8_t *mask)
{
    uint8_t bit = (uint8_t)(1u << AD_SYNTH_DEVICE);
    double thick = g->W / 150.0 < 2.0 ? 2.0 : g->W / 150.0;
    double mx = g->med_x / g->W, cy = g->carina_y / g->H;
    if (r->devices & AD_SYN_DEV_ETT) {
        double p[] = {mx, 0.0, mx, cy - 0.06};
        draw_polyline(g, p, 2, thick, img, mask, bit);
    }
    if (r->devices & AD_SYN_DEV_CVC) {
        double p[] = {mx - 0.1, 0.0, mx - 0.06, 0.12, mx - 0.03, 0.24, mx - 0.02, cy + 0.05};
        draw_polyline(g, p, 4, thick * 0.8, img, mask, bit);
    }
    if (r->devices & AD_SYN_DEV_NGT) {
        double p[] = {mx + 0.005, 0.0, mx, 0.55, mx + 0.12, 0.75, mx + 0.18, 0.8};
        draw_polyline(g, p, 4, thick, img, mask, bit);
    }
    if (r->devices & AD_SYN_DEV_PACER) {
        double hx = g->heart.cx / g->W, hy = g->heart.cy / g->H;
        double lead[] = {0.78, 0.14, 0.62, 0.28, hx, hy};
        draw_polyline(g, lead, 3, thick * 0.7, img, mask, bit);
        double box[] = {0.745, 0.14, 0.815, 0.14};
        draw_polyline(g, box, 2, 0.05 * g->H, img, mask, bit);
    }
}

/* What one image is drawn from: the geometry, textures and the findings' placements, all
 * drawn from the row's stream before any pixel. */
typedef struct scene {
    const ad_synth_row *r;
    geom g;
    vnoise *tex; /* [2]: lung markings, coarse and fine */
    double gain, gamma, rib_phase;
    ell blob[2];
    double ncx, ncy, nrad;
} scene;

static int scene_init(const ad_synth_row *r, ad_rng *rng, scene *sc)
{
    sc->r = r;
    make_geom(r, rng, &sc->g);
    sc->tex = malloc(2 * sizeof *sc->tex);
    if (!sc->tex)
        return ad_fail(AD_ERR_NOMEM, "synth: row %lld: out of memory", (long long)r->index);
    noise_init(&sc->tex[0], NOISE_G, rng);
    noise_init(&sc->tex[1], 2 * NOISE_G, rng);
    sc->gain = unif(rng, 0.88, 1.1);
    sc->gamma = unif(rng, 0.85, 1.2);
    sc->rib_phase = unif(rng, 0.0, 1.0);
    for (int s = 0; s < 2; s++)
        opacity_center(r, &sc->g, s, &sc->blob[s]);
    nodule_center(r, &sc->g, &sc->ncx, &sc->ncy, &sc->nrad);
    return AD_OK;
}

/* The normal chest at (x, y): body, lungs with markings and ribs, mediastinum (frontal) or
 * spine (lateral), heart. */
static double anatomy_at(const scene *sc, double x, double y, double u01, double v01)
{
    const geom *g = &sc->g;
    double v = 0.04;
    v = mix(v, 0.40 + 0.08 * v01, ell_inside(&g->body, x, y, 4.0));
    double markings = -1; /* computed on first use: only lungs have markings */
    for (int s = 0; s < (g->lateral ? 1 : 2); s++) {
        double fl = lung_factor(g, s, x, y);
        if (fl <= 0)
            continue;
        if (markings < 0)
            markings =
                0.65 * noise_at(&sc->tex[0], u01, v01) + 0.35 * noise_at(&sc->tex[1], u01, v01);
        double dxn = (x - g->lung[s].cx) / g->lung[s].rx;
        double ph = v01 * 9.0 + 1.2 * dxn * dxn + sc->rib_phase;
        double fr = ph - floor(ph);
        double rib = fr < 0.28 ? 0.05 * sin(M_PI * fr / 0.28) : 0.0;
        v = mix(v, 0.13 + 0.08 * markings + rib, fl);
    }
    if (!g->lateral) {
        double fm = clamp01((g->med_hw - fabs(x - g->med_x)) / 4.0 + 0.5) *
                    clamp01((g->heart.cy - y) / 6.0 + 0.5);
        v = mix(v, 0.56, fm);
        double ft = clamp01((0.018 * g->W - fabs(x - g->med_x)) / 2.0 + 0.5) *
                    clamp01((g->carina_y - y) / 3.0 + 0.5);
        v = mix(v, 0.3, ft);
    } else {
        double fs = clamp01((0.05 * g->W - fabs(x - g->spine_x)) / 3.0 + 0.5) *
                    clamp01((y - 0.05 * g->H) / 4.0);
        v = mix(v, 0.6, fs * ell_inside(&g->body, x, y, 4.0));
    }
    return mix(v, 0.6, ell_inside(&g->heart, x, y, 3.0));
}

/* The findings at (x, y) over the anatomy's value *v, and their mask bits. */
static uint8_t findings_at(const scene *sc, double x, double y, double u01, double v01,
                           double *v)
{
    const ad_synth_row *r = sc->r;
    const geom *g = &sc->g;
    const int *present = r->present;
    uint8_t m = 0;
    if (present[AD_SYNTH_CARDIOMEGALY] && ell_r(&g->heart, x, y) < 1.0)
        m |= 1u << AD_SYNTH_CARDIOMEGALY;
    for (int s = 0; s < 2; s++) {
        int ls = g->lateral ? 0 : s;
        if (present[AD_SYNTH_OPACITY] && r->side[AD_SYNTH_OPACITY] == s) {
            double rb = ell_r(&sc->blob[s], x, y);
            double fl = rb < 3.0 ? lung_factor(g, ls, x, y) : 0.0;
            if (fl > 0) {
                double f =
                    exp(-2.0 * rb * rb) * fl * (0.7 + 0.6 * noise_at(&sc->tex[1], u01, v01));
                *v += 0.24 * f;
                if (f > 0.3)
                    m |= 1u << AD_SYNTH_OPACITY;
            }
        }
        if (present[AD_SYNTH_EFFUSION] && side_has(r->side[AD_SYNTH_EFFUSION], s)) {
            double fe = effusion_factor(r, g, ls, x, y);
            *v = mix(*v, 0.58, fe);
            if (fe > 0.5)
                m |= 1u << AD_SYNTH_EFFUSION;
        }
        if (present[AD_SYNTH_PNEUMOTHORAX] && r->side[AD_SYNTH_PNEUMOTHORAX] == s) {
            double line;
            double fp = ptx_factor(r, g, ls, x, y, &line);
            if (fp > 0) {
                *v = 0.07;
                m |= 1u << AD_SYNTH_PNEUMOTHORAX;
            }
            if (line > 0)
                *v += 0.12;
        }
    }
    if (present[AD_SYNTH_NODULE]) {
        double d = hypot(x - sc->ncx, y - sc->ncy);
        *v += 0.3 * clamp01((sc->nrad * 1.1 - d) / (0.4 * sc->nrad + 1.0));
        if (d <= sc->nrad)
            m |= 1u << AD_SYNTH_NODULE;
    }
    return m;
}

/* The exposure curve and quantum noise over the whole image. */
static int expose(const scene *sc, ad_rng *rng, float *img)
{
    /* The curve through a table: pow() per pixel dominated the drawing time. */
    enum { NLUT = 4096 };
    float *lut = malloc((NLUT + 1) * sizeof *lut);
    if (!lut)
        return ad_fail(AD_ERR_NOMEM, "synth: row %lld: out of memory", (long long)sc->r->index);
    for (int k = 0; k <= NLUT; k++)
        lut[k] = (float)pow((double)k / NLUT, sc->gamma);
    for (size_t i = 0; i < (size_t)sc->g.W * (size_t)sc->g.H; i++) {
        double t = clamp01(img[i] * sc->gain) * NLUT;
        int k = (int)t;
        k = k >= NLUT ? NLUT - 1 : k;
        double v = mix(lut[k], lut[k + 1], t - k) + pixel_noise(rng, 0.012);
        img[i] = (float)clamp01(v);
    }
    free(lut);
    return AD_OK;
}

int ad_synth_draw(const ad_synth_row *r, ad_rng *rng, float *img, uint8_t *mask)
{
    scene sc;
    AD_TRY(scene_init(r, rng, &sc));
    for (int yi = 0; yi < sc.g.H; yi++) {
        double y = yi + 0.5, v01 = y / sc.g.H;
        for (int xi = 0; xi < sc.g.W; xi++) {
            double x = xi + 0.5, u01 = x / sc.g.W;
            double v = anatomy_at(&sc, x, y, u01, v01);
            uint8_t m = findings_at(&sc, x, y, u01, v01, &v);
            size_t i = (size_t)yi * (size_t)sc.g.W + (size_t)xi;
            img[i] = (float)v;
            mask[i] = m;
        }
    }
    if (r->present[AD_SYNTH_DEVICE])
        draw_devices(r, &sc.g, img, mask);
    int rc = expose(&sc, rng, img);
    free(sc.tex);
    return rc;
}
