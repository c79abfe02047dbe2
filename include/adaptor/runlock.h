/* One job at a time per output folder: <dir>/adaptor.lock.
 *
 * The lock file records who holds it (host, pid and the pid's start time, Slurm job id and
 * restart count, command, UTC start) and is created atomically with link(2) of a fully
 * written temporary file, which is atomic on local file systems and on NFS alike; a second
 * job finds it and stops with one line naming the holder.
 *
 * A lock is stale, and is taken over, when its holder is gone: the same host and the pid is
 * not running (or runs a different process: another start time), or the same Slurm job id
 * with another restart count (Slurm runs one incarnation of a job at a time: a requeued job
 * finds its previous incarnation's lock). A lock held from another host is never broken
 * automatically (its processes cannot be seen from here): the message says to check that
 * job and remove the file. Taking over renames the stale file to a unique name, checks that
 * what was renamed is still the stale lock (another starter may have won meanwhile) and
 * retries the link once.
 *
 * The owner (rank 0 of the job) releases it on every return path; a killed job leaves it
 * behind as a stale lock for the next start to recognise. */
#ifndef ADAPTOR_RUNLOCK_H
#define ADAPTOR_RUNLOCK_H

#include <mpi.h>

typedef struct ad_runlock ad_runlock;

/* Creates dir (mkdir -p) and takes its lock; `what` names the command in the lock. */
int ad_runlock_acquire(const char *dir, const char *what, ad_runlock **out);
/* Removes the lock file (if it is still ours) and frees; NULL is a no-op. */
void ad_runlock_release(ad_runlock *lock);
/* A job's stage: rank 0 takes the lock, every rank learns whether it got it (collective).
 * *lock is set on rank 0 only. */
int ad_runlock_acquire_job(MPI_Comm comm, const char *dir, const char *what, ad_runlock **lock);

#endif
