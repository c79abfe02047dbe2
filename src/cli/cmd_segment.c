#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/segment.h"

#include <stdio.h>

int ad_cmd_segment(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: mpirun -np R adaptor segment JOB.ini [--set section.key=value]...\n\n"
               "Trains a segmentation decoder on frozen DINOv2 patch tokens, through the trained\n"
               "Adaptor's image path in self-attention mode ([segment] features = adaptor) or on\n"
               "the tokens as they are (features = encoder, the baseline), data-parallel over the\n"
               "ranks. Masks come from the manifest's [segment] mask_column (binary PNGs, or one\n"
               "bit of bitmask PNGs with [segment] mask_bit) or from the boxes of [segment] boxes.\n"
               "The frozen encoder's tokens are cached per split in [cache] dir. The decoder with\n"
               "the best validation Dice is scored on the test split against the all-background\n"
               "and all-foreground predictions; [segment] dir (default [output] dir/segment)\n"
               "receives eval.nc, decoder.safetensors, train_rows.csv and overlays/.\n"
               "`adaptor config --reference` lists the [segment] keys.\n");
        return AD_OK;
    }
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, NULL, 0, 1, &cfg));
    int rc = ad_segment(cli->comm, cfg);
    ad_config_destroy(cfg);
    return rc;
}
