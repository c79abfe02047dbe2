#include "adaptor/embed.h"

#include "adaptor/cache.h"
#include "adaptor/embed_prefetch.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/frozen.h"
#include "adaptor/log.h"
#include "adaptor/mgca_text.h"
#include "adaptor/mpiutil.h"
#include "adaptor/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ad_embed_cache_complete(const char *path, const ad_selection *s, int dim, int tokens,
                            const char *preprocessing)
{
    ad_cache *c;
    if (!ad_path_exists(path) || ad_cache_open(path, &c) != AD_OK) {
        ad_clear_error();
        return 0;
    }
    int ok = ad_cache_rows(c) == s->n && ad_cache_dim(c) == dim && ad_cache_tokens(c) == tokens;
    const int64_t *ids = ad_cache_ids(c);
    for (int64_t i = 0; ok && i < s->n; i++)
        ok = ids[i] == s->ids[i] || ids[i] == -(s->ids[i] + 1);
    const char *pre = ad_cache_attr(c, "preprocessing");
    if (ok && preprocessing && (!pre || strcmp(pre, preprocessing) != 0)) {
        ad_warn("%s was made with preprocessing '%s', this job asks for '%s': not reused, "
                "encoded again", path, pre ? pre : "", preprocessing);
        ok = 0;
    }
    ad_cache_close(c);
    return ok;
}

/* Rows in batch j of a part of count rows (0 past its last batch). */
static int batch_len(int64_t count, int batch, int64_t j)
{
    int64_t at = j * batch;
    return at >= count ? 0 : (int)(count - at < batch ? count - at : batch);
}

/* Queues batch j of the part that starts at row first, if there is one. */
static int embed_queue(ad_embed_prefetch *pf, const ad_frozen *e, int64_t *rows, int64_t first,
                       int64_t count, int64_t j)
{
    int nb = batch_len(count, e->batch, j);
    for (int i = 0; i < nb; i++)
        rows[i] = first + j * e->batch + i;
    return nb ? ad_embed_prefetch_submit(pf, rows, nb) : AD_OK;
}

