#!/usr/bin/env bash
# The test command: installs what is missing (as root), builds with warnings as errors,
# runs every test, then again in an AddressSanitizer + UndefinedBehaviorSanitizer build
# (all but the tests labelled `heavy`), then the fuzz targets for 10 s each.
#   tests/run.sh            both builds
#   tests/run.sh --quick    the optimised build only
set -euo pipefail
AD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$AD_ROOT/scripts/bootstrap.sh"
ad_bootstrap_packages build test
ad_mpi_env

quick=0
[ "${1:-}" = "--quick" ] && quick=1
# Not `nproc`: it honours OMP_NUM_THREADS, which ad_mpi_env sets to 1 for the ranks.
jobs=$(getconf _NPROCESSORS_ONLN)
status=0

run_suite() {
  local dir=$1 ctest_args=$2
  shift 2
  echo "== build: $dir"
  mkdir -p "$dir"
  ad_build "$dir" -DADAPTOR_WERROR=ON "$@" || return 1
  echo "== tests: $dir"
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure --timeout 900 $ctest_args
}

run_suite "$AD_ROOT/build/release" "-E ^slurm\.multinode$" -DCMAKE_BUILD_TYPE=Release || status=1
# The 3-node Slurm test on its own, with one retry: on this emulated cluster (three slurmd on
# one host, ranks over TCP) a rank has died inside Open MPI 4.1.4's MPI_Init (btl/tcp calls a
# NULL callback; slurm/README.md), in about 1 of 8 runs on a loaded machine. A retry shows
# in the log as a failed first attempt; two failures fail the suite.
echo "== tests: slurm.multinode (release, alone, one retry)"
ctest --test-dir "$AD_ROOT/build/release" -R '^slurm\.multinode$' --repeat until-pass:2 \
  --output-on-failure || status=1

if [ $quick = 0 ]; then
  # Leaks inside Open MPI / hwloc / PMIx are theirs, not ours.
  export LSAN_OPTIONS="suppressions=$AD_ROOT/tests/sanitizer/lsan.supp:print_suppressions=0"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # Tests labelled `heavy` (long end-to-end runs of the whole program, the Slurm cluster)
  # run in the optimised build only: under the sanitizers they would take most of the time
  # budget and exercise the same code the unit, MPI and shorter CLI tests already cover.
  run_suite "$AD_ROOT/build/asan" "-LE heavy" -DCMAKE_BUILD_TYPE=Debug -DADAPTOR_SANITIZE=ON || status=1
  # The libFuzzer targets, briefly (seeds first, then 10 s of fuzzing each), so they keep
  # building and their regression seeds keep passing; longer runs: tests/fuzz/run.sh 600.
  echo "== fuzz: build/fuzz"
  "$AD_ROOT/tests/fuzz/run.sh" 10 || status=1
fi
exit $status
