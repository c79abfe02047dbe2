#include "adaptor/reduce.h"

#include "adaptor/error.h"

int ad_reduce_sum(const ad_reduce *red, double *v, int n, const char *what)
{
    if (!red || !red->sum)
        return AD_OK;
    int rc = red->sum(v, n, red->ctx);
    return rc == AD_OK ? AD_OK : ad_fail_ctx(rc, "sum of the %s", what);
}
