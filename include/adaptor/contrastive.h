/* The Adaptor's asymmetric contrastive loss (SPEC 5) for one rank's rows of a batch whose
 * negatives may live on other ranks (SPEC 7). No MPI here: the caller gathers and scatters.
 *
 * With s = exp(logit_scale), logits[i, j] = s t_i . v_j over the G pairs of the (global)
 * batch, and w = image_weight:
 *     L = (1 - w) / G sum_j -log softmax_i(logits[:, j])[j]      (each image picks its text)
 *       +       w / G sum_i -log softmax_j(logits[i, :])[i]      (each text picks its image)
 * A rank owns b consecutive pairs starting at global row `offset`; it computes the b text
 * rows and the b image columns of those sums. Summing the returned loss over ranks gives L,
 * and summing the gradients (the gathered parts via reduce-scatter) gives dL. */
#ifndef ADAPTOR_CONTRASTIVE_H
#define ADAPTOR_CONTRASTIVE_H

#include <stddef.h>

typedef struct ad_contrastive {
    int b, G, d;      /* local pairs, columns (global batch), feature size */
    int offset;       /* global index of the first local pair */
    float scale;      /* exp(logit_scale) */
    float image_weight;
    float norm;       /* the G of 1/G: total pairs the loss is averaged over */
    /* workspace filled by the forward pass, rows [b, G]: */
    float *p_t2i, *logits_t2i; /* local texts over all images: softmax, logits */
    float *p_i2t, *logits_i2t; /* local images over all texts */
} ad_contrastive;

/* Workspace floats needed for b local rows against G columns. */
size_t ad_contrastive_workspace(int b, int G);

/* t_loc, v_loc: [b, d] local normalised embeddings; T_all, V_all: [G, d] gathered (local rows
 * included at `offset`). ws: ad_contrastive_workspace floats. Returns the local parts of the
 * two loss terms, already weighted and divided by norm: *l_i2t = (1-w)/norm sum, *l_t2i
 * likewise with w. */
void ad_contrastive_forward(ad_contrastive *c, double *l_i2t, double *l_t2i, const float *t_loc,
                            const float *v_loc, const float *T_all, const float *V_all, float *ws);
/* Gradients: dt_loc, dv_loc [b, d] and dT_all, dV_all [G, d] are overwritten; *dlogit_scale
 * receives this rank's part of dL/dlogit_scale. */
void ad_contrastive_backward(const ad_contrastive *c, float *dt_loc, float *dv_loc, float *dT_all,
                             float *dV_all, double *dlogit_scale, const float *t_loc,
                             const float *v_loc, const float *T_all, const float *V_all);

#endif
