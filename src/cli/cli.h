/* The adaptor command line: one file per subcommand, wired here. */
#ifndef ADAPTOR_CLI_H
#define ADAPTOR_CLI_H

#include "adaptor/config.h"

#include <mpi.h>

typedef struct ad_cli {
    MPI_Comm comm;
    int rank, size;
    const char *blis_msg; /* kernel family chosen at start-up */
} ad_cli;

typedef int (*ad_cmd_fn)(ad_cli *cli, int argc, char **argv);

typedef struct ad_command {
    const char *name;
    const char *summary;
    ad_cmd_fn run;
} ad_command;

/* Subcommands (src/cli/cmd_*.c). argv[0] is the subcommand name. */
int ad_cmd_synth(ad_cli *cli, int argc, char **argv);
int ad_cmd_info(ad_cli *cli, int argc, char **argv);
int ad_cmd_config(ad_cli *cli, int argc, char **argv);
int ad_cmd_tokenize(ad_cli *cli, int argc, char **argv);
int ad_cmd_embed(ad_cli *cli, int argc, char **argv);
int ad_cmd_eval(ad_cli *cli, int argc, char **argv);
int ad_cmd_pretrain(ad_cli *cli, int argc, char **argv);
int ad_cmd_encode_text(ad_cli *cli, int argc, char **argv);
int ad_cmd_encode_image(ad_cli *cli, int argc, char **argv);

/* 1 when argv holds -h or --help. */
int ad_cli_wants_help(int argc, char **argv);

/* For subcommands driven by a job file: `adaptor CMD JOB.ini [--set s.k=v]...`.
 * Loads the job file and overrides, prints the effective configuration on rank 0, and
 * returns it. `extra` (may be NULL) receives options it does not know, in order, with
 * *nextra their count (argv storage, not copied). */
int ad_cli_load_job(ad_cli *cli, int argc, char **argv, ad_config **cfg, char **extra,
                    int *nextra);

#endif
