"""Figures. Each builder returns a matplotlib Figure (no pyplot state: Agg canvas), and
save() writes it as PNG with a CSV beside it holding exactly what the figure's artists
draw (read back from the lines, scatter collections and bars), so the plotted numbers can
be checked against the netCDF files."""
import csv
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

CURVES = (("loss", "loss (total)"), ("loss_i2t", "loss image-to-text"),
          ("loss_t2i", "loss text-to-image"), ("lr", "learning rate"))
# Per-rank time components in stacking order; other [step, rank] variables follow.
TIME_ORDER = ("compute_time", "comm_time", "data_time")
CSV_HEADER = ("panel", "series", "x", "y", "bottom", "sample_id")


def _figure(nrows, ncols, w=5.0, h=3.6):
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def figure_rows(fig):
    """(panel, series, x, y, bottom, sample_id) for every plotted point of every panel."""
    rows = []
    for ax in fig.axes:
        panel = ax.get_title()
        for line in ax.get_lines():
            for x, y in zip(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)):
                rows.append((panel, line.get_label(), x, y, "", ""))
        for coll in ax.collections:
            ids = getattr(coll, "sample_ids", None)
            for i, (x, y) in enumerate(np.asarray(coll.get_offsets(), float)):
                rows.append((panel, coll.get_label(), x, y, "", "" if ids is None else int(ids[i])))
        for cont in ax.containers:
            if isinstance(cont, BarContainer):
                for p in cont.patches:
                    rows.append((panel, cont.get_label(), p.get_x() + p.get_width() / 2,
                                 p.get_height(), p.get_y(), ""))
    return rows


def save(fig, out_dir, stem):
    """Writes <stem>.png and <stem>.csv; returns the file names."""
    png, data = os.path.join(out_dir, stem + ".png"), os.path.join(out_dir, stem + ".csv")
    fig.savefig(png, dpi=110)
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for r in figure_rows(fig):
            w.writerow([r[0], r[1]] + [repr(float(v)) if isinstance(v, float) else v for v in r[2:]])
    return [png, data]


def _eval_series(m, metric):
    """{split: (steps, values)} of the metrics file's eval-group records for one metric."""
    ev, out = m.evals, {}
    if not ev:
        return out
    for split in dict.fromkeys(ev["split"]):
        sel = (ev["split"] == split) & (ev["metric"] == metric)
        if np.any(sel):
            out[split] = (ev["step"][sel].astype(float), ev["value"][sel].astype(float))
    return out


def training_curves(runs, against):
    """Loss (total, both directions) and learning rate against `step` or `epoch`
    (epoch = step / updates per epoch, so every recorded step is shown); the eval group's
    validation loss, where recorded, on the loss panel."""
    fig, axes = _figure(2, 2)
    for (col, title), ax in zip(CURVES, axes.flat):
        ax.set_title(title)
        ax.set_xlabel(against)
        if col == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        for r in runs:
            m = r.metrics
            scale = 1.0 if against == "step" else float(m.steps_per_epoch())
            ax.plot(m.cols["step"] / scale, m.cols[col], label=r.name, lw=1.2)
            if col == "loss":
                for split, (st, val) in _eval_series(m, "loss").items():
                    ax.plot(st / scale, val, "o--", label=f"{r.name} {split} loss", ms=3)
        ax.legend(fontsize="small")
    return fig


def throughput(runs):
    fig, axes = _figure(1, 1, w=6.5)
    ax = axes[0, 0]
    ax.set_title("throughput")
    ax.set_xlabel("step")
    ax.set_ylabel("samples / s")
    for r in runs:
        ax.plot(r.metrics.cols["step"], r.metrics.cols["samples_per_s"], label=r.name, lw=1.0)
    ax.legend(fontsize="small")
    return fig


