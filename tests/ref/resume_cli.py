#!/usr/bin/python3
"""`adaptor pretrain --resume` against damaged and changed runs:

1. every checkpoint corrupt (truncated to 1000 bytes): refused with one line naming each
   checkpoint and why, and nothing in the run folder changes (no fresh start, no prune);
2. a setting that changes the trajectory (lr, epochs, seed, schedule, max_steps) differs
   from the checkpoint's: refused naming the key with its old and new values, config.ini
   untouched; the same value spelt differently is not a change;
3. allowed changes (threads, log and checkpoint intervals): the run continues to the same
   weights as the uninterrupted run, config.ini stays the first run's, resumes.log and
   config-resume-1.ini record the resume;
4. the output folder's lock: of two jobs started together on one folder exactly one runs and
   the other stops with one line naming the holder's pid and host; a stale lock (dead pid,
   reused pid, earlier run of the same Slurm job) is taken over with a warning; a live one,
   or one from another host, is refused and left in place; no run leaves its lock behind.

usage: resume_cli.py MPIEXEC ADAPTOR WORKDIR"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pretrain_fixture as fx  # noqa: E402
import stio  # noqa: E402
from clitest import ENV, Checks, error_lines, errors  # noqa: E402

MPI, ADAPTOR, WORK = sys.argv[1:4]
check = Checks()
shutil.rmtree(WORK, ignore_errors=True)


def run(ranks, job, *args, timeout=300):
    cmd = [MPI, "-np", str(ranks), "--oversubscribe", ADAPTOR, "pretrain", job, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def snapshot(d):
    """Every file under d: relative path -> sha256 of its bytes."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def text_of(path):
    """A file's text, or "" when it is missing (a failed check, not a crash of the test)."""
    return open(path).read() if os.path.exists(path) else ""


N, DV, DT = 256, 32, 48
xv, xt, ids = fx.paired_embeddings(N, DV, DT, seed=7)
cache = os.path.join(WORK, "cache")
fx.write_caches(cache, xv, xt, ids)
job = fx.write_job(WORK, cache, layers=1, proj=32, heads=4, ffn=64, batch=32, epochs=3,
                   lr=1e-3, warmup=0.1, shuffle="epoch", log_every=1,
                   extra="checkpoint_every = 8\nkeep_checkpoints = 3\nschedule = linear")

full = os.path.join(WORK, "full")
p = run(1, job, "--set", f"output.dir={full}")
check(p.returncode == 0, f"uninterrupted run: {errors(p)}")
ck = sorted(os.listdir(os.path.join(full, "checkpoints")))
check(ck == ["step-00000008", "step-00000016", "step-00000024"], f"checkpoints {ck}")
ref = stio.read(os.path.join(full, "model.safetensors"))[0]

# 1. Every checkpoint corrupt.
bad = os.path.join(WORK, "all_corrupt")
shutil.copytree(full, bad)
for c in ck:
    os.truncate(os.path.join(bad, "checkpoints", c, "model.safetensors"), 1000)
before = snapshot(bad)
p = run(2, job, "--set", f"output.dir={bad}", "--resume")
line = errors(p)
check(p.returncode != 0, f"all checkpoints corrupt: resume exited {p.returncode}")
check(all(f"{c}: model.safetensors: 1000 bytes" in line for c in ck),
      f"the error does not name every checkpoint and why: {line}")
check("starting from scratch" not in p.stderr, "started from scratch")
check(snapshot(bad) == before, "the run folder changed (files deleted or rewritten)")
print("all checkpoints corrupt:", line)

# 2. Trajectory-changing settings are refused, naming key, old and new value.
part = os.path.join(WORK, "part")


