#!/usr/bin/python3
"""The console as a user reads it, on a small synthetic corpus (2 ranks):

1. embed reports, per split and modality, the rows the view filter dropped: the count equals
   the manifest's rows of the split whose ViewPosition is not PA or AP (counted here with
   csv), and kept + view-dropped + MGCA-dropped = the split's rows.
2. pretrain numbers epochs from 1 (progress lines and "epoch N: valid loss"); a run resumed
   from its step-3 checkpoint with the same settings (the later checkpoints removed, as if
   the first run had died just after saving step 3) shows the global step ("pretrain step
   4/T", never "1/").
3. eval prints, per split, the retrieval table whole and then the zero-shot table whole, in
   the order of [eval] splits, with no other line inside a table; every table has a header
   and a dashed rule as wide as each column, every row one cell per column, and the cells are
   eval.nc's numbers rounded to the column's digits.
4. classify and segment print in the same layout (title, header, rule, rows) with their
   eval.nc numbers, and number epochs from 1 (classify's best_epoch within 1..epochs).

usage: tables_cli.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import csv
import os
import re
import shutil
import sys

import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks, errors, mpirun, unstamped  # noqa: E402

MPI, ADAPTOR, SRC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3], os.path.abspath(sys.argv[4])
check = Checks()
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
CORPUS = os.path.join(WORK, "corpus")
SETS = ["--set", f"data.manifest={CORPUS}/manifest.csv",
        "--set", f"text_encoder.model={CORPUS}/models/bert-tiny",
        "--set", f"image_encoder.model={CORPUS}/models/dinov2-tiny",
        "--set", f"cache.dir={WORK}/cache", "--set", f"output.dir={WORK}/run",
        "--set", "train.epochs=2", "--set", "train.log_every=1", "--set", "train.batch_size=16",
        "--set", "adaptor.projection_dim=32", "--set", "adaptor.ffn_dim=64",
        "--set", "data.label_columns=Cardiomegaly,Pleural Effusion",
        "--set", "classify.labels=Cardiomegaly,Pleural Effusion",
        # a progress line every log_every steps, as on a terminal (stderr is a pipe here)
        "--set", "run.progress_seconds=0"]


def run(*args, ranks=2):
    p = mpirun(MPI, ADAPTOR, ranks, *args, cwd=WORK)
    if p.returncode != 0:
        print(p.stderr[-3000:])
        sys.exit(f"{' '.join(args[:2])} failed: {errors(p)}")
    # the lines as the user reads them, without the time stamps every log line starts with
    return [unstamped(l) for l in p.stderr.splitlines()]


def records(path):
    with netCDF4.Dataset(path) as ds:
        return {(str(s), str(m), str(k)): float(v) for s, m, k, v in
                zip(ds["split"][:], ds["model"][:], ds["metric"][:], ds["value"][:])}


def tables(lines):
    """Every table: (title, header cells, rows {name: cells}, first line, last line)."""
    out = []
    for i in range(len(lines) - 2):
        rule = lines[i + 2]
        if not re.fullmatch(r"  -+(  -+)+", rule):
            continue
        header = lines[i + 1]
        widths = [len(d) for d in rule[2:].split("  ")]
        # the header's cells sit exactly over the dashes
        cells, at = [], 2
        for w in widths:
            cells.append(header[at:at + w].strip())
            at += w + 2
        check(len(header) == at - 2 and all(cells),
              f"header {header!r} does not line up with the rule {rule!r}")
        rows, j = {}, i + 3
        while j < len(lines) and lines[j].startswith("  ") and not lines[j].startswith("   "):
            row, at = [], 2
            for w in widths:
                row.append(lines[j][at:at + w])
                at += w + 2
            check(len(lines[j]) == at - 2 and all(c.strip() for c in row) and
                  all(c.startswith(" ") or len(c.strip()) == len(c) for c in row[1:]),
                  f"row {lines[j]!r} does not line up with the rule {rule!r}")
            rows[row[0].strip()] = [c.strip() for c in row[1:]]
            j += 1
        out.append((lines[i], cells, rows, i, j - 1))
    return out


def same(cell, value, col):
    """True when the cell shows value at the cell's digits, else what differs."""
    if cell == "-":
        return True if value is None else f"{col}: - vs {value}"
    digits = len(cell.split(".")[1]) if "." in cell else 0
    if value is not None and cell == f"{value:.{digits}f}":
        return True
    return f"{col}: {cell} vs {value}"


