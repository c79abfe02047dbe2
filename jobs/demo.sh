#!/usr/bin/env bash
# The demo: the main job end to end on the embedded synthetic corpus, on this machine.
#   jobs/demo.sh [WORKDIR]      (default: ./work/demo; ~2 minutes after the build on 2 idle cores)
# Installs missing Debian packages (as root), builds adaptor, then runs the pipeline:
#   synth -> embed (frozen encoders -> caches) -> pretrain (the Adaptor) -> eval,
# the downstream tasks on the trained Adaptor (classify with 10% of the labels, with and
# without the Adaptor; segment) and the offline analysis (figures and tables).
# RANKS (default 2) and DEMO_N (corpus size, default 2000) can be set in the environment.
set -euo pipefail
AD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$AD_ROOT/scripts/bootstrap.sh"
ad_bootstrap_packages build demo
ad_mpi_env

WORK=${1:-$PWD/work/demo}
RANKS=${RANKS:-2}
BUILD="$AD_ROOT/build/release"
mkdir -p "$BUILD" "$WORK"
WORK=$(cd "$WORK" && pwd)
echo "== building adaptor in $BUILD"
ad_build "$BUILD" -DCMAKE_BUILD_TYPE=Release
ADAPTOR="$BUILD/adaptor"
"$ADAPTOR" --version

# Wall time of each stage, printed when the next begins.
T_NAME="" T_WALL=0
stage() {
  [ -z "$T_NAME" ] && SECONDS=0 # the demo's time counts from the end of the build
  [ -n "$T_NAME" ] && echo "   (stage $T_NAME: $((SECONDS - T_WALL)) s)"
  T_NAME=${1:-} T_NAME=${T_NAME%%.*} T_WALL=$SECONDS
  [ $# -gt 0 ] && echo "== $*"
  return 0
}
run() { echo "+ $*"; "$@"; }
# Rank 0 prints the effective configuration at start; the demo keeps the console short.
# --line-buffered: into a file or pipe grep would otherwise hold the log back for minutes.
runq() { echo "+ $*"; "$@" 2> >(grep --line-buffered -v '^\(\[\|;\|[a-z_0-9]* = \|$\)' >&2); }
# Every stage reads the same job file; paths are given relative to the work folder.
JOB=("$AD_ROOT/jobs/demo.ini" --set "data.manifest=$WORK/corpus/manifest.csv"
     --set "text_encoder.model=$WORK/corpus/models/bert-tiny"
     --set "image_encoder.model=$WORK/corpus/models/dinov2-tiny"
     --set "cache.dir=$WORK/cache" --set "output.dir=$WORK/run")

stage "1. synthetic corpus ($RANKS ranks)"
if [ ! -f "$WORK/corpus/manifest.csv" ]; then
  run mpirun -np "$RANKS" "$ADAPTOR" synth "$WORK/corpus" --n "${DEMO_N:-2000}" --seed 42
fi

stage "2. frozen encoders -> embedding caches"
runq mpirun -np "$RANKS" "$ADAPTOR" embed "${JOB[@]}"

stage "3. the Adaptor"
rm -rf "$WORK/run"
runq mpirun -np "$RANKS" "$ADAPTOR" pretrain "${JOB[@]}"

stage "4. evaluation (retrieval and zero-shot, before and after the Adaptor)"
runq mpirun -np "$RANKS" "$ADAPTOR" eval "${JOB[@]}"

PATHS=(--set "data.manifest=$WORK/corpus/manifest.csv"
       --set "image_encoder.model=$WORK/corpus/models/dinov2-tiny" --set "cache.dir=$WORK/cache")

stage "5. classification heads on 10% of the labels, with the Adaptor and without"
for variant in adaptor baseline; do
  weights=$WORK/run/model.safetensors
  [ $variant = baseline ] && weights=none
  runq mpirun -np "$RANKS" "$ADAPTOR" classify "$AD_ROOT/jobs/classify-demo.ini" "${PATHS[@]}" \
    --set "classify.adaptor=$weights" --set "output.dir=$WORK/classify/$variant"
done

stage "6. segmentation decoder (pleural effusion masks) on the Adaptor's patch tokens"
runq mpirun -np "$RANKS" "$ADAPTOR" segment "$AD_ROOT/jobs/segment-demo.ini" "${PATHS[@]}" \
  --set "text_encoder.model=$WORK/corpus/models/bert-tiny" --set "output.dir=$WORK/run"

stage "7. offline analysis: figures and tables from the netCDF outputs"
run env PYTHONPATH="$AD_ROOT" /usr/bin/python3 -m analysis "$WORK/run" "$WORK/classify" --out "$WORK/analysis"

stage
echo "== demo finished in $WORK, $SECONDS s after the build: corpus/, cache/, run/ (config.ini, metrics.nc, checkpoints/,"
echo "   model.safetensors, eval.nc, embeddings.nc, pca-*.nc, segment/), classify/, analysis/"
