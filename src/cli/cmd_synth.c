#include "cli.h"

#include "adaptor/error.h"

/* Placeholder until this subcommand lands in this session (helper-owned file). */
int ad_cmd_synth(ad_cli *cli, int argc, char **argv)
{
    return ad_fail(AD_ERR_UNSUPPORTED, "%s: not implemented yet", argv[0]);
}
