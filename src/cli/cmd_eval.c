#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/evaluate.h"

#include <stdio.h>
#include <string.h>

int ad_cmd_eval(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: mpirun -np R adaptor eval JOB.ini [--set section.key=value]... "
               "[--weights FILE.safetensors]\n\n"
               "Image-to-text and text-to-image retrieval (Recall@K of [eval] recall_k, median and\n"
               "mean rank) over each split of [eval] splits, for the encoders through the trained\n"
               "projections, the trained Adaptor, and the untrained Adaptor; with [data]\n"
               "label_columns also zero-shot AUROC per finding from the prompts \"<finding>\" and\n"
               "\"no <finding>\". Writes [output] dir/eval.nc and prints a table.\n\n"
               "  --weights FILE   Adaptor weights (default: [output] dir/model.safetensors; a\n"
               "                   checkpoint's model.safetensors works too)\n");
        return AD_OK;
    }
    const char *weights = NULL;
    ad_cli_opt opts[] = {{"--weights", &weights, NULL}};
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, opts, 1, 1, &cfg));
    int rc = ad_cli_start_stage(cli, cfg, AD_STAGE_EVAL, weights, NULL);
    if (rc == AD_OK)
        rc = ad_evaluate(cli->comm, cfg, weights);
    ad_config_destroy(cfg);
    return rc;
}
