#include "cli.h"

#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/gemm_bf16.h"
#include "adaptor/log.h"
#include "adaptor/trainer.h"
#include "adaptor/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a failing rank waits for its peers to report before it ends the job with
 * MPI_Abort: peers that went through the same agreement (ad_mpi_agree) arrive within
 * milliseconds; one that does not arrive is stuck in a collective or gone. */
#define PEER_WAIT_SECONDS 5.0

static const ad_command commands[] = {
    {"synth", "write a deterministic synthetic chest X-ray corpus and tiny encoders", ad_cmd_synth},
    {"info", "list the tensors of a safetensors file or the variables of a netCDF file", ad_cmd_info},
    {"config", "check a job file and print the effective configuration (or the key reference)", ad_cmd_config},
    {"check", "dry run: check a job's manifest, models, caches; print the plan and time estimates", ad_cmd_check},
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

int ad_cli_run_stage(ad_cli *cli, int argc, char **argv, const char *help, ad_stage which,
                     ad_cli_stage_fn stage)
{
    if (ad_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return AD_OK;
    }
    ad_config *cfg;
    AD_TRY(ad_cli_load_job(cli, argc, argv, NULL, 0, 1, &cfg));
    int rc = ad_cli_start_stage(cli, cfg, which, NULL, NULL);
    if (rc == AD_OK)
        rc = stage(cli->comm, cfg);
    ad_config_destroy(cfg);
    return rc;
}

int ad_cli_start_stage(ad_cli *cli, const ad_config *cfg, ad_stage stage, const char *weights,
                       const char *modality)
{
    AD_TRY(ad_check_stage(cli->comm, cfg, stage, weights, modality));
    if (cli->rank != 0)
        return AD_OK;
    ad_info("adaptor %s (git %s) %s, %d rank%s; %s", ADAPTOR_VERSION, ADAPTOR_GIT_COMMIT,
            ad_stage_name(stage), cli->size, cli->size > 1 ? "s" : "", cli->blis_msg);
    char *text;
    AD_TRY(ad_config_dump(cfg, &text));
    ad_info("%s", text);
    free(text);
    return AD_OK;
}

/* Both GEMM libraries (BLIS fp32, oneDNN bf16) use the same thread count. */
static void set_threads(int n)
{
    ad_blis_set_threads(n);
    ad_bf16_set_threads(n);
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
    double progress;
    if ((rc = ad_config_int(c, "run", "threads", &threads)) != AD_OK ||
        (rc = ad_config_float(c, "run", "progress_seconds", &progress)) != AD_OK)
        goto fail;
    set_threads((int)threads);
    ad_log_set_progress_seconds(progress);
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
               "Loads the job file and the overrides exactly as every job command does, checks them\n"
               "(keys, types, the image encoder's arch, the Adaptor's sizes) and prints the\n"
               "effective configuration (INI, loadable again) on stdout. `adaptor check JOB.ini`\n"
               "is the dry run that also reads the manifest, models and caches.\n"
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
    AD_TRY(ad_cli_load_job(cli, argc, argv, NULL, 0, 0, &cfg));
    char *text = NULL;
    int rc = ad_check_config(cfg);
    if (rc == AD_OK)
        rc = ad_config_dump(cfg, &text);
    if (rc == AD_OK && cli->rank == 0)
        fputs(text, stdout);
    free(text);
    ad_config_destroy(cfg);
    return rc;
}

static const char *default_hint(int rc, const char *cmd)
{
    static char buf[128];
    switch (rc) {
    case AD_ERR_ARG:
        snprintf(buf, sizeof buf, "see `adaptor %s --help`", cmd);
        return buf;
    case AD_ERR_CONFIG:
        return "fix the key named (in the job file or its --set); `adaptor config --reference` "
               "lists every key";
    case AD_ERR_IO: return "check that the path named exists and that this job may use it";
    case AD_ERR_FORMAT: return "check the file named (`adaptor info FILE` shows what it holds)";
    case AD_ERR_NOMEM: return "give each rank more memory: fewer ranks per node or smaller batches";
    case AD_ERR_MPI: return "check the launch (mpirun / srun) and the nodes' network";
    case AD_ERR_NUMERIC: return "lower [train] lr or set [train] grad_clip";
    case AD_ERR_UNSUPPORTED: return "README.md, What works today, lists what is implemented";
    case AD_ERR_PEER: return "the failing rank's message says why";
    default: return "this is a bug: please report it with the command and the job file";
    }
}

static int exit_status(int rc)
{
    return rc == AD_OK ? 0 : rc == AD_STOPPED ? 3 : rc == AD_ERR_ARG ? 2 : 1;
}

/* Ends the job. Every rank shares its status; when all arrive, the lowest rank that failed
 * (a rank that only saw a peer fail counts after every real failure) prints its one line
 * and every rank leaves through MPI_Finalize with the same exit status. A failing rank
 * whose peers do not arrive within PEER_WAIT_SECONDS (stuck in a collective, or dead)
 * prints its line and ends the job with MPI_Abort, whose banner Open MPI then prints. */
static int finish(ad_cli *cli, MPI_Comm side, int rc)
{
    int failed = rc != AD_OK && rc != AD_STOPPED;
    int *all = calloc((size_t)cli->size, sizeof *all);
    MPI_Request req;
    int done = 0;
    if (all && MPI_Iallgather(&rc, 1, MPI_INT, all, 1, MPI_INT, side, &req) == MPI_SUCCESS) {
        double t0 = ad_now();
        const struct timespec nap = {0, 1000000};
        while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done &&
               (!failed || ad_now() - t0 < PEER_WAIT_SECONDS))
            nanosleep(&nap, NULL);
    }
    if (!done && !failed) { /* only without memory for the exchange */
        free(all);
        MPI_Finalize();
        return exit_status(rc);
    }
    if (!done) {
        ad_log_error(cli->size > 1 ? cli->rank : -1, ad_errmsg(),
                     ad_errhint() ? ad_errhint() : default_hint(rc, cli->cmd));
        if (cli->size > 1) {
            ad_warn("peers did not report within %.0f s (stuck in a collective or gone): "
                    "ending the job with MPI_Abort; Open MPI prints its banner below",
                    PEER_WAIT_SECONDS);
            MPI_Abort(cli->comm, exit_status(rc));
        }
        free(all);
        MPI_Finalize();
        return exit_status(rc);
    }
    int who = -1;
    for (int r = 0; r < cli->size && who < 0; r++)
        if (all[r] != AD_OK && all[r] != AD_STOPPED && all[r] != AD_ERR_PEER)
            who = r;
    for (int r = 0; r < cli->size && who < 0; r++)
        if (all[r] == AD_ERR_PEER)
            who = r;
    int status = 0;
    if (who >= 0)
        status = exit_status(all[who]);
    else
        for (int r = 0; r < cli->size; r++)
            status = all[r] == AD_STOPPED ? 3 : status;
    if (who == cli->rank)
        ad_log_error(cli->size > 1 ? cli->rank : -1, ad_errmsg(),
                     ad_errhint() ? ad_errhint() : default_hint(rc, cli->cmd));
    free(all);
    MPI_Comm_free(&side);
    MPI_Finalize();
    return status;
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
        ad_log_error(-1, ad_errmsg(), "unset BLIS_ARCH_TYPE or set it to a kernel family");
        return 1;
    }
    /* A batch job's stdout is a file: tables must reach it line by line, not at exit. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (cmd->run == ad_cmd_status || cmd->run == ad_cmd_config || ad_cli_wants_help(argc, argv)) {
        /* Reads files only: no MPI (cli.comm is MPI_COMM_NULL), so these run on a login node
         * or a laptop, beside a live job or on a copied folder, and start in milliseconds. */
        ad_cli one = {MPI_COMM_NULL, 0, 1, blis_msg, cmd->name};
        ad_log_init(0, 1);
        int rc = cmd->run(&one, argc - 1, argv + 1);
        if (rc != AD_OK)
            ad_log_error(-1, ad_errmsg(), ad_errhint() ? ad_errhint() : default_hint(rc, cmd->name));
        return exit_status(rc);
    }
    /* FUNNELED: embed decodes images in a helper thread that makes no MPI call
     * (src/pipeline/embed_prefetch.c); SINGLE would promise one thread only. */
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    ad_cli cli = {MPI_COMM_WORLD, 0, 1, blis_msg, cmd->name};
    MPI_Comm_rank(cli.comm, &cli.rank);
    MPI_Comm_size(cli.comm, &cli.size);
    ad_log_init(cli.rank, cli.size);

    int threads = 1;
    const char *env = getenv("BLIS_NUM_THREADS");
    if (env && atoi(env) > 0)
        threads = atoi(env);
    set_threads(threads);

    /* The end-of-job exchange runs on its own communicator: it can never match a
     * collective that a stuck peer is still in on cli.comm. */
    MPI_Comm side;
    MPI_Comm_dup(MPI_COMM_WORLD, &side);
    int rc = cmd->run(&cli, argc - 1, argv + 1);
    return finish(&cli, side, rc);
}
