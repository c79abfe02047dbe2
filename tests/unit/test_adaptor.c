/* The Adaptor's forward/backward and the contrastive loss against independent computations:
 * naive double-precision loops for the loss, central finite differences for every gradient,
 * and the rank decomposition of SPEC 7 checked without MPI. */
#include "testutil.h"

#include "adaptor/adaptor.h"
#include "adaptor/contrastive.h"
#include "adaptor/error.h"
#include "adaptor/l2norm.h"
#include "adaptor/rng.h"

#include "../../src/models/adaptor_internal.h" /* the activations the checks read back */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- naive references ---------------------------------------------------------------- */

static void naive_normalize(double *y, const float *x, int n, int d)
{
    for (int r = 0; r < n; r++) {
        double s = 0;
        for (int i = 0; i < d; i++)
            s += (double)x[r * d + i] * x[r * d + i];
        s = sqrt(s);
        for (int i = 0; i < d; i++)
            y[r * d + i] = x[r * d + i] / s;
    }
}

/* SPEC 5's loss over a full batch of G pairs, in double. */
static double naive_loss(const float *t, const float *v, int G, int d, double scale, double w)
{
    double *lg = malloc(sizeof(double) * G * G);
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            double s = 0;
            for (int k = 0; k < d; k++)
                s += (double)t[i * d + k] * v[j * d + k];
            lg[i * G + j] = scale * s; /* [text, image] */
        }
    double i2t = 0, t2i = 0;
    for (int j = 0; j < G; j++) { /* image j over texts: column j */
        double mx = -INFINITY, s = 0;
        for (int i = 0; i < G; i++)
            mx = fmax(mx, lg[i * G + j]);
        for (int i = 0; i < G; i++)
            s += exp(lg[i * G + j] - mx);
        i2t += mx + log(s) - lg[j * G + j];
    }
    for (int i = 0; i < G; i++) { /* text i over images: row i */
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < G; j++)
            mx = fmax(mx, lg[i * G + j]);
        for (int j = 0; j < G; j++)
            s += exp(lg[i * G + j] - mx);
        t2i += mx + log(s) - lg[i * G + i];
    }
    free(lg);
    return (1 - w) * i2t / G + w * t2i / G;
}

START_TEST(l2norm_matches_naive_and_fd)
{
    int n = 5, d = 7;
    float *x = tu_rand_normal((size_t)n * d, 1.0f, 1, 7), y[35], nrm[5], dy[35], dx[35];
    double ref[35];
    ad_l2norm_forward(y, nrm, x, n, d);
    naive_normalize(ref, x, n, d);
    for (int i = 0; i < n * d; i++)
        ck_assert_double_eq_tol(y[i], ref[i], 1e-6);
    float *g = tu_rand_normal((size_t)n * d, 1.0f, 2, 7);
    memcpy(dy, g, sizeof dy);
    ad_l2norm_backward(dx, dy, y, nrm, n, d);
    /* d/dx_i of sum(g . normalize(x)) by central differences in double */
    for (int i = 0; i < n * d; i++) {
        double h = 1e-4, acc[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float xs[35];
            memcpy(xs, x, sizeof xs);
            double xi = x[i] + (sgn ? -h : h);
            double yy[35];
            xs[i] = (float)xi;
            naive_normalize(yy, xs, n, d);
            double s = 0;
            for (int k = 0; k < n * d; k++)
                s += g[k] * yy[k];
            acc[sgn] = s;
            h = xi - x[i] >= 0 ? xi - x[i] : x[i] - xi; /* the step actually taken */
        }
        ck_assert_double_eq_tol(dx[i], (acc[0] - acc[1]) / (2 * h), 2e-3);
    }
    free(x);
    free(g);
}
END_TEST

/* The loss split over R "ranks" (offset blocks) sums to the single-batch loss, and so do
 * the gradients once the gathered parts are summed onto their owners. */
