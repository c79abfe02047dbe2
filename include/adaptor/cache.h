/* Embedding caches: one netCDF-4 (HDF5) file per frozen encoder and split, holding the
 * uni-modal embeddings the Adaptor trains on.
 *
 * File layout (adaptor_cache_version = 1)
 *
 *   dimensions
 *     sample   N    one per manifest row of the split, in manifest order
 *     dim      D    embedding width
 *     token    T    padded sequence length (token-level caches only)
 *   variables
 *     float  embedding(sample, dim)          pooled caches (output = pooler | cls | mean)
 *     float  embedding(sample, token, dim)   token caches (output = tokens)
 *     ubyte  mask(sample, token)             token caches: 1 = real token, 0 = padding
 *     int    length(sample)                  token caches: number of real tokens (= sum of mask)
 *     int64  sample_id(sample)               the manifest row id of each sample
 *   global attributes
 *     adaptor_cache_version = 1 (int), modality = "image" | "text", encoder (model folder
 *     name), encoder_path, arch, output = pooler | cls | mean | tokens, preprocessing (e.g.
 *     "resize=256 crop=224 depth16=highbyte pos_interp=hub" or "max_words=112 mgca"), split,
 *     image caches written since issue 16 also pos_interp (the resolved hub | hf | aa), and
 *     the run's provenance (provenance.h: adaptor_version, git_commit, hosts, ..., config).
 *   storage
 *     chunked by rows: one chunk = `chunk_rows` samples x all tokens x full dim (default:
 *     about 64 KiB per chunk, at least one sample), uncompressed unless deflate_level > 0
 *     (zlib level 1 made random row reads 10-100x slower in tests/bench/bench_cache.c).
 *     No fill values: the writer checks that every row was written before it commits.
 *
 * Writing is collective over a communicator, with two writers ([cache] writer):
 * - serial (default): only rank 0 opens the file (serial netCDF-4); the other ranks send it
 *   their rows. Parallel HDF5 cannot leave a collective call that failed on some ranks
 *   only (a full disk hung every rank), so one writer turns a failed write into an
 *   ordinary error the ranks agree on.
 * - parallel: every rank opens the file (nc_create_par, MPI-IO) and writes its own rows in
 *   collective calls (all variables collective: parallel HDF5 writes deflated chunks only
 *   so). The variables are bitwise those of the serial writer; the file bytes differ.
 *   Checks are agreed on before each collective call; a library call that fails anyway
 *   returns its error with no further collective call, and the CLI ends the job with
 *   MPI_Abort if peers stay stuck in HDF5. A call that fails on some ranks inside HDF5
 *   can also leave every rank waiting in a different MPI call inside the library (seen:
 *   H5AC sync-point barrier vs H5FD_truncate broadcast in one H5Fflush): a watchdog
 *   (storage->timeout, [cache] write_timeout) ends the job with MPI_Abort then. Never a
 *   hang; the final path is untouched.
 * Before a file is created, rank 0 checks with fallocate that the file's size fits
 * (ad_check_space). The file is created
 * as "<path>.tmp.<pid of rank 0>" in the same folder and renamed to <path> only after it
 * was closed and fsync'ed, so a killed job never leaves a half-written cache under the
 * final name (an older cache at <path> stays intact until the rename).
 *
 * Resumable embedding (for the embed stage): an interrupted job must not depend on a
 * half-written HDF5 file (HDF5 gives no crash consistency). The design is "parts":
 * the split is cut into fixed row ranges; each range is written as its own complete cache
 * "<path>.parts/<first>+<count>.nc" (the same layout with N = count), each committed
 * atomically like any cache. A restarted job skips the ranges whose part opens and
 * validates, and ad_cache_merge_parts() writes the final file from the parts, then removes
 * them. A part is thus either complete or absent, and the final layout never changes.
 *
 * Reading is serial per rank (each rank opens the file itself, read-only). Opening
 * validates the layout, version and sample ids; reading rows checks them for NaN/inf.
 * Every error is one line naming the file. */
#ifndef ADAPTOR_CACHE_H
#define ADAPTOR_CACHE_H

#include "adaptor/provenance.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define AD_CACHE_VERSION 1

/* What produced the embeddings; strings are copied into the file's attributes. NULL
 * strings are written as "". */
typedef struct ad_cache_meta {
    const char *modality;      /* "image" | "text" */
    const char *encoder;       /* model folder name */
    const char *encoder_path;
    const char *arch;          /* dinov2 | resnet | resnet_ae | bert ... */
    const char *output;        /* pooler | cls | mean | tokens */
    const char *preprocessing;
    const char *split;
    const ad_provenance *prov; /* the run's provenance, config included (may be NULL) */
    const char *pos_interp;    /* image caches: the resolved hub | hf | aa (NULL: not written) */
} ad_cache_meta;

