#!/usr/bin/python3
"""The pipeline on a small synthetic corpus: embed with 1 and 3 ranks gives the same caches
(sample order included), an embed stopped by a bad row continues from its committed parts
and ends with the same cache, skip_bad_rows counts and marks the row, and pretrain + eval
write their outputs.

usage: pipeline_check.py MPIEXEC ADAPTOR WORKDIR"""
import glob
import os
import shutil
import subprocess
import sys

import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ENV, LABELS, SMALL_ADAPTOR, Checks, errors, mpirun, synth_job  # noqa: E402
import stio  # noqa: E402

MPI, ADAPTOR, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
check = Checks()


def adaptor(ranks, *args):
    # --set paths are relative to the working directory: run where the job file is.
    return mpirun(MPI, ADAPTOR, ranks, *args, cwd=WORK)


def read_cache(path):
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return {k: np.array(v[:]) for k, v in ds.variables.items()}


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
corpus = os.path.join(WORK, "corpus")
p = adaptor(2, "synth", corpus, "--n", "120", "--seed", "7")
check(p.returncode == 0, f"synth: {errors(p)}")

job = synth_job(os.path.join(WORK, "job.ini"), {
    "data": {"label_columns": LABELS}, "text_encoder": {"batch_size": 7},
    "image_encoder": {"batch_size": 5}, "cache": {"dir": "cache1", "part_rows": 24},
    "adaptor": SMALL_ADAPTOR, "train": {"batch_size": 16, "epochs": 3, "lr": "1e-3"},
    "output": {"dir": "run"}})

# 1. the same caches from 1 and 3 ranks
p = adaptor(1, "embed", job)
check(p.returncode == 0, f"embed on 1 rank: {errors(p)}")
# Bound to one core (Open MPI's default at <= 2 ranks) the rank decodes in the encoder's
# thread and says so once for the three splits, not once a split.
said = p.stderr.count("this rank may use one CPU only")
check(said == (0 if "helper thread" in p.stderr else 1), f"the one-CPU notice {said} times")
p = adaptor(3, "embed", job, "--set", "cache.dir=cache3")
check(p.returncode == 0, f"embed on 3 ranks: {errors(p)}")
p = adaptor(2, "embed", job, "--set", "cache.dir=cache2")
check(p.returncode == 0, f"embed on 2 ranks: {errors(p)}")
files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(WORK, "cache1", "*.nc")))
check(len(files) == 6, f"caches {files}")
for name in files:
    a = read_cache(os.path.join(WORK, "cache1", name))
    for other in ("cache2", "cache3"):
        b = read_cache(os.path.join(WORK, other, name))
        same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        check(same, f"{name}: 1 rank and {other[-1]} ranks differ")
    check(np.all(np.diff(a["sample_id"]) > 0), f"{name}: sample ids not in manifest order")

