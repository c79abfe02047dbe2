/* The marker of a run stopped by a signal after a durable checkpoint (checkpoint.h). */
#include "adaptor/checkpoint.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ad_ckpt_mark_stopped(const char *run_dir, int64_t step)
{
    char path[4200], text[64];
    AD_TRY(ad_path_join(path, sizeof path, run_dir, AD_CKPT_STOPPED_MARKER));
    int n = snprintf(text, sizeof text, "step %lld\n", (long long)step);
    return ad_write_file_atomic(path, text, (size_t)n);
}

int ad_ckpt_clear_stopped(const char *run_dir)
{
    char path[4200];
    AD_TRY(ad_path_join(path, sizeof path, run_dir, AD_CKPT_STOPPED_MARKER));
    if (unlink(path) != 0 && errno != ENOENT)
        return ad_fail(AD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return AD_OK;
}
