#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined, into build/fuzz)
# and runs each for SECONDS, one after the other, starting from the seed corpus in
# tests/fuzz/corpus/<target>/ (every seed runs first, so they double as regression inputs).
#   tests/fuzz/run.sh SECONDS [TARGET...]      TARGET: safetensors, image, manifest, ...
# Prints executions per target; exits non-zero if any target found a crash, a sanitizer
# report, a leak, an out-of-memory or a timeout (the input is saved under
# build/fuzz/findings/<target>/; reproduce with build/fuzz/tests/fuzz/fuzz_<target> FILE).
# Inputs that reached new code are kept in build/fuzz/corpus/<target>/ for the next run.
set -euo pipefail
AD_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$AD_ROOT/scripts/bootstrap.sh"

seconds=${1:-}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: tests/fuzz/run.sh SECONDS [TARGET...]" >&2
  exit 2
fi
shift
ad_bootstrap_packages build test

dir=$AD_ROOT/build/fuzz
mkdir -p "$dir"
echo "== build: $dir (clang, libFuzzer + ASan + UBSan)"
ad_build "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DADAPTOR_FUZZ=ON \
  -DBUILD_TESTING=OFF -DADAPTOR_WERROR=ON

targets=("$@")
if [ ${#targets[@]} = 0 ]; then
  for f in "$AD_ROOT"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$f" .c)
    targets+=("${t#fuzz_}")
  done
fi

# Leaks inside Open MPI / hwloc / PMIx (linked, never initialised here) are not ours.
export LSAN_OPTIONS="suppressions=$AD_ROOT/tests/sanitizer/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1

status=0
printf '%-12s %12s %9s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  bin=$dir/tests/fuzz/fuzz_$t
  seeds=$AD_ROOT/tests/fuzz/corpus/$t
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "no fuzz target '$t' (tests/fuzz/fuzz_$t.c and tests/fuzz/corpus/$t/)" >&2
    status=1
    continue
  fi
  work=$dir/corpus/$t findings=$dir/findings/$t log=$dir/logs/$t.log
  mkdir -p "$work" "$findings" "$dir/logs"
  # 2 GB: far above what any valid small input needs; an input that makes the code
  # allocate more (or take over 10 s) is a finding, not a reason to wait.
  extra=()
  # HDF5 keeps freed blocks on its own free lists, so every input would look like a leak
  # and cost a full LeakSanitizer scan (20 instead of 100+ inputs/s); leaks are still
  # checked once at exit, over all inputs.
  [ "$t" = cache ] && extra=(-detect_leaks=0)
  rc=0
  (cd "$findings" && nice "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" "${extra[@]}" \
    "$work" "$seeds") >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  size=$(find "$work" "$seeds" -type f | wc -l)
  if [ $rc = 0 ]; then
    result=ok
  else
    result="FOUND ($(grep -m1 -oE 'SUMMARY: [A-Za-z]+: [^ ]+( [^ ]+)?|fuzz property violated: .*|ERROR: libFuzzer: [a-z-]+' "$log" || echo "exit $rc"))"
    status=1
  fi
  printf '%-12s %12s %9s %8s  %s\n' "$t" "${runs:-0}" "${rate:-?}" "$size" "$result"
  if [ $rc != 0 ]; then
    grep -E 'Test unit written to' "$log" | sed 's/^/    /' || true
    echo "    log: $log"
  fi
done
exit $status