START_TEST(contrastive_loss_and_rank_decomposition)
{
    int G = 12, d = 6;
    double w = 0.75, ls = 2.6592;
    float *t = tu_rand_normal((size_t)G * d, 1.0f, 3, 7);
    float *v = tu_rand_normal((size_t)G * d, 1.0f, 4, 7);
    ad_l2norm_forward(t, NULL, t, G, d);
    ad_l2norm_forward(v, NULL, v, G, d);
    double want = naive_loss(t, v, G, d, exp(ls), w);

    /* numeric gradients of the naive loss w.r.t. t, v and logit_scale */
    double *gt = malloc(sizeof(double) * G * d), *gv = malloc(sizeof(double) * G * d);
    double h = 1e-3;
    for (int i = 0; i < G * d; i++) {
        float keep = t[i];
        t[i] = keep + (float)h;
        double up = naive_loss(t, v, G, d, exp(ls), w);
        t[i] = keep - (float)h;
        double dn = naive_loss(t, v, G, d, exp(ls), w);
        t[i] = keep;
        gt[i] = (up - dn) / (2 * h);
        keep = v[i];
        v[i] = keep + (float)h;
        up = naive_loss(t, v, G, d, exp(ls), w);
        v[i] = keep - (float)h;
        dn = naive_loss(t, v, G, d, exp(ls), w);
        v[i] = keep;
        gv[i] = (up - dn) / (2 * h);
    }
    double gls = (naive_loss(t, v, G, d, exp(ls + h), w) - naive_loss(t, v, G, d, exp(ls - h), w)) /
                 (2 * h);

    for (int R = 1; R <= 4; R++) {
        if (G % R)
            continue;
        int b = G / R;
        float *dt = calloc((size_t)G * d, sizeof(float)), *dv = calloc((size_t)G * d, sizeof(float));
        float *dT = malloc(sizeof(float) * G * d), *dV = malloc(sizeof(float) * G * d);
        float *ws = malloc(sizeof(float) * ad_contrastive_workspace(b, G));
        float dtl[72], dvl[72];
        double loss = 0, dls = 0;
        for (int r = 0; r < R; r++) {
            ad_contrastive c = {.b = b, .G = G, .d = d, .offset = r * b, .scale = (float)exp(ls),
                                .image_weight = (float)w, .norm = (float)G};
            double li, lt, dl;
            ad_contrastive_forward(&c, &li, &lt, t + (size_t)r * b * d, v + (size_t)r * b * d, t, v, ws);
            loss += li + lt;
            ad_contrastive_backward(&c, dtl, dvl, dT, dV, &dl, t + (size_t)r * b * d,
                                    v + (size_t)r * b * d, t, v);
            dls += dl;
            for (int i = 0; i < b * d; i++) {
                dt[r * b * d + i] += dtl[i];
                dv[r * b * d + i] += dvl[i];
            }
            for (int i = 0; i < G * d; i++) { /* what reduce-scatter does */
                dt[i] += dT[i];
                dv[i] += dV[i];
            }
        }
        ck_assert_msg(fabs(loss - want) < 1e-5 * fabs(want), "R=%d loss %.9g vs %.9g", R, loss, want);
        for (int i = 0; i < G * d; i++) {
            ck_assert_msg(fabs(dt[i] - gt[i]) < 2e-4, "R=%d dt[%d] %g vs %g", R, i, dt[i], gt[i]);
            ck_assert_msg(fabs(dv[i] - gv[i]) < 2e-4, "R=%d dv[%d] %g vs %g", R, i, dv[i], gv[i]);
        }
        ck_assert_msg(fabs(dls - gls) < 1e-4 * fmax(1, fabs(gls)), "dlogit_scale %g vs %g", dls, gls);
        free(dt);
        free(dv);
        free(dT);
        free(dV);
        free(ws);
    }
    free(t);
    free(v);
    free(gt);
    free(gv);
}
END_TEST

/* ---- the whole model ------------------------------------------------------------------ */

static const ad_adaptor_config small_cfg = {.dv = 5, .dt = 6, .proj = 8, .ffn = 12, .heads = 2,
                                            .layers = 2, .dropout = 0.0f, .ln_eps = 1e-5f,
                                            .logit_scale_init = 2.6592f};

/* SPEC 5 written out plainly in double precision from a (double) copy of the parameters,
 * reading them through the model's tensor table: out [B, P]. */
/* Dropout masks of a training forward, read back from the model's activations (drop: the
 * dropout probability, 0 for none). The FFN's mask is where its output is positive. */
static double mask_at(const float *mask, size_t i)
{
    return mask ? (double)mask[i] : 1.0;
}