# a small corpus with lateral views (synth writes some LATERAL rows)
run("synth", CORPUS, "--n", "160", "--seed", "11")
with open(os.path.join(CORPUS, "manifest.csv"), newline="") as f:
    manifest = list(csv.DictReader(f))
job = os.path.join(SRC, "jobs", "demo.ini")

# 1. embed: rows dropped by the view filter
lines = run("embed", job, *SETS)
total_lateral = 0
for split in ("train", "valid", "test"):
    rows = [r for r in manifest if r["split"] == split]
    lateral = sum(r["ViewPosition"] not in ("PA", "AP") for r in rows)
    total_lateral += lateral
    for mod in ("image", "text"):
        got = [l for l in lines if l.startswith(f"embed {mod} {split}: ")]
        m = re.search(r": (\d+) rows \((\d+) dropped by the view filter, (\d+) by MGCA's report "
                      r"rule", got[0]) if got else None
        check(m is not None, f"embed {mod} {split}: no rows line with the view filter: {got}")
        if m:
            kept, view, mgca = map(int, m.groups())
            check(view == lateral, f"embed {mod} {split}: {view} dropped by the view filter, the "
                  f"manifest has {lateral} other views")
            check(kept + view + mgca == len(rows), f"embed {mod} {split}: {kept} + {view} + "
                  f"{mgca} != {len(rows)} rows")
check(total_lateral > 0, "the corpus has no lateral rows: the view filter count is untested")

# 2. pretrain: epochs from 1; resume shows the global step
PT = [*SETS, "--set", "train.epochs=3", "--set", "train.checkpoint_every=3",
      "--set", "train.keep_checkpoints=1000"]
lines = run("pretrain", job, *PT)
prog = [l for l in lines if l.startswith("pretrain step ") and " ETA " in l]
check(prog and all(re.search(r"  epoch [1-9]", l) for l in prog) and
      not any("epoch 0" in l for l in lines), f"pretrain epochs not from 1: {prog[:3]}")
full = [l for l in lines if l.startswith("pretrain step ")]
total = int(re.search(r"/(\d+) ", full[-1]).group(1)) if full else 0
check(total > 6, f"pretrain ran {total} steps: too few to resume from step 3")
# the run dies just after saving step 3: only checkpoints up to step 3 remain
ckdir = os.path.join(WORK, "run", "checkpoints")
steps = sorted(int(d.split("-")[1]) for d in os.listdir(ckdir) if re.fullmatch(r"step-\d+", d))
check(3 in steps and steps[-1] == total, f"checkpoints {steps}")
for d in os.listdir(ckdir):
    if re.fullmatch(r"step-\d+", d) and int(d.split("-")[1]) > 3:
        shutil.rmtree(os.path.join(ckdir, d))
lines = run("pretrain", job, *PT, "--resume")
check(any(re.match(r"resume: .*step-0*3 \(step 3,", l) for l in lines),
      f"not resumed from step 3: {[l for l in lines if l.startswith('resume')]}")
prog = [l for l in lines if l.startswith("pretrain step ")]
check(prog and prog[0].startswith(f"pretrain step 4/{total} ") and
      prog[-1].startswith(f"pretrain step {total}/{total} ") and
      not any(l.startswith("pretrain step 1/") for l in prog), f"resumed progress: {prog[:2]}")
valid = [int(m.group(1)) for l in lines for m in [re.match(r"epoch (\d+): valid loss", l)] if m]
check(valid == [1, 2, 3], f"valid loss epochs {valid}")

# 3. eval: each table whole and in order
lines = run("eval", job, *SETS, "--set", "train.epochs=3")
rec = records(os.path.join(WORK, "run", "eval.nc"))
tabs = tables(lines)
titles = [t[0].split(" (")[0] for t in tabs]
check(titles == ["retrieval on valid", "zero-shot AUROC on valid", "retrieval on test",
                 "zero-shot AUROC on test"], f"eval tables {titles}")
