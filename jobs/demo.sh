#!/usr/bin/env bash
# The demo: the main job end to end on the embedded synthetic corpus, on this machine.
#   jobs/demo.sh [WORKDIR]      (default: ./work/demo; needs about 2 cores and a few minutes)
# Installs missing Debian packages (as root), builds adaptor, then runs every stage that
# exists so far: synth -> text encoder on the reports.
set -euo pipefail
AD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$AD_ROOT/scripts/bootstrap.sh"
ad_bootstrap_packages build demo
ad_mpi_env

WORK=${1:-$PWD/work/demo}
RANKS=${RANKS:-2}
BUILD="$AD_ROOT/build/release"
mkdir -p "$BUILD" "$WORK"
echo "== building adaptor in $BUILD"
ad_build "$BUILD" -DCMAKE_BUILD_TYPE=Release
ADAPTOR="$BUILD/adaptor"
"$ADAPTOR" --version

run() { echo "+ $*"; "$@"; }

echo "== 1. synthetic corpus ($RANKS ranks)"
rm -rf "$WORK/corpus"
run mpirun -np "$RANKS" "$ADAPTOR" synth "$WORK/corpus" --n "${DEMO_N:-1000}" --seed 42

echo "== 2. what synth wrote"
head -c 600 "$WORK/corpus/manifest.csv"; echo " ..."
run "$ADAPTOR" info "$WORK/corpus/models/bert-tiny"

echo "== 3. the tiny text encoder on three reports"
python3 - "$WORK/corpus/manifest.csv" >"$WORK/reports.txt" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
for r in rows[:3]:
    print((r["impression"] + " " + r["findings"]).replace("\n", " "))
PY
run "$ADAPTOR" tokenize --model "$WORK/corpus/models/bert-tiny" <"$WORK/reports.txt"
run "$ADAPTOR" encode-text --model "$WORK/corpus/models/bert-tiny" <"$WORK/reports.txt" |
  cut -c1-100

echo "== demo finished: outputs in $WORK"
