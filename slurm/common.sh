# slurm/common.sh: shared by the batch scripts (slurm/*.sbatch) and the submit helpers
# (slurm/pipeline.sh, slurm/sweep.sh). Sourced, never run. See slurm/README.md.
#
# Environment it reads (all optional):
#   ADAPTOR        the adaptor executable (default: installed, PREFIX/bin/adaptor beside
#                  PREFIX/share/adaptor/slurm; in a checkout `adaptor` on PATH, else
#                  build/release/adaptor, which jobs/demo.sh and tests/run.sh build)
#   AD_LAUNCHER    srun | mpirun (default: srun --mpi=pmix when srun offers PMIx, else mpirun)
#   AD_RUN_DIR     the run directory itself (what `--set output.dir=...` also sets)
#   AD_RUN_ROOT    where run directories are made (default: $SLURM_SUBMIT_DIR/runs)
#   AD_RUN_ID      the run directory's name (default: the job id, or <array job id>_<task>);
#                  pipeline.sh / sweep.sh pass the first job's id so the stages share one run dir
#   OMP_NUM_THREADS, BLIS_NUM_THREADS   1 unless set (one rank per core)

AD_SLURM_DIR=${AD_SLURM_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
AD_ROOT=$(cd "$AD_SLURM_DIR/.." && pwd)

ad_die() {
  echo "adaptor-slurm: error: $*" >&2
  exit 2
}

ad_note() {
  echo "adaptor-slurm: $*" >&2
}

# Arguments of every script: job file(s), then --set section.key=value overrides.
# Sets AD_JOBS (absolute paths), AD_SETS (--set pairs, output.dir excluded) and AD_OUT_SET.
ad_parse_args() {
  AD_JOBS=()
  AD_SETS=()
  AD_OUT_SET=""
  while [ $# -gt 0 ]; do
    case $1 in
      --set)
        [ $# -ge 2 ] || ad_die "--set needs section.key=value"
        ad_add_set "$2"
        shift 2 ;;
      --set=*)
        ad_add_set "${1#--set=}"
        shift ;;
      -h | --help)
        echo "$AD_USAGE"
        exit 0 ;;
      -*) ad_die "unknown option '$1'; usage: $AD_USAGE" ;;
      *)
        ad_add_job "$1"
        shift ;;
    esac
  done
  [ ${#AD_JOBS[@]} -gt 0 ] || ad_die "no job file given; usage: $AD_USAGE"
}

ad_add_job() {
  [ -f "$1" ] || ad_die "job file '$1' does not exist"
  [ -r "$1" ] || ad_die "job file '$1' is not readable"
  AD_JOBS+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")")
}

ad_add_set() {
  case $1 in
    output.dir=*) AD_OUT_SET=${1#output.dir=} ;;
    ?*.?*=*) AD_SETS+=(--set "$1") ;;
    *) ad_die "--set '$1': expected section.key=value" ;;
  esac
}

