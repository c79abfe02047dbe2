#!/usr/bin/python3
"""`adaptor status` on run folders in every state: finished, live then killed outright
(SIGKILL: state and ETA), stopped by a signal, with a corrupt checkpoint, copied off the
machine (another host in state.json), several folders at once with --json (parsed here),
and bad input. Figures are compared with metrics.nc read by the netCDF4 library.

usage: status_check.py MPIEXEC ADAPTOR WORKDIR"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pretrain_fixture as fx  # noqa: E402
from clitest import ENV, Checks, errors  # noqa: E402

MPI, ADAPTOR, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
check = Checks()


def pretrain(ranks, out, *args):
    return [MPI, "-np", str(ranks), "--oversubscribe", ADAPTOR, "pretrain", job,
            "--set", f"output.dir={out}", *args]


def status(*dirs, json_out=True):
    # Serial: no mpirun around it.
    p = subprocess.run([ADAPTOR, "status", *dirs] + (["--json"] if json_out else []),
                       capture_output=True, text=True, env=ENV, timeout=120)
    if not json_out:
        return p
    check(p.returncode == 0, f"status {dirs}: {errors(p)}")
    try:
        return json.loads(p.stdout)
    except ValueError:
        check(False, f"status --json printed no JSON: {p.stdout[:300]!r}")
        return [{}] * len(dirs)


def last_metrics(d):
    with netCDF4.Dataset(os.path.join(d, "metrics.nc")) as ds:
        return {k: float(ds.variables[k][-1]) for k in ("step", "epoch", "loss", "lr")}


N, DV, DT, B = 512, 96, 128, 64
xv, xt, ids = fx.paired_embeddings(N, DV, DT, seed=4)
shutil.rmtree(WORK, ignore_errors=True)
cache = os.path.join(WORK, "cache")
fx.write_caches(cache, xv, xt, ids)
job = fx.write_job(WORK, cache, layers=2, proj=128, heads=4, ffn=512, batch=B, epochs=3,
                   lr=1e-3, warmup=0.05, shuffle="once", log_every=1,
                   extra="checkpoint_every = 8\nkeep_checkpoints = 3")
T = 3 * (N // B)

# 1. A finished run: every figure as metrics.nc holds it, ETA 0, all checkpoints valid.
fin = os.path.join(WORK, "finished")
p = subprocess.run(pretrain(2, fin), capture_output=True, text=True, env=ENV, timeout=300)
check(p.returncode == 0, f"finished run: {errors(p)}")
s = status(fin)[0]
m = last_metrics(fin)
check(s.get("stage") == "pretrain" and s.get("state") == "finished", f"finished: {s.get('state')}")
check(s.get("step") == T and s.get("total") == T, f"finished: step {s.get('step')}/{s.get('total')}")
check(s.get("epoch") == m["epoch"] and s.get("loss") == m["loss"] and s.get("lr") == m["lr"],
      f"finished: epoch/loss/lr {s.get('epoch')} {s.get('loss')} {s.get('lr')} vs {m}")
check((s.get("samples_per_s") or 0) > 0, "finished: samples/s")
check(s.get("eta_seconds") == 0, f"finished: ETA {s.get('eta_seconds')}")
names = [c["name"] for c in s.get("checkpoints", [])]
check(names == ["step-00000024", "step-00000016", "step-00000008"], f"checkpoints {names}")
check(all(c["valid"] for c in s.get("checkpoints", [])), "finished: a checkpoint not valid")
text = status(fin, json_out=False)
check(text.returncode == 0 and "finished" in text.stdout and f"{T} / {T}" in text.stdout,
      f"text output: {text.stdout[:400]!r}")

# 2. A corrupt checkpoint in the middle of the list: named, with the reason, the others valid.
cor = os.path.join(WORK, "corrupt")
shutil.copytree(fin, cor)
bad = os.path.join(cor, "checkpoints", "step-00000016", "model.safetensors")
with open(bad, "r+b") as f:
    f.seek(os.path.getsize(bad) - 5)
    f.write(b"\xff\xfe\xfd")
s = status(cor)[0]
valid = {c["name"]: c["valid"] for c in s.get("checkpoints", [])}
check(valid == {"step-00000024": True, "step-00000016": False, "step-00000008": True},
      f"corrupt checkpoint: {valid}")
problem = [c["problem"] for c in s.get("checkpoints", []) if not c["valid"]]
check(problem and "checksum" in problem[0] and "step-00000016" in problem[0], f"problem {problem}")
text = status(cor, json_out=False)
check("CORRUPT" in text.stdout, "text output does not flag the corrupt checkpoint")

# 3. A live run, then killed outright (SIGKILL of rank 0: no chance to record an end).
live = os.path.join(WORK, "killed")
proc = subprocess.Popen(pretrain(2, live, "--set", "train.epochs=400"),
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
deadline = time.time() + 120
while time.time() < deadline and not (os.path.exists(os.path.join(live, "metrics.nc")) and
                                      os.path.exists(os.path.join(live, "checkpoints", "step-00000016"))):
    time.sleep(0.2)
s = status(live)[0]
check(s.get("state") == "running", f"live run: state {s.get('state')} ({s.get('detail')})")
check(s.get("total") == 400 * (N // B), f"live run: total {s.get('total')}")
check(s.get("eta_seconds") is not None and s["eta_seconds"] > 0, f"live ETA {s.get('eta_seconds')}")
os.kill(s.get("pid") or proc.pid, signal.SIGKILL)
proc.stderr.read()
proc.wait(timeout=120)
s = status(live)[0]
m = last_metrics(live)
check(s.get("state") == "failed" and "without recording an end" in s.get("detail", ""),
      f"killed run: {s.get('state')} ({s.get('detail')})")
check(m["step"] <= s.get("step", 0) < s.get("total", 0), f"killed: step {s.get('step')} vs {m}")
eta = s.get("eta_seconds")
spp = s.get("seconds_per_step")
check(eta is not None and spp and abs(eta - (s["total"] - s["step"]) * spp) < 1e-6 * eta + 1e-9,
      f"killed: ETA {eta} for {s.get('total')} - {s.get('step')} steps at {spp} s")

# 4. A folder copied off the cluster: the run was live on another host. Status reads it
#    without checking a process table it cannot see.
copy = os.path.join(WORK, "copied")
shutil.copytree(live, copy)
with open(os.path.join(copy, "state.json")) as f:
    st = json.load(f)
st.update(state="running", host="node17-elsewhere", slurm_job_id="8812")
with open(os.path.join(copy, "state.json"), "w") as f:
    json.dump(st, f)
s = status(copy)[0]
check(s.get("state") == "running" and "node17-elsewhere" in s.get("detail", "") and
      "8812" in s.get("detail", ""), f"copied folder: {s.get('state')} ({s.get('detail')})")
check(s.get("loss") == last_metrics(copy)["loss"], "copied folder: loss")

# 5. Stopped by a signal (what Slurm sends before the time limit): stopped, resumable.
#    The run is far longer than any machine gets through before the signal (800000 steps),
#    and the signal goes on evidence that training is under way: stderr is a pipe, so
#    progress_seconds=0 makes every step log a line (else one line every 30 s).
stop = os.path.join(WORK, "stopped")
proc = subprocess.Popen(pretrain(2, stop, "--set", "train.epochs=100000",
                                 "--set", "run.progress_seconds=0"),
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
signalled = False
for line in proc.stderr:
    if "pretrain step 20/" in line:
        proc.send_signal(signal.SIGUSR1)  # mpirun forwards it to every rank
        signalled = True
        break
rest = proc.stderr.read()
code = proc.wait(timeout=300)
check(signalled, f"stopped run logged no step 20 (status {code}): {rest[-300:]}")
check(code == 3, f"stopped run exited {code}")
s = status(stop)[0]
check(s.get("state") == "stopped" and "--resume" in s.get("detail", ""), f"stopped: {s}")
check(s.get("checkpoints") and s["checkpoints"][0]["valid"] and
      s["checkpoints"][0]["step"] == s.get("step"), f"stopped: checkpoints {s.get('checkpoints')}")

# 6. Several folders in one call: one JSON array, in argument order.
many = status(fin, live, stop)
check([x.get("state") for x in many] == ["finished", "failed", "stopped"],
      f"several folders: {[x.get('state') for x in many]}")

# 7. Bad input: one line naming the folder, non-zero status; no crash.
empty = os.path.join(WORK, "empty")
os.makedirs(empty)
p = status(empty, json_out=False)
check(p.returncode == 1 and "not a run folder" in p.stderr and empty in p.stderr,
      f"empty folder: {p.returncode} {p.stderr!r}")
p = status(os.path.join(WORK, "nonexistent"), json_out=False)
check(p.returncode == 1 and "nonexistent" in p.stderr, f"missing folder: {p.stderr!r}")
p = status(fin, "--bogus", json_out=False)
check(p.returncode == 2 and "--bogus" in p.stderr, f"unknown option: {p.stderr!r}")
with open(os.path.join(cor, "state.json"), "w") as f:
    f.write('{"stage": "pretrain", "sta')
p = status(cor, json_out=False)
check(p.returncode == 1 and "state.json" in p.stderr, f"truncated state.json: {p.stderr!r}")
check.finish()