static void naive_path(const ad_adaptor *m, const double *prm, int modality, const float *x, int B,
                       double *out)
{
    const ad_adaptor_config *c = &m->cfg;
    float drop = m->acts_dropout[modality];
    const ad_adaptor_acts *acts = &m->acts[modality];
    double keep = drop > 0 ? 1.0 / (1.0 - drop) : 1.0;
    int P = c->proj, F = c->ffn, D = modality == AD_IMAGE ? c->dv : c->dt;
    const double *W = prm + m->tensors[modality == AD_IMAGE ? 0 : 1].offset;
    double *h = malloc(sizeof(double) * B * P), *t1 = malloc(sizeof(double) * B * P),
           *t2 = malloc(sizeof(double) * B * P), *f = malloc(sizeof(double) * F);
    for (int r = 0; r < B; r++) {
        double nn = 0;
        for (int o = 0; o < P; o++) {
            double s = 0;
            for (int i = 0; i < D; i++)
                s += W[o * D + i] * x[r * D + i];
            h[r * P + o] = s;
            nn += s * s;
        }
        for (int o = 0; o < P; o++)
            h[r * P + o] /= sqrt(nn);
    }
    for (int l = 0; l < c->layers; l++) {
        const double *T[12];
        for (int k = 0; k < 12; k++)
            T[k] = prm + m->tensors[2 + 12 * l + k].offset;
        const double *inw = T[0], *inb = T[1], *ow = T[2], *ob = T[3], *w1 = T[4], *b1 = T[5],
                     *w2 = T[6], *b2 = T[7], *g1 = T[8], *be1 = T[9], *g2 = T[10], *be2 = T[11];
        for (int r = 0; r < B; r++) {
            double *hr = h + r * P, vv[64], x1[64];
            /* MHA over one key: softmax = 1, so attention output = out_proj(v(src)). */
            for (int o = 0; o < P; o++) {
                double s = inb[2 * P + o];
                for (int i = 0; i < P; i++)
                    s += inw[(2 * P + o) * P + i] * hr[i];
                vv[o] = s;
            }
            for (int o = 0; o < P; o++) {
                double s = ob[o];
                for (int i = 0; i < P; i++)
                    s += ow[o * P + i] * vv[i];
                t1[r * P + o] = hr[o] + s * (drop > 0 ? mask_at(acts->mask_a, ((size_t)l * B + r) * P + o) : 1.0);
            }
            for (int pass = 0; pass < 2; pass++) {
                double *src = pass == 0 ? t1 + r * P : t2 + r * P, *dst = pass == 0 ? x1 : hr;
                const double *g = pass == 0 ? g1 : g2, *bb = pass == 0 ? be1 : be2;
                double mu = 0, var = 0;
                for (int i = 0; i < P; i++)
                    mu += src[i];
                mu /= P;
                for (int i = 0; i < P; i++)
                    var += (src[i] - mu) * (src[i] - mu);
                var /= P;
                for (int i = 0; i < P; i++)
                    dst[i] = (src[i] - mu) / sqrt(var + c->ln_eps) * g[i] + bb[i];
                if (pass == 1)
                    break;
                for (int o = 0; o < F; o++) {
                    double s = b1[o];
                    for (int i = 0; i < P; i++)
                        s += w1[o * P + i] * x1[i];
                    f[o] = s > 0 ? s : 0;
                    if (drop > 0)
                        f[o] *= acts->f[((size_t)l * B + r) * F + o] > 0 ? keep : 0.0;
                }
                for (int o = 0; o < P; o++) {
                    double s = b2[o];
                    for (int i = 0; i < F; i++)
                        s += w2[o * F + i] * f[i];
                    t2[r * P + o] = x1[o] + s * (drop > 0 ? mask_at(acts->mask_g, ((size_t)l * B + r) * P + o) : 1.0);
                }
            }
        }
    }
    for (int r = 0; r < B; r++) {
        double nn = 0;
        for (int o = 0; o < P; o++)
            nn += h[r * P + o] * h[r * P + o];
        for (int o = 0; o < P; o++)
            out[r * P + o] = h[r * P + o] / sqrt(nn);
    }
    free(h);
    free(t1);
    free(t2);
    free(f);
}

/* SPEC 5's loss from double embeddings v, t [B, P]. */
static double naive_pair_loss(const double *v, const double *t, int B, int P, double scale)
{
    double w = 0.75, i2t = 0, t2i = 0;
    for (int j = 0; j < B; j++) {
        double lg[64], mx = -INFINITY, s = 0, lgr[64], mxr = -INFINITY, sr = 0;
        for (int i = 0; i < B; i++) {
            double a = 0, bb = 0;
            for (int k = 0; k < P; k++) {
                a += t[i * P + k] * v[j * P + k];  /* column j: image j vs text i */
                bb += t[j * P + k] * v[i * P + k]; /* row j: text j vs image i */
            }
            lg[i] = scale * a;
            lgr[i] = scale * bb;
            mx = fmax(mx, lg[i]);
            mxr = fmax(mxr, lgr[i]);
        }
        for (int i = 0; i < B; i++) {
            s += exp(lg[i] - mx);
            sr += exp(lgr[i] - mxr);
        }
        i2t += mx + log(s) - lg[j];
        t2i += mxr + log(sr) - lgr[j];
    }
    return (1 - w) * i2t / B + w * t2i / B;
}

static double naive_model_loss(const ad_adaptor *m, const double *prm, const float *xv,
                               const float *xt, int B)
{
    int P = m->cfg.proj;
    double *v = malloc(sizeof(double) * B * P), *t = malloc(sizeof(double) * B * P);
    naive_path(m, prm, AD_IMAGE, xv, B, v);
    naive_path(m, prm, AD_TEXT, xt, B, t);
    double loss = naive_pair_loss(v, t, B, P, exp(prm[m->tensors[m->ntensors - 1].offset]));
    free(v);
    free(t);
    return loss;
}

/* The loss of the double-precision reference model as a function of its parameters. */
typedef double (*naive_loss_fn)(const ad_adaptor *m, const double *prm, const void *ctx);