/* Storage tuning; a NULL pointer means the defaults (zeros). */
typedef struct ad_cache_storage {
    int chunk_rows;    /* samples per chunk; 0 = about 64 KiB per chunk */
    int deflate_level; /* 0 = none (default), 1..9 = zlib */
    int parallel;      /* 0 = serial writer (default), 1 = parallel ([cache] writer) */
    double timeout;    /* parallel: seconds one collective library call may take before the
                        * job is ended with MPI_Abort (watchdog.h); 0 = no limit */
} ad_cache_storage;

typedef struct ad_cache_writer ad_cache_writer;

/* Collective over comm. n samples of width dim; tokens = T for a token cache, 0 for a
 * pooled one. meta->modality must be "image" or "text". */
int ad_cache_create(MPI_Comm comm, const char *path, const ad_cache_meta *meta, int64_t n,
                    int dim, int tokens, const ad_cache_storage *storage,
                    ad_cache_writer **w);
/* Collective: every rank calls it the same number of times, with nrows = 0 when it has
 * nothing to write this round. Rows [first_row, first_row + nrows) get ids[nrows],
 * emb[nrows * (T or 1) * D] and, for token caches, mask[nrows * T] (0/1; the real tokens
 * need not be a prefix). Fails on every rank if any rank's rows are out of range or hold
 * NaN/inf (the message names the row). */
int ad_cache_write_rows(ad_cache_writer *w, int64_t first_row, int64_t nrows,
                        const int64_t *ids, const float *emb, const uint8_t *mask);
/* ad_cache_write_rows() that also fails collectively when this rank's local_rc != AD_OK
 * (the rank then writes nothing but still joins the collective calls): one agreement for
 * the caller's status and the write's. */
int ad_cache_write_rows_status(ad_cache_writer *w, int local_rc, int64_t first, int64_t nrows,
                               const int64_t *ids, const float *emb, const uint8_t *mask);
/* Collective: checks every row was written, closes, renames into place, frees w
 * (also on failure, after removing the temporary file). */
int ad_cache_commit(ad_cache_writer *w);
/* Collective: discards the temporary file and frees w; the final path is untouched. */
void ad_cache_abort(ad_cache_writer *w);

/* Parts of a resumable write (see above). The part path for rows [first, first+count). */
int ad_cache_part_path(char *out, size_t n, const char *path, int64_t first, int64_t count);
/* Collective: ad_cache_create() for that part (creating the parts folder); rows are then
 * numbered 0..count-1 within the part. */
int ad_cache_create_part(MPI_Comm comm, const char *path, const ad_cache_meta *meta,
                         int64_t first, int64_t count, int dim, int tokens,
                         const ad_cache_storage *storage, ad_cache_writer **w);
/* Collective: 1 in *done when the part exists and validates with the expected shape. */
int ad_cache_part_done(MPI_Comm comm, const char *path, int64_t first, int64_t count, int dim,
                       int tokens, int *done);
/* Collective: writes <path> from the parts [k*part_rows, ...) covering n rows, then removes
 * the parts folder. Fails, naming the part, if one is missing or does not fit. */
int ad_cache_merge_parts(MPI_Comm comm, const char *path, const ad_cache_meta *meta, int64_t n,
                         int dim, int tokens, int64_t part_rows,
                         const ad_cache_storage *storage);

typedef struct ad_cache ad_cache;

int ad_cache_open(const char *path, ad_cache **c);
void ad_cache_close(ad_cache *c);

const char *ad_cache_path(const ad_cache *c);
int64_t ad_cache_rows(const ad_cache *c);
int ad_cache_dim(const ad_cache *c);
int ad_cache_tokens(const ad_cache *c); /* 0 for a pooled cache */
const char *ad_cache_modality(const ad_cache *c);
/* A global text attribute ("encoder", "split", "config", ...), NULL when absent. */
const char *ad_cache_attr(const ad_cache *c, const char *name);
const int64_t *ad_cache_ids(const ad_cache *c); /* [rows], owned by c */

/* Reads the rows listed in rows[n] (any order, repeats allowed) into emb[n][(T or 1) * D]
 * and, for token caches, mask[n][T] (may be NULL for pooled caches), in the caller's
 * order. Sorts and coalesces nearby rows into few reads. */
int ad_cache_read_rows(const ad_cache *c, const int64_t *rows, int64_t n, float *emb,
                       uint8_t *mask);
/* Tuning: nearby requested rows are read in one call when the rows skipped between them
 * take at most `bytes` (default 64 KiB; 0 = only adjacent rows). */
void ad_cache_set_read_gap(ad_cache *c, int64_t bytes);

/* Checks an image cache and a text cache describe the same samples: modalities, split,
 * N and sample ids in the same order; the message names both files. */
int ad_cache_check_pair(const ad_cache *image, const ad_cache *text);

#endif
