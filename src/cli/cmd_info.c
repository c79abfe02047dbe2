/* `adaptor info FILE...`: what a safetensors file / model folder or a netCDF file holds. */
#include "cli.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netcdf.h>

#define TEXT_MAX 100 /* attribute and metadata text is cut to one line of this many bytes */

static void usage(void)
{
    printf("usage: adaptor info FILE...\n\n"
           "Lists what each FILE holds:\n"
           "  safetensors file or model folder (model.safetensors or\n"
           "  model.safetensors.index.json with its shards): metadata, one line per tensor\n"
           "  `name dtype [d0, d1, ...]`, and the total parameter count;\n"
           "  netCDF file (classic, 64-bit offset, CDF-5 or netCDF-4): dimensions, variables\n"
           "  with their types and dimension sizes, and global attributes.\n");
}

/* Prints s up to its first line break, cut to TEXT_MAX bytes. */
static void print_one_line(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && s[n] && s[n] != '\n' && s[n] != '\r')
        n++;
    int cut = n < len && s[n] && !(n + 1 == len && s[n] == '\n');
    if (n > TEXT_MAX) {
        n = TEXT_MAX;
        cut = 1;
    }
    printf("%.*s%s", (int)n, s, cut ? " ..." : "");
}

static int info_safetensors(const char *path)
{
    ad_safetensors *st;
    AD_TRY(ad_st_open(path, &st));
    size_t n = ad_st_count(st);
    printf("== %s (safetensors, %zu tensors)\n", path, n);
    for (size_t i = 0; i < ad_st_metadata_count(st); i++) {
        const char *k = ad_st_metadata_key(st, i), *v = ad_st_metadata(st, k);
        printf("metadata %s: ", k);
        print_one_line(v, strlen(v));
        printf("\n");
    }
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const ad_st_tensor *t = ad_st_at(st, i);
        char shape[256];
        ad_st_format_shape(shape, sizeof shape, t->ndim, t->shape);
        printf("%s %s %s\n", t->name, ad_dtype_name(t->dtype), shape);
        total += t->numel;
    }
    printf("total parameters: %" PRId64 "\n", total);
    ad_st_close(st);
    return AD_OK;
}

static int nc_check(int status, const char *path, const char *what)
{
    if (status == NC_NOERR)
        return AD_OK;
    return ad_fail(AD_ERR_FORMAT, "%s: netCDF: %s: %s", path, what, nc_strerror(status));
}

static const char *nc_format_name(int fmt)
{
    switch (fmt) {
    case NC_FORMAT_CLASSIC: return "netCDF classic";
    case NC_FORMAT_64BIT_OFFSET: return "netCDF 64-bit offset";
    case NC_FORMAT_64BIT_DATA: return "netCDF CDF-5";
    case NC_FORMAT_NETCDF4: return "netCDF-4";
    case NC_FORMAT_NETCDF4_CLASSIC: return "netCDF-4 classic model";
    default: return "netCDF";
    }
}

