#!/usr/bin/python3
"""Failures and logs as a batch job's output file shows them:

- a failure is ONE stderr line, printed by one rank, "<time> +<elapsed> adaptor: error[ (rank
  r)]: <message>; HINT: <what to do>", with a non-zero status and no configuration dump
  before it: a missing manifest (1 and 3 ranks; with plain mpirun the only other lines are
  Open MPI's own banner), pretrain before embed, eval before pretrain, an unreadable image in
  the middle of the manifest (found by whichever rank encodes it);
- every log line of a successful stage carries the wall-clock time and the elapsed time
  (the configuration dump's INI lines excepted), in order;
- progress lines into a pipe come at the first part and then per [run] progress_seconds;
  with progress_seconds = 0 at every part.

usage: errors_cli.py MPIEXEC ADAPTOR WORKDIR"""
import csv
import datetime
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from clitest import (STAMP, Checks, corpus_workdir, error_lines, launch, synth_job,  # noqa: E402
                     unstamped)

MPI, ADAPTOR, WORK = sys.argv[1:4]
check = Checks()
CORPUS = corpus_workdir(ADAPTOR, WORK, 120, 9)

JOB = synth_job(os.path.join(WORK, "job.ini"), {
    "cache": {"dir": "cache", "part_rows": 8},
    "adaptor": {"projection_dim": 64, "num_heads": 4, "ffn_dim": 64},
    "train": {"batch_size": 16, "epochs": 1}, "output": {"dir": "run"}})


def run(ranks, *args, quiet=True):
    return launch(MPI, ADAPTOR, ranks, *args, cwd=WORK, quiet=quiet)


def one_error(p, what, ranks, *needles, banner_ok=False, midrun=False):
    lines = p.stderr.splitlines()
    ours = [l for l in lines if STAMP.match(l) or "adaptor" in l]
    errs = error_lines(p.stderr)
    check(p.returncode != 0, f"{what}: exit status {p.returncode}")
    if midrun:  # after the stage's start: its log precedes the one error line
        check(len(errs) == 1 and lines[-1] == errs[0] and "MPI_ABORT" not in p.stderr,
              f"{what}: {len(errs)} error lines: {lines[-3:]}")
    elif banner_ok:  # Open MPI's own lines about the non-zero exit; none of them is ours
        check(len(ours) == 1 and len(errs) == 1, f"{what}: {len(ours)} adaptor lines: {ours}")
    else:
        check(len(lines) == 1 and len(errs) == 1, f"{what}: {len(lines)} stderr lines: {lines}")
        check("effective configuration" not in p.stderr and p.stdout == "",
              f"{what}: output before the error: {p.stdout[-300:]!r}")
    if not errs:
        return
    e = unstamped(errs[0])
    head = "adaptor: error (rank " if ranks and ranks > 1 else "adaptor: error: "
    check(e.startswith(head) and e.count("adaptor: ") == 1, f"{what}: prefix: {e!r}")
    check("; HINT: " in e and not e.endswith("; HINT: "), f"{what}: no hint: {e!r}")
    for n in needles:
        check(n in e, f"{what}: {n!r} not in {e!r}")
    return e


# ---- failures ----
nope = ("--set", "data.manifest=corpus/nothere.csv")
one_error(run(0, "embed", JOB, *nope), "missing manifest, 1 rank", 0, "nothere.csv",
          "cannot open manifest", "HINT: fix [data] manifest")
one_error(run(3, "embed", JOB, *nope), "missing manifest, 3 ranks", 3, "(rank 0)", "nothere.csv",
          "HINT: fix [data] manifest")
p = run(3, "embed", JOB, *nope, quiet=False)
one_error(p, "missing manifest, 3 ranks, mpirun without -q", 3, "nothere.csv", banner_ok=True)
check("MPI_ABORT" not in p.stderr, "the failure went through MPI_Abort")
one_error(run(3, "pretrain", JOB), "pretrain before embed", 3, "cache of split 'train'",
          "does not exist", f"HINT: run `adaptor embed {JOB}` first")
