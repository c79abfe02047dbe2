/* Overlay PNGs of `adaptor segment`: the preprocessed test image twice, side by side, with
 * the truth's region lightened and outlined (left) and the prediction's (right). Grayscale,
 * so a region is shown by lifting its pixels and drawing its border white. */
#include "segment_internal.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/image_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int inside(const uint8_t *m, int n, int y, int x)
{
    return y >= 0 && y < n && x >= 0 && x < n && m[y * n + x];
}

/* One panel: gray image g (n x n) with mask m drawn into out (row stride ld). */
static void panel(uint8_t *out, int ld, const uint8_t *g, const uint8_t *m, int n)
{
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            uint8_t v = g[y * n + x];
            if (m[y * n + x]) {
                int edge = !inside(m, n, y - 1, x) || !inside(m, n, y + 1, x) ||
                           !inside(m, n, y, x - 1) || !inside(m, n, y, x + 1);
                v = edge ? 255 : (uint8_t)(96 + v * 5 / 8);
            }
            out[(size_t)y * ld + x] = v;
        }
}

int seg_write_overlays(const char *dir, const seg_source *src, const seg_split *s,
                       const float *logits, int n)
{
    char odir[4200], path[4400];
    AD_TRY(ad_path_join(odir, sizeof odir, dir, "overlays"));
    AD_TRY(ad_mkdir_p(odir));
    int c = src->crop, gap = 4, W = 2 * c + gap;
    size_t cc = (size_t)c * c;
    uint8_t *pred = ad_malloc(cc, "overlay mask");
    uint8_t *out = ad_calloc((size_t)W * c, 1, "overlay");
    int rc = pred && out ? AD_OK : AD_ERR_NOMEM;
    for (int i = 0; rc == AD_OK && i < n; i++) {
        int64_t k = s->cand[i];
        const uint8_t *gray = s->pix + (size_t)i * cc;
        for (size_t p = 0; p < cc; p++)
            pred[p] = logits[(size_t)i * cc + p] > 0;
        memset(out, 0, (size_t)W * c);
        panel(out, W, gray, s->mask + (size_t)i * cc, c);
        panel(out + c + gap, W, gray, pred, c);
        snprintf(path, sizeof path, "%s/%02d-row%lld.png", odir, i, (long long)s->id[k]);
        rc = ad_png_write_gray(path, out, W, c, 8, 0);
    }
    free(pred);
    free(out);
    return rc;
}
