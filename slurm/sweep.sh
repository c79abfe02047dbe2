#!/bin/bash
# Submits a grid of job files (default: the paper's encoder grid jobs/paper/<image>-<text>.ini,
# i.e. the *-*.ini there that include mimic.ini) as job arrays, array index i -> job file i
# (in the order given, or sorted for the default), one array per stage: embed -> pretrain -> eval, task i of a stage after task i of the one before
# (--dependency=aftercorr). Task i's run dir: runs/<embed array job id>_<i> (under AD_RUN_ROOT,
# default ./runs).
#   slurm/sweep.sh [JOB.ini...] [--set section.key=value]...
# Prints `embed=ID pretrain=ID eval=ID run_root=DIR jobs=N` on stdout.
# The embed array runs one task at a time (%1): tasks that share an encoder share its cache
# ([cache] dir), which the first writes and the later ones find complete.
# AD_STAGES (default "embed pretrain eval") picks stages, e.g. AD_STAGES="pretrain eval" when
# the caches exist; sbatch options as in slurm/pipeline.sh (AD_SBATCH_ARGS, AD_SBATCH_<STAGE>_ARGS).
set -euo pipefail
AD_SLURM_DIR=$(cd "$(dirname "$0")" && pwd)
AD_USAGE="slurm/sweep.sh [JOB.ini...] [--set section.key=value]..."
. "$AD_SLURM_DIR/common.sh"
jobs_given=0
for a in "$@"; do
  case $a in --set | --set=*) break ;; -*) ;; *) jobs_given=1 ;; esac
done
if [ $jobs_given = 0 ]; then
  # the grid: jobs/paper/<image>-<text>.ini, the files that include mimic.ini (not seg-*.ini etc.)
  mapfile -t grid < <(grep -l '^include *= *mimic.ini' "$AD_ROOT"/jobs/paper/*-*.ini 2>/dev/null | sort)
  [ ${#grid[@]} -gt 0 ] || ad_die "no job files given and no grid in $AD_ROOT/jobs/paper/*-*.ini"
  set -- "${grid[@]}" "$@"
fi
ad_parse_args "$@"
[ -z "$AD_OUT_SET" ] || ad_die "--set output.dir: every task has its own run dir; set AD_RUN_ROOT"
export AD_SLURM_DIR AD_RUN_ROOT=${AD_RUN_ROOT:-$PWD/runs}
unset AD_RUN_DIR AD_RUN_ID
n=${#AD_JOBS[@]}
for i in "${!AD_JOBS[@]}"; do ad_note "task $i: ${AD_JOBS[$i]}"; done

declare -A ids=([embed]=none [pretrain]=none [eval]=none)
prev=""
for stage in ${AD_STAGES:-embed pretrain eval}; do
  case $stage in embed | pretrain | eval) ;; *) ad_die "AD_STAGES: unknown stage '$stage'" ;; esac
  range="0-$((n - 1))"
  [ "$stage" = embed ] && range="$range%1"
  dep=()
  [ -n "$prev" ] && dep=("--dependency=aftercorr:$prev" --kill-on-invalid-dep=yes)
  var="AD_SBATCH_${stage^^}_ARGS"
  # shellcheck disable=SC2086  # option lists, split on purpose
  id=$(ad_sbatch --array="$range" --output=%x-%A_%a.out "${dep[@]}" ${!var:-} \
    "$AD_SLURM_DIR/$stage.sbatch" "${AD_JOBS[@]}" "${AD_SETS[@]}")
  [ -n "${AD_RUN_ID:-}" ] || export AD_RUN_ID=$id
  ids[$stage]=$id
  prev=$id
done
[ -n "$prev" ] || ad_die "AD_STAGES is empty"
ad_note "embed ${ids[embed]}, pretrain ${ids[pretrain]}, eval ${ids[eval]}: $n tasks each; run dirs $AD_RUN_ROOT/${AD_RUN_ID}_<task>"
echo "embed=${ids[embed]} pretrain=${ids[pretrain]} eval=${ids[eval]} run_root=$AD_RUN_ROOT jobs=$n"
