#!/usr/bin/python3
"""Ranks x threads for `adaptor embed` and `adaptor pretrain`: rows/s and samples/s at
1, 2 and 4 ranks of one thread and at 1 rank of 2 threads, with the peak memory (max RSS)
per rank, on a synthetic corpus with the demo's small encoders (64-d embeddings) and the
reference Adaptor (P 768, F 2048, 2 layers) at a global batch of 128.

usage: bench_layout.py ADAPTOR [WORKDIR] [N] [STAGES]
  mpirun from PATH; N corpus rows, default 200; STAGES: embed,pretrain (default both)"""
import os
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from clitest import synth_job  # noqa: E402

ADAPTOR = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "/tmp/bench_layout")
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
STAGES = (sys.argv[4] if len(sys.argv) > 4 else "embed,pretrain").split(",")
LAYOUTS = [(1, 1), (2, 1), (4, 1), (1, 2)]  # ranks, threads per rank


def run(ranks, threads, *args):
    env = dict(ENV, OMP_NUM_THREADS=str(threads), BLIS_NUM_THREADS=str(threads))
    cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", "/usr/bin/time", "-f",
           "maxrss_kb %M", ADAPTOR, *args, "--set", f"run.threads={threads}"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=WORK)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    rss = max(int(x) for x in re.findall(r"maxrss_kb (\d+)", p.stderr)) / 1024
    return p.stderr, rss


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
subprocess.run(["mpirun", "-np", "1", ADAPTOR, "synth", "corpus", "--n", str(N), "--seed", "3"],
               check=True, env=ENV, cwd=WORK, capture_output=True)
synth_job(os.path.join(WORK, "job.ini"), {
    "text_encoder": {"batch_size": 32}, "image_encoder": {"batch_size": 16},
    "cache": {"dir": "cache"}, "train": {"batch_size": 128, "max_steps": 8, "log_every": 1},
    "output": {"dir": "run"}})

print(f"{N} synthetic rows; machine shared (load average {os.getloadavg()[0]:.0f} on "
      f"{os.cpu_count()} cores): compare ratios, not absolute rates")
print("| stage | ranks x threads | rate | per rank | max RSS per rank MB |")
print("| --- | --- | --- | --- | --- |")
for mod in ("image", "text") if "embed" in STAGES else ():
    for ranks, threads in LAYOUTS:
        err, rss = run(ranks, threads, "embed", "job.ini", "--modality", mod, "--set",
                       f"cache.dir=cache-{mod}-{ranks}x{threads}")
        line = [l for l in err.splitlines() if re.search(rf"embed {mod} train: \d+ rows", l)][0]
        rate = float(re.search(r"([\d.]+) rows/s", line).group(1))
        print(f"| embed {mod} (demo encoder) | {ranks} x {threads} | {rate:.1f} rows/s | "
              f"{rate / ranks:.1f} | {rss:.0f} |", flush=True)
if "pretrain" in STAGES:
    run(1, 1, "embed", "job.ini")  # the caches pretrain reads
for ranks, threads in LAYOUTS if "pretrain" in STAGES else ():
    err, rss = run(ranks, threads, "pretrain", "job.ini", "--set",
                   f"output.dir=run-{ranks}x{threads}", "--set", "run.progress_seconds=0")
    rates = [float(x) for x in re.findall(r"([\d.]+) samples/s", err)][2:]  # after warm-up
    rate = statistics.median(rates) if rates else 0.0
    print(f"| pretrain (batch 128, P 768) | {ranks} x {threads} | {rate:.0f} samples/s | "
          f"{rate / ranks:.0f} | {rss:.0f} |", flush=True)
