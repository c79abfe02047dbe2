#include "cli.h"

#include "adaptor/check.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"

#include <stdio.h>
#include <stdlib.h>

int ad_cmd_check(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: adaptor check JOB.ini [--set section.key=value]... [--ranks N]\n\n"
               "A dry run: reads the job as every stage does and checks, without training or\n"
               "writing anything, the manifest (columns, with a suggestion for a misspelt one;\n"
               "rows per split after the view filter and MGCA's report rule), both encoders\n"
               "(loaded: weights, sizes, heads dividing the width), the Adaptor's sizes, and\n"
               "which embedding caches and weights exist, naming the stage to run next. Then it\n"
               "prints the plan for N ranks (default: the ranks it runs on): steps per epoch,\n"
               "updates, cache and checkpoint disk sizes, and the time of embed, pretrain and\n"
               "eval estimated from per-core rates measured by the README's benchmarks (the\n"
               "rates are printed). Exit status 0 when the job can run; a failure is one line\n"
               "with a hint. The stages run the same checks (without loading the encoders)\n"
               "before they start.\n");
        return AD_OK;
    }
    const char *ranks_arg = NULL;
    ad_cli_opt opts[] = {{"--ranks", &ranks_arg, NULL}};
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, opts, 1, 1, &cfg));
    int ranks = cli->size, rc = AD_OK;
    if (ranks_arg) {
        char *end;
        long v = strtol(ranks_arg, &end, 10);
        if (*end || v < 1 || v > 1000000)
            rc = ad_fail(AD_ERR_ARG, "check: --ranks '%s' is not a rank count", ranks_arg);
        ranks = (int)v;
    }
    if (rc == AD_OK && cli->rank == 0)
        rc = ad_check_job(cfg, ranks, stdout);
    ad_config_destroy(cfg);
    return ad_mpi_agree(cli->comm, rc, NULL);
}
