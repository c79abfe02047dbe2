/* Manifest CSV rows (libcsv, header mapping, labels, splits, views, duplicate images) on
 * a file. The columns asked for are the synthetic corpus's MGCA ones when the input
 * mentions "Path", else the IU X-ray report table's (tests/data/reports); the input's
 * length picks the label policy. */
#define _GNU_SOURCE /* memmem */
#include "adaptor/error.h"
#include "adaptor/manifest.h"
#include "fuzzutil.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const mgca_reports[] = {"impression", "findings"};
static const char *const mgca_labels[] = {"Cardiomegaly", "Pleural Effusion", "Pneumothorax"};
static const char *const views[] = {"PA", "AP"};
static const char *const iu_reports[] = {"Reports"};
static const char *const iu_labels[] = {"No Finding", "Cardiomegaly", "Edema", "Support Devices"};
static const ad_manifest_spec mgca = {
    .image_column = "Path", .report_columns = mgca_reports, .n_report_columns = 2,
    .split_column = "split", .view_column = "ViewPosition", .views = views, .n_views = 2,
    .label_columns = mgca_labels, .n_label_columns = 3, .mask_column = "mask"};
static const ad_manifest_spec iu = {
    .image_root = "/images", .image_column = "uid", .report_columns = iu_reports,
    .n_report_columns = 1, .label_columns = iu_labels, .n_label_columns = 4};

static void check(const ad_manifest *m, const ad_manifest_spec *spec)
{
    int64_t n = ad_manifest_rows(m);
    fz_assert(n >= 0 && ad_manifest_row_at(m, n) == NULL && ad_manifest_row_at(m, -1) == NULL,
              "row_at is NULL out of range");
    fz_assert(ad_manifest_n_reports(m) == spec->n_report_columns &&
                  ad_manifest_n_labels(m) == spec->n_label_columns,
              "column counts as asked");
    int64_t prev_line = 0;
    for (int64_t i = 0; i < n; i++) {
        const ad_manifest_row *r = ad_manifest_row_at(m, i);
        fz_assert(r && r->id == i, "row ids are 0, 1, ...");
        fz_assert(r->line > prev_line, "rows start on increasing lines");
        prev_line = r->line;
        fz_assert(r->image && r->split && r->view, "image, split and view strings");
        for (int k = 0; k < spec->n_report_columns; k++)
            fz_assert(r->reports[k] != NULL, "report fields");
        for (int k = 0; k < spec->n_label_columns; k++)
            fz_assert(r->labels[k] == 0 || r->labels[k] == 1 ||
                          (r->labels[k] == AD_LABEL_UNKNOWN &&
                           spec->label_policy == AD_LABEL_UNCERTAIN),
                      "labels are 0/1, unknown only under the uncertain policy");
        /* An empty mask field means "no mask" for that row. */
        fz_assert(spec->mask_column || !r->mask, "no mask without a mask column");
    }
    const char *splits[] = {"train", "valid", "test", NULL};
    for (int s = 0; s < 4; s++) {
        int64_t *idx = NULL, cnt = 0;
        if (ad_manifest_select(m, splits[s], NULL, 0, 0, &idx, &cnt) != AD_OK)
            continue;
        for (int64_t j = 0; j < cnt; j++) {
            fz_assert(idx[j] >= 0 && idx[j] < n && (j == 0 || idx[j] > idx[j - 1]),
                      "selected ids ascending and in range");
            const ad_manifest_row *r = ad_manifest_row_at(m, idx[j]);
            fz_assert(!splits[s] || strcmp(r->split, splits[s]) == 0, "selected rows' split");
        }
        free(idx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write("manifest.csv", data, size, path, sizeof path);
    ad_manifest_spec spec = memmem(data, size, "Path", 4) ? mgca : iu;
    spec.label_policy = (ad_label_policy)(size % 3);
    ad_manifest *m = NULL;
    if (ad_manifest_open(path, &spec, &m) != AD_OK) {
        fz_assert(m == NULL, "a failure leaves no object");
        fz_rejected();
        return 0;
    }
    check(m, &spec);
    ad_manifest_close(m);
    return 0;
}
