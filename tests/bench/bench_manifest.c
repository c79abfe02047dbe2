/* Reading a MIMIC-sized manifest: writes N rows (default 400000) of MGCA layout with quoted
 * multi-line reports (~600 bytes each) and 14 label columns to a temporary file, then times
 * ad_manifest_open and one split selection. Usage: bench_manifest [N [dir]]. */
#include "adaptor/error.h"
#include "adaptor/log.h"
#include "adaptor/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const labels[] = {"Atelectasis",
                                     "Cardiomegaly",
                                     "Consolidation",
                                     "Edema",
                                     "Enlarged Cardiomediastinum",
                                     "Fracture",
                                     "Lung Lesion",
                                     "Lung Opacity",
                                     "No Finding",
                                     "Pleural Effusion",
                                     "Pleural Other",
                                     "Pneumonia",
                                     "Pneumothorax",
                                     "Support Devices"};
enum { NLAB = 14 };

static int write_manifest(const char *path, long n)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return ad_fail(AD_ERR_IO, "%s: cannot create", path);
    fprintf(fp, "dicom_id,subject_id,study_id,ViewPosition,Path,split,findings,impression");
    for (int k = 0; k < NLAB; k++)
        fprintf(fp, ",%s", labels[k]);
    fputc('\n', fp);
    static const char *const views[] = {"PA", "AP", "LATERAL"};
    static const char *const splits[] = {"train", "train", "train", "valid", "test"};
    for (long i = 0; i < n; i++) {
        fprintf(fp,
                "d%08ld,%ld,%ld,%s,files/p%02ld/p%ld/s%ld/d%08ld.jpg,%s,"
                "\"FINDINGS: PA and lateral views of the chest, compared to prior study %ld.\n"
                "The lungs are clear without focal consolidation, effusion, or \"\"edema\"\".\n"
                "Heart size is normal. Mediastinal contours are unremarkable, no pneumothorax.\n"
                "Degenerative changes of the thoracic spine are seen, unchanged.\","
                "\"1. No acute cardiopulmonary process.\n2. Stable appearance since %ld.\"",
                i, 10000000 + i / 3, 50000000 + i / 2, views[i % 3], (i / 1000) % 20,
                10000000 + i / 3, 50000000 + i / 2, i, splits[i % 5], i, i);
        for (int k = 0; k < NLAB; k++) {
            long v = (i * 7 + k * 13) % 5;
            fputs(v == 0 ? ",1.0" : v == 1 ? ",-1.0" : v == 2 ? "," : ",0.0", fp);
        }
        fputc('\n', fp);
    }
    if (fclose(fp) != 0)
        return ad_fail(AD_ERR_IO, "%s: write failed", path);
    return AD_OK;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 400000;
    const char *dir = argc > 2                     ? argv[2]
                      : getenv("ADAPTOR_TEST_TMP") ? getenv("ADAPTOR_TEST_TMP")
                                                   : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_manifest_%ld.csv", dir, (long)getpid());
    double t0 = ad_now();
    if (write_manifest(path, n) != AD_OK) {
        fprintf(stderr, "%s\n", ad_errmsg());
        return 1;
    }
    double tw = ad_now() - t0;
    static const char *const reports[] = {"impression", "findings"};
    static const char *const views[] = {"PA", "AP"};
    ad_manifest_spec spec = {.image_column = "Path",
                             .report_columns = reports,
                             .n_report_columns = 2,
                             .split_column = "split",
                             .view_column = "ViewPosition",
                             .views = views,
                             .n_views = 2,
                             .label_columns = labels,
                             .n_label_columns = NLAB,
                             .label_policy = AD_LABEL_UNCERTAIN};
    ad_manifest *m;
    t0 = ad_now();
    int rc = ad_manifest_open(path, &spec, &m);
    double tr = ad_now() - t0;
    if (rc != AD_OK) {
        fprintf(stderr, "%s\n", ad_errmsg());
        unlink(path);
        return 1;
    }
    int64_t *idx, cnt;
    t0 = ad_now();
    rc = ad_manifest_select(m, "train", NULL, 0, AD_MANIFEST_REQUIRE_ROWS, &idx, &cnt);
    double ts = ad_now() - t0;
    FILE *fp = fopen(path, "rb");
    long bytes = 0;
    if (fp && fseek(fp, 0, SEEK_END) == 0)
        bytes = ftell(fp);
    if (fp)
        fclose(fp);
    printf("manifest: %ld rows, %.1f MB (written in %.2f s)\n", n, bytes / 1e6, tw);
    printf("  ad_manifest_open: %.2f s = %.0f rows/s (%.0f MB/s); select train PA/AP: %lld rows in "
           "%.3f s\n",
           tr, n / tr, bytes / 1e6 / tr, (long long)cnt, ts);
    free(idx);
    ad_manifest_close(m);
    unlink(path);
    return rc == AD_OK ? 0 : 1;
}
