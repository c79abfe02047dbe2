/* The adaptor command line: one file per subcommand, wired here. */
#ifndef ADAPTOR_CLI_H
#define ADAPTOR_CLI_H

#include "adaptor/check.h"
#include "adaptor/config.h"

#include <mpi.h>
#include <stddef.h>

typedef struct ad_cli {
    MPI_Comm comm;
    int rank, size;
    const char *blis_msg; /* kernel family chosen at start-up */
    const char *cmd;      /* the subcommand's name, for hints */
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
int ad_cmd_check(ad_cli *cli, int argc, char **argv);
int ad_cmd_tokenize(ad_cli *cli, int argc, char **argv);
int ad_cmd_embed(ad_cli *cli, int argc, char **argv);
int ad_cmd_eval(ad_cli *cli, int argc, char **argv);
int ad_cmd_classify(ad_cli *cli, int argc, char **argv);
int ad_cmd_segment(ad_cli *cli, int argc, char **argv);
int ad_cmd_pretrain(ad_cli *cli, int argc, char **argv);
int ad_cmd_encode_text(ad_cli *cli, int argc, char **argv);
int ad_cmd_encode_image(ad_cli *cli, int argc, char **argv);
int ad_cmd_status(ad_cli *cli, int argc, char **argv);

/* 1 when argv holds -h or --help. */
int ad_cli_wants_help(int argc, char **argv);

/* An option of a job command: value != NULL takes the next argument, else *flag = 1. */
typedef struct ad_cli_opt {
    const char *name;
    const char **value;
    int *flag;
} ad_cli_opt;

/* For subcommands driven by a job file: `adaptor CMD JOB.ini [--set s.k=v]... [options]`.
 * Loads the job file and the overrides, applies [run] threads and progress_seconds, and
 * returns it. Options not in opts are errors. */
int ad_cli_load_job(ad_cli *cli, int argc, char **argv, const ad_cli_opt *opts, int nopts,
                    int require_job, ad_config **cfg);

/* The start of a stage: its checks (ad_check_stage: nothing printed but the failure), then
 * rank 0 prints the version line and the effective configuration. */
int ad_cli_start_stage(ad_cli *cli, const ad_config *cfg, ad_stage stage, const char *weights,
                       const char *modality);

/* A job-file stage without options of its own (`adaptor CMD JOB.ini [--set s.k=v]...`):
 * prints help on -h / --help, else loads the job, starts it and runs stage(comm, cfg). */
typedef int (*ad_cli_stage_fn)(MPI_Comm comm, const ad_config *cfg);
int ad_cli_run_stage(ad_cli *cli, int argc, char **argv, const char *help, ad_stage which,
                     ad_cli_stage_fn stage);

/* Reads stdin line by line (LF or CRLF), calling fn on each; fn sets *dropped when MGCA
 * drops the line's report. Errors get "stdin line N"; dropped lines are reported on stderr
 * and make the whole call fail at the end (after every line was processed). */
typedef int (*ad_line_fn)(void *ctx, char *line, size_t len, int *dropped);
int ad_cli_each_line(const char *cmd, ad_line_fn fn, void *ctx);

#endif
