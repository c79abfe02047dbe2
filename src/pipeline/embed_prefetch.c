/* Decoding the next image batch in a helper thread (include/adaptor/embed_prefetch.h). */
#define _GNU_SOURCE /* sched_getaffinity */
#include "adaptor/embed_prefetch.h"

#include "adaptor/error.h"
#include "adaptor/log.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_FREE, SLOT_QUEUED, SLOT_LOADED };

typedef struct slot {
    ad_frozen_batch b;
    int64_t *rows;
    int n, state, rc;
    char msg[1024], hint[512]; /* the loader's error, raised again by the caller */
} slot;

struct ad_embed_prefetch {
    ad_frozen *e;
    const ad_selection *s;
    const char *manifest;
    int skip_bad, threaded;
    slot slots[2];
    int take, put, load; /* the next slot to encode, to queue, to decode */
    int stop, started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
};

static void *decode_loop(void *arg)
{
    ad_embed_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->slots[p->load].state != SLOT_QUEUED)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        slot *sl = &p->slots[p->load];
        pthread_mutex_unlock(&p->mu);
        int rc = ad_frozen_load(p->e, p->s, sl->rows, sl->n, p->skip_bad, p->manifest, NULL,
                                &sl->b);
        if (rc != AD_OK) {
            snprintf(sl->msg, sizeof sl->msg, "%s", ad_errmsg());
            snprintf(sl->hint, sizeof sl->hint, "%s", ad_errhint() ? ad_errhint() : "");
            ad_clear_error();
        }
        pthread_mutex_lock(&p->mu);
        sl->rc = rc;
        sl->state = SLOT_LOADED;
        p->load ^= 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ad_embed_prefetch_create(ad_frozen *e, const ad_selection *s, int skip_bad,
                             const char *manifest, ad_embed_prefetch **out)
{
    *out = NULL;
    ad_embed_prefetch *p = ad_calloc(1, sizeof *p, "decode prefetcher");
    if (!p)
        return AD_ERR_NOMEM;
    p->e = e;
    p->s = s;
    p->skip_bad = skip_bad;
    p->manifest = manifest;
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    /* A rank bound to one core (Open MPI's default at <= 2 ranks, Slurm without
     * --cpus-per-task) would only time-slice the helper thread with the encoder. */
    cpu_set_t mask;
    int cpus = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : 2;
    p->threaded = e->image && e->overlap && level >= MPI_THREAD_FUNNELED && cpus > 1;
    if (e->image && e->overlap && level < MPI_THREAD_FUNNELED)
        ad_info("embed: decoding in the encoder's thread: MPI was not initialised with "
                "MPI_THREAD_FUNNELED or above");
    else if (e->image && e->overlap && cpus <= 1)
        ad_info("embed: decoding in the encoder's thread: this rank may use one CPU only "
                "(give it two, e.g. srun --cpus-per-task=2 or mpirun --bind-to none)");
    /* Neither changes within a process: the encoder's next selections (splits) go without
     * the thread and without saying so again. */
    if (e->image && e->overlap && !p->threaded)
        e->overlap = 0;
    if (p->threaded) {
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
    }
    int rc = AD_OK;
    for (int k = 0; k < 2 && rc == AD_OK; k++) {
        p->slots[k].rows = ad_malloc((size_t)e->batch * sizeof(int64_t), "batch rows");
        rc = p->slots[k].rows ? AD_OK : AD_ERR_NOMEM;
        if (rc == AD_OK && p->threaded)
            rc = ad_frozen_batch_create(e, &p->slots[k].b);
    }
    if (rc == AD_OK && p->threaded) {
        p->started = 1;
        if (pthread_create(&p->thread, NULL, decode_loop, p) != 0) {
            p->started = 0;
            rc = ad_fail(AD_ERR_INTERNAL, "embed: cannot start the decode thread");
        }
    }
    if (rc != AD_OK) {
        ad_embed_prefetch_destroy(p);
        return rc;
    }
    *out = p;
    return AD_OK;
}

int ad_embed_prefetch_threaded(const ad_embed_prefetch *p) { return p->threaded; }

int ad_embed_prefetch_submit(ad_embed_prefetch *p, const int64_t *rows, int n)
{
    slot *sl = &p->slots[p->put];
    if (n < 1 || n > p->e->batch)
        return ad_fail(AD_ERR_INTERNAL, "embed: a batch of %d rows (1..%d)", n, p->e->batch);
    if (p->threaded)
        pthread_mutex_lock(&p->mu);
    int free_slot = sl->state == SLOT_FREE;
    if (free_slot) {
        memcpy(sl->rows, rows, (size_t)n * sizeof *rows);
        sl->n = n;
        sl->state = SLOT_QUEUED;
        p->put ^= 1;
    }
    if (p->threaded) {
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return free_slot ? AD_OK
                     : ad_fail(AD_ERR_INTERNAL, "embed: more than two batches queued for decoding");
}

int ad_embed_prefetch_encode(ad_embed_prefetch *p, int64_t *ids, int64_t *bad,
                             ad_embed_timers *tm)
{
    slot *sl = &p->slots[p->take];
    if (!p->threaded) {
        if (sl->state == SLOT_FREE)
            return ad_fail(AD_ERR_INTERNAL, "embed: no batch queued for encoding");
        sl->state = SLOT_FREE;
        p->take ^= 1;
        return ad_frozen_encode(p->e, p->s, sl->rows, sl->n, p->skip_bad, p->manifest, NULL,
                                ids, bad, tm);
    }
    double t0 = ad_now();
    pthread_mutex_lock(&p->mu);
    int queued = sl->state != SLOT_FREE;
    while (queued && sl->state != SLOT_LOADED)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (!queued)
        return ad_fail(AD_ERR_INTERNAL, "embed: no batch queued for encoding");
    tm->wait += ad_now() - t0;
    int rc = sl->rc;
    if (rc != AD_OK) {
        tm->read += sl->b.tm.read;
        tm->prep += sl->b.tm.prep;
        ad_fail(rc, "%s", sl->msg);
        if (sl->hint[0])
            ad_set_hint(rc, "%s", sl->hint);
    } else {
        rc = ad_frozen_run(p->e, &sl->b, ids, bad, tm); /* sets every row's mask */
    }
    pthread_mutex_lock(&p->mu);
    sl->state = SLOT_FREE;
    p->take ^= 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void ad_embed_prefetch_destroy(ad_embed_prefetch *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    if (p->threaded) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    for (int k = 0; k < 2; k++) {
        ad_frozen_batch_free(&p->slots[k].b);
        free(p->slots[k].rows);
    }
    free(p);
}