int ad_embed_selection(MPI_Comm comm, ad_frozen *e, const ad_selection *s, const char *path,
                       const char *label, int64_t part_rows, int skip_bad, const char *manifest,
                       ad_embed_stats *st)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ad_embed_stats local;
    if (!st) {
        memset(&local, 0, sizeof local);
        st = &local;
    }
    if (part_rows < 1)
        return ad_fail(AD_ERR_ARG, "%s: part_rows must be positive", path);
    int64_t nparts = (s->n + part_rows - 1) / part_rows;
    int64_t *ids = ad_malloc((size_t)e->batch * 2 * sizeof *ids, "ids"), *rows = ids + e->batch;
    ad_embed_prefetch *pf = NULL;
    int rc = ids ? ad_embed_prefetch_create(e, s, skip_bad, manifest, &pf) : AD_ERR_NOMEM;
    if ((rc = ad_mpi_agree(comm, rc, NULL)) != AD_OK) {
        ad_embed_prefetch_destroy(pf);
        free(ids);
        return rc;
    }
    st->overlapped = ad_embed_prefetch_threaded(pf);
    ad_progress prog;
    ad_progress_start(&prog, label, "rows", s->n, part_rows);
    double t0 = ad_now();
    for (int64_t p = 0; p < nparts && rc == AD_OK; p++) {
        int64_t first = p * part_rows, count = s->n - first < part_rows ? s->n - first : part_rows;
        int done = 0;
        rc = ad_cache_part_done(comm, path, first, count, e->dim, e->tokens, &done);
        if (rc != AD_OK)
            break;
        if (done) {
            st->parts_done_before++;
            ad_progress_step(&prog, count, "(done before)");
            continue;
        }
        ad_cache_writer *w;
        rc = ad_cache_create_part(comm, path, &e->meta, first, count, e->dim, e->tokens,
                                  &e->storage, &w);
        if (rc != AD_OK)
            break;
        /* The part's rows go in batches of a fixed composition, dealt round-robin to the
         * ranks: a row is always encoded beside the same rows, so the cache is bitwise the
         * same for any number of ranks. Every rank makes the same number of (collective)
         * writes, with no rows when it has no batch left. */
        int64_t nbatches = (count + e->batch - 1) / e->batch;
        int64_t rounds = (nbatches + size - 1) / size;
        /* This rank's batch of round q + 1 is queued before round q is encoded, so that
         * it decodes meanwhile (embed_prefetch.h). */
        int lrc = AD_OK;
        for (int64_t q = 0; q <= 1 && lrc == AD_OK; q++)
            lrc = embed_queue(pf, e, rows, first, count, q * size + rank);
        for (int64_t q = 0; q < rounds && rc == AD_OK; q++) {
            int64_t j = q * size + rank, at = j * e->batch;
            int nb = batch_len(count, e->batch, j);
            if (lrc == AD_OK && nb)
                lrc = ad_embed_prefetch_encode(pf, ids, &st->bad, &st->tm);
            if (lrc == AD_OK)
                lrc = embed_queue(pf, e, rows, first, count, (q + 2) * size + rank);
            /* The write agrees on this rank's status with the others' (one agreement). */
            double t0w = ad_now();
            rc = ad_cache_write_rows_status(w, lrc, nb ? at : 0, nb, ids, e->out,
                                            e->tokens ? e->mask : NULL);
            lrc = AD_OK;
            st->tm.io += ad_now() - t0w;
            /* Progress per round, not per part: a part of a large encoder on few ranks
             * takes many minutes, and a log file should not fall silent that long. */
            int64_t round_rows = count - q * size * e->batch;
            if (rc == AD_OK)
                ad_progress_step(&prog, round_rows < (int64_t)size * e->batch
                                            ? round_rows : (int64_t)size * e->batch, NULL);
        }
        double t0c = ad_now();
        if (rc == AD_OK)
            rc = ad_cache_commit(w);
        else
            ad_cache_abort(w);
        st->tm.io += ad_now() - t0c;
    }
    ad_embed_prefetch_destroy(pf);
    free(ids);
    double t0m = ad_now();
    if (rc == AD_OK)
        rc = ad_cache_merge_parts(comm, path, &e->meta, s->n, e->dim, e->tokens, part_rows,
                                  &e->storage);
    st->tm.io += ad_now() - t0m;
    if (rc == AD_OK) {
        st->seconds += ad_now() - t0;
        prog.done = prog.total;
        ad_progress_finish(&prog, path);
    }
    return rc;
}

static int embed_split(MPI_Comm comm, const ad_config *cfg, ad_frozen *e, const ad_selection *s,
                       const char *split, const char *manifest, ad_embed_stats *st)
{
    char path[4096];
    AD_TRY(ad_cache_file(cfg, e->meta.modality, split, path, sizeof path));
    e->meta.split = split;
    if (ad_embed_cache_complete(path, s, e->dim, e->tokens, e->meta.preprocessing)) {
        ad_info("embed %s %s: %s is complete, kept", e->meta.modality, split, path);
        return AD_OK;
    }
    int64_t part_rows;
    int skip_bad, rank;
    MPI_Comm_rank(comm, &rank);
    AD_TRY(ad_config_int(cfg, "cache", "part_rows", &part_rows));
    AD_TRY(ad_config_bool(cfg, "data", "skip_bad_rows", &skip_bad));
    AD_TRY(ad_mpi_agree(comm, rank == 0 ? ad_mkdir_p(ad_config_get(cfg, "cache", "dir")) : AD_OK,
                        NULL));
    char label[96];
    snprintf(label, sizeof label, "embed %s %s", e->meta.modality, split);
    return ad_embed_selection(comm, e, s, path, label, part_rows, skip_bad, manifest, st);
}

/* Where this rank's time went, for the end-of-split line: seconds and shares of the summed
 * stages. With decoding in its own thread, the stages overlap, so the sum exceeds the wall
 * time; what the encoder still waited for the decoder is said separately. */
