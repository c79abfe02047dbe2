#include "cli.h"

#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/log.h"
#include "adaptor/trainer.h"
#include "adaptor/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const ad_command commands[] = {
    {"synth", "write a deterministic synthetic chest X-ray corpus and tiny encoders", ad_cmd_synth},
    {"info", "list the tensors of a safetensors file or the variables of a netCDF file", ad_cmd_info},
    {"config", "check a job file and print the effective configuration (or the key reference)", ad_cmd_config},
    {"tokenize", "print WordPiece token ids of texts read from stdin", ad_cmd_tokenize},
    {"embed", "run the frozen encoders over the corpus into embedding caches", ad_cmd_embed},
    {"pretrain", "train the Adaptor on cached embeddings (data-parallel)", ad_cmd_pretrain},
    {"eval", "retrieval and zero-shot evaluation before and after the Adaptor", ad_cmd_eval},
    {"classify", "train and evaluate a classification head on frozen (Adaptor) features", ad_cmd_classify},
    {"segment", "train and evaluate a segmentation decoder on frozen encoder tokens", ad_cmd_segment},
    {"encode-text", "print text embeddings of texts read from stdin", ad_cmd_encode_text},
    {"encode-image", "write image embeddings of image files to a netCDF file", ad_cmd_encode_image},
    {"status", "where a run is: state, step, loss, ETA, checkpoints, eval (no MPI needed)",
     ad_cmd_status},
    {NULL, NULL, NULL},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adaptor [--version] [--help] COMMAND [ARGS]\n"
                "       mpirun -np R adaptor COMMAND JOB.ini [--set section.key=value]...\n\n"
                "Commands:\n");
    for (const ad_command *c = commands; c->name; c++)
        fprintf(fp, "  %-12s %s\n", c->name, c->summary);
    fprintf(fp, "\n`adaptor COMMAND --help` describes each command.\n");
}

int ad_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int ad_cli_run_stage(ad_cli *cli, int argc, char **argv, const char *help, ad_cli_stage_fn stage)
{
    if (ad_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return AD_OK;
    }
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, NULL, 0, 1, &cfg));
    int rc = stage(cli->comm, cfg);
    ad_config_destroy(cfg);
    return rc;
}

