/* Embedding caches on one rank: round trips against the value formula, coalesced reads,
 * every validation error, atomic commit and abort, resumable parts. */
#include "testutil.h"

#include "../cache_fixture.h"
#include "adaptor/cache.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <dirent.h>
#include <math.h>
#include <mpi.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>

static char dir[4096];

static void fresh_dir(const char *tag) { tu_tmpdir(dir, sizeof dir, tag); }

static void file_in(char *out, const char *name) { tu_assert_ok(ad_path_join(out, 4096, dir, name)); }

/* Number of directory entries other than . and .. */
static int dir_entries(const char *d)
{
    DIR *dp = opendir(d);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        n += e->d_name[0] != '.';
    closedir(dp);
    return n;
}

static void read_and_check(const ad_cache *c, const int64_t *rows, int64_t n)
{
    int D = ad_cache_dim(c), T = ad_cache_tokens(c), TT = T ? T : 1;
    float *emb = malloc((size_t)n * TT * D * sizeof *emb);
    uint8_t *mask = malloc((size_t)n * TT);
    tu_assert_ok(ad_cache_read_rows(c, rows, n, emb, T ? mask : NULL));
    ck_assert_int_eq(cf_count_bad(rows, n, D, T, emb, mask), 0);
    free(emb);
    free(mask);
}

START_TEST(pooled_round_trip)
{
    fresh_dir("cache_pooled");
    char p[4096];
    file_in(p, "image_train.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, p, "image", 37, 5, 0));
    ad_cache *c;
    tu_assert_ok(ad_cache_open(p, &c));
    ck_assert_int_eq(ad_cache_rows(c), 37);
    ck_assert_int_eq(ad_cache_dim(c), 5);
    ck_assert_int_eq(ad_cache_tokens(c), 0);
    ck_assert_str_eq(ad_cache_modality(c), "image");
    ck_assert_str_eq(ad_cache_attr(c, "encoder"), "dinov2-tiny");
    ck_assert_str_eq(ad_cache_attr(c, "output"), "cls");
    ck_assert_str_eq(ad_cache_attr(c, "config"), "[train]\nseed = 42\n");
    ck_assert_ptr_null(ad_cache_attr(c, "nonsense"));
    for (int64_t i = 0; i < 37; i++)
        ck_assert_int_eq(ad_cache_ids(c)[i], cf_id(i));
    /* Shuffled, repeated, adjacent and far-apart rows, under every coalescing policy. */
    int64_t rows[] = {36, 0, 5, 6, 7, 5, 20, 1, 35, 36, 19, 2};
    for (int64_t gap = 0; gap <= 1 << 20; gap = gap ? gap * 64 : 20) {
        ad_cache_set_read_gap(c, gap);
        read_and_check(c, rows, 12);
    }
    int64_t all[37];
    for (int i = 0; i < 37; i++)
        all[i] = 36 - i;
    read_and_check(c, all, 37);
    ad_cache_close(c);
    ck_assert_int_eq(dir_entries(dir), 1); /* no temporary left behind */
}
END_TEST

START_TEST(token_round_trip)
{
    fresh_dir("cache_tokens");
    char p[4096];
    file_in(p, "text_train.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, p, "text", 23, 4, 6));
    ad_cache *c;
    tu_assert_ok(ad_cache_open(p, &c));
    ck_assert_int_eq(ad_cache_tokens(c), 6);
    ck_assert_str_eq(ad_cache_attr(c, "output"), "tokens");
    int64_t rows[] = {22, 3, 4, 4, 0, 11, 12, 13, 21};
    read_and_check(c, rows, 9);
    ad_cache_close(c);

    /* `length` is the number of real tokens (read independently of the reader). */
    int nc, v, len[23];
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &nc), NC_NOERR);
    ck_assert_int_eq(nc_inq_varid(nc, "length", &v), NC_NOERR);
    ck_assert_int_eq(nc_get_var_int(nc, v, len), NC_NOERR);
    nc_close(nc);
    for (int r = 0; r < 23; r++)
        ck_assert_int_eq(len[r], cf_length(r, 6));
}
END_TEST