for (title, cols, rows, first, last), nxt in zip(tabs, tabs[1:] + [None]):
    split = title.split(" on ")[1].split(" ")[0]
    zs = title.startswith("zero-shot")
    want = ["projection", "adaptor"] if zs else ["projection", "adaptor", "init_projection", "init"]
    check(list(rows) == want, f"{title}: rows {list(rows)}")
    # nothing between a table's title and its last row; the next table after it
    check(last - first == 2 + len(want), f"{title}: {last - first - 2} lines under the rule")
    if nxt:
        check(nxt[3] > last, f"{title} overlaps the next table")
    for model, cells in rows.items():
        for col, cell in zip(cols[1:], cells):
            if zs:
                key = "zeroshot_auroc_mean" if col == "mean" else "zeroshot_auroc_" + col
            else:
                d, k = col.split(" ")
                key = f"{d}_median_rank" if k == "medR" else f"{d}_{k}"
            v = rec.get((split, model, key))
            ok = same(cell, v, col)
            check(ok is True, f"{title} {model}: {ok}")

# 4. classify and segment in the same layout
cjob = os.path.join(SRC, "jobs", "classify-demo.ini")
lines = run("classify", cjob, *SETS, "--set", f"classify.adaptor={WORK}/run/model.safetensors",
            "--set", f"output.dir={WORK}/cls", "--set", "classify.epochs=3",
            "--set", "classify.data_pct=1.0")
rec = records(os.path.join(WORK, "cls", "eval.nc"))
tabs = tables(lines)
check(len(tabs) == 1 and tabs[0][1][1:] == ["valid", "test"], f"classify tables {[t[:2] for t in tabs]}")
best = rec.get(("train", "adaptor+linear", "best_epoch"))
check(best is not None and 1 <= best <= 3, f"classify best_epoch {best} not in 1..3")
for title, cols, rows, _, _ in tabs[:1]:
    check(f"best_epoch {best:g}" in title, f"classify title {title!r} lacks the best epoch")
    check("auroc_mean" in rows and len(rows) == 4, f"classify rows {list(rows)}")
    for metric, cells in rows.items():
        for split, cell in zip(cols[1:], cells):
            ok = same(cell, rec.get((split, "adaptor+linear", metric)), metric)
            check(ok is True, f"classify {metric} {split}: {ok}")
ep = [int(x) for l in lines for x in re.findall(r"epoch (\d+) ", l)]
check(ep and min(ep) == 1 and max(ep) == 3, f"classify epochs {sorted(set(ep))}")

sjob = os.path.join(SRC, "jobs", "segment-demo.ini")
lines = run("segment", sjob, *SETS, "--set", f"segment.dir={WORK}/seg", "--set", "segment.epochs=1",
            "--set", "segment.decoder_channels=16,8,8,8", "--set", "segment.batch_size=8",
            "--set", "segment.log_every=1", "--set", "adaptor.projection_dim=32",
            "--set", "adaptor.ffn_dim=64")
rec = records(os.path.join(WORK, "seg", "eval.nc"))
tabs = tables(lines)
check([t[0].split(" (")[0] for t in tabs] == ["segmentation on valid", "segmentation on test"],
      f"segment tables {[t[0] for t in tabs]}")
for title, cols, rows, _, _ in tabs:
    split = title.split(" on ")[1].split(" ")[0]
    check(list(rows) == ["adaptor+vit_decoder", "all_background", "all_foreground"],
          f"{title}: rows {list(rows)}")
    for model, cells in rows.items():
        for metric, cell in zip(cols[1:], cells):
            ok = same(cell, rec.get((split, model, metric)), metric)
            check(ok is True, f"{title} {model}: {ok}")
ep = [int(x) for l in lines for x in re.findall(r"epoch (\d+)", l) if l.startswith("segment: train")]
check(ep and min(ep) == 1, f"segment epochs {sorted(set(ep))}")
check.finish()
