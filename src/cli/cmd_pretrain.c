#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ad_cmd_pretrain(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: mpirun -np R adaptor pretrain JOB.ini [--set section.key=value]... "
               "[--resume]\n\n"
               "Trains the Adaptor on the cached embeddings of the training split (see `adaptor\n"
               "embed`), data-parallel over the ranks with global contrastive negatives.\n"
               "Writes [output] dir: config.ini, metrics.nc, checkpoints/, model.safetensors.\n\n"
               "  --resume   continue from the newest complete checkpoint in [output] dir (any\n"
               "             number of ranks; the global batch must stay the same)\n\n"
               "SIGTERM or SIGUSR1 saves a checkpoint at the next step and exits with status 3.\n");
        return AD_OK;
    }
    char *extra[8];
    int nextra = 0, resume = 0;
    ad_config *cfg;
    int n = 0;
    for (int i = 1; i < argc; i++)
        n += strncmp(argv[i], "-", 1) == 0 && strcmp(argv[i], "--set") != 0;
    if (n > 8)
        return ad_fail(AD_ERR_ARG, "pretrain: too many options");
    AD_TRY(ad_cli_load_job(cli, argc, argv, &cfg, extra, &nextra));
    int rc = AD_OK;
    for (int i = 0; i < nextra && rc == AD_OK; i++) {
        if (strcmp(extra[i], "--resume") == 0)
            resume = 1;
        else
            rc = ad_fail(AD_ERR_ARG, "pretrain: unknown option %s", extra[i]);
    }
    if (rc == AD_OK && !ad_config_source(cfg))
        rc = ad_fail(AD_ERR_ARG, "pretrain: give a job file");
    if (rc == AD_OK) {
        ad_trainer_catch_signals();
        rc = ad_pretrain(cli->comm, cfg, resume);
    }
    ad_config_destroy(cfg);
    return rc;
}