/* Writes a valid 10 x 3 cache at p, then lets `edit` damage it in place. */
static void damaged(const char *p, void (*edit)(int nc))
{
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, p, "image", 10, 3, 0));
    int nc;
    ck_assert_int_eq(nc_open(p, NC_WRITE, &nc), NC_NOERR);
    edit(nc);
    ck_assert_int_eq(nc_close(nc), NC_NOERR);
}

static void edit_rename_ids(int nc)
{
    int v;
    nc_inq_varid(nc, "sample_id", &v);
    nc_redef(nc);
    ck_assert_int_eq(nc_rename_var(nc, v, "ids"), NC_NOERR);
}
static void edit_drop_split(int nc)
{
    nc_redef(nc);
    ck_assert_int_eq(nc_del_att(nc, NC_GLOBAL, "split"), NC_NOERR);
}
static void edit_version(int nc)
{
    int two = 2;
    nc_redef(nc);
    ck_assert_int_eq(nc_put_att_int(nc, NC_GLOBAL, "adaptor_cache_version", NC_INT, 1, &two),
                     NC_NOERR);
}
static void edit_output_tokens(int nc)
{
    nc_redef(nc);
    ck_assert_int_eq(nc_put_att_text(nc, NC_GLOBAL, "output", 6, "tokens"), NC_NOERR);
}
static void edit_duplicate_id(int nc)
{
    int v;
    size_t at = 7;
    long long dup = cf_id(2);
    nc_inq_varid(nc, "sample_id", &v);
    ck_assert_int_eq(nc_put_var1_longlong(nc, v, &at, &dup), NC_NOERR);
}
static void edit_nan(int nc)
{
    int v;
    size_t at[2] = {4, 1};
    float x = NAN;
    nc_inq_varid(nc, "embedding", &v);
    ck_assert_int_eq(nc_put_var1_float(nc, v, at, &x), NC_NOERR);
}

START_TEST(validation_errors_name_the_file)
{
    fresh_dir("cache_bad");
    char p[4096];
    ad_cache *c;

    file_in(p, "missing.nc");
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_IO, p);
    file_in(p, "text.nc");
    tu_write_text(p, "this is not netCDF\n");
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "not a netCDF file");
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, p);

    /* A cache cut short (a copy interrupted by a full disk, say). */
    char whole[4096], *data;
    size_t len;
    file_in(whole, "whole.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, whole, "image", 300, 64, 0));
    tu_assert_ok(ad_read_file(whole, &data, &len));
    file_in(p, "truncated.nc");
    tu_assert_ok(ad_write_file_atomic(p, data, len / 2));
    free(data);
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "truncated.nc: not a netCDF file");

    file_in(p, "noids.nc");
    damaged(p, edit_rename_ids);
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "missing variable sample_id");
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, p);

    file_in(p, "nosplit.nc");
    damaged(p, edit_drop_split);
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "missing attribute split");

    file_in(p, "v2.nc");
    damaged(p, edit_version);
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "adaptor_cache_version is 2");

    file_in(p, "inconsistent.nc");
    damaged(p, edit_output_tokens);
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "no token dimension");

    file_in(p, "dup.nc");
    damaged(p, edit_duplicate_id);
    tu_assert_fails(ad_cache_open(p, &c), AD_ERR_FORMAT, "duplicate sample_id 1006 at rows 2 and 7");

    /* NaN is found when the row holding it is read, and named with the file. */
    file_in(p, "nan.nc");
    damaged(p, edit_nan);
    tu_assert_ok(ad_cache_open(p, &c));
    int64_t good[] = {0, 3, 5, 9}, bad[] = {9, 4};
    float emb[4 * 3];
    read_and_check(c, good, 4);
    tu_assert_fails(ad_cache_read_rows(c, bad, 2, emb, NULL), AD_ERR_NUMERIC, "row 4 (sample_id 1012)");
    tu_assert_fails(ad_cache_read_rows(c, bad, 2, emb, NULL), AD_ERR_NUMERIC, p);
    int64_t out_of_range[] = {10};
    tu_assert_fails(ad_cache_read_rows(c, out_of_range, 1, emb, NULL), AD_ERR_ARG, "row 10 out of range");
    ad_cache_close(c);
}
END_TEST

