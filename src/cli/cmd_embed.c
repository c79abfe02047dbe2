#include "cli.h"

#include "adaptor/embed.h"
#include "adaptor/error.h"

#include <stdio.h>
#include <string.h>

int ad_cmd_embed(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: mpirun -np R adaptor embed JOB.ini [--set section.key=value]... "
               "[--modality image|text|both]\n\n"
               "Runs the frozen encoders of [image_encoder] and [text_encoder] over the rows of\n"
               "[data] manifest for every split of [cache] splits and writes one netCDF-4 cache\n"
               "per encoder and split into [cache] dir. Rows are shared by the ranks; work is\n"
               "committed in parts of [cache] part_rows rows, so a killed job continues where it\n"
               "stopped when run again; complete caches are kept. One image cache serves every\n"
               "text encoder and vice versa (see README: embedding caches).\n");
        return AD_OK;
    }
    const char *modality = "both";
    ad_cli_opt opts[] = {{"--modality", &modality, NULL}};
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, opts, 1, 1, &cfg));
    int rc = AD_OK;
    if (strcmp(modality, "image") && strcmp(modality, "text") && strcmp(modality, "both"))
        rc = ad_fail(AD_ERR_ARG, "embed: --modality must be image, text or both, not '%s'",
                     modality);
    if (rc == AD_OK)
        rc = ad_cli_start_stage(cli, cfg, AD_STAGE_EMBED, NULL, modality);
    if (rc == AD_OK)
        rc = ad_embed(cli->comm, cfg, modality);
    ad_config_destroy(cfg);
    return rc;
}