/* Checks every tensor of m->grads against central differences of `loss` at prm; returns
 * the largest |numeric gradient| of each tensor in gmax (may be NULL). float32 gradients of
 * O(1) quantities: absolute 1e-5 plus 1e-4 of the tensor's own scale. */
static void check_grads_fd(const ad_adaptor *m, double *prm, naive_loss_fn loss, const void *ctx,
                           double *gmax_out)
{
    for (size_t k = 0; k < m->ntensors; k++) {
        const ad_ckpt_tensor *T = &m->tensors[k];
        size_t n = T->ndim == 0 ? 1 : T->ndim == 1 ? (size_t)T->shape[0]
                                                     : (size_t)(T->shape[0] * T->shape[1]);
        double gmax = 0, err = 0;
        for (size_t i = 0; i < n; i++) {
            size_t j = T->offset + i;
            double keep = prm[j], h = 1e-6;
            prm[j] = keep + h;
            double up = loss(m, prm, ctx);
            prm[j] = keep - h;
            double dn = loss(m, prm, ctx);
            prm[j] = keep;
            double num = (up - dn) / (2 * h);
            gmax = fmax(gmax, fabs(num));
            err = fmax(err, fabs(num - m->grads[j]));
        }
        ck_assert_msg(err <= 1e-4 * gmax + 1e-5, "%s: max |analytic - numeric| %.3g (max |g| %.3g)",
                      T->name, err, gmax);
        if (gmax_out)
            gmax_out[k] = gmax;
    }
}

typedef struct pooled_inputs {
    const float *xv, *xt;
    int B;
} pooled_inputs;

static double pooled_loss(const ad_adaptor *m, const double *prm, const void *ctx)
{
    const pooled_inputs *in = ctx;
    return naive_model_loss(m, prm, in->xv, in->xt, in->B);
}

/* Our float forward + contrastive loss + backward; returns the loss, leaves grads in m.
 * rng: dropout stream (NULL: evaluation mode). */
static double model_loss_and_grad(ad_adaptor *m, const float *xv, const float *xt, int B,
                                  float *v, float *t, ad_rng *rng, int pair)
{
    int P = m->cfg.proj;
    float *ws = malloc(sizeof(float) * ad_contrastive_workspace(B, B));
    if (pair) {
        ad_adaptor_batch x = {.xv = xv, .xt = xt};
        ck_assert_int_eq(ad_adaptor_forward_pair(m, &x, B, v, t, rng), AD_OK);
    } else {
        ck_assert_int_eq(ad_adaptor_forward(m, AD_IMAGE, xv, B, v, rng), AD_OK);
        ck_assert_int_eq(ad_adaptor_forward(m, AD_TEXT, xt, B, t, rng), AD_OK);
    }
    ad_contrastive c = {.b = B, .G = B, .d = P, .offset = 0, .scale = expf(*m->logit_scale),
                        .image_weight = 0.75f, .norm = (float)B};
    double li, lt, dls;
    ad_contrastive_forward(&c, &li, &lt, t, v, t, v, ws);
    float *dtl = malloc(sizeof(float) * B * P), *dvl = malloc(sizeof(float) * B * P);
    float *dT = malloc(sizeof(float) * B * P), *dV = malloc(sizeof(float) * B * P);
    ad_contrastive_backward(&c, dtl, dvl, dT, dV, &dls, t, v, t, v);
    for (int i = 0; i < B * P; i++) {
        dtl[i] += dT[i];
        dvl[i] += dV[i];
    }
    ad_adaptor_zero_grad(m);
    if (pair) {
        ad_adaptor_backward_pair(m, dvl, dtl);
    } else {
        ad_adaptor_backward(m, AD_IMAGE, dvl);
        ad_adaptor_backward(m, AD_TEXT, dtl);
    }
    *m->glogit_scale += (float)dls;
    free(dtl);
    free(dvl);
    free(dT);
    free(dV);
    free(ws);
    return li + lt;
}

/* _i 0-3: P = 8, F = 12, B = 6 (widths below a 16-lane block); bit 0 clear:
 * evaluation mode; set: dropout 0.3 with the masks of the training forward. Bit 1 clear: one
 * modality at a time (B <= P rows: attention as two products); set: both modalities together
 * (2B > P rows: the folded attention of adaptor.c). _i 4, 5: P = 16, F = 24, B = 9 (LayerNorm
 * backward's 16-lane blocks, an FFN width with a tail, rows no multiple of 4) with dropout, one modality
 * at a time and together, on one layer (the FD check of two layers costs 5 s under ASan). */
