/* Sampling one corpus row: image size and format, view, findings with their attributes,
 * file paths, then the report text. Everything comes from the row's own stream, so any
 * rank can rebuild any row. */
#include "synth_internal.h"

#include "adaptor/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int chance(ad_rng *rng, double p) { return ad_rng_uniform_d(rng) < p; }

static void sample_findings(ad_synth_row *r, ad_rng *rng)
{
    /* Prevalences between ~10% and ~35% so every label varies; portable (AP) films are
     * the ones with tubes and lines. */
    static const double prev[AD_SYNTH_NFINDINGS] = {0.25, 0.3, 0.25, 0.12, 0.15, 0.0};
    double dev_p = r->view == AD_SYN_AP ? 0.45 : 0.15;
    for (int k = 0; k < AD_SYNTH_NFINDINGS; k++) {
        r->present[k] = chance(rng, k == AD_SYNTH_DEVICE ? dev_p : prev[k]);
        r->severity[k] = (int)ad_rng_below(rng, 3);
        r->side[k] = (int)ad_rng_below(rng, 2);
    }
    double u = ad_rng_uniform_d(rng);
    r->side[AD_SYNTH_EFFUSION] = u < 0.4 ? AD_SYN_RIGHT : (u < 0.8 ? AD_SYN_LEFT : AD_SYN_BOTH);
    /* The left lung has no middle lobe (its lingula is left out to keep names simple). */
    r->lobe = (int)ad_rng_below(rng, 3);
    if (r->side[AD_SYNTH_OPACITY] == AD_SYN_LEFT && r->lobe == AD_SYN_MIDDLE)
        r->lobe = AD_SYN_LOWER;
    r->zone = (int)ad_rng_below(rng, 3);
    r->nodule_mm = 6 + (int)ad_rng_below(rng, 25);
    r->nodule_dx = 2.0 * ad_rng_uniform_d(rng) - 1.0;
    r->devices = 0;
    if (chance(rng, 0.5))
        r->devices |= AD_SYN_DEV_ETT;
    if (chance(rng, 0.4))
        r->devices |= AD_SYN_DEV_CVC;
    if (chance(rng, 0.4))
        r->devices |= AD_SYN_DEV_NGT;
    if (chance(rng, 0.25))
        r->devices |= AD_SYN_DEV_PACER;
    if (!r->devices)
        r->devices = 1 << ad_rng_below(rng, 4);
    if (!r->present[AD_SYNTH_DEVICE])
        r->devices = 0;
}

int ad_synth_row_make(uint64_t seed, int64_t i, int split, ad_synth_row *r)
{
    memset(r, 0, sizeof *r);
    r->index = i;
    r->split = split;
    ad_rng *rng = &r->rng;
    ad_rng_seed(rng, seed, (uint64_t)i);
    r->width = AD_SYN_MIN_SIDE + (int)ad_rng_below(rng, AD_SYN_MAX_SIDE - AD_SYN_MIN_SIDE + 1);
    double aspect = 0.75 + 0.58 * ad_rng_uniform_d(rng);
    int h = (int)(r->width * aspect + 0.5);
    r->height = h < AD_SYN_MIN_SIDE ? AD_SYN_MIN_SIDE : (h > AD_SYN_MAX_SIDE ? AD_SYN_MAX_SIDE : h);
    double u = ad_rng_uniform_d(rng);
    r->format = u < 0.7 ? AD_SYN_PNG8 : (u < 0.85 ? AD_SYN_PNG16 : AD_SYN_JPEG);
    u = ad_rng_uniform_d(rng);
    r->view = u < 0.55 ? AD_SYN_PA : (u < 0.92 ? AD_SYN_AP : AD_SYN_LATERAL);
    r->patient = 10000000u + (uint32_t)ad_rng_below(rng, 9000000);
    r->study = 50000000u + (uint32_t)ad_rng_below(rng, 9000000);
    sample_findings(r, rng);

    char base[64];
    snprintf(base, sizeof base, "p%02u/p%08u/s%08u/i%07lld", r->patient / 1000000u, r->patient,
             r->study, (long long)i);
    snprintf(r->image_path, sizeof r->image_path, "images/%s.%s", base,
             r->format == AD_SYN_JPEG ? "jpg" : "png");
    snprintf(r->mask_path, sizeof r->mask_path, "masks/%s.png", base);
    int rc = ad_synth_report_make(r, rng);
    if (rc != AD_OK) {
        ad_synth_row_free(r);
        return ad_fail_ctx(rc, "synth row %lld", (long long)i);
    }
    return AD_OK;
}

void ad_synth_row_free(ad_synth_row *r)
{
    free(r->findings);
    free(r->impression);
    r->findings = r->impression = NULL;
}
