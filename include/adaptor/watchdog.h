/* A deadline for library calls that can hang in a collective operation: parallel HDF5 has
 * no way out of a collective call that failed on some ranks only (ranks wait for each other
 * in different MPI calls inside one H5Fflush), so no agreement outside the library can end
 * it. A helper thread watches the armed call; when it has not returned by its deadline,
 * the thread removes the call's doomed file, prints the rank's error line and ends the job
 * with MPI_Abort. Ranks other than 0 give it 10 s more, so that one line (rank 0's) names
 * the failure when every rank is stuck (Open MPI took 0.7 s to end the other ranks after
 * rank 0's MPI_Abort on a lightly loaded machine; 2 s was too thin a margin under load). */
#ifndef ADAPTOR_WATCHDOG_H
#define ADAPTOR_WATCHDOG_H

#include <mpi.h>

typedef struct ad_watchdog ad_watchdog;

/* seconds <= 0: a watchdog that never fires (and starts no thread). */
int ad_watchdog_create(MPI_Comm comm, double seconds, ad_watchdog **wd);
/* Starts the deadline for one call; name (a file) and what (the call) go into the line;
 * doomed (may be NULL) is deleted before the abort. All must outlive the arming. NULL wd:
 * nothing. */
void ad_watchdog_arm(ad_watchdog *wd, const char *name, const char *what, const char *doomed);
void ad_watchdog_disarm(ad_watchdog *wd);
void ad_watchdog_destroy(ad_watchdog *wd);

#endif