/* The global attributes of file in, copied to file out (in define mode). */
static void copy_global_atts(int in, int out)
{
    int natts;
    nc_inq_natts(in, &natts);
    for (int i = 0; i < natts; i++) {
        char name[NC_MAX_NAME + 1];
        nc_inq_attname(in, NC_GLOBAL, i, name);
        ck_assert_int_eq(nc_copy_att(in, NC_GLOBAL, name, out, NC_GLOBAL), NC_NOERR);
    }
}

/* A cache with the dimensions of `embedding` swapped, built with raw netCDF calls. */
START_TEST(swapped_dimensions_are_rejected)
{
    fresh_dir("cache_swapped");
    char p[4096];
    file_in(p, "swapped.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, p, "image", 4, 3, 0));
    /* Rebuild it with embedding(dim, sample), keeping every attribute and sample_id. */
    char q[4096];
    file_in(q, "swapped2.nc");
    int in, out, ds, dd, dims[2], v, vid;
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &in), NC_NOERR);
    ck_assert_int_eq(nc_create(q, NC_NETCDF4 | NC_CLOBBER, &out), NC_NOERR);
    nc_def_dim(out, "sample", 4, &ds);
    nc_def_dim(out, "dim", 3, &dd);
    dims[0] = dd;
    dims[1] = ds;
    nc_def_var(out, "embedding", NC_FLOAT, 2, dims, &v);
    nc_def_var(out, "sample_id", NC_INT64, 1, &ds, &vid);
    copy_global_atts(in, out);
    nc_enddef(out);
    long long ids[4] = {1, 2, 3, 4};
    float zero[12] = {0};
    nc_put_var_longlong(out, vid, ids);
    nc_put_var_float(out, v, zero);
    nc_close(out);
    nc_close(in);
    ad_cache *c;
    tu_assert_fails(ad_cache_open(q, &c), AD_ERR_FORMAT,
                    "embedding must have dimensions (sample, dim)");
    tu_assert_fails(ad_cache_open(q, &c), AD_ERR_FORMAT, q);
}
END_TEST

/* A small file whose header claims 2,000,000,001 samples (issue 14: the reader sized its
 * sample_id buffer from the header, 16 GB): rebuilt with raw netCDF calls from a valid
 * cache, the first rows written, the rest left unallocated (chunked, no fill). */
static void write_claiming(const char *p, const char *q, size_t claimed, int deflate)
{
    int in, out, ds, dd, dims[2], v, vid;
    ck_assert_int_eq(nc_open(p, NC_NOWRITE, &in), NC_NOERR);
    ck_assert_int_eq(nc_create(q, NC_NETCDF4 | NC_CLOBBER, &out), NC_NOERR);
    nc_def_dim(out, "sample", claimed, &ds);
    nc_def_dim(out, "dim", 3, &dd);
    dims[0] = ds;
    dims[1] = dd;
    size_t c2[2] = {1024, 3}, c1 = 1024;
    ck_assert_int_eq(nc_def_var(out, "embedding", NC_FLOAT, 2, dims, &v), NC_NOERR);
    ck_assert_int_eq(nc_def_var_chunking(out, v, NC_CHUNKED, c2), NC_NOERR);
    ck_assert_int_eq(nc_def_var(out, "sample_id", NC_INT64, 1, &ds, &vid), NC_NOERR);
    ck_assert_int_eq(nc_def_var_chunking(out, vid, NC_CHUNKED, &c1), NC_NOERR);
    for (int k = 0; deflate && k < 2; k++)
        ck_assert_int_eq(nc_def_var_deflate(out, k ? vid : v, 0, 1, 9), NC_NOERR);
    nc_def_var_fill(out, v, NC_NOFILL, NULL);
    nc_def_var_fill(out, vid, NC_NOFILL, NULL);
    copy_global_atts(in, out);
    ck_assert_int_eq(nc_enddef(out), NC_NOERR);
    enum { ROWS = 4096 };
    static long long ids[ROWS];
    static float x[ROWS * 3];
    for (int i = 0; i < ROWS; i++)
        ids[i] = i;
    size_t start[2] = {0, 0}, count[2] = {ROWS, 3};
    ck_assert_int_eq(nc_put_vara_longlong(out, vid, start, count, ids), NC_NOERR);
    ck_assert_int_eq(nc_put_vara_float(out, v, start, count, x), NC_NOERR);
    ck_assert_int_eq(nc_close(out), NC_NOERR);
    nc_close(in);
}

