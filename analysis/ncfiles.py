"""Readers for the netCDF files adaptor writes (layouts: README.md "Output formats").

Every problem with an input is an AnalysisError whose message is one line naming the
file; the command line turns it into exit status 2."""
import configparser
import os

import netCDF4
import numpy as np


class AnalysisError(Exception):
    pass


# Step columns the figures need; the others of metrics.nc are optional here.
STEP_COLUMNS = ("step", "epoch", "loss", "loss_i2t", "loss_t2i", "lr", "samples_per_s")
DOWNSTREAM_TASKS = ("classify", "probe", "segment")


def _open(path, kind, version_attr):
    if not os.path.isfile(path):
        raise AnalysisError(f"{path}: no such file")
    try:
        ds = netCDF4.Dataset(path)
    except OSError as e:
        raise AnalysisError(f"{path}: not a readable netCDF file ({e.strerror or e})") from None
    if version_attr not in ds.ncattrs():
        ds.close()
        raise AnalysisError(f"{path}: not an adaptor {kind} file (no global attribute "
                            f"{version_attr})")
    ds.set_auto_mask(False)
    return ds


def _var(ds, path, name, ndim=1, dims=None):
    if name not in ds.variables:
        where = f" in group {ds.path}" if ds.path != "/" else ""
        raise AnalysisError(f"{path}: missing variable {name}{where}")
    v = ds.variables[name]
    if v.ndim != ndim or (dims is not None and v.dimensions != dims):
        raise AnalysisError(f"{path}: variable {name} has dimensions {v.dimensions}")
    a = v[:]
    return np.array(a, dtype=object) if v.dtype == str else np.asarray(a)


def _same_length(path, cols, what):
    lens = {k: len(v) for k, v in cols.items()}
    if len(set(lens.values())) > 1:
        raise AnalysisError(f"{path}: {what} variables differ in length {lens}")


def _attrs(ds):
    return {k: ds.getncattr(k) for k in ds.ncattrs()}


class Metrics:
    """metrics.nc: `cols` step columns (1-D over step), `per_rank` [step, rank] variables,
    `evals` the eval group's records (step, epoch, split, metric, value)."""

    def __init__(self, path):
        self.path = path
        with _open(path, "metrics", "adaptor_metrics_version") as ds:
            self.attrs = _attrs(ds)
            self.cols = {}
            for name, v in ds.variables.items():
                if v.dimensions == ("step",):
                    self.cols[name] = _var(ds, path, name)
            for name in STEP_COLUMNS:
                if name not in self.cols:
                    _var(ds, path, name)  # raises naming the variable
            _same_length(path, self.cols, "step")
            n = len(self.cols["step"])
            self.per_rank = {}
            for name, v in ds.variables.items():
                if v.dimensions == ("step", "rank"):
                    a = _var(ds, path, name, 2)
                    if a.shape[0] != n:
                        raise AnalysisError(f"{path}: variable {name} has {a.shape[0]} steps, "
                                            f"step has {n}")
                    self.per_rank[name] = a.astype(float)
            self.evals = {}
            if "eval" in ds.groups:
                g = ds.groups["eval"]
                for name in ("step", "epoch", "split", "metric", "value"):
                    self.evals[name] = _var(g, path, name)
                _same_length(path, self.evals, "eval group")
        self.config = str(self.attrs.get("config", ""))
        if n and np.any(np.diff(self.cols["step"]) <= 0):
            raise AnalysisError(f"{path}: steps do not increase")

    def steps_per_epoch(self):
        """Updates per epoch: the most records any epoch holds (every step is recorded)."""
        ep = self.cols["epoch"]
        if len(ep) == 0:
            return 1
        return int(np.max(np.unique(ep, return_counts=True)[1]))


class EvalFile:
    """eval.nc: records split/model/metric/value and the global attributes (`task`,
    `dataset`, `data_pct` for downstream stages)."""

    def __init__(self, path):
        self.path = path
        with _open(path, "eval", "adaptor_eval_version") as ds:
            self.attrs = _attrs(ds)
            self.rec = {k: _var(ds, path, k) for k in ("split", "model", "metric")}
            self.rec["value"] = _var(ds, path, "value").astype(float)
            _same_length(path, self.rec, "record")
        self.config = str(self.attrs.get("config", ""))
        self.task = str(self.attrs.get("task", "")) or None
        if self.task is not None and self.task not in DOWNSTREAM_TASKS:
            raise AnalysisError(f"{path}: task attribute '{self.task}' is none of "
                                f"{', '.join(DOWNSTREAM_TASKS)}")
        if self.task:
            for a in ("dataset", "data_pct"):
                if not str(self.attrs.get(a, "")):
                    raise AnalysisError(f"{path}: task {self.task} without attribute {a}")

    def records(self, split=None):
        """[(split, model, metric, value)] in file order, optionally one split only."""
        r = self.rec
        return [(s, m, k, float(v)) for s, m, k, v in
                zip(r["split"], r["model"], r["metric"], r["value"]) if split is None or s == split]

    def splits(self):
        return list(dict.fromkeys(self.rec["split"]))


class Embeddings:
    """embeddings.nc: per split group sample_id, image_before, image_after, labels,
    label_names."""

    def __init__(self, path):
        self.path = path
        self.splits = {}
        with _open(path, "embeddings", "adaptor_embeddings_version") as ds:
            self.config = str(ds.getncattr("config")) if "config" in ds.ncattrs() else ""
            for name, g in ds.groups.items():
                d = {"sample_id": _var(g, path, "sample_id", 1, ("sample",)),
                     "before": _var(g, path, "image_before", 2, ("sample", "dim_before")),
                     "after": _var(g, path, "image_after", 2, ("sample", "dim_after")),
                     "labels": _var(g, path, "labels", 2, ("sample", "label")),
                     "label_names": [str(s) for s in _var(g, path, "label_names", 1, ("label",))]}
                self.splits[name] = d
        if not self.splits:
            raise AnalysisError(f"{path}: no split groups")


def parse_config(text):
    """The effective job file (INI with '; from job.ini:3' comments); None if unreadable."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None,
                                   strict=False)
    try:
        cp.read_string(text)
    except configparser.Error:
        return None
    return cp


def encoder_pair(config_text):
    """(image encoder, text encoder) folder names from a config attribute."""
    cp = parse_config(config_text)

    def name(section):
        if cp is None:
            return "?"
        p = cp.get(section, "model", fallback="").strip().rstrip("/")
        return os.path.basename(p) or "?"
    return name("image_encoder"), name("text_encoder")


class Pca:
    """pca-<split>-<frozen|adaptor>.nc of `adaptor eval` (ScaLAPACK PCA): projection
    [sample, component], sample_id, explained_variance(_ratio)[component]."""

    def __init__(self, path):
        self.path = path
        with _open(path, "PCA", "adaptor_pca_version") as ds:
            self.sample_id = _var(ds, path, "sample_id", 1, ("sample",))
            self.projection = _var(ds, path, "projection", 2, ("sample", "component"))
            self.explained_variance_ratio = _var(ds, path, "explained_variance_ratio", 1,
                                                 ("component",)).astype(float)
        if self.projection.shape[1] < 2:
            raise AnalysisError(f"{path}: {self.projection.shape[1]} component(s); a map needs 2 "
                                "([eval] pca_components)")
        if self.projection.shape[0] != len(self.sample_id):
            raise AnalysisError(f"{path}: projection and sample_id differ in length")
