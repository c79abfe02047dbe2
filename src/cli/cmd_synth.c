#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/synth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void synth_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: [mpirun -np R] adaptor synth OUTDIR [--n N] [--seed S] [--force]\n\n"
        "Writes a deterministic synthetic chest X-ray corpus into OUTDIR: images/ (PNG 8/16-bit\n"
        "and JPEG phantoms with findings drawn in), masks/ (8-bit PNG, bit k = finding k),\n"
        "manifest.csv (MGCA columns with the reports, train/valid/test splits), synth.json and\n"
        "models/{bert-tiny,dinov2-tiny,resnet-tiny} (random encoders in HuggingFace layout).\n"
        "The output depends only on N and S, not on the number of ranks R.\n\n"
        "  --n N      rows (images), %d..%d (default 1000)\n"
        "  --seed S   random seed, 0..2^53-1 (default 42)\n"
        "  --force    overwrite a corpus already in OUTDIR\n",
        AD_SYNTH_MIN_N, AD_SYNTH_MAX_N);
}

/* A whole decimal integer in [lo, hi]; errors name the option. */
static int parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!s[0] || *end || errno == ERANGE)
        return ad_fail(AD_ERR_ARG, "synth: %s '%s' is not an integer in %" PRId64 "..%" PRId64, opt,
                       s, lo, hi);
    if (v < lo || v > hi)
        return ad_fail(AD_ERR_ARG, "synth: %s %lld outside %" PRId64 "..%" PRId64, opt, v, lo, hi);
    *out = (int64_t)v;
    return AD_OK;
}

int ad_cmd_synth(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        if (cli->rank == 0)
            synth_usage(stdout);
        return AD_OK;
    }
    ad_synth_opts o = {NULL, 1000, 42, 0};
    int64_t seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--n") == 0 || strcmp(a, "--seed") == 0) {
            if (i + 1 >= argc)
                return ad_fail(AD_ERR_ARG, "synth: %s needs a value", a);
            if (a[2] == 'n')
                AD_TRY(parse_int(a, argv[++i], AD_SYNTH_MIN_N, AD_SYNTH_MAX_N, &o.n));
            else
                AD_TRY(parse_int(a, argv[++i], 0, (INT64_C(1) << 53) - 1, &seed));
        } else if (strcmp(a, "--force") == 0) {
            o.force = 1;
        } else if (a[0] == '-') {
            return ad_fail(AD_ERR_ARG, "synth: unknown option %s (see adaptor synth --help)", a);
        } else if (!o.outdir) {
            o.outdir = a;
        } else {
            return ad_fail(AD_ERR_ARG, "synth: unexpected argument %s (one OUTDIR only)", a);
        }
    }
    if (!o.outdir)
        return ad_fail(AD_ERR_ARG, "synth: missing OUTDIR (see adaptor synth --help)");
    o.seed = (uint64_t)seed;
    return ad_synth_corpus(&o, cli->comm);
}
