/* The U-Net decoder over encoder stages: per block a 2x2 stride-2 transposed convolution,
 * the skip map concatenated after its channels (torch.cat([up, skip], dim=1)), and two
 * conv3x3 + BN + ReLU. */
#include "adaptor/error.h"
#include "segdecoder_internal.h"

#include <stdio.h>
#include <string.h>

int seg_unet_build(ad_segdec *d)
{
    const ad_segdec_config *c = &d->cfg;
    int cin = c->in_ch, side = c->grid;
    for (int i = 0; i < c->nup; i++) {
        char up[32], c0[32], b0[32], c1[32], b1[32];
        snprintf(up, sizeof up, "up_%d", i);
        snprintf(c0, sizeof c0, "dec_%d.0", i);
        snprintf(b0, sizeof b0, "dec_%d.1", i);
        snprintf(c1, sizeof c1, "dec_%d.3", i);
        snprintf(b1, sizeof b1, "dec_%d.4", i);
        seg_block *k = &d->blk[i];
        k->skip = c->skip_ch[i];
        k->side_in = side;
        k->side = 2 * side;
        AD_TRY(seg_add_conv(d, &k->up, up, cin, c->ch[i], 2, 2, 0, 1));
        AD_TRY(seg_add_cbr(d, &k->cbr[0], c0, b0, c->ch[i] + k->skip, c->ch[i], 1, k->side));
        AD_TRY(seg_add_cbr(d, &k->cbr[1], c1, b1, c->ch[i], c->ch[i], 1, k->side));
        k->ncbr = 2;
        cin = c->ch[i];
        side *= 2;
    }
    d->nblk = c->nup;
    d->out_size = side;
    return seg_add_conv(d, &d->final, "final_out", cin, 1, 3, 1, 1, 0);
}

/* Copies rows of n channels between a [rows, n] array and columns [c0, c0 + n) of a
 * [rows, ld] array (to_wide: narrow -> wide, else wide -> narrow). */
static void copy_cols(float *wide, float *narrow, size_t rows, int ld, int c0, int n,
                      int to_wide)
{
    for (size_t r = 0; r < rows; r++) {
        float *w = wide + r * (size_t)ld + c0, *s = narrow + r * (size_t)n;
        if (to_wide)
            memcpy(w, s, sizeof(float) * (size_t)n);
        else
            memcpy(s, w, sizeof(float) * (size_t)n);
    }
}

int seg_unet_forward(ad_segdec *d, const float *const *feats, int b, int train, MPI_Comm comm)
{
    const float *x = d->input;
    for (int i = 0; i < d->nblk; i++) {
        seg_block *k = &d->blk[i];
        int ch = k->up.d.cout, ld = ch + k->skip;
        size_t rows = (size_t)b * k->side * k->side;
        if (k->skip && !feats[i + 1])
            return ad_fail(AD_ERR_ARG, "segdecoder: U-Net skip input %d is missing", i + 1);
        /* gb is free during the forward pass */
        seg_conv_forward(d, &k->up, x, b, k->side_in, d->gb);
        copy_cols(k->cat, d->gb, rows, ld, 0, ch, 1);
        if (k->skip)
            copy_cols(k->cat, (float *)feats[i + 1], rows, ld, ch, k->skip, 1);
        AD_TRY(seg_cbr_forward(d, &k->cbr[0], k->cat, b, train, comm));
        AD_TRY(seg_cbr_forward(d, &k->cbr[1], k->cbr[0].r, b, train, comm));
        x = k->out;
    }
    return AD_OK;
}

/* ga holds the gradient of the last block's output. */
int seg_unet_backward(ad_segdec *d, float *const *dfeats, MPI_Comm comm)
{
    int b = d->trained_b;
    for (int i = d->nblk - 1; i >= 0; i--) {
        seg_block *k = &d->blk[i];
        int ch = k->up.d.cout, ld = ch + k->skip;
        size_t rows = (size_t)b * k->side * k->side;
        AD_TRY(seg_cbr_backward(d, &k->cbr[1], d->ga, k->cbr[0].r, b, d->gb, comm));
        AD_TRY(seg_cbr_backward(d, &k->cbr[0], d->gb, k->cat, b, d->ga, comm));
        copy_cols(d->ga, d->gb, rows, ld, 0, ch, 0);
        if (k->skip && dfeats && dfeats[i + 1])
            copy_cols(d->ga, dfeats[i + 1], rows, ld, ch, k->skip, 0);
        const float *x = i ? d->blk[i - 1].out : d->input;
        float *dx = i ? d->ga : dfeats ? dfeats[0] : NULL;
        seg_conv_backward(d, &k->up, d->gb, x, b, k->side_in, dx);
    }
    return AD_OK;
}
