/* Overlay PNGs of `adaptor segment`: the preprocessed test image twice, side by side, with
 * the truth's region lightened and outlined (left) and the prediction's (right). Grayscale,
 * so a region is shown by lifting its pixels and drawing its border white; the PNGs carry
 * no text, so overlays/index.html captions them (which half is which, image, Dice, IoU). */
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

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static int index_open(ad_atomic_file *af, const char *odir)
{
    char path[4400];
    AD_TRY(ad_path_join(path, sizeof path, odir, "index.html"));
    AD_TRY(ad_atomic_open(af, path));
    fputs("<!doctype html>\n<meta charset=\"utf-8\">\n<title>adaptor segment: overlays</title>\n"
          "<h1>Segmentation overlays (test split)</h1>\n<p>Each image shows the preprocessed "
          "test image twice: <b>left</b> the ground-truth mask, <b>right</b> the decoder's "
          "prediction (logit &gt; 0); the region is lightened and its border drawn white.</p>\n",
          af->fp);
    return AD_OK;
}

/* One figure of the index: the PNG, its image and the per-image Dice / IoU. */
static void index_add(FILE *f, const char *png, const char *image, long long id,
                      const float *logits, const uint8_t *mask, float *truth, size_t cc)
{
    double dice, iou;
    for (size_t p = 0; p < cc; p++)
        truth[p] = mask[p];
    ad_seg_image_metrics(logits, truth, cc, &dice, &iou);
    fputs("<figure><img src=\"", f);
    html_text(f, png);
    fprintf(f, "\"><figcaption>sample %lld, ", id);
    html_text(f, image);
    fprintf(f, ": left truth, right prediction; Dice %.3f, IoU %.3f</figcaption></figure>\n",
            dice, iou);
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
    float *truth = ad_malloc(cc * sizeof(float), "overlay truth");
    ad_atomic_file index = {0};
    int rc = pred && out && truth ? AD_OK : AD_ERR_NOMEM;
    if (rc == AD_OK)
        rc = index_open(&index, odir);
    for (int i = 0; rc == AD_OK && i < n; i++) {
        int64_t k = s->cand[i];
        const uint8_t *gray = s->pix + (size_t)i * cc;
        for (size_t p = 0; p < cc; p++)
            pred[p] = logits[(size_t)i * cc + p] > 0;
        memset(out, 0, (size_t)W * c);
        panel(out, W, gray, s->mask + (size_t)i * cc, c);
        panel(out + c + gap, W, gray, pred, c);
        char name[64];
        snprintf(name, sizeof name, "%02d-row%lld.png", i, (long long)s->id[k]);
        snprintf(path, sizeof path, "%s/%s", odir, name);
        rc = ad_png_write_gray(path, out, W, c, 8, 0);
        if (rc == AD_OK)
            index_add(index.fp, name, s->image[k], (long long)s->id[k], logits + (size_t)i * cc,
                      s->mask + (size_t)i * cc, truth, cc);
    }
    if (index.fp && rc == AD_OK)
        rc = ad_atomic_commit(&index);
    else if (index.fp)
        ad_atomic_abort(&index);
    free(pred);
    free(out);
    free(truth);
    return rc;
}
