/* Output files on a full file system (run by disk_full.py on a small tmpfs): a checkpoint
 * (safetensors) and metrics.nc each fail with one message naming the file and the system's
 * reason, and leave nothing behind, neither the file nor its temporary.
 *
 * usage: full_writer DIR   (DIR: an empty folder with less than 64 KiB free) */
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/metrics.h"
#include "adaptor/provenance.h"
#include "adaptor/safetensors.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void check(int cond, const char *what)
{
    if (!cond) {
        failed++;
        printf("FAILED: %s\n", what);
    }
}

/* The failure names the file and says the disk is full; DIR holds no file afterwards. */
static void expect_nospace(int rc, const char *dir, const char *name)
{
    char what[512];
    printf("%s: %s\n", name, ad_errmsg());
    snprintf(what, sizeof what, "%s: failed (message: %s)", name, ad_errmsg());
    check(rc != AD_OK, what);
    snprintf(what, sizeof what, "%s: message names the file and ENOSPC: %s", name, ad_errmsg());
    check(strstr(ad_errmsg(), name) && strstr(ad_errmsg(), "No space left on device"), what);
    DIR *d = opendir(dir);
    struct dirent *e;
    int left = 0;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            printf("left behind: %s\n", e->d_name);
            left++;
        }
    if (d)
        closedir(d);
    snprintf(what, sizeof what, "%s: nothing left in %s", name, dir);
    check(left == 0, what);
    ad_clear_error();
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: full_writer DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char path[4096];

    /* A small checkpoint fits: the folder is writable, so the big one fails for space. */
    ad_st_writer *w;
    int64_t small = 16, big = 1 << 18;
    float *x = calloc((size_t)big, sizeof *x);
    check(x && ad_st_writer_create(&w) == AD_OK, "writer");
    check(ad_st_writer_add(w, "w", AD_DT_F32, 1, &small, x) == AD_OK, "add small");
    ad_path_join(path, sizeof path, dir, "small.safetensors");
    check(ad_st_writer_write(w, path) == AD_OK, "a small checkpoint fits");
    remove(path);
    ad_st_writer_destroy(w);

    check(ad_st_writer_create(&w) == AD_OK, "writer");
    check(ad_st_writer_add(w, "w", AD_DT_F32, 1, &big, x) == AD_OK, "add big");
    ad_path_join(path, sizeof path, dir, "model.safetensors");
    expect_nospace(ad_st_writer_write(w, path), dir, "model.safetensors");
    ad_st_writer_destroy(w);
    free(x);

    /* metrics.nc: a long run's step records fill the disk. */
    ad_metrics *m;
    ad_path_join(path, sizeof path, dir, "metrics.nc");
    ad_provenance *prov;
    check(ad_prov_create_local("[train]\nepochs = 1\n", &prov) == AD_OK, "provenance");
    check(ad_metrics_create(path, prov, 2, 0, &m) == AD_OK, "metrics create");
    double times[6] = {1, 2, 3, 4, 5, 6};
    for (int s = 1; s <= 4000; s++) {
        ad_metrics_step rec = {.step = s, .loss = 1.0 / s, .lr = 1e-3, .rank_times = times};
        check(ad_metrics_append(m, &rec) == AD_OK, "metrics append");
    }
    expect_nospace(ad_metrics_flush(m), dir, "metrics.nc");
    ad_metrics_destroy(m);
    ad_prov_destroy(prov);

    printf("%s\n", failed ? "FAILED" : "all passed");
    return failed ? 1 : 0;
}
