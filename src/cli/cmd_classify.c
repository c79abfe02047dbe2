#include "cli.h"

#include "adaptor/classify.h"

static const char help[] =
    "usage: mpirun -np R adaptor classify JOB.ini [--set section.key=value]...\n\n"
    "Downstream classification: frozen image encoder features (cached per split in\n"
    "[cache] dir), through the trained Adaptor ([classify] adaptor) or not (baseline),\n"
    "into a linear / mlp head trained data-parallel with AdamW and cosine warm\n"
    "restarts, or the ridge probe; labels [classify] labels on a stratified\n"
    "[classify] data_pct of the training split. The epoch (or lambda) with the best\n"
    "validation metric is reported: AUROC per label, mean AUROC and accuracy on the\n"
    "valid and test splits, in [output] dir/eval.nc and as a table.\n";

int ad_cmd_classify(ad_cli *cli, int argc, char **argv)
{
    return ad_cli_run_stage(cli, argc, argv, help, AD_STAGE_CLASSIFY, ad_classify);
}