START_TEST(adaptor_forward_and_gradients_match_naive_double)
{
    ad_adaptor *m;
    ad_adaptor_config cfg = small_cfg;
    int wide = _i >= 4, pair = wide ? (_i & 1) : (_i & 2) != 0;
    cfg.dropout = wide || (_i & 1) ? 0.3f : 0.0f;
    if (wide) {
        cfg.proj = 16;
        cfg.ffn = 24;
        cfg.layers = 1;
    }
    ad_rng drop;
    ad_rng_seed(&drop, 77, 1);
    tu_assert_ok(ad_adaptor_create(&cfg, &m));
    ad_adaptor_init(m, 11);
    /* Non-trivial LayerNorm parameters and biases, so their gradients are exercised. */
    ad_rng r;
    ad_rng_seed(&r, 5, 5);
    for (size_t i = 0; i < m->nparams; i++)
        m->params[i] += 0.05f * (float)ad_rng_normal(&r);
    int B = wide ? 9 : 6, P = cfg.proj;
    float *xv = tu_rand_normal((size_t)B * 5, 1.0f, 21, 7);
    float *xt = tu_rand_normal((size_t)B * 6, 1.0f, 22, 7);
    float v[9 * 16], t[9 * 16];
    double loss = model_loss_and_grad(m, xv, xt, B, v, t, cfg.dropout > 0 ? &drop : NULL, pair);
    ck_assert_int_eq(m->acts[AD_IMAGE].folded, pair);

    double *prm = malloc(m->nparams * sizeof(double));
    for (size_t i = 0; i < m->nparams; i++)
        prm[i] = m->params[i];
    double nv[9 * 16], nt[9 * 16];
    naive_path(m, prm, AD_IMAGE, xv, B, nv);
    naive_path(m, prm, AD_TEXT, xt, B, nt);
    for (int i = 0; i < B * P; i++) {
        ck_assert_msg(fabs(v[i] - nv[i]) < 2e-6, "image out[%d] %.8g vs %.8g", i, v[i], nv[i]);
        ck_assert_msg(fabs(t[i] - nt[i]) < 2e-6, "text out[%d] %.8g vs %.8g", i, t[i], nt[i]);
    }
    double nloss = naive_model_loss(m, prm, xv, xt, B);
    ck_assert_msg(fabs(loss - nloss) < 1e-5 * nloss, "loss %.9g vs naive %.9g", loss, nloss);

    /* Every parameter's gradient against central differences of the double model. */
    pooled_inputs in = {xv, xt, B};
    check_grads_fd(m, prm, pooled_loss, &in, NULL);
    /* The Q and K blocks of in_proj cannot affect a one-key softmax: exactly zero. */
    for (int l = 0; l < cfg.layers; l++) {
        for (int i = 0; i < 2 * P * P; i++)
            ck_assert_float_eq(m->glayer[l].in_w[i], 0.0f);
        for (int i = 0; i < 2 * P; i++)
            ck_assert_float_eq(m->glayer[l].in_b[i], 0.0f);
    }
    free(prm);
    free(xv);
    free(xt);
    ad_adaptor_destroy(m);
}
END_TEST

/* ---- token-level mode (SPEC 6) --------------------------------------------------------- */

static void dlinear(double *y, const double *x, const double *w, const double *b, int in, int out)
{
    for (int o = 0; o < out; o++) {
        double s = b ? b[o] : 0;
        for (int i = 0; i < in; i++)
            s += w[o * in + i] * x[i];
        y[o] = s;
    }
}

static void dlayernorm(double *y, const double *x, const double *g, const double *b, int P,
                       double eps)
{
    double mu = 0, var = 0;
    for (int i = 0; i < P; i++)
        mu += x[i];
    mu /= P;
    for (int i = 0; i < P; i++)
        var += (x[i] - mu) * (x[i] - mu);
    var /= P;
    for (int i = 0; i < P; i++)
        y[i] = (x[i] - mu) / sqrt(var + eps) * g[i] + b[i];
}

static void dnormalize(double *x, int P)
{
    double s = 0;
    for (int i = 0; i < P; i++)
        s += x[i] * x[i];
    s = sqrt(s);
    for (int i = 0; i < P; i++)
        x[i] /= s;
}

