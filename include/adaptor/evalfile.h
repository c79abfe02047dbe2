/* eval.nc: the numbers `adaptor eval` (and later downstream stages) produce, one record
 * per number so new metrics never change the layout (like metrics.nc's `eval` group):
 *
 *   dimension record (unlimited)
 *   string split(record), string model(record), string metric(record), double value(record)
 *   global attributes: adaptor_eval_version = 1, the run's provenance (provenance.h:
 *   version, commit, hosts, ..., config), and for the downstream stages `task` (classify |
 *   probe | segment), `dataset` and `data_pct`
 *
 * Written atomically (temporary file, fsync, rename) by one rank. */
#ifndef ADAPTOR_EVALFILE_H
#define ADAPTOR_EVALFILE_H

#include "adaptor/provenance.h"

#include <stddef.h>

typedef struct ad_eval_record {
    char split[32];
    char model[32];
    char metric[64];
    double value;
} ad_eval_record;

/* The records of a run, growing as the stages add numbers. Free R->r when done. */
typedef struct ad_eval_records {
    ad_eval_record *r;
    size_t n, cap;
} ad_eval_records;

int ad_eval_records_add(ad_eval_records *R, const char *split, const char *model,
                        const char *metric, double value);

/* A further text attribute of the file. */
typedef struct ad_eval_attr {
    const char *name;
    const char *value;
} ad_eval_attr;

/* Reads every record of an eval.nc (appending to R); errors name the file. */
int ad_evalfile_read(const char *path, ad_eval_records *R);

int ad_evalfile_write(const char *path, const ad_eval_record *rec, size_t n,
                      const ad_provenance *prov);
int ad_evalfile_write_attrs(const char *path, const ad_eval_record *rec, size_t n,
                            const ad_provenance *prov, const ad_eval_attr *attrs, size_t nattrs);

#endif
