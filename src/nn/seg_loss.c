#include "adaptor/seg_loss.h"

#include "adaptor/error.h"

#include <math.h>

/* log(1 + e^x) without overflow. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static int sum(const ad_reduce *red, double *v, int n, const char *what)
{
    int rc = ad_reduce_sum(red, v, n, what);
    return rc == AD_OK ? AD_OK : ad_fail_ctx(rc, "seg_loss");
}

/* The focal weight is sigmoid(-x s)^gamma with s = 2t - 1; MGCA writes it as
 * exp(gamma * logsigmoid(-x s)), the same number. */
int ad_seg_mixed_loss(const float *x, const float *t, size_t n, float alpha, float gamma,
                      float *dx, ad_seg_loss_parts *out, const ad_reduce *red)
{
    /* focal sum, sum p t, sum p, sum t, pixel count */
    double s[5] = {0, 0, 0, 0, (double)n};
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], ti = t[i], sg = 2 * ti - 1;
        double bce = softplus(xi) - xi * ti, p = sigmoid(xi);
        s[0] += bce * pow(sigmoid(-xi * sg), gamma);
        s[1] += p * ti;
        s[2] += p;
        s[3] += ti;
    }
    AD_TRY(sum(red, s, 5, "loss sums"));
    double N = s[4] > 0 ? s[4] : 1, num = 2 * s[1] + 1, den = s[2] + s[3] + 1;
    if (out) {
        out->focal = s[0] / N;
        out->dice = num / den;
        out->loss = alpha * out->focal - log(out->dice);
    }
    if (!dx)
        return AD_OK;
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], ti = t[i], sg = 2 * ti - 1, p = sigmoid(xi);
        double bce = softplus(xi) - xi * ti, wgt = pow(sigmoid(-xi * sg), gamma);
        /* d w / dx = w * (-gamma s sigmoid(x s)) */
        double dfocal = (p - ti) * wgt - bce * wgt * gamma * sg * sigmoid(xi * sg);
        double ddice = (1 / den - 2 * ti / num) * p * (1 - p);
        dx[i] = (float)(alpha * dfocal / N + ddice);
    }
    return AD_OK;
}

static void image_counts(const float *x, const float *t, size_t n, double *inter, double *pred,
                         double *truth)
{
    size_t i_ = 0, p_ = 0, t_ = 0;
    for (size_t i = 0; i < n; i++) {
        int p = x[i] > 0.0f, g = t[i] > 0.5f;
        i_ += (size_t)(p & g);
        p_ += (size_t)p;
        t_ += (size_t)g;
    }
    *inter = (double)i_, *pred = (double)p_, *truth = (double)t_;
}

/* MGCA's convention for images without positive truth: perfect when nothing is predicted. */
static void ratios(double inter, double pred, double truth, double *dice, double *iou)
{
    if (truth == 0) {
        double v = pred == 0 ? 1.0 : 0.0;
        if (dice)
            *dice = v;
        if (iou)
            *iou = v;
        return;
    }
    if (dice)
        *dice = 2 * inter / (pred + truth);
    if (iou)
        *iou = inter / (pred + truth - inter);
}

void ad_seg_image_metrics(const float *x, const float *t, size_t n, double *dice, double *iou)
{
    double in, p, g;
    image_counts(x, t, n, &in, &p, &g);
    ratios(in, p, g, dice, iou);
}

void ad_seg_counts_add(ad_seg_counts *c, const float *x, const float *t, int b, size_t hw)
{
    for (int k = 0; k < b; k++) {
        double in, p, g, dice, iou;
        image_counts(x + (size_t)k * hw, t + (size_t)k * hw, hw, &in, &p, &g);
        ratios(in, p, g, &dice, &iou);
        c->images += 1;
        c->dice_sum += dice;
        c->iou_sum += iou;
        c->inter += in;
        c->pred += p;
        c->truth += g;
    }
}

int ad_seg_counts_sum(ad_seg_counts *c, const ad_reduce *red)
{
    double v[6] = {c->images, c->dice_sum, c->iou_sum, c->inter, c->pred, c->truth};
    AD_TRY(sum(red, v, 6, "metric counts"));
    c->images = v[0], c->dice_sum = v[1], c->iou_sum = v[2];
    c->inter = v[3], c->pred = v[4], c->truth = v[5];
    return AD_OK;
}

double ad_seg_mean_dice(const ad_seg_counts *c)
{
    return c->images > 0 ? c->dice_sum / c->images : 0.0;
}

double ad_seg_mean_iou(const ad_seg_counts *c)
{
    return c->images > 0 ? c->iou_sum / c->images : 0.0;
}

double ad_seg_global_dice(const ad_seg_counts *c)
{
    double v;
    ratios(c->inter, c->pred, c->truth, &v, NULL);
    return v;
}

double ad_seg_global_iou(const ad_seg_counts *c)
{
    double v;
    ratios(c->inter, c->pred, c->truth, NULL, &v);
    return v;
}