/* One sample's block: x [Tx, P] attends to ctx [Tc, P] (keys with keep[j] = 0 masked). */
static void naive_block(const ad_adaptor *m, const double *prm, int l, double *x, int Tx,
                        const double *ctx, int Tc, const uint8_t *keep)
{
    const ad_adaptor_config *c = &m->cfg;
    int P = c->proj, F = c->ffn, NH = c->heads, dh = P / NH;
    const double *T[12];
    for (int k = 0; k < 12; k++)
        T[k] = prm + m->tensors[2 + 12 * l + k].offset;
    double *q = malloc(sizeof(double) * Tx * P), *kk = malloc(sizeof(double) * Tc * P),
           *vv = malloc(sizeof(double) * Tc * P), *o = malloc(sizeof(double) * Tx * P);
    for (int i = 0; i < Tx; i++)
        dlinear(q + i * P, x + i * P, T[0], T[1], P, P);
    for (int j = 0; j < Tc; j++) {
        dlinear(kk + j * P, ctx + j * P, T[0] + P * P, T[1] + P, P, P);
        dlinear(vv + j * P, ctx + j * P, T[0] + 2 * P * P, T[1] + 2 * P, P, P);
    }
    for (int i = 0; i < Tx; i++)
        for (int h = 0; h < NH; h++) {
            double sc[64], mx = -INFINITY, sum = 0;
            for (int j = 0; j < Tc; j++) {
                double d = 0;
                for (int e = 0; e < dh; e++)
                    d += q[i * P + h * dh + e] * kk[j * P + h * dh + e];
                sc[j] = keep && !keep[j] ? -INFINITY : d / sqrt((double)dh);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j < Tc; j++)
                sum += (sc[j] = exp(sc[j] - mx));
            for (int e = 0; e < dh; e++) {
                double acc = 0;
                for (int j = 0; j < Tc; j++)
                    acc += sc[j] / sum * vv[j * P + h * dh + e];
                o[i * P + h * dh + e] = acc;
            }
        }
    for (int i = 0; i < Tx; i++) {
        double a[64], s1[64], x1[64], f[64], g[64];
        dlinear(a, o + i * P, T[2], T[3], P, P);
        for (int e = 0; e < P; e++)
            s1[e] = x[i * P + e] + a[e];
        dlayernorm(x1, s1, T[8], T[9], P, c->ln_eps);
        dlinear(f, x1, T[4], T[5], P, F);
        for (int e = 0; e < F; e++)
            f[e] = f[e] > 0 ? f[e] : 0;
        dlinear(g, f, T[6], T[7], F, P);
        for (int e = 0; e < P; e++)
            g[e] += x1[e];
        dlayernorm(x + i * P, g, T[10], T[11], P, c->ln_eps);
    }
    free(q);
    free(kk);
    free(vv);
    free(o);
}

static double naive_tokens_loss(const ad_adaptor *m, const double *prm, const float *xv, int Tv,
                                const float *xt, int Tt, const uint8_t *tmask, int B)
{
    const ad_adaptor_config *c = &m->cfg;
    int P = c->proj;
    double *v = malloc(sizeof(double) * B * P), *t = malloc(sizeof(double) * B * P);
    double *V = malloc(sizeof(double) * Tv * P), *Tx = malloc(sizeof(double) * Tt * P);
    for (int s = 0; s < B; s++) {
        for (int i = 0; i < Tv; i++) {
            double xi[64];
            for (int e = 0; e < c->dv; e++)
                xi[e] = xv[((size_t)s * Tv + i) * c->dv + e];
            dlinear(V + i * P, xi, prm + m->tensors[0].offset, NULL, c->dv, P);
            dnormalize(V + i * P, P);
        }
        for (int i = 0; i < Tt; i++) {
            double xi[64];
            for (int e = 0; e < c->dt; e++)
                xi[e] = xt[((size_t)s * Tt + i) * c->dt + e];
            dlinear(Tx + i * P, xi, prm + m->tensors[1].offset, NULL, c->dt, P);
            dnormalize(Tx + i * P, P);
        }
        for (int l = 0; l < c->layers; l++) {
            naive_block(m, prm, l, V, Tv, Tx, Tt, tmask + (size_t)s * Tt);
            naive_block(m, prm, l, Tx, Tt, V, Tv, NULL);
        }
        memcpy(v + s * P, V, sizeof(double) * P);
        memcpy(t + s * P, Tx, sizeof(double) * P);
        dnormalize(v + s * P, P);
        dnormalize(t + s * P, P);
    }
    double loss = naive_pair_loss(v, t, B, P, exp(prm[m->tensors[m->ntensors - 1].offset]));
    free(v);
    free(t);
    free(V);
    free(Tx);
    return loss;
}

typedef struct tokens_inputs {
    const float *xv, *xt;
    const uint8_t *tmask;
    int Tv, Tt, B;
} tokens_inputs;

static double tokens_loss(const ad_adaptor *m, const double *prm, const void *ctx)
{
    const tokens_inputs *in = ctx;
    return naive_tokens_loss(m, prm, in->xv, in->Tv, in->xt, in->Tt, in->tmask, in->B);
}

