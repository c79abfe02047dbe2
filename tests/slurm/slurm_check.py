#!/usr/bin/python3
"""The Slurm scripts (slurm/) on a real single-node Slurm that this test starts (munged,
slurmctld, slurmd in WORKDIR; stopped by PID at the end, also on failure):

1. slurm/pipeline.sh: embed -> pretrain -> eval with 2 tasks each, chained with afterok, in one
   run dir: caches, metrics.nc, eval.nc hold numbers; jobs COMPLETED with exit code 0.
2. slurm/pretrain.sbatch with --time=1 (shorter than its training) and --signal=B:USR1@30: it
   gets the signal, checkpoints, requeues itself, resumes and finishes; its model.safetensors
   equals, bit for bit, an uninterrupted `mpirun -np 2` run of the same job.
3. slurm/sweep.sh over two encoder pairs (tests/slurm/{dinov2,resnet}-bert.ini): job arrays of
   2 tasks per stage, each task with its own run dir.
Exit status 77 (skip) with the reason when Slurm cannot run here (not root, no binaries).

usage: slurm_check.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import netCDF4
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
from cluster import DONE, SKIP, Cluster, Unavailable  # noqa: E402
from clitest import ENV, Checks, error_lines, errors, mpirun  # noqa: E402
import stio  # noqa: E402

MPI, ADAPTOR, SRC, WORK = (sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]),
                           os.path.abspath(sys.argv[4]))
SLURM = os.path.join(SRC, "slurm")
check = Checks()
T0 = time.time()
# An Adaptor big enough that a step takes milliseconds (pipeline and time-limited job).
SIZE = ["--set", "adaptor.projection_dim=128", "--set", "adaptor.ffn_dim=512", "--set", "adaptor.num_layers=2",
        "--set", "train.checkpoint_every=1000", "--set", "train.log_every=2000"]
LIMIT_S = 60    # --time=1
TRAIN_S = 75    # the time-limited job's training at the speed the pipeline's pretrain measured


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def background():
    """In the reference run's child before exec: its own session, at the lowest priority. With
    the kernel's autogroups a session competes with Slurm's jobs as a whole whatever its nice
    value, so the group itself is niced."""
    os.setsid()
    os.nice(19)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write("19")
    except OSError:
        pass  # no autogroups: plain nice does it


def foreground(pid):
    """Back to normal priority (the Slurm jobs are done)."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write("0")
    except OSError:
        pass
    os.setpriority(os.PRIO_PGRP, pid, 0)


def stop_reference(ref):
    if ref and ref["proc"].poll() is None:
        os.killpg(ref["proc"].pid, signal.SIGKILL)
        ref["proc"].wait()
    if ref:
        ref["err"].close()


def stop_on_signal(sig, _frame):
    raise SystemExit(f"stopped by signal {sig}")  # runs the Cluster's cleanup


def read_nc(path):
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return {k: np.array(v[:]) for k, v in ds.variables.items()}


def submit(cluster, *cmd, env=None):
    """Runs a submit command in WORK (the jobs' submit directory); returns its key=value line."""
    p = cluster.run(*cmd, check=False, cwd=WORK, env=cluster.env(**(env or {})))
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: status {p.returncode}: {p.stderr.strip()}")
    return dict(kv.split("=", 1) for kv in p.stdout.split()) if "=" in p.stdout else p.stdout.strip()