# In a job array with several job files, task i runs job file i (0-based).
ad_select_job() {
  if [ ${#AD_JOBS[@]} -eq 1 ]; then
    AD_JOB=${AD_JOBS[0]}
    return
  fi
  local i=${SLURM_ARRAY_TASK_ID:-}
  [ -n "$i" ] || ad_die "${#AD_JOBS[@]} job files given but this is not a job array task"
  [ "$i" -lt ${#AD_JOBS[@]} ] ||
    ad_die "array task $i but only ${#AD_JOBS[@]} job files (indices 0..$((${#AD_JOBS[@]} - 1)))"
  AD_JOB=${AD_JOBS[$i]}
}

ad_run_dir() {
  if [ -n "$AD_OUT_SET" ]; then
    AD_RUN=$AD_OUT_SET
  elif [ -n "${AD_RUN_DIR:-}" ]; then
    AD_RUN=$AD_RUN_DIR
  else
    local id=${AD_RUN_ID:-${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-}}}
    [ -n "$id" ] || ad_die "not in a Slurm job: set AD_RUN_DIR or --set output.dir=DIR"
    [ -n "${SLURM_ARRAY_TASK_ID:-}" ] && id=${id}_$SLURM_ARRAY_TASK_ID
    AD_RUN=${AD_RUN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}/runs}/$id
  fi
  mkdir -p "$AD_RUN" || ad_die "cannot create run directory '$AD_RUN'"
  AD_RUN=$(cd "$AD_RUN" && pwd)
}

# Installed (cmake --install), these scripts live in PREFIX/share/adaptor/slurm and use
# PREFIX/bin/adaptor, the build they were installed with; a checkout has CMakeLists.txt.
ad_find_adaptor() {
  local installed="$AD_ROOT/../../bin/adaptor"
  if [ -n "${ADAPTOR:-}" ]; then
    AD_BIN=$ADAPTOR
  elif [ ! -f "$AD_ROOT/CMakeLists.txt" ] && [ -x "$installed" ]; then
    AD_BIN=$(cd "$(dirname "$installed")" && pwd)/adaptor
  else
    AD_BIN=$(command -v adaptor || echo "$AD_ROOT/build/release/adaptor")
  fi
  [ -x "$AD_BIN" ] || ad_die "adaptor executable '$AD_BIN' not found: build it (jobs/demo.sh) or set ADAPTOR"
}

# srun starts Open MPI ranks through PMIx; without the pmix plugin (or outside Slurm) mpirun
# does it, and inside an allocation mpirun takes its hosts and slots from Slurm.
ad_launcher() {
  local how=${AD_LAUNCHER:-auto} why
  if [ "$how" = auto ]; then
    if [ -z "${SLURM_JOB_ID:-}" ]; then
      how=mpirun why="not inside a Slurm job"
    elif ! command -v srun >/dev/null; then
      how=mpirun why="no srun on PATH"
    elif srun --mpi=list 2>&1 | grep -qw pmix; then
      how=srun why="srun offers the pmix plugin"
    else
      how=mpirun why="srun has no pmix plugin (srun --mpi=list)"
    fi
  else
    why="AD_LAUNCHER=$how"
  fi
  case $how in
    # --kill-on-bad-exit: a rank that dies (a node lost, a crash) ends the step at once, as
    # mpirun does; else, with the cluster's default KillOnBadExit=0, the other ranks wait in
    # their next collective for a peer that is gone until the time limit.
    # PMIX_MCA_gds=hash: the workaround PMIx's developers give for a start-up SIGSEGV at
    # address nil in its shared-memory datastore (openpmix#1114, ompi#7335). The start-up
    # SIGSEGV seen on the test cluster turned out to be another, in Open MPI's btl/tcp (see
    # slurm/README). A value the user exported wins.
    srun)
      export PMIX_MCA_gds=${PMIX_MCA_gds:-hash}
      AD_LAUNCH=(srun --mpi=pmix --kill-on-bad-exit=1) ;;
    mpirun)
      command -v mpirun >/dev/null || ad_die "mpirun not found and srun cannot launch MPI"
      AD_LAUNCH=(mpirun) ;;
    *) ad_die "AD_LAUNCHER='$how': expected srun or mpirun" ;;
  esac
  ad_note "launching with ${AD_LAUNCH[*]} ($why)${PMIX_MCA_gds:+, PMIX_MCA_gds=$PMIX_MCA_gds}"
}

# The step runs in the background so the batch shell can receive Slurm's warning signal
# (--signal=B:...) and pass it on: srun and mpirun both forward USR1/TERM to every rank.
ad_forward() {
  AD_INTERRUPTED=1
  AD_SIGNALLED=$1
  if [ -n "${AD_STEP_PID:-}" ]; then
    ad_note "got SIG$1, passing it to the job step"
    kill -s "$1" "$AD_STEP_PID" 2>/dev/null
  else
    ad_note "got SIG$1"
  fi
  return 0
}