START_TEST(header_sizes_checked_against_the_file)
{
    fresh_dir("cache_claims");
    char p[4096], q[4096];
    file_in(p, "valid.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, p, "image", 4, 3, 0));
    ad_cache *c;

    /* Plain variables: the claimed 24 GB of embeddings cannot be in a file of ~100 kB. */
    file_in(q, "claims.nc");
    write_claiming(p, q, 2000000001u, 0);
    tu_assert_fails(ad_cache_open(q, &c), AD_ERR_FORMAT, "sample = 2000000001, dim = 3");
    tu_assert_fails(ad_cache_open(q, &c), AD_ERR_FORMAT, "variable embedding");
    tu_assert_fails(ad_cache_open(q, &c), AD_ERR_FORMAT, q);

    /* Deflated: not even zlib's best ratio gets 24 GB into it. */
    file_in(q, "claims_deflated.nc");
    write_claiming(p, q, 2000000001u, 1);
    tu_assert_fails(ad_cache_open(q, &c), AD_ERR_FORMAT, "sample = 2000000001");

    /* The same layout with the header telling the truth opens. */
    file_in(q, "honest.nc");
    write_claiming(p, q, 4096, 1);
    tu_assert_ok(ad_cache_open(q, &c));
    ck_assert_int_eq(ad_cache_rows(c), 4096);
    ad_cache_close(c);
}
END_TEST

START_TEST(writer_rejects_bad_rows)
{
    fresh_dir("cache_wbad");
    char p[4096];
    file_in(p, "w.nc");
    ad_cache_meta meta = cf_meta("image", 0);
    ad_cache_writer *w;
    int64_t ids[2] = {1, 2};
    float emb[4] = {0, 1, NAN, 3};
    tu_assert_ok(ad_cache_create(MPI_COMM_SELF, p, &meta, 5, 2, 0, NULL, &w));
    tu_assert_fails(ad_cache_write_rows(w, 0, 2, ids, emb, NULL), AD_ERR_NUMERIC,
                    "non-finite embedding value in row 1");
    tu_assert_fails(ad_cache_write_rows(w, 4, 2, ids, emb, NULL), AD_ERR_ARG, "outside [0, 5)");
    emb[2] = 2;
    tu_assert_ok(ad_cache_write_rows(w, 0, 2, ids, emb, NULL));
    /* Rows 2..4 never written: the commit refuses and leaves nothing. */
    tu_assert_fails(ad_cache_commit(w), AD_ERR_INTERNAL, "only 2 of 5 rows were written");
    ck_assert(!ad_path_exists(p));
    ck_assert_int_eq(dir_entries(dir), 0);

    ad_cache_meta bad = cf_meta("audio", 0);
    tu_assert_fails(ad_cache_create(MPI_COMM_SELF, p, &bad, 5, 2, 0, NULL, &w), AD_ERR_ARG,
                    "modality");
    meta = cf_meta("text", 0);
    tu_assert_fails(ad_cache_create(MPI_COMM_SELF, p, &meta, 5, 2, 4, NULL, &w), AD_ERR_ARG,
                    "does not match T=4");
}
END_TEST

START_TEST(abort_keeps_the_older_file)
{
    fresh_dir("cache_atomic");
    char p[4096];
    file_in(p, "image_train.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, p, "image", 8, 3, 0));

    /* A newer, larger cache half written, then abandoned. */
    ad_cache_meta meta = cf_meta("image", 0);
    ad_cache_writer *w;
    tu_assert_ok(ad_cache_create(MPI_COMM_SELF, p, &meta, 50, 7, 0, NULL, &w));
    tu_assert_ok(cf_write_range(w, 0, 20, 7, 0, 2));
    ad_cache *c;
    tu_assert_ok(ad_cache_open(p, &c)); /* meanwhile the final name still holds the old one */
    ck_assert_int_eq(ad_cache_rows(c), 8);
    ad_cache_close(c);
    ad_cache_abort(w);

    tu_assert_ok(ad_cache_open(p, &c));
    ck_assert_int_eq(ad_cache_rows(c), 8);
    ck_assert_int_eq(ad_cache_dim(c), 3);
    int64_t rows[] = {7, 0, 3};
    read_and_check(c, rows, 3);
    ad_cache_close(c);
    ck_assert_int_eq(dir_entries(dir), 1);

    /* Same for a path that did not exist: nothing appears under it. */
    file_in(p, "new.nc");
    tu_assert_ok(ad_cache_create(MPI_COMM_SELF, p, &meta, 50, 7, 0, NULL, &w));
    tu_assert_ok(cf_write_range(w, 0, 20, 7, 0, 1));
    ck_assert(!ad_path_exists(p));
    ad_cache_abort(w);
    ck_assert(!ad_path_exists(p));
    ck_assert_int_eq(dir_entries(dir), 1);
}
END_TEST

START_TEST(pairs)
{
    fresh_dir("cache_pair");
    char a[4096], b[4096], x[4096], y[4096];
    file_in(a, "image.nc");
    file_in(b, "text.nc");
    file_in(x, "text_short.nc");
    file_in(y, "text_shuffled.nc");
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, a, "image", 12, 3, 0));
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, b, "text", 12, 2, 5));
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, x, "text", 11, 2, 0));
    tu_assert_ok(cf_write_cache(MPI_COMM_SELF, y, "text", 12, 2, 0));
    int nc, v;
    size_t at = 9;
    long long other = 5;
    ck_assert_int_eq(nc_open(y, NC_WRITE, &nc), NC_NOERR);
    nc_inq_varid(nc, "sample_id", &v);
    ck_assert_int_eq(nc_put_var1_longlong(nc, v, &at, &other), NC_NOERR);
    nc_close(nc);

    ad_cache *ci, *ct, *cx, *cy;
    tu_assert_ok(ad_cache_open(a, &ci));
    tu_assert_ok(ad_cache_open(b, &ct));
    tu_assert_ok(ad_cache_open(x, &cx));
    tu_assert_ok(ad_cache_open(y, &cy));
    tu_assert_ok(ad_cache_check_pair(ci, ct));
    tu_assert_fails(ad_cache_check_pair(ci, cx), AD_ERR_FORMAT, "sample counts differ (12 vs 11)");
    tu_assert_fails(ad_cache_check_pair(ci, cy), AD_ERR_FORMAT,
                    "sample_id differs at row 9 (1027 vs 5)");
    tu_assert_fails(ad_cache_check_pair(ci, cy), AD_ERR_FORMAT, a);
    tu_assert_fails(ad_cache_check_pair(ci, cy), AD_ERR_FORMAT, y);
    tu_assert_fails(ad_cache_check_pair(ct, ci), AD_ERR_FORMAT, "expected an image and a text");
    ad_cache_close(ci);
    ad_cache_close(ct);
    ad_cache_close(cx);
    ad_cache_close(cy);
}
END_TEST

