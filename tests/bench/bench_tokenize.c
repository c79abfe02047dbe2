/* WordPiece and MGCA preprocessing throughput on report texts.
 *
 * usage: bench_tokenize MODEL_DIR TEXTS [REPS]
 * TEXTS holds one report per line, e.g. all IU X-ray reports:
 *   /usr/bin/python3 -c 'import csv,sys; r=csv.reader(open(sys.argv[1])); next(r);
 *     print("\n".join(x[1] for x in r))' iuxray-report-label.csv > /tmp/reports.txt
 * Prints the best of REPS (default 5) passes: reports/s and WordPiece tokens/s, untruncated
 * raw text and MGCA captions at max_length 112. */
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/mgca_text.h"
#include "adaptor/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BIG 100000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenize MODEL_DIR TEXTS [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    ad_tokenizer *tok;
    char *data;
    size_t len;
    if (ad_tokenizer_load(argv[1], &tok) != AD_OK || ad_read_file(argv[2], &data, &len) != AD_OK) {
        fprintf(stderr, "bench_tokenize: %s\n", ad_errmsg());
        return 1;
    }
    int nlines = 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n') {
            data[i] = '\0';
            nlines++;
        }
    char **lines = malloc((size_t)nlines * sizeof *lines), **caps = malloc((size_t)nlines * sizeof *caps);
    int32_t *ids = malloc(BIG * sizeof *ids);
    char *p = data;
    for (int i = 0; i < nlines; i++, p += strlen(p) + 1)
        lines[i] = p;

    double best_raw = 1e30, best_mgca = 1e30, best_pre = 1e30;
    long ntok_raw = 0, ntok_mgca = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < nlines; i++) {
            int nw;
            if (ad_mgca_caption(lines[i], NULL, &caps[i], &nw) != AD_OK)
                return 1;
        }
        double t1 = now();
        long nr = 0, nm = 0;
        for (int i = 0; i < nlines; i++) {
            int n;
            if (ad_tokenizer_encode(tok, lines[i], BIG, ids, &n) != AD_OK)
                return 1;
            nr += n - 2;
        }
        double t2 = now();
        for (int i = 0; i < nlines; i++) {
            int n;
            if (ad_tokenizer_encode(tok, caps[i], 112, ids, &n) != AD_OK)
                return 1;
            nm += n - 2;
        }
        double t3 = now();
        for (int i = 0; i < nlines; i++)
            free(caps[i]);
        ntok_raw = nr;
        ntok_mgca = nm;
        if (t1 - t0 < best_pre)
            best_pre = t1 - t0;
        if (t2 - t1 < best_raw)
            best_raw = t2 - t1;
        if (t3 - t2 < best_mgca)
            best_mgca = t3 - t2;
    }
    printf("%d reports, %s\n", nlines, argv[1]);
    printf("MGCA preprocessing: %.0f reports/s\n", nlines / best_pre);
    printf("WordPiece raw:      %.0f reports/s, %.2f M tokens/s (%ld tokens)\n", nlines / best_raw,
           ntok_raw / best_raw * 1e-6, ntok_raw);
    printf("WordPiece MGCA 112: %.0f reports/s, %.2f M tokens/s (%ld tokens)\n",
           nlines / best_mgca, ntok_mgca / best_mgca * 1e-6, ntok_mgca);
    free(lines);
    free(caps);
    free(ids);
    free(data);
    ad_tokenizer_destroy(tok);
    return 0;
}
