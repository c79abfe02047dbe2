#!/bin/bash
# Submits embed -> pretrain -> eval for one job file as three Slurm jobs chained with
# --dependency=afterok, sharing one run dir: runs/<embed job id> (under AD_RUN_ROOT, default
# ./runs), or AD_RUN_DIR / --set output.dir=DIR if given.
#   slurm/pipeline.sh JOB.ini [--set section.key=value]...
# Prints `embed=ID pretrain=ID eval=ID run_dir=DIR` on stdout.
# sbatch options: AD_SBATCH_ARGS (every job) and AD_SBATCH_EMBED_ARGS, AD_SBATCH_PRETRAIN_ARGS,
# AD_SBATCH_EVAL_ARGS (one stage), e.g.
#   AD_SBATCH_ARGS="-p long -A proj" AD_SBATCH_PRETRAIN_ARGS="-N 4 -t 2-00:00:00" slurm/pipeline.sh job.ini
# A stage that fails cancels the stages after it (--kill-on-invalid-dep=yes).
set -euo pipefail
AD_SLURM_DIR=$(cd "$(dirname "$0")" && pwd)
AD_USAGE="slurm/pipeline.sh JOB.ini [--set section.key=value]..."
. "$AD_SLURM_DIR/common.sh"
ad_parse_args "$@"
[ ${#AD_JOBS[@]} -eq 1 ] || ad_die "one job file, not ${#AD_JOBS[@]}; for several use slurm/sweep.sh"
[ -z "$AD_OUT_SET" ] || AD_RUN_DIR=$(mkdir -p "$AD_OUT_SET" && cd "$AD_OUT_SET" && pwd)
export AD_SLURM_DIR AD_RUN_ROOT=${AD_RUN_ROOT:-$PWD/runs}
unset AD_RUN_ID # set below, for the stages after embed
[ -n "${AD_RUN_DIR:-}" ] && export AD_RUN_DIR
args=("${AD_JOBS[0]}" "${AD_SETS[@]}")

# shellcheck disable=SC2086  # option lists, split on purpose
embed=$(ad_sbatch ${AD_SBATCH_EMBED_ARGS:-} "$AD_SLURM_DIR/embed.sbatch" "${args[@]}")
export AD_RUN_ID=$embed
# shellcheck disable=SC2086
pretrain=$(ad_sbatch --dependency=afterok:$embed --kill-on-invalid-dep=yes ${AD_SBATCH_PRETRAIN_ARGS:-} \
  "$AD_SLURM_DIR/pretrain.sbatch" "${args[@]}")
# shellcheck disable=SC2086
evaluate=$(ad_sbatch --dependency=afterok:$pretrain --kill-on-invalid-dep=yes ${AD_SBATCH_EVAL_ARGS:-} \
  "$AD_SLURM_DIR/eval.sbatch" "${args[@]}")
run_dir=${AD_RUN_DIR:-$AD_RUN_ROOT/$embed}
ad_note "embed job $embed -> pretrain job $pretrain -> eval job $evaluate; run dir $run_dir"
echo "embed=$embed pretrain=$pretrain eval=$evaluate run_dir=$run_dir"