def wait_all(cluster, ids, release, timeout, on_poll):
    """Polls until every job in `ids` (array job ids cover their tasks; on_poll may add jobs)
    is finished. A job in `release` that Slurm holds after a requeue (Reason=BeginTime, ~2 minutes)
    is released a few seconds later: this only shortens the test's wait and changes nothing the
    job does. Not at once: slurmd refuses a job whose new credential has the same second as the
    revocation of the old one ("Job credential revoked"), and the job then FAILS."""
    released, seen = set(), {}
    end = time.time() + timeout
    mine = []
    while time.time() < end:
        jobs = cluster.jobs()
        on_poll(jobs)
        mine = [r for r in jobs.values() if r["JobId"] in ids or r.get("ArrayJobId") in ids]
        for r in (jobs[i] for i in release if i in jobs):
            key = (r["JobId"], r.get("Restarts", "0"))
            if r["JobState"] == "PENDING" and r.get("Reason") == "BeginTime" and key[1] != "0":
                seen.setdefault(key, time.time())
            if key in seen and key not in released and time.time() - seen[key] >= 3:
                cluster.run("scontrol", "update", f"JobId={r['JobId']}", "StartTime=now")
                released.add(key)
                log(f"job {r['JobId']} requeued (restart {r['Restarts']}): released its BeginTime hold")
        if mine and all(r["JobState"] in DONE for r in mine) and \
                all(any(r["JobId"] == i or r.get("ArrayJobId") == i for r in mine) for i in ids):
            return jobs
        time.sleep(1)
    raise RuntimeError(f"jobs not finished after {timeout} s: " +
                       ", ".join(f"{r['JobId']} {r['JobState']} {r.get('Reason')}" for r in mine))


def job_ok(rec, what):
    check(rec["JobState"] == "COMPLETED" and rec["ExitCode"] == "0:0",
          f"{what}: job {rec['JobId']} {rec['JobState']} exit {rec['ExitCode']} (log {rec.get('StdOut')})")


def slurm_log(rec):
    try:
        with open(rec["StdOut"]) as f:
            return f.read()
    except OSError:
        return ""


def check_run_dir(run, what):
    for name in ("config.ini", "model.safetensors", "metrics.nc", "eval.nc"):
        check(os.path.isfile(os.path.join(run, name)), f"{what}: no {name} in {run}")
    if not os.path.isfile(os.path.join(run, "eval.nc")):
        return
    m = read_nc(os.path.join(run, "metrics.nc"))
    check(len(m["step"]) > 0 and np.all(np.isfinite(m["loss"])) and np.all(m["loss"] > 0),
          f"{what}: metrics.nc losses {m['loss'][:5]}")
    with netCDF4.Dataset(os.path.join(run, "eval.nc")) as ds:
        recs = list(zip(ds["split"][:], ds["model"][:], ds["metric"][:], np.array(ds["value"][:])))
    check(any(r[0] == "test" and r[1] == "adaptor" and r[2] == "i2t_R@1" for r in recs),
          f"{what}: eval.nc has no test i2t_R@1 for the adaptor")
    check(all(np.isfinite(r[3]) for r in recs) and all(0 <= r[3] <= 1 for r in recs if "R@" in r[2]),
          f"{what}: eval.nc values not finite or recall outside [0, 1]")


def main():
    why = Cluster.unavailable_reason()
    if why:
        print(f"SKIPPED: Slurm cannot run here: {why}")
        return SKIP
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    for f in ("base.ini", "dinov2-bert.ini", "resnet-bert.ini"):
        shutil.copy(os.path.join(HERE, f), WORK)  # the corpus and caches go beside them
    jd, jr = os.path.join(WORK, "dinov2-bert.ini"), os.path.join(WORK, "resnet-bert.ini")
    p = mpirun(MPI, ADAPTOR, 2, "synth", os.path.join(WORK, "corpus"), "--n", "240", "--seed", "11")
    if p.returncode != 0:
        check(False, f"synth: {errors(p)}")
        return 1
    log("synthetic corpus written")
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        cluster = Cluster(os.path.join(WORK, "slurm"))
        cluster.__enter__()
    except Unavailable as e:
        print(f"SKIPPED: Slurm did not start: {e}")
        return SKIP
    try:
        run_scenarios(cluster, jd, jr)
    finally:
        cluster.stop()
        log("Slurm stopped")
    return check.finish()


