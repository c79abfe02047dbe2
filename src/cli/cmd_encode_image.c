/* `adaptor encode-image`: image embeddings of a list of image files with a frozen DINOv2 or
 * ResNet encoder, written to a netCDF-4 file, for checking a model folder against PyTorch
 * and for ad-hoc experiments. */
#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/provenance.h"
#include "adaptor/fsutil.h"
#include "adaptor/image_encoder.h"
#include "adaptor/preprocess.h"

#include <errno.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BATCH 16

typedef struct {
    const char *model, *out, *arch_name, *output_name, *pos_name, *precision_name;
    ad_image_arch arch;
    ad_precision precision;
    ad_image_output output;
    ad_pos_interp pos;
    int resize, crop, batch;
    char **images;
    int nimages;
} options;

static void usage(void)
{
    printf("usage: adaptor encode-image --model DIR --out FILE.nc\n"
           "                            [--arch dinov2|resnet|resnet_ae]\n"
           "                            [--output cls|tokens|mean] [--pos-interp auto|hub|hf|aa]\n"
           "                            [--resize 256] [--crop 224] [--batch B]\n"
           "                            [--precision fp32|bf16] IMAGE...\n\n"
           "Preprocesses each image the MGCA way (grayscale, resize the longer side, pad, centre\n"
           "crop, [-1, 1]; resnet_ae: torchxrayvision's [-1024, 1024] and an INTER_AREA resize\n"
           "to the crop size instead of the crop), encodes it and writes a netCDF-4 file with\n"
           "`embedding` "
           "[image, dim] (or [image, token, dim] for --output tokens) and `path` [image].\n\n"
           "  --arch A          dinov2 (HF Dinov2Model folder, default), resnet (torchvision\n"
           "                    state_dict names in model.safetensors) or resnet_ae\n"
           "                    (torchxrayvision's ResNet autoencoder, its state_dict names)\n"
           "  --output O        cls: final-layernormed CLS (DINOv2) / global average (ResNet),\n"
           "                    default; tokens: CLS + patch tokens / last feature map pixels;\n"
           "                    mean: mean of the final patch tokens\n"
           "  --pos-interp P    DINOv2 position-embedding interpolation: auto (default: aa for a\n"
           "                    config.json model_type dinov2_with_registers, else hub), hub\n"
           "                    (facebookresearch, the reference), hf (transformers), aa\n"
           "                    (antialiased, transformers' register models)\n"
           "  --batch B         images per forward pass (default %d)\n"
           "  --precision P     fp32 (default) or bf16: DINOv2 linear layers with bf16 inputs and\n"
           "                    fp32 accumulation (oneDNN; CPUs with AVX512_BF16 or AMX)\n",
           DEFAULT_BATCH);
}

static int parse_int(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < lo || n > hi)
        return ad_fail(AD_ERR_ARG, "encode-image: %s '%s' is not an integer in [%d, %d]", opt,
                       v, lo, hi);
    *out = (int)n;
    return AD_OK;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const char *const valued[] = {"--model", "--out", "--arch", "--output",
                                         "--pos-interp", "--resize", "--crop", "--batch",
                                         "--precision"};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(a, valued[k]) == 0;
        if (!known)
            return ad_fail(AD_ERR_ARG, "encode-image: unknown argument '%s' (see --help)", a);
        if (i + 1 >= argc)
            return ad_fail(AD_ERR_ARG, "encode-image: %s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--out") == 0)
            o->out = v;
        else if (strcmp(a, "--arch") == 0)
            o->arch_name = v;
        else if (strcmp(a, "--output") == 0)
            o->output_name = v;
        else if (strcmp(a, "--pos-interp") == 0)
            o->pos_name = v;
        else if (strcmp(a, "--precision") == 0)
            o->precision_name = v;
        else if (strcmp(a, "--resize") == 0)
            AD_TRY(parse_int(a, v, 1, 16384, &o->resize));
        else if (strcmp(a, "--crop") == 0)
            AD_TRY(parse_int(a, v, 1, 16384, &o->crop));
        else
            AD_TRY(parse_int(a, v, 1, 4096, &o->batch));
    }
    o->images = argv + i;
    o->nimages = argc - i;
    if (!o->model || !o->out)
        return ad_fail(AD_ERR_ARG, "encode-image: --model DIR and --out FILE.nc are required "
                       "(see --help)");
    if (o->nimages < 1)
        return ad_fail(AD_ERR_ARG, "encode-image: no IMAGE given");
    if (o->crop > o->resize)
        return ad_fail(AD_ERR_ARG, "encode-image: --crop %d is larger than --resize %d",
                       o->crop, o->resize);
    AD_TRY(ad_image_arch_parse(o->arch_name, &o->arch));
    AD_TRY(ad_image_output_parse(o->output_name, &o->output));
    AD_TRY(ad_precision_parse(o->precision_name, &o->precision));
    AD_TRY(ad_pos_interp_resolve(o->pos_name, o->arch, o->model, &o->pos, NULL));
    o->pos_name = ad_pos_interp_name(o->pos); /* the file records what ran */
    return AD_OK;
}

typedef struct {
    int ncid, v_emb, v_path;
} ncfile;

static int nc_check(int st, const char *path, const char *what)
{
    if (st == NC_NOERR)
        return AD_OK;
    return ad_fail(AD_ERR_IO, "%s: %s: %s", path, what, nc_strerror(st));
}

