/* The output folder's lock file (include/adaptor/runlock.h). */
#include "adaptor/runlock.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/log.h"
#include "adaptor/mpiutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_NAME "adaptor.lock"

struct ad_runlock {
    char path[4200];
    char text[1024]; /* what we wrote, to release only our own lock */
};

typedef struct holder {
    char host[256], slurm_job[64], restart[32], what[64], started[64];
    long pid;
    unsigned long long pid_start; /* /proc/<pid>/stat field 22; 0: unknown */
} holder;

/* Start time of a process in clock ticks since boot, 0 when unknown: tells a pid that was
 * reused by another process from the one that wrote the lock. */
static unsigned long long proc_start(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    unsigned long long v = 0;
    /* after ")": field 3 (state) ... field 22 (starttime) */
    for (int field = 2; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (sscanf(p, "%llu", &v) != 1)
        return 0;
    return v;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void describe_self(holder *h, const char *what)
{
    memset(h, 0, sizeof *h);
    if (gethostname(h->host, sizeof h->host - 1) != 0)
        snprintf(h->host, sizeof h->host, "unknown");
    h->pid = (long)getpid();
    h->pid_start = proc_start(h->pid);
    snprintf(h->slurm_job, sizeof h->slurm_job, "%s", env_or("SLURM_JOB_ID", "-"));
    snprintf(h->restart, sizeof h->restart, "%s", env_or("SLURM_RESTART_COUNT", "0"));
    snprintf(h->what, sizeof h->what, "%s", what);
    time_t t = time(NULL);
    struct tm tm;
    strftime(h->started, sizeof h->started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static void format_holder(const holder *h, char *out, size_t n)
{
    snprintf(out, n, "host %s\npid %ld\npid_start %llu\nslurm_job_id %s\nslurm_restart_count %s\n"
             "command %s\nstarted %s\n", h->host, h->pid, h->pid_start, h->slurm_job, h->restart,
             h->what, h->started);
}

/* Missing fields stay empty / 0: a lock written by hand or cut short is still described. */
static void parse_holder(const char *text, holder *h)
{
    memset(h, 0, sizeof *h);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        char buf[300];
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        char *sp = strchr(buf, ' ');
        if (sp) {
            *sp++ = '\0';
            if (strcmp(buf, "host") == 0)
                snprintf(h->host, sizeof h->host, "%s", sp);
            else if (strcmp(buf, "pid") == 0)
                h->pid = strtol(sp, NULL, 10);
            else if (strcmp(buf, "pid_start") == 0)
                h->pid_start = strtoull(sp, NULL, 10);
            else if (strcmp(buf, "slurm_job_id") == 0)
                snprintf(h->slurm_job, sizeof h->slurm_job, "%s", sp);
            else if (strcmp(buf, "slurm_restart_count") == 0)
                snprintf(h->restart, sizeof h->restart, "%s", sp);
            else if (strcmp(buf, "command") == 0)
                snprintf(h->what, sizeof h->what, "%s", sp);
            else if (strcmp(buf, "started") == 0)
                snprintf(h->started, sizeof h->started, "%s", sp);
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Why the holder is known to be gone (NULL: it may be alive). */
static const char *stale_reason(const holder *h, const holder *me)
{
    if (strcmp(h->slurm_job, "-") != 0 && h->slurm_job[0] &&
        strcmp(h->slurm_job, me->slurm_job) == 0 && strcmp(h->restart, me->restart) != 0)
        return "an earlier run of this Slurm job (requeued)";
    if (strcmp(h->host, me->host) != 0 || h->pid <= 0)
        return NULL;
    if (kill((pid_t)h->pid, 0) != 0 && errno == ESRCH)
        return "its process is not running";
    if (h->pid_start && proc_start(h->pid) != h->pid_start)
        return "its pid now belongs to another process";
    return NULL;
}

/* The lock's text (at most a small file), without touching the error message: release runs
 * on failure paths whose message must survive. 0: read; otherwise errno. */
static int read_lock(const char *path, char *out, size_t n)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return errno ? errno : EIO;
    size_t got = fread(out, 1, n - 1, fp);
    int err = ferror(fp) ? (errno ? errno : EIO) : 0;
    fclose(fp);
    out[got] = '\0';
    return err;
}

/* Writes text into a unique temporary file beside the lock and links it to the lock name:
 * link fails with EEXIST when the lock exists, and never leaves a half-written lock. */
static int try_link(const char *path, const char *text, int *held)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    *held = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return ad_fail(AD_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int err = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return ad_fail(AD_ERR_IO, "%s: cannot write: %s", tmp, strerror(err));
    }
    int rc = AD_OK;
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            *held = 1;
        else
            rc = ad_fail(AD_ERR_IO, "%s: cannot create the lock: %s", path, strerror(errno));
    }
    unlink(tmp);
    return rc;
}

/* Moves a lock judged stale out of the way; 1 when it was the stale one (now removed). */
static int take_over(const char *path, const char *stale_text)
{
    char aside[4300];
    snprintf(aside, sizeof aside, "%s.stale-%ld", path, (long)getpid());
    if (rename(path, aside) != 0)
        return errno == ENOENT; /* another starter removed it first: retry the link */
    char now[1024];
    int same = read_lock(aside, now, sizeof now) == 0 && strcmp(now, stale_text) == 0;
    if (same) {
        unlink(aside);
        return 1;
    }
    /* a fresh lock another starter made after our read: put it back */
    if (link(aside, path) == 0)
        unlink(aside);
    return 0;
}

int ad_runlock_acquire(const char *dir, const char *what, ad_runlock **out)
{
    *out = NULL;
    AD_TRY(ad_mkdir_p(dir));
    ad_runlock *l = ad_calloc(1, sizeof *l, "lock");
    if (!l)
        return AD_ERR_NOMEM;
    int rc = ad_path_join(l->path, sizeof l->path, dir, LOCK_NAME);
    holder me;
    describe_self(&me, what);
    format_holder(&me, l->text, sizeof l->text);
    /* a few rounds: a lock released or taken over between our link and our read */
    for (int attempt = 0; rc == AD_OK && attempt < 3; attempt++) {
        int held;
        rc = try_link(l->path, l->text, &held);
        if (rc == AD_OK && !held) {
            *out = l;
            return AD_OK;
        }
        if (rc != AD_OK)
            break;
        char text[1024];
        int err = read_lock(l->path, text, sizeof text);
        if (err == ENOENT)
            continue; /* released meanwhile */
        if (err) {
            rc = ad_fail(AD_ERR_IO, "%s: cannot read the lock: %s", l->path, strerror(err));
            break;
        }
        holder h;
        parse_holder(text, &h);
        const char *why = stale_reason(&h, &me);
        if (why && take_over(l->path, text)) {
            ad_warn("%s: took over a stale lock of pid %ld on %s (Slurm job %s, since %s): %s",
                    l->path, h.pid, h.host[0] ? h.host : "?", h.slurm_job[0] ? h.slurm_job : "-",
                    h.started[0] ? h.started : "?", why);
            continue;
        }
        int here = strcmp(h.host, me.host) == 0;
        rc = ad_fail(AD_ERR_IO, "%s is in use by %s (pid %ld on %s, Slurm job %s, since %s): "
                     "wait for it or use another output folder%s", dir,
                     h.what[0] ? h.what : "another job", h.pid, h.host[0] ? h.host : "?",
                     h.slurm_job[0] ? h.slurm_job : "-", h.started[0] ? h.started : "?",
                     here ? "" : "; if that job is gone, remove " LOCK_NAME " there");
    }
    if (rc == AD_OK)
        rc = ad_fail(AD_ERR_IO, "%s: the lock changed hands repeatedly while starting; try again",
                     l->path);
    free(l);
    return rc;
}

int ad_runlock_acquire_job(MPI_Comm comm, const char *dir, const char *what, ad_runlock **lock)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    *lock = NULL;
    int rc = rank == 0 ? ad_runlock_acquire(dir, what, lock) : AD_OK;
    return ad_mpi_agree(comm, rc, NULL);
}

void ad_runlock_release(ad_runlock *l)
{
    if (!l)
        return;
    /* only our own lock: never one that replaced ours after it was judged stale */
    char text[1024];
    if (read_lock(l->path, text, sizeof text) == 0 && strcmp(text, l->text) == 0)
        unlink(l->path);
    free(l);
}
