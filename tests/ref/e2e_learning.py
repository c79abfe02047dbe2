#!/usr/bin/python3
"""End to end on the synthetic corpus: synth -> embed -> pretrain -> eval with the demo job,
on 2 and on 3 ranks; after pretraining, retrieval on the test split must be clearly above
chance and above the untrained baselines (the projections as initialised, and the whole
untrained Adaptor): Recall@1 at least twice chance and above both, Recall@10 at least twice
the untrained projections', median rank below 60% of theirs. Zero-shot AUROC is printed for the record (on ~140 test images it is
too noisy to assert). Everything is seeded, so the outcome is fixed for a given CPU.

usage: e2e_learning.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR [N]"""
import os
import shutil
import sys

import netCDF4

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks, mpirun  # noqa: E402

MPI, ADAPTOR, SRC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3], os.path.abspath(sys.argv[4])
N = int(sys.argv[5]) if len(sys.argv) > 5 else 2000  # the demo's corpus size (jobs/demo.sh)
check = Checks()


def adaptor(ranks, *args):
    p = mpirun(MPI, ADAPTOR, ranks, *args, cwd=WORK, timeout=1200)
    if p.returncode != 0:
        print(p.stderr[-3000:])
        sys.exit(f"{' '.join(args[:2])} on {ranks} ranks failed")
    return p


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
job = os.path.join(SRC, "jobs", "demo.ini")
sets = ["--set", f"data.manifest={WORK}/corpus/manifest.csv",
        "--set", f"text_encoder.model={WORK}/corpus/models/bert-tiny",
        "--set", f"image_encoder.model={WORK}/corpus/models/dinov2-tiny",
        "--set", f"cache.dir={WORK}/cache"]
adaptor(2, "synth", "corpus", "--n", str(N), "--seed", "11")
adaptor(2, "embed", job, *sets)
for ranks in (2, 3):
    run = ["--set", f"output.dir={WORK}/run{ranks}"]
    adaptor(ranks, "pretrain", job, *sets, *run)
    adaptor(ranks, "eval", job, *sets, *run)
    with netCDF4.Dataset(os.path.join(WORK, f"run{ranks}", "eval.nc")) as ds:
        rec = {(s, m, k): float(v) for s, m, k, v in
               zip(ds["split"][:], ds["model"][:], ds["metric"][:], ds["value"][:])}
    with netCDF4.Dataset(os.path.join(WORK, "cache", [f for f in os.listdir(os.path.join(WORK, "cache"))
                                                      if f.startswith("image") and f.endswith("-test.nc")][0])) as ds:
        n_test = ds.dimensions["sample"].size
    chance = 1.0 / n_test
    for d in ("i2t", "t2i"):
        models = ("adaptor", "projection", "init_projection", "init")
        r1 = {m: rec[("test", m, f"{d}_R@1")] for m in models}
        r10 = {m: rec[("test", m, f"{d}_R@10")] for m in models}
        med = {m: rec[("test", m, f"{d}_median_rank")] for m in models}
        print(f"{ranks} ranks, {d} (chance R@1 {chance:.4f}, {n_test} pairs): " +
              "; ".join(f"{m} R@1 {r1[m]:.4f} R@10 {r10[m]:.3f} median rank {med[m]:.1f}"
                        for m in models))
        base = "init_projection"
        check(r1["adaptor"] >= 2 * chance, f"{ranks} ranks {d}: R@1 {r1['adaptor']:.4f} not >= 2x chance")
        check(r1["adaptor"] > max(r1[base], r1["init"]),
              f"{ranks} ranks {d}: R@1 not above the untrained baselines")
        check(r10["adaptor"] >= 2 * r10[base], f"{ranks} ranks {d}: R@10 {r10['adaptor']:.3f} "
              f"not >= 2x the untrained projections' {r10[base]:.3f}")
        check(med["adaptor"] < 0.6 * med[base], f"{ranks} ranks {d}: median rank not clearly better")
    auc = {k[2]: v for k, v in rec.items() if k[0] == "test" and k[1] == "adaptor" and "zeroshot" in k[2]}
    print(f"{ranks} ranks, zero-shot AUROC: " + ", ".join(f"{k[15:]} {v:.3f}" for k, v in sorted(auc.items())))

check.finish()
