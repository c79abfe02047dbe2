/* Bicubic resampling of channels-last grids, reproducing PyTorch's
 * torch.nn.functional.interpolate(mode="bicubic", align_corners=False) on the CPU: used to
 * fit a ViT's learned position-embedding grid to the input's patch grid.
 *
 * AD_CUBIC_PLAIN (antialias=False): source coordinate (dst + 0.5) * scale - 0.5 in float32,
 * Keys cubic with A = -0.75 over 4 taps, indices clamped to the border.
 * AD_CUBIC_ANTIALIAS (antialias=True): when shrinking, the cubic (A = -0.5) is stretched
 * over 2 * scale taps on each side and the taps are normalised to sum to 1 (PIL style).
 * scale = 1 / scale_factor when interpolate was given a scale_factor (recompute_scale_factor
 * unset), else in / out. */
#ifndef ADAPTOR_INTERP_H
#define ADAPTOR_INTERP_H

typedef enum { AD_CUBIC_PLAIN, AD_CUBIC_ANTIALIAS } ad_cubic_kind;

/* dst[oh][ow][c] from src[ih][iw][c].  scale_h / scale_w: interpolate's scale_factor per
 * axis, or 0 when it was called with size=(oh, ow).  Fails only on absurd shapes or when
 * out of memory. */
int ad_bicubic_resize(float *dst, const float *src, int ih, int iw, int oh, int ow, int c,
                      double scale_h, double scale_w, ad_cubic_kind kind);

#endif