def check_time_limited(jobs, timed, rc):
    r = jobs[timed]
    job_ok(r, "time-limited pretrain")
    text = slurm_log(r)
    restarts = int(r.get("Restarts", "0"))
    check(restarts >= 1, f"time-limited pretrain was never requeued (Restarts={restarts})")
    check("got SIGUSR1" in text and "stopped by a signal" in text and "requeueing job" in text,
          "time-limited pretrain: its log lacks the signal / checkpoint / requeue lines")
    check("continuing with --resume" in text and "resume: " in text,
          "time-limited pretrain: the requeued runs did not resume")
    run2 = os.path.join(WORK, "runs", timed)
    check(os.path.isfile(os.path.join(run2, "model.safetensors")), f"no model.safetensors in {run2}")
    with open(os.path.join(WORK, "uninterrupted.err")) as f:
        err = error_lines(f.read())
    check(rc == 0, f"uninterrupted pretrain: status {rc} {err}")
    log(f"time-limited pretrain (time limit 1 minute): COMPLETED after {restarts} requeue(s)")
    if rc == 0 and os.path.isfile(os.path.join(run2, "model.safetensors")):
        a, _ = stio.read(os.path.join(run2, "model.safetensors"))
        b, _ = stio.read(os.path.join(WORK, f"uninterrupted-{timed}", "model.safetensors"))
        # Exact: same 2 ranks, same batch split, fixed-order reductions, and a checkpoint
        # restores weights, AdamW moments and step count exactly (dropout is seeded by step
        # and rank), so stop + resume repeats the uninterrupted arithmetic bit for bit.
        same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        diff = max((float(np.max(np.abs(a[k] - b[k]))) for k in a if k in b), default=float("nan"))
        check(same, f"requeued and uninterrupted weights differ (max |diff| {diff:.3g})")
        log(f"time-limited pretrain: weights equal to the uninterrupted run: {same} (max |diff| {diff:.3g})")
        steps = len(read_nc(os.path.join(WORK, f"uninterrupted-{timed}", "metrics.nc"))["step"])
        got = read_nc(os.path.join(run2, "metrics.nc"))["step"]
        check(np.array_equal(got, np.arange(1, steps + 1)),
              "time-limited pretrain: metrics.nc steps are not 1..N once each across the requeues")


