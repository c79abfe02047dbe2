#!/bin/bash
# adaptor synth from the command line: the tree does not depend on the number of ranks,
# and bad arguments fail with one clear line and exit status 2.
# usage: test_synth_cli.sh MPIEXEC NUMPROC_FLAG   (ADAPTOR_BIN, ADAPTOR_TEST_TMP from ctest)
set -u
# Under AddressSanitizer the binary would report Open MPI's exit-time allocations as leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpiexec=$1
npflag=$2
bin=${ADAPTOR_BIN:?}
tmp=${ADAPTOR_TEST_TMP:-/tmp}/synth_cli.$$
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

run() { "$mpiexec" "$npflag" "$1" --oversubscribe --bind-to none "$bin" synth "${@:2}"; }

run 1 "$tmp/np1" --n 30 --seed 5 2>"$tmp/np1.log" || { cat "$tmp/np1.log"; fail "np 1 run"; }
run 2 "$tmp/np2" --n 30 --seed 5 2>"$tmp/np2.log" || { cat "$tmp/np2.log"; fail "np 2 run"; }
diff -r "$tmp/np1" "$tmp/np2" || fail "np 1 and np 2 trees differ"
n=$(find "$tmp/np1/images" -type f | wc -l)
[ "$n" -eq 30 ] || fail "expected 30 images, found $n"
grep -q "train" "$tmp/np1.log" || fail "no summary printed"
# No temporary files are left behind.
leftover=$(find "$tmp/np1" "$tmp/np2" -name '*.tmp.*' | wc -l)
[ "$leftover" -eq 0 ] || fail "$leftover temporary files left"

# expect_error STATUS NEEDLE ARGS...: the command fails with STATUS and says NEEDLE once.
expect_error() {
    local want=$1 needle=$2
    shift 2
    "$bin" synth "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    [ "$got" -eq "$want" ] || { cat "$tmp/err"; fail "synth $*: status $got, expected $want"; }
    grep -q -- "$needle" "$tmp/err" || { cat "$tmp/err"; fail "synth $*: message lacks '$needle'"; }
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || { cat "$tmp/err"; fail "synth $*: more than one line"; }
}
expect_error 2 "missing OUTDIR" --n 20
expect_error 2 "outside 10" "$tmp/x" --n 5
expect_error 2 "not an integer" "$tmp/x" --n 12abc
expect_error 2 "not an integer" "$tmp/x" --seed ""
expect_error 2 "outside 0" "$tmp/x" --seed -1
expect_error 2 "needs a value" "$tmp/x" --n
expect_error 2 "unknown option --bogus" "$tmp/x" --bogus
expect_error 2 "one OUTDIR only" "$tmp/x" "$tmp/y"
expect_error 2 "use --force" "$tmp/np1" --n 30 --seed 5
[ ! -e "$tmp/x" ] || fail "a failed run created its OUTDIR"
"$bin" synth --help | grep -q "usage: " || fail "--help"
"$bin" synth "$tmp/np1" --n 10 --seed 5 --force 2>/dev/null || fail "--force"
echo "synth CLI: OK"