def partial(name):
    """The full run with only its first checkpoint (step 8) left."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(full, d)
    for c in ck[1:]:
        shutil.rmtree(os.path.join(d, "checkpoints", c))
    os.remove(os.path.join(d, "model.safetensors"))
    return d


d = partial("changed")
cfg0 = open(os.path.join(d, "config.ini"), "rb").read()
before = snapshot(d)
for key, new, want in [("train.lr", "2e-3", "[train] lr = 0.001 -> 2e-3"),
                       ("train.epochs", "5", "[train] epochs = 3 -> 5"),
                       ("train.seed", "7", "[train] seed = 42 -> 7"),
                       ("train.schedule", "cosine", "[train] schedule = linear -> cosine"),
                       ("train.max_steps", "20", "[train] max_steps = (unset) -> 20")]:
    p = run(1, job, "--set", f"output.dir={d}", "--set", f"{key}={new}", "--resume")
    line = errors(p)
    check(p.returncode != 0 and want in line and "step-00000008" in line,
          f"changed {key}: status {p.returncode}, '{line}'")
check(snapshot(d) == before, "a refused resume changed the run folder")
# Two refused keys at once: both named.
p = run(1, job, "--set", f"output.dir={d}", "--set", "train.lr=2e-3", "--set", "train.seed=9",
        "--resume")
check("[train] lr" in errors(p) and "[train] seed" in errors(p), f"two changes: {errors(p)}")

# The same value spelt another way is not a change.
p = run(1, job, "--set", f"output.dir={d}", "--set", "train.lr=0.001",
        "--set", "train.warmup_frac=1e-1", "--resume")
check(p.returncode == 0, f"lr = 0.001 (saved 1e-3) refused: {errors(p)}")

# 3. Allowed changes continue the same trajectory and are recorded.
d = partial("allowed")
p = run(1, job, "--set", f"output.dir={d}", "--set", "run.threads=2",
        "--set", "train.log_every=5", "--set", "train.checkpoint_every=4", "--resume")
check(p.returncode == 0, f"allowed changes: {errors(p)}")
check(open(os.path.join(d, "config.ini"), "rb").read() == cfg0, "config.ini was rewritten")
log = text_of(os.path.join(d, "resumes.log"))
lines = log.splitlines()
check(len(lines) == 1 and "from step-00000008 (step 8) on 1 ranks" in log and
      "[run] threads = 1 -> 2" in log and "[train] checkpoint_every = 8 -> 4" in log,
      f"resumes.log: {log!r}")
rc1 = os.path.join(d, "config-resume-1.ini")
check("threads = 2" in text_of(rc1), "config-resume-1.ini")
if p.returncode == 0:
    w = stio.read(os.path.join(d, "model.safetensors"))[0]
    err = max(float(np.max(np.abs(w[k] - ref[k]))) for k in ref)
    check(err < 1e-5, f"resumed weights differ from the uninterrupted run by {err:.3g}")
    print(f"resume with threads 2: max weight difference {err:.3g}")
# A second resume is number 2 (the run is finished: nothing to train, still recorded);
# changes are relative to the checkpoint, which the first resume saved.
p = run(1, job, "--set", f"output.dir={d}", "--set", "run.threads=2", "--set", "train.log_every=5",
        "--set", "train.checkpoint_every=4", "--resume")
check(p.returncode == 0, f"second resume: {errors(p)}")
log = text_of(os.path.join(d, "resumes.log"))
check(len(log.splitlines()) == 2 and " resume 2: " in log and "changed: nothing" in log,
      f"resumes.log after two resumes: {log!r}")
check(os.path.exists(os.path.join(d, "config-resume-2.ini")), "config-resume-2.ini")
check(open(os.path.join(d, "config.ini"), "rb").read() == cfg0, "config.ini was rewritten")

# Values the schema lets through but the model cannot take: one line naming the --set.
for key, val, want in [("adaptor.num_heads", "7", "--set adaptor.num_heads: [adaptor] "
                        "projection_dim = 32 is not divisible by [adaptor] num_heads = 7"),
                       ("train.warmup_frac", "1", "--set train.warmup_frac: [train] warmup_frac"
                        " = 1 must be below 1"),
                       ("adaptor.dropout", "1", "--set adaptor.dropout: [adaptor] dropout = 1")]:
    p = run(1, job, "--set", f"output.dir={WORK}/badval", "--set", f"{key}={val}")
    check(p.returncode == 1 and want in errors(p), f"{key}={val}: {p.returncode}: {errors(p)}")

# 4. The lock.
for d in (bad, os.path.join(WORK, "changed"), os.path.join(WORK, "allowed"), full):
    check(not os.path.exists(os.path.join(d, "adaptor.lock")), f"{d}: lock left behind")

# Long enough (800000 steps) that no machine finishes it before the test stops it: the
# signal is sent on evidence that training is under way, never after a guessed delay.
long_job = fx.write_job(os.path.join(WORK, "long"), cache, layers=1, proj=32, heads=4, ffn=64,
                        batch=32, epochs=100000, lr=1e-4, warmup=0.1, shuffle="once",
                        log_every=1)
race = os.path.join(WORK, "race")


def start(ranks, job, *args, env=ENV):
    # stderr is a pipe: progress_seconds=0 logs every step, as on a terminal, so the step
    # lines the test waits for come at once rather than every 30 s.
    cmd = [MPI, "-np", str(ranks), "--oversubscribe", ADAPTOR, "pretrain", job,
           "--set", "run.progress_seconds=0", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)


procs = [start(1, long_job, "--set", f"output.dir={race}"),
         start(2, long_job, "--set", f"output.dir={race}")]
outs = {}
t0 = time.time()
while len(outs) < 1 and time.time() - t0 < 120:  # the loser stops at once
    for i, pr in enumerate(procs):
        if i not in outs and pr.poll() is not None:
            outs[i] = pr.stderr.read()
    time.sleep(0.2)
check(len(outs) == 1, f"two concurrent starts: {len(outs)} stopped early (expected exactly one)")
winner = [pr for i, pr in enumerate(procs) if i not in outs]
if len(outs) == 1 and winner:
    (loser, text), = outs.items()
    line = error_lines(text)
    check(procs[loser].returncode not in (0, None) and len(line) >= 1 and
          f"{race} is in use by pretrain (pid " in line[0] and f" on {socket.gethostname()}, "
          in line[0], f"loser's message: {line}")
    print("concurrent start refused:", line[0] if line else text[-300:])
    held = text_of(os.path.join(race, "adaptor.lock"))
    check("command pretrain" in held and f"host {socket.gethostname()}" in held,
          f"lock contents: {held!r}")
    # the winner runs on; once it has logged a training step, stop it (checkpoint +
    # status 3) and its lock goes with it
    signalled = False
    for l in winner[0].stderr:
        if "pretrain step 3/" in l:
            winner[0].send_signal(signal.SIGUSR1)
            signalled = True
            break
    rest = winner[0].stderr.read()
    code = winner[0].wait(timeout=300)
    check(signalled, f"the winner logged no training step (status {code}): {rest[-300:]}")
    check(code == 3, f"the winner exited {code} after SIGUSR1")
    check(not os.path.exists(os.path.join(race, "adaptor.lock")), "the winner left its lock")
for pr in procs:
    if pr.poll() is None:
        pr.kill()


def lock_text(host, pid, pid_start=0, job="-", restart="0"):
    return (f"host {host}\npid {pid}\npid_start {pid_start}\nslurm_job_id {job}\n"
            f"slurm_restart_count {restart}\ncommand pretrain\nstarted 2026-01-01T00:00:00Z\n")


def own_start():
    stat = open("/proc/self/stat").read()
    return int(stat[stat.rindex(")") + 2:].split()[19])


dead = subprocess.Popen(["true"])
dead.wait()
host = socket.gethostname()
cases = [  # name, lock, extra env, taken over?, message
    ("dead_pid", lock_text(host, dead.pid), {}, True, "its process is not running"),
    ("reused_pid", lock_text(host, os.getpid(), own_start() + 12345), {}, True,
     "another process"),
    ("requeued", lock_text("node-b", 4242, 0, "777", "0"),
     {"SLURM_JOB_ID": "777", "SLURM_RESTART_COUNT": "1"}, True, "requeued"),
    ("live", lock_text(host, os.getpid(), own_start()), {}, False,
     f"is in use by pretrain (pid {os.getpid()} on {host}, Slurm job -, since 2026-01-01"),
    ("other_host", lock_text("node-b", 4242, 0, "555"), {"SLURM_JOB_ID": "777"}, False,
     "(pid 4242 on node-b, Slurm job 555, since 2026-01-01T00:00:00Z): wait for it or use "
     "another output folder; if that job is gone, remove adaptor.lock there"),
]
for name, text, extra, taken, msg in cases:
    d = os.path.join(WORK, "lock_" + name)
    os.makedirs(d)
    with open(os.path.join(d, "adaptor.lock"), "w") as f:
        f.write(text)
    p = subprocess.run([MPI, "-np", "1", "--oversubscribe", ADAPTOR, "pretrain", job,
                        "--set", f"output.dir={d}", "--set", "train.max_steps=2"],
                       capture_output=True, text=True, env=dict(ENV, **extra), timeout=300)
    if taken:
        check(p.returncode == 0 and "took over a stale lock" in p.stderr and msg in p.stderr,
              f"{name}: status {p.returncode}: {errors(p)}")
        check(not os.path.exists(os.path.join(d, "adaptor.lock")), f"{name}: lock left behind")
    else:
        check(p.returncode != 0 and msg in errors(p), f"{name}: status {p.returncode}: {errors(p)}")
        check(text_of(os.path.join(d, "adaptor.lock")) == text, f"{name}: lock changed")
        check(not os.path.exists(os.path.join(d, "checkpoints")), f"{name}: the run went ahead")

check.finish()