static void embed_time_split(const ad_frozen *e, const ad_embed_stats *st, char *out, size_t n)
{
    const ad_embed_timers *tm = &st->tm;
    double tot = tm->read + tm->prep + tm->encode + tm->io;
    tot = tot > 0 ? tot : 1;
    int at = e->image ? snprintf(out, n, "decoding %.1f s (%.0f%%), preprocessing %.1f s "
                                 "(%.0f%%), ", tm->read, 100 * tm->read / tot, tm->prep,
                                 100 * tm->prep / tot)
                      : snprintf(out, n, "WordPiece %.1f s (%.0f%%), ", tm->read,
                                 100 * tm->read / tot);
    at += snprintf(out + at, n - (size_t)at, "encoder %.1f s (%.0f%%), cache I/O %.1f s (%.0f%%)",
                   tm->encode, 100 * tm->encode / tot, tm->io, 100 * tm->io / tot);
    if (st->overlapped)
        snprintf(out + at, n - (size_t)at, "; decoding overlapped the encoder in a helper "
                 "thread, which the encoder waited for %.1f s", tm->wait);
}

int ad_embed(MPI_Comm comm, const ad_config *cfg, const char *modality)
{
    int want_image = strcmp(modality, "text") != 0, want_text = strcmp(modality, "image") != 0;
    ad_provenance *prov = NULL;
    char **splits = NULL;
    int nsplits = 0;
    ad_manifest *m = NULL;
    ad_frozen enc[2];
    memset(enc, 0, sizeof enc);
    ad_job job;
    int rc = ad_job_parse(cfg, &job);
    if (rc == AD_OK)
        rc = ad_prov_create(comm, cfg, &prov);
    if (rc == AD_OK)
        rc = ad_config_list(cfg, "cache", "splits", &splits, &nsplits);
    if (rc == AD_OK)
        rc = ad_manifest_open_config(cfg, AD_LABEL_UNCERTAIN, NULL, &m);
    if (rc == AD_OK && want_image)
        rc = ad_frozen_open(&enc[0], cfg, &job, 1, prov);
    if (rc == AD_OK && want_image && job.arch == AD_ARCH_DINOV2)
        ad_info("embed: %s: pos_interp = %s (job file: %s)",
                ad_config_get(cfg, "image_encoder", "model"), ad_pos_interp_name(job.pos_interp),
                ad_config_get(cfg, "image_encoder", "pos_interp"));
    if (rc == AD_OK && want_text)
        rc = ad_frozen_open(&enc[1], cfg, &job, 0, prov);
    rc = ad_mpi_agree(comm, rc, NULL);
    for (int k = 0; k < nsplits && rc == AD_OK; k++) {
        ad_selection s;
        int64_t dropped = 0;
        rc = ad_mpi_agree(comm, ad_select_rows(m, splits[k], &s, &dropped), NULL);
        ad_embed_stats st[2];
        memset(st, 0, sizeof st);
        for (int i = 0; i < 2 && rc == AD_OK; i++) {
            if (!(i == 0 ? want_image : want_text))
                continue;
            rc = embed_split(comm, cfg, &enc[i], &s, splits[k], ad_manifest_path(m), &st[i]);
            if (rc == AD_OK) {
                int64_t bad = 0;
                MPI_Allreduce(&st[i].bad, &bad, 1, MPI_INT64_T, MPI_SUM, comm);
                char where[320];
                embed_time_split(&enc[i], &st[i], where, sizeof where);
                ad_info("embed %s %s: %lld rows (%lld dropped by the view filter, %lld by "
                        "MGCA's report rule, %lld bad rows skipped), %lld part(s) done before, "
                        "%.1f s, %.1f rows/s; rank 0's time: %s",
                        enc[i].meta.modality, splits[k], (long long)s.n,
                        (long long)s.view_dropped, (long long)dropped,
                        (long long)bad, (long long)st[i].parts_done_before, st[i].seconds,
                        st[i].seconds > 0 ? (double)s.n / st[i].seconds : 0.0, where);
            }
        }
        ad_selection_free(&s);
    }
    ad_frozen_free(&enc[0]);
    ad_frozen_free(&enc[1]);
    ad_manifest_close(m);
    free(splits);
    ad_prov_destroy(prov);
    return rc;
}