static int nc_define(ncfile *f, const char *tmp, const options *o, int count, int dim)
{
    int dims[3], nd = 0;
    AD_TRY(nc_check(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &f->ncid), tmp, "create"));
    AD_TRY(nc_check(nc_def_dim(f->ncid, "image", (size_t)o->nimages, &dims[nd++]), tmp,
                    "define dimension image"));
    if (o->output == AD_IMG_TOKENS)
        AD_TRY(nc_check(nc_def_dim(f->ncid, "token", (size_t)count, &dims[nd++]), tmp,
                        "define dimension token"));
    AD_TRY(nc_check(nc_def_dim(f->ncid, "dim", (size_t)dim, &dims[nd++]), tmp,
                    "define dimension dim"));
    AD_TRY(nc_check(nc_def_var(f->ncid, "embedding", NC_FLOAT, nd, dims, &f->v_emb), tmp,
                    "define variable embedding"));
    AD_TRY(nc_check(nc_def_var(f->ncid, "path", NC_STRING, 1, dims, &f->v_path), tmp,
                    "define variable path"));
    const char *att[6][2] = {{"model", o->model}, {"arch", o->arch_name},
                             {"output", o->output_name}, {"pos_interp", o->pos_name},
                             {"preprocess", ad_prep_kind_name(ad_image_arch_prep(o->arch))},
                             {"precision", o->precision_name}};
    for (int i = 0; i < 6; i++)
        AD_TRY(nc_check(nc_put_att_text(f->ncid, NC_GLOBAL, att[i][0], strlen(att[i][1]),
                                        att[i][1]), tmp, "write attribute"));
    int sizes[2] = {o->resize, o->crop};
    AD_TRY(nc_check(nc_put_att_int(f->ncid, NC_GLOBAL, "resize_crop", NC_INT, 2, sizes), tmp,
                    "write attribute"));
    ad_provenance *prov; /* this process alone: a serial tool without a job file */
    AD_TRY(ad_prov_create_local(NULL, &prov));
    int rc = ad_prov_nc_put(f->ncid, tmp, prov);
    ad_prov_destroy(prov);
    AD_TRY(rc);
    return nc_check(nc_enddef(f->ncid), tmp, "end definitions");
}

/* Encodes images [first, first + n) and writes them. */
static int encode_batch(ad_image_encoder *e, const ncfile *f, const char *tmp,
                        const options *o, int first, int n, size_t per, float *pix, float *emb)
{
    size_t plane = 3 * (size_t)o->crop * o->crop;
    for (int i = 0; i < n; i++)
        AD_TRY(ad_preprocess_file_as(ad_image_arch_prep(o->arch), o->images[first + i],
                                     AD_DEPTH16_HIGHBYTE, o->resize, o->crop, NULL,
                                     pix + (size_t)i * plane));
    AD_TRY(ad_image_encoder_forward(e, pix, n, o->crop, o->crop, o->output, o->pos, emb));
    size_t dim = (size_t)ad_image_encoder_dim(e);
    size_t start[3] = {(size_t)first, 0, 0}, cnt[3] = {(size_t)n, per / dim, dim};
    if (o->output != AD_IMG_TOKENS)
        cnt[1] = dim;
    AD_TRY(nc_check(nc_put_vara_float(f->ncid, f->v_emb, start, cnt, emb), tmp,
                    "write embedding"));
    size_t one = 1;
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)(first + i);
        const char *p = o->images[first + i];
        AD_TRY(nc_check(nc_put_vara_string(f->ncid, f->v_path, &at, &one, &p), tmp,
                        "write path"));
    }
    return AD_OK;
}

static int run(const options *o)
{
    ad_image_encoder *e = NULL;
    float *pix = NULL, *emb = NULL;
    ncfile f = {-1, -1, -1};
    char tmp[4096];
    int rc = AD_OK, count, created = 0;
    AD_CHECK(ad_image_encoder_load(o->model, o->arch, &e));
    AD_CHECK(ad_image_encoder_set_precision(e, o->precision));
    AD_CHECK(ad_image_encoder_count(e, o->output, o->crop, o->crop, &count));
    int dim = ad_image_encoder_dim(e);
    size_t per = (size_t)count * dim;
    pix = ad_malloc(sizeof(float) * 3 * (size_t)o->crop * o->crop * o->batch, "images");
    emb = ad_malloc(sizeof(float) * per * o->batch, "embeddings");
    if (!pix || !emb) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->out, (long)getpid());
    created = 1;
    AD_CHECK(nc_define(&f, tmp, o, count, dim));
    for (int i = 0; i < o->nimages; i += o->batch) {
        int n = o->nimages - i < o->batch ? o->nimages - i : o->batch;
        AD_CHECK(encode_batch(e, &f, tmp, o, i, n, per, pix, emb));
    }
    rc = nc_check(nc_close(f.ncid), tmp, "close");
    f.ncid = -1;
    if (rc == AD_OK)
        rc = ad_fsync_rename(tmp, o->out);
done:
    if (f.ncid >= 0)
        nc_close(f.ncid);
    if (rc != AD_OK && created) /* the target is left as it was */
        remove(tmp);
    free(pix);
    free(emb);
    ad_image_encoder_destroy(e);
    return rc;
}

int ad_cmd_encode_image(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        usage();
        return AD_OK;
    }
    options o = {NULL, NULL, "dinov2", "cls", "auto", "fp32", AD_ARCH_DINOV2, AD_PREC_FP32,
                 AD_IMG_CLS, AD_POS_HUB, 256, 224, DEFAULT_BATCH, NULL, 0};
    AD_TRY(parse_args(argc, argv, &o));
    if (cli->rank != 0) /* one process does the work; the others have nothing to add */
        return AD_OK;
    return run(&o);
}