static int print_attribute(int ncid, const char *path, const char *name)
{
    nc_type type;
    size_t len;
    AD_TRY(nc_check(nc_inq_att(ncid, NC_GLOBAL, name, &type, &len), path, name));
    printf("attribute %s = ", name);
    int rc = AD_OK;
    if (type == NC_CHAR) {
        char *buf = ad_malloc(len + 1, "netCDF attribute");
        if (!buf)
            return AD_ERR_NOMEM;
        rc = nc_check(nc_get_att_text(ncid, NC_GLOBAL, name, buf), path, name);
        buf[len] = '\0';
        if (rc == AD_OK) {
            printf("\"");
            print_one_line(buf, len);
            printf("\"\n");
        }
        free(buf);
        return rc;
    }
    if (type == NC_STRING) {
        char **s = ad_calloc(len, sizeof *s, "netCDF attribute");
        if (!s)
            return AD_ERR_NOMEM;
        rc = nc_check(nc_get_att_string(ncid, NC_GLOBAL, name, s), path, name);
        if (rc == AD_OK) {
            for (size_t i = 0; i < len && i < 4; i++) {
                printf("%s\"", i ? ", " : "");
                print_one_line(s[i] ? s[i] : "", s[i] ? strlen(s[i]) : 0);
                printf("\"");
            }
            printf("%s\n", len > 4 ? ", ..." : "");
            nc_free_string(len, s);
        }
        free(s);
        return rc;
    }
    if (type > NC_STRING || type == NC_NAT) { /* user-defined types: say what, not the bytes */
        char tname[NC_MAX_NAME + 1] = "?";
        nc_inq_type(ncid, type, tname, NULL);
        printf("(%zu values of type %s)\n", len, tname);
        return AD_OK;
    }
    int is_float = type == NC_FLOAT || type == NC_DOUBLE;
    double *d = is_float ? ad_calloc(len, sizeof *d, "netCDF attribute") : NULL;
    long long *ll = is_float ? NULL : ad_calloc(len, sizeof *ll, "netCDF attribute");
    if (!d && !ll)
        return AD_ERR_NOMEM;
    rc = is_float ? nc_get_att_double(ncid, NC_GLOBAL, name, d)
                  : nc_get_att_longlong(ncid, NC_GLOBAL, name, ll);
    if (rc == NC_ERANGE) /* a uint64 above LLONG_MAX: print what fits rather than fail */
        rc = NC_NOERR;
    rc = nc_check(rc, path, name);
    for (size_t i = 0; rc == AD_OK && i < len && i < 8; i++) {
        if (is_float)
            printf("%s%.9g", i ? ", " : "", d[i]);
        else
            printf("%s%lld", i ? ", " : "", ll[i]);
    }
    if (rc == AD_OK)
        printf("%s\n", len > 8 ? ", ..." : "");
    free(d);
    free(ll);
    return rc;
}

static int info_netcdf_open(int ncid, const char *path)
{
    int fmt, ndims, nvars, natts, nunlim;
    AD_TRY(nc_check(nc_inq_format(ncid, &fmt), path, "format"));
    AD_TRY(nc_check(nc_inq(ncid, &ndims, &nvars, &natts, NULL), path, "inquire"));
    AD_TRY(nc_check(nc_inq_unlimdims(ncid, &nunlim, NULL), path, "unlimited dimensions"));
    int *unlim = ad_calloc((size_t)nunlim + 1, sizeof *unlim, "netCDF dimension ids");
    int *dimids = ad_calloc((size_t)ndims + 1, sizeof *dimids, "netCDF dimension ids");
    int rc = AD_OK;
    if (!unlim || !dimids) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    AD_CHECK(nc_check(nc_inq_unlimdims(ncid, &nunlim, unlim), path, "unlimited dimensions"));
    AD_CHECK(nc_check(nc_inq_dimids(ncid, &ndims, dimids, 0), path, "dimensions"));
    printf("== %s (%s, %d dimensions, %d variables, %d global attributes)\n", path,
           nc_format_name(fmt), ndims, nvars, natts);
    for (int i = 0; i < ndims; i++) {
        char name[NC_MAX_NAME + 1];
        size_t len;
        AD_CHECK(nc_check(nc_inq_dim(ncid, dimids[i], name, &len), path, "dimension"));
        int is_unlim = 0;
        for (int k = 0; k < nunlim; k++)
            is_unlim |= unlim[k] == dimids[i];
        if (is_unlim)
            printf("dimension %s = %zu (unlimited)\n", name, len);
        else
            printf("dimension %s = %zu\n", name, len);
    }
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1], tname[NC_MAX_NAME + 1];
        nc_type type;
        int nd, vd[NC_MAX_VAR_DIMS];
        AD_CHECK(nc_check(nc_inq_var(ncid, v, name, &type, &nd, vd, NULL), path, "variable"));
        AD_CHECK(nc_check(nc_inq_type(ncid, type, tname, NULL), path, name));
        printf("variable %s %s [", name, tname);
        for (int k = 0; k < nd; k++) {
            char dname[NC_MAX_NAME + 1];
            size_t len;
            AD_CHECK(nc_check(nc_inq_dim(ncid, vd[k], dname, &len), path, name));
            printf("%s%s=%zu", k ? ", " : "", dname, len);
        }
        printf("]\n");
    }
    for (int a = 0; a < natts; a++) {
        char name[NC_MAX_NAME + 1];
        AD_CHECK(nc_check(nc_inq_attname(ncid, NC_GLOBAL, a, name), path, "attribute"));
        AD_CHECK(print_attribute(ncid, path, name));
    }
    int ngrps = 0;
    if (fmt == NC_FORMAT_NETCDF4 && nc_inq_grps(ncid, &ngrps, NULL) == NC_NOERR && ngrps > 0) {
        int *grps = ad_calloc((size_t)ngrps, sizeof *grps, "netCDF groups");
        if (!grps) {
            rc = AD_ERR_NOMEM;
            goto done;
        }
        if (nc_inq_grps(ncid, &ngrps, grps) == NC_NOERR)
            for (int g = 0; g < ngrps; g++) {
                char name[NC_MAX_NAME + 1];
                if (nc_inq_grpname(grps[g], name) == NC_NOERR)
                    printf("group %s (not listed)\n", name);
            }
        free(grps);
    }
