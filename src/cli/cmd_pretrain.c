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
    int resume = 0;
    ad_cli_opt opts[] = {{"--resume", NULL, &resume}};
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, opts, 1, 1, &cfg));
    int rc = ad_cli_start_stage(cli, cfg, AD_STAGE_PRETRAIN, NULL, NULL);
    ad_trainer_catch_signals();
    if (rc == AD_OK)
        rc = ad_pretrain(cli->comm, cfg, resume);
    ad_config_destroy(cfg);
    return rc;
}