START_TEST(tokens_forward_and_gradients_match_naive_double)
{
    ad_adaptor_config c = small_cfg;
    c.tokens = 1;
    ad_adaptor *m;
    tu_assert_ok(ad_adaptor_create(&c, &m));
    ad_adaptor_init(m, 13);
    ad_rng r;
    ad_rng_seed(&r, 6, 6);
    for (size_t i = 0; i < m->nparams; i++)
        m->params[i] += 0.05f * (float)ad_rng_normal(&r);
    int B = 4, Tv = 5, Tt = 4, P = c.proj;
    float *xv = tu_rand_normal((size_t)B * Tv * c.dv, 1.0f, 31, 7);
    float *xt = tu_rand_normal((size_t)B * Tt * c.dt, 1.0f, 32, 7);
    /* report lengths 4, 2, 3, 1: padding in every position but the first */
    uint8_t tmask[16] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0};
    ad_adaptor_batch batch = {xv, xt, tmask, Tv, Tt};
    float v[32], t[32];
    tu_assert_ok(ad_adaptor_forward_pair(m, &batch, B, v, t, NULL));
    float *ws = malloc(sizeof(float) * ad_contrastive_workspace(B, B));
    ad_contrastive cl = {.b = B, .G = B, .d = P, .offset = 0, .scale = expf(*m->logit_scale),
                         .image_weight = 0.75f, .norm = (float)B};
    double li, lt, dls;
    ad_contrastive_forward(&cl, &li, &lt, t, v, t, v, ws);
    float dtl[32], dvl[32], dT[32], dV[32];
    ad_contrastive_backward(&cl, dtl, dvl, dT, dV, &dls, t, v, t, v);
    for (int i = 0; i < B * P; i++) {
        dtl[i] += dT[i];
        dvl[i] += dV[i];
    }
    ad_adaptor_zero_grad(m);
    ad_adaptor_backward_pair(m, dvl, dtl);
    *m->glogit_scale += (float)dls;

    double *prm = malloc(m->nparams * sizeof(double));
    for (size_t i = 0; i < m->nparams; i++)
        prm[i] = m->params[i];
    double nloss = naive_tokens_loss(m, prm, xv, Tv, xt, Tt, tmask, B);
    ck_assert_msg(fabs(li + lt - nloss) < 1e-5 * nloss, "loss %.9g vs naive %.9g", li + lt, nloss);
    tokens_inputs in = {xv, xt, tmask, Tv, Tt, B};
    double *gmax = malloc(m->ntensors * sizeof(double));
    check_grads_fd(m, prm, tokens_loss, &in, gmax);
    /* Real cross-attention: the Q and K blocks now learn. */
    for (size_t k = 0; k < m->ntensors; k++)
        if (strstr(m->tensors[k].name, "in_proj_weight"))
            ck_assert_msg(gmax[k] > 1e-4, "%s has no gradient in token mode", m->tensors[k].name);
    free(gmax);
    /* Padded text tokens change nothing: perturbing them leaves the embeddings alone. */
    float v2[32], t2[32];
    xt[(1 * Tt + 3) * c.dt] += 5.0f;
    tu_assert_ok(ad_adaptor_forward_pair(m, &batch, B, v2, t2, NULL));
    ck_assert_mem_eq(v, v2, sizeof v);
    ck_assert_mem_eq(t, t2, sizeof t);
    free(ws);
    free(prm);
    free(xv);
    free(xt);
    ad_adaptor_destroy(m);
}
END_TEST

START_TEST(reference_names_and_sizes)
{
    ad_adaptor_config c = small_cfg;
    ad_adaptor *m;
    tu_assert_ok(ad_adaptor_create(&c, &m));
    ck_assert_str_eq(m->tensors[0].name, "projection.visual_projection.weight");
    ck_assert_str_eq(m->tensors[2].name, "adaptor_module.encoder.0.attn.in_proj_weight");
    ck_assert_str_eq(m->tensors[m->ntensors - 1].name, "logit_scale");
    ck_assert_int_eq(m->tensors[m->ntensors - 1].ndim, 0);
    size_t P = 8, F = 12, want = P * 5 + P * 6 + 2 * (3 * P * P + 3 * P + P * P + P + F * P + F + P * F + P + 4 * P) + 1;
    ck_assert_uint_eq(m->nparams, want);
    ad_adaptor_destroy(m);
    c.layers = 1;
    tu_assert_ok(ad_adaptor_create(&c, &m));
    ck_assert_str_eq(m->tensors[2].name, "adaptor_module.encoder.attn.in_proj_weight");
    ad_adaptor_destroy(m);
    /* 12 M parameters at the paper's sizes (ViT-S 384 + BERT 768, P 768, F 2048, 2 layers). */
    ad_adaptor_config paper = {.dv = 384, .dt = 768, .proj = 768, .ffn = 2048, .heads = 12,
                               .layers = 2, .dropout = 0.1f, .ln_eps = 1e-5f, .logit_scale_init = 2.6592f};
    tu_assert_ok(ad_adaptor_create(&paper, &m));
    ck_assert_msg(m->nparams > 11000000 && m->nparams < 14000000, "%zu parameters", m->nparams);
    ad_adaptor_destroy(m);
    c = small_cfg;
    c.heads = 3;
    tu_assert_fails(ad_adaptor_create(&c, &m), AD_ERR_CONFIG, "not divisible by num_heads");
}
END_TEST

/* With dropout on, a training forward differs from the evaluation forward, the same seed
 * reproduces it, and the backward matches finite differences under the SAME masks. */
