"""What the command line names: run folders (metrics.nc, eval.nc, embeddings.nc) and
downstream eval.nc files, loaded and checked up front so bad input fails before any output."""
import glob
import os
import re

from .ncfiles import AnalysisError, Embeddings, EvalFile, Metrics, Pca


class Run:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.metrics = None      # Metrics or None (downstream-only folders)
        self.eval = None         # the pretrain run's eval.nc (no task attribute)
        self.embeddings = None
        self.downstream = []     # EvalFile with a task attribute
        self.pca = {}            # (split, "frozen" | "adaptor") -> Pca (eval's pca-*.nc)

    @property
    def version(self):
        """adaptor_version attribute (version and git commit) of the run's files."""
        for src in [self.metrics, self.eval] + self.downstream:
            if src is not None and str(src.attrs.get("adaptor_version", "")):
                return str(src.attrs["adaptor_version"])
        return ""

    @property
    def config(self):
        for src in (self.metrics, self.eval, self.embeddings):
            if src is not None and src.config:
                return src.config
        return ""


def _load_dir(run):
    d = run.path
    own = os.path.join(d, "eval.nc")
    if os.path.exists(own):
        ev = EvalFile(own)
        if ev.task:
            run.downstream.append(ev)
        else:
            run.eval = ev
    # Downstream stages may write into sub-folders of the run; only files that say which
    # task they hold are taken from there.
    for p in sorted(glob.glob(os.path.join(d, "*", "eval.nc"))):
        ev = EvalFile(p)
        if ev.task:
            run.downstream.append(ev)
    m = os.path.join(d, "metrics.nc")
    if os.path.exists(m):
        run.metrics = Metrics(m)
    elif not run.downstream:
        raise AnalysisError(f"{m}: missing (not an adaptor run folder: no metrics.nc and no "
                            "downstream eval.nc)")
    e = os.path.join(d, "embeddings.nc")
    if os.path.exists(e):
        run.embeddings = Embeddings(e)
    for p in sorted(glob.glob(os.path.join(d, "pca-*.nc"))):
        m = re.match(r"pca-(.+)-(frozen|adaptor)\.nc$", os.path.basename(p))
        if m:
            run.pca[(m.group(1), m.group(2))] = Pca(p)


def _unique(name, taken):
    out, k = name, 2
    while out in taken:
        out, k = f"{name}-{k}", k + 1
    taken.add(out)
    return out


def load(args):
    """Runs for the arguments, in order: a folder is a run; an eval.nc file given directly
    is a downstream result (or a pretrain run's evaluation) of its own."""
    runs, taken = [], set()
    for a in args:
        path = os.path.abspath(a)
        if os.path.isdir(path):
            run = Run(_unique(os.path.basename(path.rstrip("/")) or path, taken), path)
            _load_dir(run)
        elif os.path.isfile(path):
            ev = EvalFile(a)
            stem = os.path.basename(os.path.dirname(path)) or "eval"
            run = Run(_unique(stem, taken), os.path.dirname(path))
            if ev.task:
                run.downstream.append(ev)
            else:
                run.eval = ev
        else:
            raise AnalysisError(f"{a}: no such run folder or file")
        runs.append(run)
    return runs
