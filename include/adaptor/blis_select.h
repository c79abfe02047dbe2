/* Choosing BLIS's kernel family before BLIS initialises.
 *
 * Debian's BLIS 0.9.0 falls back to its `generic` kernels on CPUs its cpuid table does not
 * know (recent Xeons and EPYCs), about 5x slower than its AVX-512 `skx` kernels on the
 * same machine. BLIS reads the family from the environment variable BLIS_ARCH_TYPE the
 * first time it initialises, so main calls ad_blis_select() before any BLIS routine runs. */
#ifndef ADAPTOR_BLIS_SELECT_H
#define ADAPTOR_BLIS_SELECT_H

#include <stddef.h>

/* Picks the kernel family for this CPU (unless the user set BLIS_ARCH_TYPE, which wins),
 * initialises BLIS and writes a one-line description of the choice into msg. */
int ad_blis_select(char *msg, size_t n);

/* Threads BLIS may use per rank (1 in the tests and by default: one rank per core). */
void ad_blis_set_threads(int n);
int ad_blis_get_threads(void);

/* Name of the kernel family BLIS is using now. */
const char *ad_blis_arch_name(void);

#endif