def run_scenarios(cluster, jd, jr):
    log(f"Slurm up on node {cluster.host} ({cluster.cpus} CPUs)")
    env = dict(ADAPTOR=ADAPTOR, AD_RUN_ROOT=os.path.join(WORK, "runs"),
               ASAN_OPTIONS=ENV.get("ASAN_OPTIONS", ""), AD_SBATCH_ARGS="--ntasks-per-node=2 --time=10")
    env["OMP_NUM_THREADS"] = env["BLIS_NUM_THREADS"] = "1"
    # 1. the pipeline
    pipe = submit(cluster, os.path.join(SLURM, "pipeline.sh"), jd, *SIZE, "--set", "train.epochs=20", env=env)
    log(f"pipeline submitted: {pipe}")
    # 3. the sweep over two encoder pairs
    sweep = submit(cluster, os.path.join(SLURM, "sweep.sh"), jd, jr, "--set", "train.epochs=2", env=env)
    log(f"sweep submitted: {sweep}")
    ids = [pipe["embed"], pipe["pretrain"], pipe["eval"], sweep["embed"], sweep["pretrain"], sweep["eval"]]
    ref, timed = {}, []

    def start_timed(epochs, why):
        # The uninterrupted reference run of the same job starts with it, at the lowest
        # priority, so it mostly uses the cores while Slurm's jobs wait.
        stop_reference(ref)
        args = SIZE + ["--set", f"train.epochs={epochs}"]
        timed.append(submit(cluster, "sbatch", "--parsable", "--ntasks-per-node=2", "--time=1",
                            "--signal=B:USR1@30", os.path.join(SLURM, "pretrain.sbatch"), jd, *args,
                            env=env).split(";")[0])
        ids.append(timed[-1])
        log(f"time-limited pretrain submitted: job {timed[-1]}, {epochs} epochs ({why}); limit {LIMIT_S} s")
        ref["err"] = open(os.path.join(WORK, "uninterrupted.err"), "w")
        ref["proc"] = subprocess.Popen(
            [MPI, "-np", "2", "--oversubscribe", ADAPTOR, "pretrain", jd, *args,
             "--set", f"output.dir={WORK}/uninterrupted-{timed[-1]}"], stdout=subprocess.DEVNULL,
            stderr=ref["err"], env=ENV, preexec_fn=background)
        ref["epochs"] = epochs

    def on_poll(jobs):
        # 2. pretrain under a time limit shorter than its training. Steps/s vary tenfold with
        # the machine's load, so the length comes from the pipeline's pretrain (same model,
        # same caches): TRAIN_S seconds at its mean speed. Slurm's signal comes 25-60 s into
        # a run (it checks time limits every 30 s); should the machine have sped up so that
        # the job finished before it, the job runs once more with 3x the epochs.
        if not timed and jobs.get(pipe["pretrain"], {}).get("JobState") == "COMPLETED":
            m = read_nc(os.path.join(pipe["run_dir"], "metrics.nc"))
            step_s = float(np.mean(np.diff(m["wall_time"])))  # with checkpoints, logging
            steps_per_epoch = int(np.sum(m["epoch"] == 0))
            epochs = int(min(max(TRAIN_S / step_s / steps_per_epoch, 20), 20000))
            start_timed(epochs, f"~{TRAIN_S} s at the pipeline's {1 / step_s:.0f} steps/s")
        elif len(timed) == 1 and jobs.get(timed[0], {}).get("JobState") == "COMPLETED" \
                and jobs[timed[0]].get("Restarts") == "0":
            start_timed(3 * ref["epochs"], f"job {timed[0]} finished before the signal")
    try:
        jobs = wait_all(cluster, ids, timed, timeout=540, on_poll=on_poll)
        log("all jobs finished")
        rc = None
        if ref:
            foreground(ref["proc"].pid)
            rc = ref["proc"].wait(timeout=300)
            log("uninterrupted reference run finished")
    finally:
        stop_reference(ref)

    # 1.
    run = pipe["run_dir"]
    check(run == os.path.join(WORK, "runs", pipe["embed"]), f"pipeline run dir {run}")
    for stage in ("embed", "pretrain", "eval"):
        job_ok(jobs[pipe[stage]], f"pipeline {stage}")
    caches = sorted(glob.glob(os.path.join(WORK, "cache", "*.nc")))
    dino = [c for c in caches if "dinov2-tiny" in c or "bert-tiny" in c]
    check(len(dino) == 6, f"pipeline: caches {[os.path.basename(c) for c in caches]}")
    for c in dino:
        d = read_nc(c)
        check(d["embedding"].shape[0] > 0 and np.all(np.isfinite(d["embedding"])) and
              np.any(d["embedding"] != 0), f"{c}: embeddings empty or not finite")
    check_run_dir(run, "pipeline")
    text = slurm_log(jobs[pipe["pretrain"]])
    launcher = "srun --mpi=pmix" if "launching with srun --mpi=pmix" in text else \
        "mpirun" if "launching with mpirun" in text else None
    check(launcher is not None, "pipeline pretrain log does not say which launcher it used")
    log(f"pipeline: COMPLETED, run dir {run}, launched with {launcher}")

    # 2.
    if timed:
        check_time_limited(jobs, timed[-1], rc)
    else:
        check(False, "no time-limited pretrain: the pipeline's pretrain did not complete")

    # 3.
    for stage in ("embed", "pretrain", "eval"):
        tasks = sorted((r for r in jobs.values() if r.get("ArrayJobId") == sweep[stage]),
                       key=lambda r: int(r["ArrayTaskId"]))
        check([r["ArrayTaskId"] for r in tasks] == ["0", "1"], f"sweep {stage}: tasks {[r['ArrayTaskId'] for r in tasks]}")
        for rec in tasks:
            job_ok(rec, f"sweep {stage} task {rec['ArrayTaskId']}")
    for i, enc in enumerate(("dinov2-tiny", "resnet-tiny")):
        run = os.path.join(WORK, "runs", f"{sweep['embed']}_{i}")
        check_run_dir(run, f"sweep task {i}")
        cfg = open(os.path.join(run, "config.ini")).read() if os.path.isfile(os.path.join(run, "config.ini")) else ""
        check(f"models/{enc}" in cfg, f"sweep task {i}: config.ini does not name {enc}")
    check(len(glob.glob(os.path.join(WORK, "cache", "image-resnet-tiny-*.nc"))) == 3, "sweep: no resnet caches")
    log("sweep: both tasks of each stage COMPLETED with their own run dirs")


if __name__ == "__main__":
    sys.exit(main())