# 2. a bad image stops the job naming its manifest line; fixing it, the rerun continues
#    from the committed parts and gives the same cache
train = os.path.join(WORK, "cache1", [f for f in files if f.startswith("image") and f.endswith("-train.nc")][0])
ref = read_cache(train)
ids = ref["sample_id"]
victim_row = int(ids[len(ids) * 3 // 4])  # a row in a later part
with open(os.path.join(corpus, "manifest.csv"), newline="") as f:
    import csv
    rows = list(csv.DictReader(f))
img = os.path.join(corpus, rows[victim_row]["Path"])
shutil.move(img, img + ".away")
p = adaptor(2, "embed", job, "--set", "cache.dir=cache_r", "--modality", "image")
check(p.returncode != 0 and "manifest.csv:" in errors(p) and rows[victim_row]["Path"] in errors(p),
      f"missing image: status {p.returncode}, '{errors(p)}'")
parts = glob.glob(os.path.join(WORK, "cache_r", "*.parts", "*.nc"))
check(len(parts) >= 1, "no committed part survived the failed run")
shutil.move(img + ".away", img)
p = adaptor(2, "embed", job, "--set", "cache.dir=cache_r", "--modality", "image")
check(p.returncode == 0 and "part(s) done before" in p.stderr, f"resumed embed: {errors(p)}")
done_before = [l for l in p.stderr.splitlines() if "image train:" in l]
check(done_before and " 0 part(s) done before" not in done_before[0], f"nothing resumed: {done_before}")
again = read_cache(os.path.join(WORK, "cache_r", os.path.basename(train)))
check(all(np.array_equal(again[k], ref[k]) for k in ref), "resumed cache differs from the uninterrupted one")

# 2b. a job killed (SIGKILL) once its first part is committed continues from it
import signal  # noqa: E402
import time  # noqa: E402
kdir = os.path.join(WORK, "cache_k")  # absolute: the pattern below names only this job
cmd = [MPI, "-np", "2", "--oversubscribe", ADAPTOR, "embed", job, "--set", f"cache.dir={kdir}",
       "--modality", "image"]
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=WORK,
                        start_new_session=True)
deadline = time.time() + 120
while time.time() < deadline and not glob.glob(os.path.join(WORK, "cache_k", "*-train.nc.parts", "*.nc")):
    time.sleep(0.005)
# mpirun and every rank at once, as a node failure would (ranks run in their own groups)
os.killpg(proc.pid, signal.SIGKILL)
proc.wait()
for _ in range(100):
    if subprocess.run(["pkill", "-9", "-f", f"cache.dir={kdir}"]).returncode != 0:
        break  # nothing left to kill
    time.sleep(0.05)
check(subprocess.run(["pgrep", "-f", f"cache.dir={kdir}"], capture_output=True).returncode != 0,
      "ranks survived the kill")
killed_parts = glob.glob(os.path.join(WORK, "cache_k", "*-train.nc.parts", "*.nc"))
check(len(killed_parts) >= 1 and not os.path.exists(os.path.join(WORK, "cache_k", os.path.basename(train))),
      f"kill left {len(killed_parts)} parts and a final cache: the kill came too late to test")
p = adaptor(2, "embed", job, "--set", "cache.dir=cache_k", "--modality", "image")
line = [l for l in p.stderr.splitlines() if "image train:" in l]
check(p.returncode == 0 and line and " 0 part(s) done before" not in line[0],
      f"embed after a kill: {errors(p)} {line}")
after_kill = read_cache(os.path.join(WORK, "cache_k", os.path.basename(train)))
check(all(np.array_equal(after_kill[k], ref[k]) for k in ref), "cache after a kill differs")

# 3. skip_bad_rows: counted, marked with -(id + 1), left out by pretrain
with open(img, "rb") as f:
    good_bytes = f.read()
with open(img, "wb") as f:
    f.write(b"not an image")
p = adaptor(2, "embed", job, "--set", "cache.dir=cache_s", "--set", "data.skip_bad_rows=true")
check(p.returncode == 0 and "1 bad rows skipped" in p.stderr, f"skip_bad_rows: {errors(p)}")
check("manifest.csv:" in p.stderr and "skipped" in p.stderr, "the skipped row is not reported")
skipped = read_cache(os.path.join(WORK, "cache_s", os.path.basename(train)))
check(-(victim_row + 1) in skipped["sample_id"], "the bad row is not marked")
p = adaptor(2, "pretrain", job, "--set", "cache.dir=cache_s", "--set", "output.dir=run_s")
check(p.returncode == 0 and "skipped as bad" in p.stderr, f"pretrain over a skipped row: {errors(p)}")
with open(img, "wb") as f:  # online training (5.) reads every row, the partial batch's too
    f.write(good_bytes)

# 4. pretrain + eval on the clean caches write their outputs
p = adaptor(2, "pretrain", job)
check(p.returncode == 0, f"pretrain: {errors(p)}")
p = adaptor(2, "eval", job)
check(p.returncode == 0, f"eval: {errors(p)}")
with netCDF4.Dataset(os.path.join(WORK, "run", "eval.nc")) as ds:
    recs = list(zip(ds["split"][:], ds["model"][:], ds["metric"][:], ds["value"][:]))
check(any(r[0] == "test" and r[1] == "adaptor" and r[2] == "i2t_R@1" for r in recs), "eval.nc lacks test R@1")
check(any(r[2] == "zeroshot_auroc_Cardiomegaly" for r in recs), "eval.nc lacks zero-shot AUROC")
check(all(0 <= r[3] <= 1 for r in recs if "R@" in r[2]), "recall outside [0, 1]")
check("retrieval on test" in p.stderr, "eval printed no table")

# 5. online mode (encoders every step) without augmentation trains on the same embeddings
#    as the caches: the same weights up to round-off; with random crops it still runs
p = adaptor(2, "pretrain", job, "--set", "train.source=online", "--set", "output.dir=run_online")
check(p.returncode == 0, f"online pretrain: {errors(p)}")
if p.returncode == 0:
    a, _ = stio.read(os.path.join(WORK, "run", "model.safetensors"))
    b, _ = stio.read(os.path.join(WORK, "run_online", "model.safetensors"))
    err = max(float(np.max(np.abs(a[k] - b[k])) / max(np.max(np.abs(a[k])), 1e-30)) for k in a)
    print(f"online vs cached embeddings: max weight difference {err:.3g}")
    check(err < 1e-3, f"online and cached training differ by {err:.3g}")
p = adaptor(2, "pretrain", job, "--set", "train.source=online", "--set", "train.augment=random_crop",
            "--set", "output.dir=run_aug")
check(p.returncode == 0, f"online pretrain with random crops: {errors(p)}")

check.finish()