START_TEST(parts_resume_and_merge)
{
    fresh_dir("cache_parts");
    char p[4096], part[4096];
    file_in(p, "text_train.nc");
    const int64_t N = 25, S = 10;
    const int D = 3, T = 4;
    ad_cache_meta meta = cf_meta("text", T);
    /* "First attempt": parts 0 and 2 finish; part 1 is killed (left as an aborted writer). */
    for (int64_t first = 0; first < N; first += S) {
        int64_t cnt = N - first < S ? N - first : S;
        ad_cache_writer *w;
        tu_assert_ok(ad_cache_create_part(MPI_COMM_SELF, p, &meta, first, cnt, D, T, NULL, &w));
        /* Parts hold their rows at 0..cnt-1, with the split's ids and values. */
        int64_t *ids;
        float *emb;
        uint8_t *mask;
        tu_assert_ok(cf_fill(first, cnt, D, T, &ids, &emb, &mask));
        tu_assert_ok(ad_cache_write_rows(w, 0, cnt, ids, emb, mask));
        if (first == S)
            ad_cache_abort(w);
        else
            tu_assert_ok(ad_cache_commit(w));
        free(ids);
        free(emb);
        free(mask);
    }
    int done;
    tu_assert_ok(ad_cache_part_done(MPI_COMM_SELF, p, 0, S, D, T, &done));
    ck_assert_int_eq(done, 1);
    tu_assert_ok(ad_cache_part_done(MPI_COMM_SELF, p, S, S, D, T, &done));
    ck_assert_int_eq(done, 0);
    tu_assert_ok(ad_cache_part_done(MPI_COMM_SELF, p, 0, S, D + 1, T, &done));
    ck_assert_int_eq(done, 0); /* wrong shape counts as not done */

    tu_assert_fails(ad_cache_merge_parts(MPI_COMM_SELF, p, &meta, N, D, T, S, NULL),
                    AD_ERR_IO, "10+10.nc");
    ck_assert(!ad_path_exists(p));

    /* "Second attempt" redoes the missing part only, then merges. */
    ad_cache_writer *w;
    tu_assert_ok(ad_cache_create_part(MPI_COMM_SELF, p, &meta, S, S, D, T, NULL, &w));
    int64_t *ids;
    float *emb;
    uint8_t *mask;
    tu_assert_ok(cf_fill(S, S, D, T, &ids, &emb, &mask));
    tu_assert_ok(ad_cache_write_rows(w, 0, S, ids, emb, mask));
    tu_assert_ok(ad_cache_commit(w));
    free(ids);
    free(emb);
    free(mask);
    tu_assert_ok(ad_cache_merge_parts(MPI_COMM_SELF, p, &meta, N, D, T, S, NULL));

    ad_cache *c;
    tu_assert_ok(ad_cache_open(p, &c));
    ck_assert_int_eq(ad_cache_rows(c), N);
    int64_t rows[25];
    for (int i = 0; i < 25; i++) {
        rows[i] = (i * 7) % 25;
        ck_assert_int_eq(ad_cache_ids(c)[i], cf_id(i));
    }
    read_and_check(c, rows, 25);
    ad_cache_close(c);
    tu_assert_ok(ad_cache_part_path(part, sizeof part, p, 0, S));
    ck_assert(!ad_path_exists(part));
    ck_assert_int_eq(dir_entries(dir), 1); /* the parts folder is gone too */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, pooled_round_trip);
    tcase_add_test(tc, token_round_trip);
    tcase_add_test(tc, validation_errors_name_the_file);
    tcase_add_test(tc, swapped_dimensions_are_rejected);
    tcase_add_test(tc, header_sizes_checked_against_the_file);
    tcase_add_test(tc, writer_rejects_bad_rows);
    tcase_add_test(tc, abort_keeps_the_older_file);
    tcase_add_test(tc, pairs);
    tcase_add_test(tc, parts_resume_and_merge);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return tu_run_mpi_suite(&argc, &argv, suite()); }