START_TEST(dropout_is_seeded_and_differentiated)
{
    ad_adaptor_config c = small_cfg;
    c.dropout = 0.3f;
    ad_adaptor *m;
    tu_assert_ok(ad_adaptor_create(&c, &m));
    ad_adaptor_init(m, 3);
    int B = 4;
    float *x = tu_rand_normal((size_t)B * 5, 1.0f, 8, 7), o1[32], o2[32], o3[32];
    ad_rng r1, r2;
    ad_rng_seed(&r1, 9, 1);
    ad_rng_seed(&r2, 9, 1);
    tu_assert_ok(ad_adaptor_forward(m, AD_IMAGE, x, B, o1, &r1));
    tu_assert_ok(ad_adaptor_forward(m, AD_IMAGE, x, B, o2, &r2));
    tu_assert_ok(ad_adaptor_forward(m, AD_IMAGE, x, B, o3, NULL));
    ck_assert_mem_eq(o1, o2, sizeof o1);
    double diff = 0;
    for (int i = 0; i < 32; i++)
        diff += fabs(o1[i] - o3[i]);
    ck_assert_msg(diff > 1e-3, "dropout changed nothing");
    free(x);
    ad_adaptor_destroy(m);
}
END_TEST

/* The model keeps activations and workspace between steps (sized for the largest batch
 * seen): a step on a row count that differs from the previous step's (a resume on another
 * number of ranks) must give the gradients of a fresh model. _i bit 0: dropout on; bit 1:
 * both modalities together; bit 2: the earlier step has fewer rows than the later one. */
START_TEST(changing_rows_between_steps_matches_fresh_model)
{
    ad_adaptor_config cfg = small_cfg;
    cfg.dropout = (_i & 1) ? 0.3f : 0.0f;
    /* widths of whole 16-lane blocks (LayerNorm backward) with an FFN tail */
    cfg.proj = 32;
    cfg.ffn = 48;
    int pair = (_i & 2) != 0, B0 = (_i & 4) ? 13 : 37, B = 21, P = cfg.proj;
    ad_adaptor *m, *fresh;
    tu_assert_ok(ad_adaptor_create(&cfg, &m));
    tu_assert_ok(ad_adaptor_create(&cfg, &fresh));
    ad_adaptor_init(m, 11);
    ad_adaptor_init(fresh, 11);
    float *x0v = tu_rand_normal((size_t)B0 * 5, 1.0f, 31, 7);
    float *x0t = tu_rand_normal((size_t)B0 * 6, 1.0f, 32, 7);
    float *xv = tu_rand_normal((size_t)B * 5, 1.0f, 21, 7);
    float *xt = tu_rand_normal((size_t)B * 6, 1.0f, 22, 7);
    float v0[37 * 32], t0[37 * 32], v[21 * 32], t[21 * 32], fv[21 * 32], ft[21 * 32];
    ad_rng r0, r1, r2;
    ad_rng_seed(&r0, 3, 1);
    ad_rng_seed(&r1, 4, 1);
    ad_rng_seed(&r2, 4, 1);
    int drop = (_i & 1) != 0;
    model_loss_and_grad(m, x0v, x0t, B0, v0, t0, drop ? &r0 : NULL, pair);
    double l = model_loss_and_grad(m, xv, xt, B, v, t, drop ? &r1 : NULL, pair);
    double fl = model_loss_and_grad(fresh, xv, xt, B, fv, ft, drop ? &r2 : NULL, pair);
    ck_assert_msg(fabs(l - fl) <= 1e-6 * fabs(fl), "loss %.9g vs fresh %.9g", l, fl);
    for (int i = 0; i < B * P; i++) {
        ck_assert_msg(fabs(v[i] - fv[i]) <= 1e-6, "image out[%d] %.8g vs %.8g", i, v[i], fv[i]);
        ck_assert_msg(fabs(t[i] - ft[i]) <= 1e-6, "text out[%d] %.8g vs %.8g", i, t[i], ft[i]);
    }
    for (size_t i = 0; i < m->nparams; i++)
        ck_assert_msg(fabs(m->grads[i] - fresh->grads[i]) <=
                          1e-5 * (fabs(fresh->grads[i]) + 1e-3),
                      "grad[%zu] %.8g vs fresh %.8g", i, m->grads[i], fresh->grads[i]);
    free(x0v);
    free(x0t);
    free(xv);
    free(xt);
    ad_adaptor_destroy(m);
    ad_adaptor_destroy(fresh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adaptor");
    TCase *tc = tcase_create("adaptor");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, l2norm_matches_naive_and_fd);
    tcase_add_test(tc, contrastive_loss_and_rank_decomposition);
    tcase_add_loop_test(tc, adaptor_forward_and_gradients_match_naive_double, 0, 6);
    tcase_add_test(tc, tokens_forward_and_gradients_match_naive_double);
    tcase_add_test(tc, reference_names_and_sizes);
    tcase_add_test(tc, dropout_is_seeded_and_differentiated);
    tcase_add_loop_test(tc, changing_rows_between_steps_matches_fresh_model, 0, 8);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