int ad_cli_load_job(ad_cli *cli, int argc, char **argv, const ad_cli_opt *opts, int nopts,
                    int require_job, ad_config **cfg)
{
    *cfg = NULL;
    const char *job = NULL;
    ad_config *c;
    AD_TRY(ad_config_create(&c));
    int rc = AD_OK;
    /* The job file first, then overrides in command-line order, whatever their position. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            i++;
            continue;
        }
        const ad_cli_opt *o = NULL;
        for (int k = 0; k < nopts; k++)
            if (strcmp(argv[i], opts[k].name) == 0)
                o = &opts[k];
        if (o && o->value) {
            if (i + 1 >= argc) {
                rc = ad_fail(AD_ERR_ARG, "%s: %s needs a value", argv[0], argv[i]);
                goto fail;
            }
            *o->value = argv[++i];
        } else if (o) {
            *o->flag = 1;
        } else if (argv[i][0] == '-') {
            rc = ad_fail(AD_ERR_ARG, "%s: unknown option %s (see --help)", argv[0], argv[i]);
            goto fail;
        } else if (!job) {
            job = argv[i];
        } else {
            rc = ad_fail(AD_ERR_ARG, "%s: unexpected argument %s (one job file only)", argv[0],
                         argv[i]);
            goto fail;
        }
    }
    if (!job && require_job) {
        rc = ad_fail(AD_ERR_ARG, "%s: give a job file (see --help)", argv[0]);
        goto fail;
    }
    if (job && (rc = ad_config_load_file(c, job)) != AD_OK)
        goto fail;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc) {
                rc = ad_fail(AD_ERR_ARG, "--set needs section.key=value");
                goto fail;
            }
            if ((rc = ad_config_set_override(c, argv[++i])) != AD_OK)
                goto fail;
        }
    }
    int64_t threads;
    if ((rc = ad_config_int(c, "run", "threads", &threads)) != AD_OK)
        goto fail;
    ad_blis_set_threads((int)threads);
    if (cli->rank == 0) {
        ad_info("adaptor %s (git %s), %d rank%s; %s", ADAPTOR_VERSION, ADAPTOR_GIT_COMMIT,
                cli->size, cli->size > 1 ? "s" : "", cli->blis_msg);
        char *text;
        if ((rc = ad_config_dump(c, &text)) != AD_OK)
            goto fail;
        ad_info("%s", text);
        free(text);
    }
    *cfg = c;
    return AD_OK;
fail:
    ad_config_destroy(c);
    return rc;
}

int ad_cmd_config(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        printf("usage: adaptor config JOB.ini [--set section.key=value]...\n"
               "       adaptor config --reference\n\n"
               "Loads the job file and the overrides exactly as every job command does, checks them,\n"
               "and prints the effective configuration (INI, loadable again) on stdout.\n"
               "--reference prints every section and key with its type, default and meaning.\n");
        return AD_OK;
    }
    if (argc == 2 && strcmp(argv[1], "--reference") == 0) {
        if (cli->rank == 0)
            ad_config_print_reference(stdout);
        return AD_OK;
    }
    if (argc < 2)
        return ad_fail(AD_ERR_ARG, "config: give a job file (or --reference); see --help");
    ad_config *cfg;
    ad_log_set_quiet(1); /* the dump goes to stdout instead */
    int rc = ad_cli_load_job(cli, argc, argv, NULL, 0, 0, &cfg);
    ad_log_set_quiet(0);
    AD_TRY(rc);
    char *text = NULL;
    rc = ad_config_dump(cfg, &text);
    if (rc == AD_OK && cli->rank == 0)
        fputs(text, stdout);
    free(text);
    ad_config_destroy(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("adaptor %s (git %s)\n", ADAPTOR_VERSION, ADAPTOR_GIT_COMMIT);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const ad_command *cmd = NULL;
    for (const ad_command *c = commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            cmd = c;
    if (!cmd) {
        fprintf(stderr, "adaptor: unknown command '%s' (see adaptor --help)\n", argv[1]);
        return 2;
    }

    /* BLIS reads its kernel choice when it first initialises, so this precedes
     * everything else, MPI included (Open MPI does not call BLAS, but nothing should). */
    char blis_msg[256];
    if (ad_blis_select(blis_msg, sizeof blis_msg) != AD_OK) {
        fprintf(stderr, "adaptor: error: %s\n", ad_errmsg());
        return 1;
    }

    if (cmd->run == ad_cmd_status) {
        /* Reads files only: no MPI (cli.comm is MPI_COMM_NULL), so it runs on a login node
         * or a laptop, beside a live job or on a copied folder. */
        ad_cli one = {MPI_COMM_NULL, 0, 1, blis_msg};
        ad_log_init(0, 1);
        int rc = cmd->run(&one, argc - 1, argv + 1);
        if (rc != AD_OK)
            fprintf(stderr, "adaptor: error: %s\n", ad_errmsg());
        return rc == AD_OK ? 0 : rc == AD_ERR_ARG ? 2 : 1;
    }
    MPI_Init(&argc, &argv);
    ad_cli cli = {MPI_COMM_WORLD, 0, 1, blis_msg};
    MPI_Comm_rank(cli.comm, &cli.rank);
    MPI_Comm_size(cli.comm, &cli.size);
    ad_log_init(cli.rank, cli.size);

    int threads = 1;
    const char *env = getenv("BLIS_NUM_THREADS");
    if (env && atoi(env) > 0)
        threads = atoi(env);
    ad_blis_set_threads(threads);

    int rc = cmd->run(&cli, argc - 1, argv + 1);
    if (rc == AD_STOPPED) {
        /* Stopped on request after a checkpoint: a distinct status for batch scripts. */
        MPI_Finalize();
        return 3;
    }
    if (rc == AD_ERR_PEER && cli.size > 1) {
        /* The rank that failed prints its message and aborts the job; give it the time to,
         * rather than killing it first. */
        sleep(5);
        MPI_Abort(cli.comm, rc);
    }
    if (rc != AD_OK) {
        if (cli.size > 1)
            fprintf(stderr, "adaptor: error (rank %d): %s\n", cli.rank, ad_errmsg());
        else
            fprintf(stderr, "adaptor: error: %s\n", ad_errmsg());
        fflush(stderr);
        /* A failing rank must not leave its peers waiting in a collective. */
        if (cli.size > 1)
            MPI_Abort(cli.comm, rc);
        MPI_Finalize();
        return rc == AD_ERR_ARG ? 2 : 1;
    }
    MPI_Finalize();
    return 0;
}
