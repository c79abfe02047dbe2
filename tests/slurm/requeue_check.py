#!/usr/bin/python3
"""Requeue after a warning signal, whichever launcher and signal (issue 14, item 4): the real
pretrain.sbatch, outside Slurm, launches the real adaptor with Open MPI's mpirun
(AD_LAUNCHER=mpirun) and gets SIGTERM or SIGUSR1 mid-training, as Slurm's --signal=B:...
sends it. The ranks checkpoint and write the marker <run>/stopped, and the script requeues
(a stand-in scontrol records `requeue <job id>`) even though mpirun exits 1 after a SIGTERM.
The requeued run resumes from the checkpoint, finishes, clears the marker and is not requeued.

usage: requeue_check.py SOURCE_DIR ADAPTOR WORKDIR"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
from clitest import ENV, Checks  # noqa: E402
import pretrain_fixture as fx  # noqa: E402

SRC, ADAPTOR, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
BIN = os.path.join(WORK, "bin")
check = Checks()


def setup():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(BIN)
    with open(os.path.join(BIN, "scontrol"), "w") as f:
        f.write(f"""#!{sys.executable}
import json, os, sys
with open(os.path.join({WORK!r}, "scontrol.log"), "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
""")
    os.chmod(os.path.join(BIN, "scontrol"), 0o755)
    cache = os.path.join(WORK, "cache")
    xv, xt, ids = fx.paired_embeddings(512, 256, 192, seed=5)
    fx.write_caches(cache, xv, xt, ids)
    # 8 updates per epoch, 40 epochs of a mid-sized Adaptor: long enough for mpirun to pass
    # the signal on before the end on an idle machine, short enough for a loaded one
    return fx.write_job(WORK, cache, layers=2, proj=128, heads=4, ffn=512, batch=64, epochs=40,
                        lr=1e-3, warmup=0.1, shuffle="epoch", log_every=1,
                        extra="checkpoint_every = 1000")


def scontrol_calls():
    """What the batch script asked of scontrol, but `show job` (it finds common.sh that way)."""
    path = os.path.join(WORK, "scontrol.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        calls = [c for c in map(json.loads, f) if c[:1] != ["show"]]
    os.remove(path)
    return calls


def batch(job, run, sig=None):
    """pretrain.sbatch in its own session; with sig, sent to the batch shell once training
    has made progress. Returns (status, log)."""
    env = dict(ENV, PATH=BIN + ":" + os.environ["PATH"], SLURM_JOB_ID="4242",
               AD_LAUNCHER="mpirun", ADAPTOR=ADAPTOR, AD_RUN_DIR=run)
    for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_JOB_ID", "AD_RUN_ID", "AD_RUN_ROOT"):
        env.pop(k, None)
    log_path = run + ".log"
    with open(log_path, "w") as log:
        # A progress line per step (into a file they are otherwise every 30 s): the signal
        # goes out as soon as step 2 is logged.
        p = subprocess.Popen(["bash", os.path.join(SRC, "slurm", "pretrain.sbatch"), job,
                              "--set", "run.progress_seconds=0"],
                             stdout=log, stderr=subprocess.STDOUT, env=env, cwd=WORK,
                             start_new_session=True)
        deadline = time.time() + 240
        sent = sig is None
        while p.poll() is None and time.time() < deadline:
            if not sent:
                with open(log_path) as f:
                    if "pretrain step 2/" in f.read():
                        os.kill(p.pid, sig)
                        sent = True
            time.sleep(0.01)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        status = p.wait()
    with open(log_path) as f:
        return status, f.read()


job = setup()
for sig in (signal.SIGTERM, signal.SIGUSR1):
    name = sig.name
    run = os.path.join(WORK, "run-" + name)
    status, log = batch(job, run, sig)
    print(f"{name}: batch script exit status {status};",
          [l for l in log.splitlines() if "adaptor exited" in l])
    marker = os.path.join(run, "stopped")
    check(os.path.isfile(marker), f"{name}: {marker} written (log tail: {log[-800:]})")
    if os.path.isfile(marker):
        with open(marker) as f:
            text = f.read()
        step = int(text.split()[1]) if text.startswith("step ") else -1
        check(os.path.isdir(os.path.join(run, "checkpoints", f"step-{step:08d}")),
              f"{name}: the marker's checkpoint ({text.strip()}) exists")
    calls = scontrol_calls()
    check(calls == [["requeue", "4242"]], f"{name}: scontrol calls {calls} (log tail: {log[-800:]})")

    # The requeued job: same id, same run dir, resumes and finishes.
    status, log = batch(job, run)
    check(status == 0, f"{name}: requeued run exit status {status} (log tail: {log[-800:]})")
    check("continuing with --resume" in log and "resume: " in log, f"{name}: resumed: {log[-800:]}")
    check(not os.path.exists(marker), f"{name}: marker removed by the finished run")
    check(os.path.isfile(os.path.join(run, "model.safetensors")), f"{name}: final weights")
    check(scontrol_calls() == [], f"{name}: a finished run is not requeued")
check.finish()
