#!/usr/bin/python3
"""Provenance in every output kind: the stages run on 2 ranks over a small synthetic corpus
(embed, pretrain with checkpoints, eval, classify, segment), then every output is opened
with the netCDF4 library or read as raw safetensors / JSON and its provenance compared with
what this test computes itself: the host name (socket), the rank count, the git commit
(checked against the repository with git), the manifest's FNV-1a 64 (recomputed here), the
configuration (the run folder's config.ini), BLIS kernels and threads.

usage: provenance_check.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys

import netCDF4

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import LABELS, SMALL_ADAPTOR, Checks, errors, mpirun, synth_job  # noqa: E402
import stio  # noqa: E402

MPI, ADAPTOR, SRC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3], \
    os.path.abspath(sys.argv[4])
check = Checks()


def adaptor(*args):
    return mpirun(MPI, ADAPTOR, 2, *args, cwd=WORK)


def fnv1a64(path):
    h = 0xcbf29ce484222325
    with open(path, "rb") as f:
        for b in f.read():
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
p = adaptor("synth", "corpus", "--n", "96", "--seed", "5")
check(p.returncode == 0, f"synth: {errors(p)}")
job = synth_job(os.path.join(WORK, "job.ini"), {
    "data": {"label_columns": LABELS}, "cache": {"dir": "cache"}, "adaptor": SMALL_ADAPTOR,
    "train": {"batch_size": 16, "epochs": 2, "lr": "1e-3", "checkpoint_every": 2},
    "classify": {"labels": LABELS, "task": "multilabel", "adaptor": "run/model.safetensors",
                 "epochs": 2, "batch_size": 16},
    "segment": {"mask_bit": "Pleural Effusion", "decoder_channels": "16,16,16,16",
                "batch_size": 4, "epochs": 1, "max_steps": 2, "overlays": 1},
    "output": {"dir": "run"}})
for stage, extra in (("embed", []), ("pretrain", []), ("eval", []),
                     ("classify", ["--set", "output.dir=cls"]), ("segment", [])):
    p = adaptor(stage, job, *extra)
    check(p.returncode == 0, f"{stage}: {errors(p)}")

# What the record must say, computed independently.
manifest = os.path.join(WORK, "corpus", "manifest.csv")
want = {"ranks": "2", "hosts": socket.gethostname(), "manifest_fnv1a64": fnv1a64(manifest),
        "threads": "1"}
version = subprocess.run([ADAPTOR, "--version"], capture_output=True, text=True).stdout.split()
want["adaptor_version"] = version[1]
with open(os.path.join(WORK, "run", "config.ini")) as f:
    run_config = f.read()
commit = version[3].rstrip(")")
check(subprocess.run(["git", "-C", SRC, "cat-file", "-e", commit.replace("-dirty", "") + "^{commit}"],
                     capture_output=True).returncode == 0, f"git commit {commit} is not in {SRC}")
want["git_commit"] = commit


def same(where, got, config=None):
    for k, v in want.items():
        check(got.get(k) == v, f"{where}: {k} = {got.get(k)!r}, expected {v!r}")
    check(os.path.samefile(got.get("manifest", "/nonexistent"), manifest),
          f"{where}: manifest = {got.get('manifest')!r}")
    check(got.get("blis_kernels", "") not in ("", "unknown"), f"{where}: blis_kernels")
    check("slurm_job_id" not in got, f"{where}: a Slurm job id outside Slurm")
    if config is not None:
        check(got.get("config") == config, f"{where}: config differs from the run's config.ini")
    else:
        check("[data]" in got.get("config", ""), f"{where}: no configuration")


def nc_attrs(path):
    with netCDF4.Dataset(path) as ds:
        return {k: ds.getncattr(k) for k in ds.ncattrs()}


outputs = 0
caches = sorted(glob.glob(os.path.join(WORK, "cache", "*.nc")))
check(len(caches) >= 6, f"caches: {caches}")  # image + text x 3 splits, plus downstream ones
for c in caches:
    same(c, nc_attrs(c))
    outputs += 1
for name in ("metrics.nc", "eval.nc", "embeddings.nc"):
    same(name, nc_attrs(os.path.join(WORK, "run", name)), run_config)
    outputs += 1
pcas = glob.glob(os.path.join(WORK, "run", "pca-*.nc"))
check(len(pcas) >= 2, f"pca files {pcas}")
for pth in pcas:
    same(pth, nc_attrs(pth), run_config)
    outputs += 1
for pth in (os.path.join(WORK, "cls", "eval.nc"), os.path.join(WORK, "run", "segment", "eval.nc")):
    a = nc_attrs(pth)
    same(pth, a)
    check(a.get("task") in ("classify", "segment"), f"{pth}: task attribute kept")
    outputs += 1

# safetensors: final weights, both checkpoint files, the segmentation decoder.
ckpts = sorted(glob.glob(os.path.join(WORK, "run", "checkpoints", "step-*")))
check(len(ckpts) >= 1, f"checkpoints {ckpts}")
sts = [os.path.join(WORK, "run", "model.safetensors"),
       os.path.join(ckpts[-1], "model.safetensors"), os.path.join(ckpts[-1], "optimizer.safetensors")]
sts += glob.glob(os.path.join(WORK, "run", "segment", "*.safetensors"))
check(len(sts) == 4, f"safetensors files {sts}")
for pth in sts:
    meta = stio.read(pth)[1]
    check(all(isinstance(v, str) for v in meta.values()), f"{pth}: non-string metadata")
    check(meta.get("format") == "pt", f"{pth}: format")
    same(pth, meta, None if "segment" in pth else run_config)
    outputs += 1

# trainer.json: the provenance, the seed and the RNG streams actually used.
tj = json.load(open(os.path.join(ckpts[-1], "trainer.json")))
same("trainer.json", {k: v for k, v in tj.items() if isinstance(v, str)}, run_config)
check(int(tj.get("seed", "0"), 16) == 42, f"trainer.json seed {tj.get('seed')!r}")
check(set(tj["rng"]) == {"order", "dropout_rank0"} and
      all(len(v) == 64 for v in tj["rng"].values()), f"trainer.json rng {tj['rng']}")
outputs += 1
print(f"{outputs} outputs checked")
check.finish()
