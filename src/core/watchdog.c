/* Deadline of a collective library call (include/adaptor/watchdog.h). */
#include "adaptor/watchdog.h"

#include "adaptor/error.h"
#include "adaptor/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct ad_watchdog {
    MPI_Comm comm;
    int rank; /* read once: the thread makes no MPI call but the final MPI_Abort */
    double seconds;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int armed, stop;
    unsigned gen; /* counts armings: a new one restarts the deadline */
    const char *name, *what, *doomed;
};

static void *watch(void *arg)
{
    ad_watchdog *wd = arg;
    pthread_mutex_lock(&wd->lock);
    while (!wd->stop) {
        if (!wd->armed) {
            pthread_cond_wait(&wd->wake, &wd->lock);
            continue;
        }
        unsigned gen = wd->gen;
        double s = wd->seconds + (wd->rank > 0 ? 10.0 : 0.0);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until); /* the wake condition's clock (create) */
        until.tv_sec += (time_t)s;
        until.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int r = 0;
        while (wd->armed && wd->gen == gen && !wd->stop && r != ETIMEDOUT)
            r = pthread_cond_timedwait(&wd->wake, &wd->lock, &until);
        if (r == ETIMEDOUT && wd->armed && wd->gen == gen && !wd->stop) {
            char msg[4096 + 256];
            if (wd->doomed)
                unlink(wd->doomed);
            snprintf(msg, sizeof msg, "%s: %s did not return within %.0f s (a collective call "
                     "of parallel HDF5 that failed on some ranks only waits forever): ending "
                     "the job with MPI_Abort", wd->name, wd->what, wd->seconds);
            ad_log_error(wd->rank, msg, "check the disk and the filesystem of the cache folder, or "
                                    "set [cache] writer = serial");
            /* From a helper thread under MPI_THREAD_FUNNELED: the main thread is stuck inside
             * MPI, and Open MPI's abort only asks its runtime to kill the job. */
            MPI_Abort(wd->comm, 1);
        }
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

int ad_watchdog_create(MPI_Comm comm, double seconds, ad_watchdog **out)
{
    *out = NULL;
    ad_watchdog *wd = ad_calloc(1, sizeof *wd, "watchdog");
    if (!wd)
        return AD_ERR_NOMEM;
    wd->comm = comm;
    MPI_Comm_rank(comm, &wd->rank);
    wd->seconds = seconds;
    if (seconds > 0) {
        /* A monotonic deadline: a clock step (NTP) must neither fire the watchdog early nor
         * delay it. */
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_mutex_init(&wd->lock, NULL);
        pthread_cond_init(&wd->wake, &attr);
        pthread_condattr_destroy(&attr);
        if (pthread_create(&wd->thread, NULL, watch, wd) != 0) {
            pthread_cond_destroy(&wd->wake);
            pthread_mutex_destroy(&wd->lock);
            free(wd);
            return ad_fail(AD_ERR_NOMEM, "cannot start the watchdog thread");
        }
    }
    *out = wd;
    return AD_OK;
}

static void set(ad_watchdog *wd, int armed, const char *name, const char *what,
                const char *doomed)
{
    if (!wd || wd->seconds <= 0)
        return;
    pthread_mutex_lock(&wd->lock);
    wd->armed = armed;
    wd->gen += (unsigned)armed;
    wd->name = name;
    wd->what = what;
    wd->doomed = doomed;
    pthread_cond_signal(&wd->wake);
    pthread_mutex_unlock(&wd->lock);
}

void ad_watchdog_arm(ad_watchdog *wd, const char *name, const char *what, const char *doomed)
{
    set(wd, 1, name, what, doomed);
}

void ad_watchdog_disarm(ad_watchdog *wd)
{
    set(wd, 0, NULL, NULL, NULL);
}

void ad_watchdog_destroy(ad_watchdog *wd)
{
    if (!wd)
        return;
    if (wd->seconds > 0) {
        pthread_mutex_lock(&wd->lock);
        wd->stop = 1;
        pthread_cond_signal(&wd->wake);
        pthread_mutex_unlock(&wd->lock);
        pthread_join(wd->thread, NULL);
        pthread_cond_destroy(&wd->wake);
        pthread_mutex_destroy(&wd->lock);
    }
    free(wd);
}
