#!/usr/bin/python3
"""slurm/sweep.sh on a real single-node Slurm that this test starts (munged, slurmctld, slurmd
in WORKDIR; stopped by PID at the end, also on failure): over two encoder pairs
(tests/slurm/{dinov2,resnet}-bert.ini), job arrays of 2 tasks per stage (embed -> pretrain ->
eval), each task with its own run dir holding config.ini, weights, metrics.nc and eval.nc with
numbers. The pipeline and the signalled requeue are in multinode_check.py (3 nodes).
Exit status 77 (skip) with the reason when Slurm cannot run here (not root, no binaries).

usage: slurm_check.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import glob
import os
import sys

import netCDF4
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
from cluster import Cluster  # noqa: E402
from clitest import ENV, Checks, mpirun  # noqa: E402
import jobs as J  # noqa: E402

MPI, ADAPTOR, SRC, WORK = (sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]),
                           os.path.abspath(sys.argv[4]))
SLURM = os.path.join(SRC, "slurm")
check = Checks()
SIZE = ["--set", "train.checkpoint_every=1000", "--set", "train.log_every=2000"]


def check_run_dir(run, what):
    for name in ("config.ini", "model.safetensors", "metrics.nc", "eval.nc"):
        check(os.path.isfile(os.path.join(run, name)), f"{what}: no {name} in {run}")
    if not os.path.isfile(os.path.join(run, "eval.nc")):
        return
    m = J.read_nc(os.path.join(run, "metrics.nc"))
    check(len(m["step"]) > 0 and np.all(np.isfinite(m["loss"])) and np.all(m["loss"] > 0),
          f"{what}: metrics.nc losses {m['loss'][:5]}")
    with netCDF4.Dataset(os.path.join(run, "eval.nc")) as ds:
        recs = list(zip(ds["split"][:], ds["model"][:], ds["metric"][:], np.array(ds["value"][:])))
    check(any(r[0] == "test" and r[1] == "adaptor" and r[2] == "i2t_R@1" for r in recs),
          f"{what}: eval.nc has no test i2t_R@1 for the adaptor")
    check(all(np.isfinite(r[3]) for r in recs) and all(0 <= r[3] <= 1 for r in recs if "R@" in r[2]),
          f"{what}: eval.nc values not finite or recall outside [0, 1]")


def main():
    status = J.prepare(WORK, ("base.ini", "dinov2-bert.ini", "resnet-bert.ini"), lambda: mpirun(
        MPI, ADAPTOR, 2, "synth", os.path.join(WORK, "corpus"), "--n", "240", "--seed", "11"))
    cluster = Cluster(os.path.join(WORK, "slurm"))
    status = status if status is not None else J.start(cluster)
    if status is not None:
        return status
    try:
        run_scenarios(cluster, os.path.join(WORK, "dinov2-bert.ini"), os.path.join(WORK, "resnet-bert.ini"))
    finally:
        cluster.stop()
        J.log("Slurm stopped")
    return check.finish()


def run_scenarios(cluster, jd, jr):
    J.log(f"Slurm up on node {cluster.host} ({cluster.cpus} CPUs)")
    env = dict(ADAPTOR=ADAPTOR, AD_RUN_ROOT=os.path.join(WORK, "runs"),
               ASAN_OPTIONS=ENV.get("ASAN_OPTIONS", ""), AD_SBATCH_ARGS="--ntasks-per-node=2 --time=10")
    env["OMP_NUM_THREADS"] = env["BLIS_NUM_THREADS"] = "1"
    sweep = J.submit(cluster, WORK, os.path.join(SLURM, "sweep.sh"), jd, jr, *SIZE, "--set", "train.epochs=2",
                     env=env)
    J.log(f"sweep submitted: {sweep}")
    ids = [sweep["embed"], sweep["pretrain"], sweep["eval"]]
    jobs = J.wait_all(cluster, ids, [], 400, lambda jobs: None)
    J.log("all jobs finished")
    for stage in ("embed", "pretrain", "eval"):
        tasks = sorted((r for r in jobs.values() if r.get("ArrayJobId") == sweep[stage]),
                       key=lambda r: int(r["ArrayTaskId"]))
        check([r["ArrayTaskId"] for r in tasks] == ["0", "1"], f"sweep {stage}: tasks {[r['ArrayTaskId'] for r in tasks]}")
        for rec in tasks:
            J.job_ok(check, rec, f"sweep {stage} task {rec['ArrayTaskId']}")
        if stage == "pretrain" and tasks:
            text = J.slurm_log(tasks[0])
            check("launching with srun --mpi=pmix" in text or "launching with mpirun" in text,
                  "sweep pretrain log does not say which launcher it used")
    for i, enc in enumerate(("dinov2-tiny", "resnet-tiny")):
        run = os.path.join(WORK, "runs", f"{sweep['embed']}_{i}")
        check_run_dir(run, f"sweep task {i}")
        cfg = open(os.path.join(run, "config.ini")).read() if os.path.isfile(os.path.join(run, "config.ini")) else ""
        check(f"models/{enc}" in cfg, f"sweep task {i}: config.ini does not name {enc}")
    for enc in ("dinov2-tiny", "resnet-tiny"):
        check(len(glob.glob(os.path.join(WORK, "cache", f"image-{enc}-*.nc"))) == 3, f"sweep: no {enc} caches")
    J.log("sweep: both tasks of each stage COMPLETED with their own run dirs")


if __name__ == "__main__":
    sys.exit(main())
