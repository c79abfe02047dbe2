/* Shared helpers for the unit tests (Check) and MPI tests. */
#ifndef ADAPTOR_TESTUTIL_H
#define ADAPTOR_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stddef.h>

/* Absolute path of a file under tests/data/ (static buffer per call site is not safe:
 * caller provides out). */
void tu_data_path(char *out, size_t n, const char *rel);
/* A fresh empty directory under the build's test tmp dir, unique per call. */
void tu_tmpdir(char *out, size_t n, const char *tag);
/* Writes text to a file (test fixtures). */
void tu_write_text(const char *path, const char *text);
/* Largest |a-b| / max(max|b|, tiny): errors relative to the reference tensor's scale. */
double tu_max_rel_err(const float *a, const float *b, size_t n);
/* Runs every test of the suite; returns the process exit status. */
int tu_run_suite(Suite *s);
/* For tests that use MPI: MPI_Init, Check without forking (MPI does not survive Check's
 * fork per test), the suite, MPI_Finalize. */
int tu_run_mpi_suite(int *argc, char ***argv, Suite *s);
/* n floats (malloc'ed, freed by the caller) uniform in [lo, hi) / normal times scale, from
 * the seeded stream (seed, stream). */
float *tu_rand_uniform(size_t n, float lo, float hi, uint64_t seed, uint64_t stream);
float *tu_rand_normal(size_t n, float scale, uint64_t seed, uint64_t stream);

/* Asserts that an ad_* call failed with `code` and that its message mentions `needle`. */
#define tu_assert_fails(expr, code, needle)                                                \
    do {                                                                                   \
        ad_clear_error();                                                                  \
        int tu_rc_ = (expr);                                                               \
        ck_assert_msg(tu_rc_ == (code), "%s returned %d (%s), expected %d", #expr, tu_rc_, \
                      ad_errmsg(), (code));                                                \
        ck_assert_msg(strstr(ad_errmsg(), (needle)) != NULL,                               \
                      "message '%s' does not mention '%s'", ad_errmsg(), (needle));        \
    } while (0)

#define tu_assert_ok(expr)                                                                 \
    do {                                                                                   \
        int tu_rc_ = (expr);                                                               \
        ck_assert_msg(tu_rc_ == 0, "%s failed: %s", #expr, ad_errmsg());                   \
    } while (0)

#endif
