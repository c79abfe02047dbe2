#!/usr/bin/python3
"""`adaptor segment` with a per-rank batch above 256 images (the size of the fixed index
arrays it once had): the run completes, trains on one batch of exactly that size and scores
every test image. A small ResNet U-Net at 64 px keeps it quick.

usage: segment_batch_cli.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import csv
import os
import shutil
import subprocess
import sys

import netCDF4

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ENV, Checks, errors, mpirun  # noqa: E402

MPI, ADAPTOR, SRC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3], os.path.abspath(sys.argv[4])
check = Checks()
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
CORPUS = os.path.join(WORK, "corpus")
subprocess.run([ADAPTOR, "synth", CORPUS, "--n", "400", "--seed", "1"], check=True, env=ENV,
               capture_output=True)
with open(os.path.join(CORPUS, "manifest.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
frontal = lambda split: sum(r["split"] == split and r["ViewPosition"] in ("PA", "AP") for r in rows)
n_train, n_test = frontal("train"), frontal("test")
BATCH = 270
assert n_train >= BATCH, f"the corpus has only {n_train} frontal training rows"

args = ["segment", os.path.join(SRC, "jobs", "segment-demo.ini"),
        "--set", f"data.manifest={CORPUS}/manifest.csv",
        "--set", f"text_encoder.model={CORPUS}/models/bert-tiny",
        "--set", f"image_encoder.model={CORPUS}/models/resnet-tiny",
        "--set", "image_encoder.arch=resnet", "--set", "segment.features=encoder",
        "--set", f"cache.dir={WORK}/cache", "--set", f"output.dir={WORK}/run",
        # every frontal training row (the demo job segments only a fraction of them)
        "--set", "segment.rows=all", "--set", "segment.data_pct=1.0",
        "--set", "data.resize=64", "--set", "data.crop_size=64",
        "--set", "segment.unet_channels=4,4,4,4,4", "--set", f"segment.batch_size={BATCH}",
        "--set", "segment.epochs=1", "--set", "segment.overlays=2"]
p = mpirun(MPI, ADAPTOR, 1, *args, cwd=WORK, timeout=600)
check(p.returncode == 0, f"batch {BATCH} on 1 rank: status {p.returncode}: {errors(p)}")
check(f"segment: {n_train} training images, global batch {BATCH}, 1 updates" in p.stderr,
      "the run did not train one batch of the requested size: "
      f"{[l for l in p.stderr.splitlines() if 'training images' in l]}")
out = os.path.join(WORK, "run", "segment", "eval.nc")
if os.path.exists(out):
    with netCDF4.Dataset(out) as ds:
        rec = {(s, m, k): float(v) for s, m, k, v in
               zip(ds["split"][:], ds["model"][:], ds["metric"][:], ds["value"][:])}
    got = rec.get(("test", "baseline+unet_decoder", "images"))
    check(got == n_test, f"test images scored {got}, manifest has {n_test}")
else:
    check(False, "no eval.nc")
check.finish()
