#!/usr/bin/python3
"""embed with decoding overlapped in a helper thread ([run] decode_overlap = true, the
default) against one thread (false): bitwise the same caches on 1 and 2 ranks; a corrupt
image in the middle of the manifest stops both with the same error line, naming its file
and manifest line, without a hang and leaving the parts committed before it intact; with
[data] skip_bad_rows the same caches and the same warnings. The same with [cache] writer =
parallel on 3 ranks (parts of 10 rows in batches of 3: ranks write 0-3 rows a round): the
cache bitwise that of 1 rank with the serial writer; the corrupt image, the same error line.

usage: embed_overlap_check.py MPIEXEC ADAPTOR WORKDIR"""
import csv
import glob
import os
import re
import sys

import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import (Checks, corpus_workdir, error_lines, errors, mpirun, synth_job,  # noqa: E402
                     unstamped)

MPI, ADAPTOR, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
check = Checks()


def read_cache(path):
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return {k: np.array(v[:]) for k, v in ds.variables.items()}


def embed(ranks, cache, overlap, *sets):
    args = ["embed", "job.ini", "--modality", "image", "--set", f"cache.dir={cache}",
            "--set", f"run.decode_overlap={'true' if overlap else 'false'}"]
    for s in sets:
        args += ["--set", s]
    # Unbound: a rank bound to one core decodes in its own thread (checked below).
    return mpirun(MPI, ADAPTOR, ranks, *args, cwd=WORK, timeout=120, bind="none")


corpus = corpus_workdir(ADAPTOR, WORK, 64, 11)
synth_job(os.path.join(WORK, "job.ini"), {"image_encoder": {"batch_size": 3},
                                          "cache": {"part_rows": 10, "splits": "train"}})

# 1. the same cache with and without the decode thread, on 1 and 2 ranks
runs = {}
for ranks in (1, 2):
    for overlap in (False, True):
        cache = f"cache-{ranks}-{int(overlap)}"
        p = embed(ranks, cache, overlap)
        check(p.returncode == 0, f"embed {ranks} rank(s) overlap={overlap}: {errors(p)}")
        said = "helper thread" in p.stderr
        check(said == overlap, f"overlap={overlap}: the time line {'lacks' if overlap else 'has'} "
              "the helper thread")
        files = glob.glob(os.path.join(WORK, cache, "*-train.nc"))
        check(len(files) == 1, f"{cache}: caches {files}")
        if files:
            runs[(ranks, overlap)] = read_cache(files[0])
# every rank writes its rows into the file (3 ranks: uneven rounds, ranks with no rows)
p = embed(3, "cache-3-parallel", True, "cache.writer=parallel")
check(p.returncode == 0, f"embed 3 ranks, parallel writer: {errors(p)}")
files = glob.glob(os.path.join(WORK, "cache-3-parallel", "*-train.nc"))
check(len(files) == 1, f"cache-3-parallel: caches {files}")
if files:
    runs[(3, "parallel writer")] = read_cache(files[0])
ref = runs.get((1, False))
for key, c in runs.items():
    same = ref is not None and c.keys() == ref.keys() and all(np.array_equal(c[k], ref[k]) for k in c)
    check(same, f"cache of {key[0]} rank(s) overlap={key[1]} differs from 1 rank without overlap")
check(ref is not None and len(ref["sample_id"]) > 30, "the train split is too small for this test")

# 2. a corrupt image in the middle of the manifest: the real file's first bytes, then junk
ids = [int(i) for i in ref["sample_id"]]
victim = ids[len(ids) // 2 + 1]
with open(os.path.join(corpus, "manifest.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
rel = rows[victim]["Path"]
with open(os.path.join(corpus, "manifest.csv"), newline="") as f:
    rd = csv.reader(f)
    starts, prev = [], next(rd) and rd.line_num
    for _ in rd:  # the line a row starts on (reports span lines)
        starts.append(prev + 1)
        prev = rd.line_num
where = f"manifest.csv:{starts[victim]}:"
img = os.path.join(corpus, rel)
with open(img, "rb") as f:
    head = f.read(64)
with open(img, "wb") as f:
    f.write(head + bytes(range(256)) * 8)
seen = {}
for ranks, overlap, writer in ((2, False, "serial"), (2, True, "serial"), (3, True, "parallel")):
    cache = f"bad-{ranks}-{int(overlap)}-{writer}"
    p = embed(ranks, cache, overlap, f"cache.writer={writer}")
    lines = [unstamped(l) for l in error_lines(p.stderr)]
    check(p.returncode != 0 and len(lines) == 1, f"corrupt image, {ranks} rank(s) overlap="
          f"{overlap}: status {p.returncode}, {lines}")
    line = lines[0] if lines else ""
    check(where in line and rel in line, f"the error names neither row nor file: {line}")
    seen[(ranks, overlap)] = re.sub(r"\(rank \d+\)", "(rank r)", line)
    check(not glob.glob(os.path.join(WORK, cache, "*-train.nc")), f"{cache}: a final cache")
    parts = glob.glob(os.path.join(WORK, cache, "*.parts", "*.nc"))
    check(len(parts) >= 1, f"{cache}: no part committed before the bad row")
    pos = {i: k for k, i in enumerate(ids)}
    for part in parts:
        c = read_cache(part)
        at = [pos[int(i)] for i in c["sample_id"]]
        check(victim not in set(int(i) for i in c["sample_id"]) and
              np.array_equal(c["embedding"], ref["embedding"][at]),
              f"{part}: a committed part differs from the clean cache")
for key in ((2, True), (3, True)):
    check(seen.get(key) == seen.get((2, False)),
          f"{key}: the error line differs:\n  {seen.get(key)}\n  {seen.get((2, False))}")

# 3. skip_bad_rows with the decode thread: the clean cache with the bad row zeroed and marked,
#    and one warning naming the file and its manifest line
p = embed(2, "skip", True, "data.skip_bad_rows=true")
check(p.returncode == 0 and "1 bad rows skipped" in p.stderr, f"skip_bad_rows: {errors(p)}")
warned = [l for l in p.stderr.splitlines() if "skipped:" in l]
check(len(warned) == 1 and rel in warned[0] and where in warned[0], f"skip warnings: {warned}")
files = glob.glob(os.path.join(WORK, "skip", "*-train.nc"))
c = read_cache(files[0]) if files else None
k = ids.index(victim)
keep = [i for i in range(len(ids)) if i != k]
check(c is not None and c["sample_id"][k] == -(victim + 1) and not c["embedding"][k].any() and
      np.array_equal(c["embedding"][keep], ref["embedding"][keep]) and
      np.array_equal(c["sample_id"][keep], ref["sample_id"][keep]),
      "skip_bad_rows with overlap: not the clean cache with the bad row zeroed and marked")
check.finish()