one_error(run(2, "eval", JOB), "eval before embed", 2, "HINT: run `adaptor embed")

# A row in the middle of the manifest whose image is missing: the rank that encodes it fails,
# the others only see a peer fail; one line names the manifest line and the image.
rows = list(csv.DictReader(open(os.path.join(CORPUS, "manifest.csv"), newline="")))
train = [i for i, r in enumerate(rows) if r["split"] == "train" and r["ViewPosition"] in ("PA", "AP")]
victim = train[len(train) // 2 + 20]
rows[victim]["Path"] = "images/missing-in-the-middle.png"
bad = os.path.join(WORK, "corpus", "bad.csv")
with open(bad, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
    w.writeheader()
    w.writerows(rows)
line = 2 + sum(r["findings"].count("\n") + r["impression"].count("\n") for r in rows[:victim]) + victim
# Parts of 48 rows go to the ranks as batches of 16 (embed.c): this row's batch has a rank.
pos = train.index(victim)
owner = (pos % 48) // 16
check(owner != 0, f"the victim row's batch is on rank 0 ({pos}): move it")
e = one_error(run(3, "embed", JOB, "--set", f"data.manifest={bad}", "--set", "cache.dir=cache_bad",
                  "--set", "cache.part_rows=48", "--set", "image_encoder.batch_size=16"),
          "missing image, 3 ranks", 3, "missing-in-the-middle.png", f"bad.csv:{line}",
          f"(rank {owner})",
          "skip_bad_rows", midrun=True)
check(e is not None and e.count("missing-in-the-middle.png") == 1, f"the image is named twice: {e}")

# ---- timestamps on every line ----
before = datetime.datetime.now().replace(microsecond=0)
p = run(2, "embed", JOB, "--set", "run.progress_seconds=0")
after = datetime.datetime.now()
check(p.returncode == 0, f"embed: {p.stderr[-1500:]}")
lines = p.stderr.splitlines()
stamps, in_dump, loose = [], False, []
for l in lines:
    m = STAMP.match(l)
    if m:
        in_dump = unstamped(l).startswith("; effective configuration")
        when = datetime.datetime.strptime(l[:19], "%Y-%m-%dT%H:%M:%S")
        h, mi, s = map(int, re.match(r"\+(\d+):(\d\d):(\d\d)", l[20:]).groups())
        stamps.append((when, h * 3600 + mi * 60 + s))
    elif not in_dump:
        loose.append(l)
check(len(stamps) >= 10 and not loose, f"lines without a timestamp: {loose[:5]}")
check(all(before <= w <= after for w, _ in stamps), f"times outside the run: {stamps[:2]}..{stamps[-2:]}")
check(all(a[1] <= b[1] for a, b in zip(stamps, stamps[1:])), "elapsed time goes backwards")
check(stamps and stamps[-1][1] <= (after - before).total_seconds() + 1, "elapsed longer than the run")

# ---- progress cadence into a pipe ----
def progress(out):
    return [l for l in out.splitlines() if re.search(r"embed image train \d+/\d+ \(\d+%\) .* ETA", l)]


n_parts = -(-len(train) // 8)  # every train row of the allowed views has a report here
each = progress(p.stderr)
check(len(each) == n_parts - 1, f"progress_seconds = 0: {len(each)} lines, {n_parts - 1} parts before the last")
p = run(2, "embed", JOB, "--set", "cache.dir=cache_quiet", "--set", "run.progress_seconds=3600")
check(p.returncode == 0 and len(progress(p.stderr)) == 1,
      f"progress_seconds = 3600: {len(progress(p.stderr))} progress lines (the first part only)")
check(len([l for l in p.stderr.splitlines()
           if re.search(r"embed image train (\d+)/\1 \(100%\) .* elapsed", l)]) == 1, "no final line")

# eval after embed, before pretrain: the hint names pretrain.
one_error(run(2, "eval", JOB), "eval before pretrain", 2, "model.safetensors does not exist",
          f"HINT: run `adaptor pretrain {JOB}` first")
check.finish()