def validation(runs):
    """One panel per metric of the eval groups (validation during training), per epoch."""
    names = []
    for r in runs:
        if r.metrics.evals:
            names += [k for k in dict.fromkeys(r.metrics.evals["metric"]) if k not in names]
    if not names:
        return None
    ncols = min(3, len(names))
    fig, axes = _figure((len(names) + ncols - 1) // ncols, ncols)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for name, ax in zip(names, axes.flat):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        for r in runs:
            spe = float(r.metrics.steps_per_epoch())
            for split, (st, val) in _eval_series(r.metrics, name).items():
                ax.plot(st / spe, val, "o-", label=f"{r.name} {split}", ms=3)
        ax.legend(fontsize="small")
    return fig


def rank_times(runs):
    """Seconds per rank over the whole run, stacked by component (compute, communication,
    data loading): one panel per run that records [step, rank] times."""
    timed = [r for r in runs if r.metrics.per_rank]
    if not timed:
        return None
    fig, axes = _figure(1, len(timed))
    for r, ax in zip(timed, axes.flat):
        pr = r.metrics.per_rank
        comps = [c for c in TIME_ORDER if c in pr] + sorted(c for c in pr if c not in TIME_ORDER)
        nranks = pr[comps[0]].shape[1]
        bottom = np.zeros(nranks)
        for c in comps:
            tot = np.sum(pr[c], axis=0)
            ax.bar(np.arange(nranks), tot, bottom=bottom, label=c)
            bottom = bottom + tot
        ax.set_title(r.name)
        ax.set_xlabel("rank")
        ax.set_ylabel("seconds (sum over steps)")
        ax.set_xticks(np.arange(nranks))
        ax.legend(fontsize="small")
    return fig


def categories(labels, names):
    """One colour class per sample: its finding when it has exactly one, 'several findings',
    'no finding' (all 0), 'unknown' (no positive, some -1)."""
    out = []
    for row in np.asarray(labels):
        pos = [names[k] for k in range(len(names)) if row[k] == 1]
        if len(pos) == 1:
            out.append(pos[0])
        elif pos:
            out.append("several findings")
        elif not len(names):
            out.append("unlabelled")
        elif np.any(row < 0):
            out.append("unknown")
        else:
            out.append("no finding")
    return out


def project(x, method):
    x = np.asarray(x, dtype=np.float64)
    if method == "PCA":
        from sklearn.decomposition import PCA
        return PCA(n_components=2, svd_solver="full").fit_transform(x)
    from sklearn.manifold import TSNE
    return TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3.0), init="pca",
                random_state=0).fit_transform(x)


def embedding_maps(runs, split, tsne=False):
    """Rows = runs, columns = before / after the Adaptor (PCA, and t-SNE with tsne=True).
    Returns (figure or None, notes)."""
    notes, use = [], []
    for r in runs:
        if r.embeddings is None:
            if r.metrics is not None:
                notes.append(f"{r.name}: no embeddings.nc (run `adaptor eval` again)")
        elif split not in r.embeddings.splits:
            notes.append(f"{r.embeddings.path}: no split {split}")
        elif len(r.embeddings.splits[split]["sample_id"]) < (5 if tsne else 2):
            notes.append(f"{r.embeddings.path}: too few {split} samples for a map")
        else:
            use.append(r)
    if not use:
        return None, notes
    methods = ["PCA"] + (["t-SNE"] if tsne else [])
    fig, axes = _figure(len(use), 2 * len(methods), w=4.2, h=3.8)
    for r, row in zip(use, axes):
        e = r.embeddings.splits[split]
        cat = np.array(categories(e["labels"], e["label_names"]), dtype=object)
        classes = list(dict.fromkeys(sorted(cat, key=lambda c: (c in ("no finding", "unknown",
                                                                      "several findings"), c))))
        col = 0
        for method in methods:
            for which in ("before", "after"):
                ax = row[col]
                col += 1
                xy = project(e[which], method)
                ax.set_title(f"{r.name}: {which} ({method})")
                for c in classes:
                    sel = cat == c
                    coll = ax.scatter(xy[sel, 0], xy[sel, 1], s=10, label=c)
                    coll.sample_ids = e["sample_id"][sel]
                ax.legend(fontsize="x-small", markerscale=1.5)
    return fig, notes