ad_step() {
  "${AD_LAUNCH[@]}" "$AD_BIN" "$@" &
  AD_STEP_PID=$!
  # a signal that came while the step was starting
  [ -n "$AD_SIGNALLED" ] && kill -s "$AD_SIGNALLED" "$AD_STEP_PID" 2>/dev/null
  local rc last=""
  while :; do
    AD_INTERRUPTED=0
    wait "$AD_STEP_PID"
    rc=$?
    [ "$AD_INTERRUPTED" = 1 ] || break
    last=$rc # wait returned for the trap; the step is still running (or just ended)
  done
  # the step ended just before the trap ran: that first wait had its status
  [ "$rc" = 127 ] && [ -n "$last" ] && rc=$last
  AD_STEP_PID=""
  return "$rc"
}

# adaptor saved a checkpoint after a signal: its run dir holds the marker `stopped` (written
# after the checkpoint is durable) and the ranks exit 3. The marker decides, as launchers do
# not pass status 3 on (Open MPI's mpirun exits 1 after a SIGTERM). Requeued, the job keeps
# its id, hence its run dir, and pretrain.sbatch resumes from the checkpoint.
AD_STOP_MARKER=stopped
ad_requeue_if_stopped() {
  local rc=$1
  if [ -f "$AD_RUN/$AD_STOP_MARKER" ]; then
    ad_note "$AD_RUN/$AD_STOP_MARKER: stopped after a checkpoint ($(head -c 64 "$AD_RUN/$AD_STOP_MARKER"))"
  elif [ "$rc" != 3 ] && ! { [ -n "$AD_SIGNALLED" ] && [ "$rc" -gt 128 ]; }; then
    return 0
  fi
  if [ -z "${SLURM_JOB_ID:-}" ]; then
    ad_note "stopped with status $rc; not a Slurm job, so not requeued"
    return 0
  fi
  ad_note "stopped with status $rc after SIG${AD_SIGNALLED:-?}: requeueing job $SLURM_JOB_ID"
  # scontrol requeue ends this script at once (the job goes back to PENDING)
  scontrol requeue "$SLURM_JOB_ID" || ad_note "scontrol requeue failed; resubmit with AD_RUN_DIR=$AD_RUN"
}

# The body of every batch script: ad_main STAGE plain|requeue "$@"
ad_main() {
  local stage=$1 mode=$2
  shift 2
  AD_SIGNALLED=""
  AD_STEP_PID=""
  trap 'ad_forward USR1' USR1
  trap 'ad_forward TERM' TERM
  ad_parse_args "$@"
  ad_select_job
  ad_find_adaptor
  ad_run_dir
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BLIS_NUM_THREADS=${BLIS_NUM_THREADS:-1}
  ad_note "$stage: job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)}, restart ${SLURM_RESTART_COUNT:-0}, job file $AD_JOB, run dir $AD_RUN"
  ad_launcher
  local extra=()
  # `pretrain --resume` with no checkpoint starts from scratch, but a fresh run dir must
  # not look like a resumed one: only a run dir with checkpoints/ gets --resume.
  if [ "$mode" = requeue ] && [ -d "$AD_RUN/checkpoints" ]; then
    extra=(--resume)
    ad_note "$AD_RUN/checkpoints exists: continuing with --resume"
  fi
  local rc=0
  # only this step's stop may requeue the job (adaptor also removes it when it starts)
  rm -f "$AD_RUN/$AD_STOP_MARKER"
  ad_step "$stage" "$AD_JOB" "${AD_SETS[@]}" --set "output.dir=$AD_RUN" "${extra[@]}" || rc=$?
  ad_note "$stage: adaptor exited with status $rc"
  [ "$mode" = requeue ] && ad_requeue_if_stopped "$rc"
  exit "$rc"
}

# Submit helpers: sbatch --parsable prints "id" or "id;cluster".
ad_sbatch() {
  command -v sbatch >/dev/null || ad_die "sbatch not found (not on a Slurm login node?)"
  local out
  # shellcheck disable=SC2086  # AD_SBATCH_ARGS is a list of options, split on purpose
  out=$(sbatch --parsable ${AD_SBATCH_ARGS:-} "$@") || ad_die "sbatch $* failed"
  echo "${out%%;*}"
}
