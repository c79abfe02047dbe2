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
    char *args[64];
    int n = 0;
    for (int i = 0; i < argc && n < 64; i++) {
        if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) {
            weights = argv[++i];
            continue;
        }
        args[n++] = argv[i];
    }
    char *extra[8];
    int nextra = 0;
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, n, args, &cfg, extra, &nextra));
    int rc = nextra ? ad_fail(AD_ERR_ARG, "eval: unknown option %s", extra[0]) : AD_OK;
    if (rc == AD_OK)
        rc = ad_evaluate(cli->comm, cfg, weights);
    ad_config_destroy(cfg);
    return rc;
}
