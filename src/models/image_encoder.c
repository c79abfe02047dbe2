#include "adaptor/image_encoder.h"

#include "adaptor/dinov2.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/resnet.h"
#include "adaptor/resnet_ae.h"

#include <stdlib.h>
#include <string.h>

struct ad_image_encoder {
    ad_image_arch arch;
    ad_dinov2 *dino;
    ad_resnet *resnet;
};

static int parse_word(const char *name, const char *const *words, int n, const char *what,
                      int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, words[i]) == 0) {
            *out = i;
            return AD_OK;
        }
    char list[128] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, words[i], sizeof list - strlen(list) - 1);
        if (i + 1 < n)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return ad_fail(AD_ERR_ARG, "%s '%s' is not one of %s", what, name, list);
}

int ad_image_output_parse(const char *name, ad_image_output *out)
{
    static const char *const w[] = {"cls", "tokens", "mean"};
    int i = 0;
    AD_TRY(parse_word(name, w, 3, "image output", &i));
    *out = (ad_image_output)i;
    return AD_OK;
}

int ad_pos_interp_parse(const char *name, ad_pos_interp *out)
{
    static const char *const w[] = {"hub", "hf", "aa"};
    int i = 0;
    AD_TRY(parse_word(name, w, 3, "position interpolation", &i));
    *out = (ad_pos_interp)i;
    return AD_OK;
}

const char *ad_pos_interp_name(ad_pos_interp pos)
{
    return pos == AD_POS_AA ? "aa" : pos == AD_POS_HF ? "hf" : "hub";
}

int ad_pos_interp_resolve(const char *name, ad_image_arch arch, const char *model_dir,
                          ad_pos_interp *out, int *guessed)
{
    if (guessed)
        *guessed = 0;
    if (!name || strcmp(name, "auto") != 0)
        return ad_pos_interp_parse(name ? name : "(unset)", out);
    *out = AD_POS_HUB;
    if (arch != AD_ARCH_DINOV2)
        return AD_OK;
    char path[4096];
    int found = model_dir && *model_dir;
    if (found) {
        AD_TRY(ad_path_join(path, sizeof path, model_dir, "config.json"));
        found = ad_path_exists(path);
    }
    if (!found) {
        if (guessed)
            *guessed = 1;
        return AD_OK;
    }
    ad_dinov2_config c;
    AD_TRY(ad_dinov2_config_load(path, &c));
    *out = c.hf_registers ? AD_POS_AA : AD_POS_HUB;
    return AD_OK;
}

int ad_image_arch_parse(const char *name, ad_image_arch *out)
{
    static const char *const w[] = {"dinov2", "resnet", "resnet_ae"};
    int i = 0;
    AD_TRY(parse_word(name, w, 3, "image encoder architecture", &i));
    *out = (ad_image_arch)i;
    return AD_OK;
}

int ad_image_encoder_load(const char *model_dir, ad_image_arch arch, ad_image_encoder **out)
{
    *out = NULL;
    ad_image_encoder *e = ad_calloc(1, sizeof *e, "image encoder");
    if (!e)
        return AD_ERR_NOMEM;
    e->arch = arch;
    int rc;
    if (arch == AD_ARCH_DINOV2)
        rc = ad_dinov2_load(model_dir, &e->dino);
    else if (arch == AD_ARCH_RESNET)
        rc = ad_resnet_load(model_dir, &e->resnet);
    else if (arch == AD_ARCH_RESNET_AE)
        rc = ad_resnet_ae_load(model_dir, &e->resnet);
    else
        rc = ad_fail(AD_ERR_ARG, "image encoder: unknown architecture %d", (int)arch);
    if (rc != AD_OK) {
        free(e);
        return rc;
    }
    *out = e;
    return AD_OK;
}

void ad_image_encoder_destroy(ad_image_encoder *e)
{
    if (!e)
        return;
    ad_dinov2_destroy(e->dino);
    ad_resnet_destroy(e->resnet);
    free(e);
}

ad_image_arch ad_image_encoder_arch(const ad_image_encoder *e) { return e->arch; }

int ad_image_encoder_set_precision(ad_image_encoder *e, ad_precision p)
{
    if (e->dino)
        return ad_dinov2_set_precision(e->dino, p);
    if (p != AD_PREC_FP32)
        return ad_fail(AD_ERR_UNSUPPORTED, "precision = %s is implemented for DINOv2 image "
                       "encoders only (ResNet convolutions run in fp32)", ad_precision_name(p));
    return AD_OK;
}

ad_prep_kind ad_image_arch_prep(ad_image_arch arch)
{
    return arch == AD_ARCH_RESNET_AE ? AD_PREP_XRV : AD_PREP_MGCA;
}

int ad_image_encoder_dim(const ad_image_encoder *e)
{
    return e->dino ? ad_dinov2_get_config(e->dino)->hidden : ad_resnet_dim(e->resnet);
}

int ad_image_encoder_count(const ad_image_encoder *e, ad_image_output what, int h, int w,
                           int *count)
{
    if (e->dino) {
        int p = ad_dinov2_get_config(e->dino)->patch;
        if (h < p || w < p)
            return ad_fail(AD_ERR_ARG, "DINOv2: image %dx%d is smaller than one %dx%d patch", w,
                           h, p, p);
        *count = ad_dinov2_count(e->dino, what, h, w);
        return AD_OK;
    }
    int y, x, c;
    AD_TRY(ad_resnet_stage_shape(e->resnet, 4, h, w, &y, &x, &c));
    *count = what == AD_IMG_TOKENS ? y * x : 1;
    return AD_OK;
}

int ad_image_encoder_forward(ad_image_encoder *e, const float *images, int batch, int h, int w,
                             ad_image_output what, ad_pos_interp pos, float *out)
{
    if (e->dino)
        return ad_dinov2_forward(e->dino, images, batch, h, w, pos, what, out);
    return ad_resnet_forward(e->resnet, images, batch, h, w, what, out);
}

double ad_image_encoder_flops(const ad_image_encoder *e, int batch, int h, int w)
{
    if (e->dino)
        return ad_dinov2_flops(ad_dinov2_get_config(e->dino), batch, h, w);
    return ad_resnet_flops(e->resnet, batch, h, w);
}
