#!/usr/bin/env bash
# A user's build and install, used from outside the checkout:
#  1. with Check hidden from pkg-config, the development configuration fails naming Check and
#     -DADAPTOR_BUILD_TESTS=OFF configures and builds without any test or benchmark;
#  2. `cmake --install` puts adaptor and adaptor-analysis in bin/ and the job files, Slurm
#     scripts and analysis package in share/adaptor/;
#  3. in a folder outside the checkout, with no PYTHONPATH: the installed binary runs
#     synth -> embed -> pretrain -> eval on a small corpus with the installed demo job file,
#     the installed Slurm eval script (run without Slurm) finds the installed binary by itself,
#     and the installed analysis (wrapper and PYTHONPATH=share/adaptor) writes its figures.
# usage: install_check.sh SOURCE_DIR BUILD_DIR MPIEXEC [COMPILER_LAUNCHER]
set -u
SRC=$1 B=$2 MPI=$3 LAUNCHER=${4:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/adaptor-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
P=$T/prefix W=$T/work
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION -- command...
  local what=$1
  shift 2
  if "$@"; then ok; else bad "$what"; fi
}
finish() {
  echo "install_check: $pass passed, $fail failed"
  [ "$fail" = 0 ]
  exit
}

# ---- 1. configure and build as a user: Check absent ----
mkdir -p "$T/pc"
IFS=: read -ra pcdirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pcdirs[@]}"; do
  for f in "$d"/*.pc; do
    [ -e "$f" ] && [ "$(basename "$f")" != check.pc ] && [ ! -e "$T/pc/$(basename "$f")" ] &&
      ln -s "$f" "$T/pc/"
  done
done
export PKG_CONFIG_LIBDIR=$T/pc PKG_CONFIG_PATH=
# The build folder has a fixed place so that ccache serves a rerun.
rm -rf "$B"
out=$(cmake -S "$SRC" -B "$B.dev" -DADAPTOR_BUILD_TESTS=ON 2>&1)
check "the development configuration without Check fails naming it: $out" -- \
  grep -q "Check unit-test library was not found: apt-get install check" <<<"$out"
rm -rf "$B.dev"
launch=()
[ -n "$LAUNCHER" ] && launch=(-DCMAKE_C_COMPILER_LAUNCHER="$LAUNCHER")
if ! cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Release -DADAPTOR_BUILD_TESTS=OFF \
  -DCMAKE_INSTALL_PREFIX="$P" "${launch[@]}" >"$T/configure.log" 2>&1; then
  cat "$T/configure.log"
  bad "configure with ADAPTOR_BUILD_TESTS=OFF and no Check failed"
  finish
fi
unset PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
if ! nice cmake --build "$B" -j "$(getconf _NPROCESSORS_ONLN)" >"$T/build.log" 2>&1; then
  tail -30 "$T/build.log"
  bad "user build failed"
  finish
fi
built=$(find "$B" -path "$B/CMakeFiles" -prune -o -type f -perm -u+x \( -name 'test_*' -o -name 'bench_*' \) \
  -print | head -3)
check "test or benchmark executables built: $built" -- test -z "$built"
check "the user build registers ctest tests" -- test ! -e "$B/tests"
check "no adaptor executable in the build" -- test -x "$B/adaptor"
check "the build has test or benchmark targets" -- sh -c "! grep -qE '^(test|bench)_' '$B/Makefile'"

# ---- 2. install ----
cmake --install "$B" >"$T/install.log" 2>&1 || { cat "$T/install.log"; bad "cmake --install failed"; finish; }
for f in bin/adaptor bin/adaptor-analysis share/adaptor/slurm/eval.sbatch share/adaptor/slurm/pipeline.sh; do
  check "$f missing or not executable" -- test -x "$P/$f"
done
for f in share/adaptor/jobs/demo.ini share/adaptor/jobs/paper/mimic.ini share/adaptor/slurm/common.sh \
  share/adaptor/analysis/__main__.py share/adaptor/analysis/figures.py; do
  check "$f missing" -- test -f "$P/$f"
done
check "demo.sh (a checkout script) installed" -- test ! -e "$P/share/adaptor/jobs/demo.sh"

# ---- 3. use it from outside the checkout ----
mkdir -p "$W/bin"
cd "$W" || finish
unset PYTHONPATH ADAPTOR ADAPTOR_BIN AD_SLURM_DIR
# mpirun without -np (as the Slurm scripts call it outside Slurm) starts 2 ranks here
cat >"$W/bin/mpirun" <<EOF
#!/bin/sh
exec "$MPI" -np 2 --oversubscribe "\$@"
EOF
chmod +x "$W/bin/mpirun"
export PATH="$W/bin:/usr/local/bin:/usr/bin:/bin"
A=$P/bin/adaptor
check "installed adaptor --version" -- sh -c "'$A' --version | grep -q '^adaptor [0-9]'"
run() {
  "$@" >"$T/step.log" 2>&1 || { tail -20 "$T/step.log"; bad "$* failed"; finish; }
}
run mpirun "$A" synth corpus --n 160 --seed 3
JOB=("$P/share/adaptor/jobs/demo.ini" --set data.manifest=corpus/manifest.csv
  --set text_encoder.model=corpus/models/bert-tiny --set image_encoder.model=corpus/models/dinov2-tiny
  --set cache.dir=cache --set train.epochs=2 --set train.checkpoint_every=0)
run mpirun "$A" embed "${JOB[@]}" --set output.dir=run
run mpirun "$A" pretrain "${JOB[@]}" --set output.dir=run
run env AD_RUN_DIR="$W/run" AD_LAUNCHER=mpirun bash "$P/share/adaptor/slurm/eval.sbatch" "${JOB[@]}"
check "the installed Slurm script did not use the installed binary: $(grep -m1 'adaptor' "$T/step.log")" -- \
  test -f "$W/run/eval.nc"
check "eval.nc and pca-test-adaptor.nc written" -- test -f "$W/run/pca-test-adaptor.nc"

check "python3 -m analysis should not be importable here without PYTHONPATH" -- \
  sh -c "! /usr/bin/python3 -m analysis run --out nofig 2>/dev/null"
run "$P/bin/adaptor-analysis" run --out fig
run env PYTHONPATH="$P/share/adaptor" /usr/bin/python3 -m analysis run --out fig2
for d in fig fig2; do
  for f in training_step.png throughput.png embeddings_test.png retrieval.md summary.md; do
    check "$d/$f missing" -- test -s "$W/$d/$f"
  done
done
# through a symlink on the user's PATH
ln -s "$P/bin/adaptor-analysis" "$W/bin/adaptor-analysis"
run adaptor-analysis run --out fig3
check "adaptor-analysis via a symlink" -- test -s "$W/fig3/summary.md"
finish
