/* Forward-only image paths of a trained Adaptor, for downstream tasks (SPEC 6, 8).
 *
 *   pooled     x [b, Dv] -> normalize(image side of SPEC 5) [b, P]. In pooled mode the image
 *              update does not depend on the text, so no text context is needed.
 *   tokens     x [b, Tv, Dv] image tokens with a FIXED text context (the frozen text
 *              encoder's tokens of a prompt, default the empty report, [Tt, Dt] + mask):
 *              exactly the pair forward of SPEC 6 with that report beside every image (so
 *              the text side evolves layer by layer as in pre-training) -> the normalised
 *              first image token [b, P].
 *   self-attention  x [b, T, Dv] (e.g. DINOv2 CLS + patch tokens) -> per-token
 *              normalize(x Wv^T), then every layer's attention block with the sequence as its
 *              own context (no mask) -> all tokens [b, T, P]. No final L2 normalisation: the
 *              last LayerNorm already fixes each token's scale, and a dense decoder wants the
 *              per-token features, not unit vectors for a cosine.
 *
 * All three run without dropout and leave the model's parameters untouched; pooled and
 * tokens use the model's own activation buffers (not thread-safe on one model), the
 * self-attention path allocates its workspace per call (m is only read). */
#ifndef ADAPTOR_ADAPTOR_IMAGE_H
#define ADAPTOR_ADAPTOR_IMAGE_H

#include "adaptor/adaptor.h"

#include <stdint.h>

int ad_adaptor_image_pooled(ad_adaptor *m, const float *x, int b, float *out);

/* ctx [tt, Dt], ctx_mask [tt] (1 = real token; NULL: all real). Needs a token-mode model. */
int ad_adaptor_image_tokens(ad_adaptor *m, const float *x, int b, int tv, const float *ctx,
                            const uint8_t *ctx_mask, int tt, float *out);

/* Works for pooled- and token-mode models (the layer weights are the same shapes). */
int ad_adaptor_image_selfattn(const ad_adaptor *m, const float *x, int b, int T, float *out);

#endif
