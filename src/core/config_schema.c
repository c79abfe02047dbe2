/* The job-file keys: SPEC section 9 plus what the program itself needs. */
#include "adaptor/config.h"

#define S AD_CFG_STRING
#define I AD_CFG_INT
#define F AD_CFG_FLOAT
#define B AD_CFG_BOOL
#define E AD_CFG_ENUM
#define L AD_CFG_LIST
#define P AD_CFG_PATH

const ad_cfg_key ad_config_schema[] = {
    {"data", "manifest", P, NULL, NULL, "MGCA-style manifest CSV (one row per image)"},
    {"data", "image_root", P, NULL, NULL, "folder that image paths in the manifest are relative to (default: the manifest's folder)"},
    {"data", "image_column", S, "Path", NULL, "manifest column holding the image path"},
    {"data", "report_columns", L, "impression,findings", NULL, "columns joined (in this order) into the report text"},
    {"data", "split_column", S, "split", NULL, "column holding train / valid / test"},
    {"data", "view_column", S, "ViewPosition", NULL, "column holding the view (empty: no view filter)"},
    {"data", "views", L, "PA,AP", NULL, "views kept"},
    {"data", "label_columns", L, NULL, NULL, "0/1 finding columns (zero-shot and classification)"},
    {"data", "max_words", I, "112", "1|100000", "max_length of the tokenizer (tokens incl. [CLS]/[SEP])"},
    {"data", "resize", I, "256", "1|100000", "longer image side after the area resize"},
    {"data", "crop_size", I, "224", "1|100000", "square crop fed to the image encoder"},
    {"data", "depth16", E, "highbyte", "highbyte|max", "16-bit images: OpenCV's high byte, or scale by 255/max"},
    {"data", "skip_bad_rows", B, "false", NULL, "skip (and count) rows whose image or report cannot be used, instead of stopping"},

    {"text_encoder", "model", P, NULL, NULL, "HuggingFace text model folder (config.json, vocab.txt, *.safetensors)"},
    {"text_encoder", "pooling", E, "pooler", "pooler|cls|mean|tokens", "text embedding: pooler_output, CLS state, masked mean, or all tokens"},
    {"text_encoder", "batch_size", I, "32", "1|1000000", "reports per encoder batch"},

    {"image_encoder", "model", P, NULL, NULL, "HuggingFace vision model folder (config.json, *.safetensors)"},
    {"image_encoder", "arch", E, "dinov2", "dinov2|resnet|resnet_ae", "image encoder architecture"},
    {"image_encoder", "pos_interp", E, "hub", "hub|hf", "DINOv2 position-embedding interpolation convention"},
    {"image_encoder", "output", E, "cls", "cls|tokens|mean", "image embedding: CLS, all tokens, or mean"},
    {"image_encoder", "batch_size", I, "16", "1|1000000", "images per encoder batch"},

    {"cache", "dir", P, NULL, NULL, "folder of embedding caches (one netCDF file per encoder and split)"},
    {"cache", "part_rows", I, "4096", "1|100000000", "rows per resumable part while embedding (work done survives a kill)"},
    {"cache", "splits", L, "train,valid,test", NULL, "splits `adaptor embed` writes"},

    {"adaptor", "mode", E, "pooled", "pooled|tokens", "pooled embeddings (reference) or token-level cross-attention"},
    {"adaptor", "num_layers", I, "2", "1|64", "shared cross-attention layers"},
    {"adaptor", "projection_dim", I, "768", "1|100000", "projection size P"},
    {"adaptor", "num_heads", I, "12", "1|1024", "attention heads (must divide projection_dim)"},
    {"adaptor", "ffn_dim", I, "2048", "1|1000000", "feed-forward size F"},
    {"adaptor", "dropout", F, "0.1", "0|1", "dropout probability"},
    {"adaptor", "image_weight", F, "0.75", "0|1", "weight w of the text-to-image loss term"},
    {"adaptor", "logit_scale_init", F, "2.6592", NULL, "initial logit_scale (ln(1/0.07))"},
    {"adaptor", "init", P, NULL, NULL, "safetensors file with initial Adaptor weights"},

    {"train", "source", E, "cache", "cache|online", "embeddings from the cache or from the frozen encoders each step"},
    {"train", "augment", E, "none", "none|random_crop", "online source: random crops of the resized image instead of the centre crop"},
    {"train", "batch_size", I, "1024", "1|100000000", "global batch (all ranks together)"},
    {"train", "epochs", I, "50", "1|1000000", "passes over the training split"},
    {"train", "max_steps", I, NULL, "1|1000000000000", "stop after this many updates (optional cap)"},
    {"train", "lr", F, "2e-5", "0|1e3", "peak learning rate"},
    {"train", "weight_decay", F, "0.01", "0|1e3", "AdamW decoupled weight decay"},
    {"train", "warmup_frac", F, "0.02", "0|1", "fraction of updates with linear warm-up"},
    {"train", "schedule", E, "linear", "linear|cosine|reference", "decay after warm-up (reference: the reference's Lightning stepping of linear)"},
    {"train", "schedule_batch", I, NULL, "1|100000000", "batch the schedule length T is counted in (default batch_size; the reference under DDP: its per-rank batch)"},
    {"train", "drop_last", B, "false", NULL, "drop each epoch's incomplete last batch (false: train on it, as the reference)"},
    {"train", "grad_clip", F, "0", "0|1e30", "clip the global gradient norm to this (0: off)"},
    {"train", "seed", I, "42", "0|9223372036854775807", "seed of shuffling, initialisation and dropout"},
    {"train", "negatives", E, "global", "global|local", "contrastive negatives across all ranks or per rank"},
    {"train", "shuffle", E, "once", "once|epoch|none", "shuffle the training order once (reference), every epoch, or never"},
    {"train", "checkpoint_every", I, "0", "0|1000000000000", "steps between checkpoints (0: only at the end)"},
    {"train", "keep_checkpoints", I, "3", "1|1000000", "checkpoints kept"},
    {"train", "log_every", I, "10", "1|1000000000", "steps between progress lines"},

    {"eval", "splits", L, "valid,test", NULL, "splits evaluated"},
    {"eval", "recall_k", L, "1,5,10", NULL, "K of Recall@K"},
    {"eval", "pca_components", I, "2", "0|4096",
     "principal components of the image embeddings written to pca-<split>-*.nc (0: none)"},

    {"segment", "mask_column", S, "mask", NULL, "manifest column holding each image's mask PNG"},
    {"segment", "mask_bit", S, NULL, NULL, "masks are bitmasks: segment this bit (0-7) or finding of [data] label_columns (unset: binary 0/1 or 0/255 masks)"},
    {"segment", "rows", E, "positive", "positive|all", "rows used: those whose mask has foreground, or all"},
    {"segment", "boxes", P, NULL, NULL, "CSV of boxes (RSNA style, several rows per image) drawn as masks instead of mask PNGs"},
    {"segment", "box_columns", L, "x,y,width,height", NULL, "box columns of [segment] boxes: left, top, width, height in pixels"},
    {"segment", "features", E, "adaptor", "adaptor|encoder", "decoder input: the Adaptor's self-attention token path, or the frozen encoder's tokens (baseline)"},
    {"segment", "weights", P, NULL, NULL, "trained Adaptor weights (default: [output] dir/model.safetensors)"},
    {"segment", "decoder_channels", L, "512,256,128,64", NULL, "widths of the ViT decoder's four upsampling blocks"},
    {"segment", "unet_channels", L, "256,128,64,32,16", NULL, "widths of the ResNet U-Net's five upsampling blocks ([image_encoder] arch = resnet)"},
    {"segment", "data_pct", F, "1.0", "0|1", "fraction of the training rows used (drawn with [train] seed)"},
    {"segment", "splits", L, "train,valid,test", NULL, "training, selection and test splits"},
    {"segment", "batch_size", I, "16", "1|1000000", "global batch (all ranks together)"},
    {"segment", "epochs", I, "50", "1|1000000", "passes over the training rows"},
    {"segment", "max_steps", I, NULL, "1|1000000000000", "stop after this many updates (optional cap)"},
    {"segment", "lr", F, "5e-4", "0|1e3", "learning rate (cosine warm restarts, T_0 = 40% of the updates)"},
    {"segment", "weight_decay", F, "1e-6", "0|1e3", "AdamW decoupled weight decay"},
    {"segment", "eval_every", I, "0", "0|1000000000", "updates between validations (0: every epoch)"},
    {"segment", "log_every", I, "10", "1|1000000000", "updates between progress lines"},
    {"segment", "overlays", I, "8", "0|100000", "test images written as PNG overlays (truth | prediction)"},
    {"segment", "dataset", S, NULL, NULL, "dataset name recorded in eval.nc (default: the manifest's folder name)"},
    {"segment", "dir", P, NULL, NULL, "output folder (default: [output] dir/segment)"},

    {"classify", "dataset", S, "dataset", NULL, "dataset name recorded in eval.nc (classify)"},
    {"classify", "labels", L, NULL, NULL, "0/1 label columns (binary: one; multiclass: one-hot; multilabel: several)"},
    {"classify", "task", E, "binary", "binary|multiclass|multilabel", "BCE + AUROC (binary, multilabel) or cross-entropy + accuracy (multiclass)"},
    {"classify", "head", E, "linear", "linear|mlp|probe", "dropout + Linear, Linear-BN-ReLU-Linear, or the ScaLAPACK ridge probe"},
    {"classify", "adaptor", P, NULL, NULL, "trained Adaptor weights (model.safetensors); unset or 'none': frozen encoder features (baseline)"},
    {"classify", "data_pct", F, "1.0", "0|1", "stratified fraction of the training labels (0.01, 0.1, 1.0)"},
    {"classify", "hidden", I, "512", "1|1000000", "hidden width of the mlp head"},
    {"classify", "dropout", F, "0.1", "0|1", "dropout before the linear head"},
    {"classify", "lr", F, "5e-4", "0|1e3", "AdamW learning rate (cosine warm restarts, T_0 = 40% of the updates)"},
    {"classify", "epochs", I, "50", "1|1000000", "passes over the training fraction"},
    {"classify", "batch_size", I, "512", "1|100000000", "global batch (all ranks together)"},
    {"classify", "weight_decay", F, "1e-6", "0|1e3", "AdamW decoupled weight decay"},
    {"classify", "seed", I, "42", "0|9223372036854775807", "seed of the label fraction, initialisation, shuffling and dropout"},
    {"classify", "splits", L, "train,valid,test", NULL, "training, validation (epoch selection) and test splits"},

    {"output", "dir", P, NULL, NULL, "run directory: config.ini, checkpoints/, metrics.nc, eval.nc"},

    {"run", "threads", I, "1", "1|1024", "BLIS threads per rank"},
    {"run", "progress_seconds", F, "30", "0|86400", "seconds between progress lines when stderr is not a terminal (a batch job's log); 0: every log_every steps"},
    {NULL, NULL, 0, NULL, NULL, NULL},
};