done:
    free(unlim);
    free(dimids);
    return rc;
}

static int info_netcdf(const char *path)
{
    int ncid;
    AD_TRY(nc_check(nc_open(path, NC_NOWRITE, &ncid), path, "cannot open"));
    int rc = info_netcdf_open(ncid, path);
    nc_close(ncid);
    return rc;
}

typedef enum { FMT_UNKNOWN, FMT_SAFETENSORS, FMT_NETCDF } file_format;

static int detect(const char *path, file_format *fmt)
{
    *fmt = FMT_UNKNOWN;
    if (ad_is_dir(path)) {
        *fmt = FMT_SAFETENSORS;
        return AD_OK;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ad_fail(AD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[9] = {0};
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    size_t plen = strlen(path);
    if (n >= 4 && memcmp(b, "CDF", 3) == 0 && (b[3] == 1 || b[3] == 2 || b[3] == 5))
        *fmt = FMT_NETCDF;
    else if (n >= 8 && memcmp(b, hdf5, 8) == 0)
        *fmt = FMT_NETCDF;
    else if ((n == 9 && b[8] == '{') ||
             (plen >= 12 && strcmp(path + plen - 12, ".safetensors") == 0))
        *fmt = FMT_SAFETENSORS; /* by name too, so a damaged file gets the reader's diagnosis */
    else
        return ad_fail(AD_ERR_FORMAT,
                       "%s: unknown format (neither safetensors nor netCDF/HDF5 by its first "
                       "bytes)",
                       path);
    return AD_OK;
}

int ad_cmd_info(ad_cli *cli, int argc, char **argv)
{
    if (ad_cli_wants_help(argc, argv)) {
        if (cli->rank == 0)
            usage();
        return AD_OK;
    }
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1])
            return ad_fail(AD_ERR_ARG, "%s: unknown option %s (see adaptor info --help)",
                           argv[0], argv[i]);
        nfiles++;
    }
    if (nfiles == 0)
        return ad_fail(AD_ERR_ARG, "%s: no FILE given (see adaptor info --help)", argv[0]);
    if (cli->rank != 0)
        return AD_OK;
    for (int i = 1; i < argc; i++) {
        file_format fmt;
        AD_TRY(detect(argv[i], &fmt));
        if (i > 1)
            printf("\n");
        AD_TRY(fmt == FMT_NETCDF ? info_netcdf(argv[i]) : info_safetensors(argv[i]));
        fflush(stdout);
    }
    return AD_OK;
}
