"""Shared by the Python tests that drive the adaptor executable under mpirun: pass/fail
counting with the plain "N passed, N failed" summary, the launch environment, the job files
and the one-line errors the program prints."""
import os
import re
import shutil
import subprocess
import sys

# LeakSanitizer cannot attribute Open MPI's exit-time allocations in launched processes.
ENV = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAILED:", what)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def corpus_workdir(adaptor, work, n, seed):
    """A fresh folder `work` holding an `adaptor synth` corpus of n rows in work/corpus."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    corpus = os.path.join(work, "corpus")
    p = subprocess.run([adaptor, "synth", corpus, "--n", str(n), "--seed", str(seed)],
                       capture_output=True, text=True, env=ENV)
    if p.returncode != 0:
        sys.exit(f"synth failed: {p.stderr[-2000:]}")
    return corpus


# The synthetic corpus's two labels most tests train and classify on.
LABELS = "Cardiomegaly,Pleural Effusion"
# An Adaptor small enough for a test on the tiny encoders.
SMALL_ADAPTOR = {"projection_dim": 32, "num_heads": 4, "ffn_dim": 64}


def write_job(path, sections):
    """The INI job file at path from {section: {key: value}}, both in the order given."""
    with open(path, "w") as f:
        for name, keys in sections.items():
            f.write(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return path


def synth_job(path, sections=None):
    """A job on the `adaptor synth` corpus in corpus/ beside it (its manifest and tiny
    encoders), extended by sections: their keys replace or follow the base's, new sections
    come after."""
    job = {"data": {"manifest": "corpus/manifest.csv"},
           "text_encoder": {"model": "corpus/models/bert-tiny"},
           "image_encoder": {"model": "corpus/models/dinov2-tiny"}}
    for name, keys in (sections or {}).items():
        job.setdefault(name, {}).update(keys)
    return write_job(path, job)


def launch(mpi, adaptor, ranks, *args, cwd=None, quiet=True, timeout=600):
    """adaptor alone (ranks 0) or under `mpirun -q` (quiet: Open MPI adds no banner of its own
    to a non-zero exit, so stderr holds adaptor's lines only)."""
    cmd = [mpi, *(["-q"] if quiet else []), "-np", str(ranks), "--oversubscribe"] if ranks else []
    return subprocess.run([*cmd, adaptor, *args], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=timeout)


def mpirun(mpi, adaptor, ranks, *args, cwd=None, timeout=600, bind=None):
    """bind: Open MPI's --bind-to (None: its default, one core per rank at <= 2 ranks)."""
    cmd = [mpi, "-np", str(ranks), "--oversubscribe", *(["--bind-to", bind] if bind else []),
           adaptor, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout, cwd=cwd)


# Every line adaptor logs starts with the wall-clock time and the time since start.
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \+\d+:\d\d:\d\d ")


def unstamped(line):
    return STAMP.sub("", line, count=1)


def error_lines(text):
    """adaptor's error lines in text (one per failure, printed by one rank)."""
    return [l for l in text.splitlines() if unstamped(l).startswith("adaptor: error")]


def errors(p):
    """The error line(s) of a finished process, joined."""
    lines = error_lines(p.stderr)
    return " | ".join(lines) if lines else "(no error line) " + p.stderr[-300:]
