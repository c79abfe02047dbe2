#include "cli.h"

#include "adaptor/segment.h"

static const char help[] =
    "usage: mpirun -np R adaptor segment JOB.ini [--set section.key=value]...\n\n"
    "Trains a segmentation decoder on frozen image encoder features, data-parallel over the\n"
    "ranks. DINOv2: the patch tokens (cached per split in [cache] dir) go through the trained\n"
    "Adaptor's image path in self-attention mode ([segment] features = adaptor) or as they\n"
    "are (features = encoder, the baseline) into the ViT decoder. ResNet ([image_encoder]\n"
    "arch = resnet): the frozen ResNet runs on every batch and a U-Net decoder works over its\n"
    "stages (features = encoder). Masks come from the manifest's [segment] mask_column (binary\n"
    "PNGs, or one bit of bitmask PNGs with [segment] mask_bit) or from the boxes of [segment]\n"
    "boxes. The decoder with the best validation Dice is scored on the test split against\n"
    "the all-background and all-foreground predictions; [segment] dir (default [output]\n"
    "dir/segment) receives eval.nc, decoder.safetensors, train_rows.csv and overlays/.\n"
    "`adaptor config --reference` lists the [segment] keys.\n";

int ad_cmd_segment(ad_cli *cli, int argc, char **argv)
{
    return ad_cli_run_stage(cli, argc, argv, help, AD_STAGE_SEGMENT, ad_segment);
}
