#include "cli.h"

#include "adaptor/classify.h"
#include "adaptor/error.h"

#include <stdio.h>

int ad_cmd_classify(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: mpirun -np R adaptor classify JOB.ini [--set section.key=value]...\n\n"
               "Downstream classification: frozen image encoder features (cached per split in\n"
               "[cache] dir), through the trained Adaptor ([classify] adaptor) or not (baseline),\n"
               "into a linear / mlp head trained data-parallel with AdamW and cosine warm\n"
               "restarts, or the ridge probe; labels [classify] labels on a stratified\n"
               "[classify] data_pct of the training split. The epoch (or lambda) with the best\n"
               "validation metric is reported: AUROC per label, mean AUROC and accuracy on the\n"
               "valid and test splits, in [output] dir/eval.nc and as a table.\n");
        return AD_OK;
    }
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, NULL, 0, 1, &cfg));
    int rc = ad_classify(cli->comm, cfg);
    ad_config_destroy(cfg);
    return rc;
}
