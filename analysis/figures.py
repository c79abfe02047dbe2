"""Figures. Each builder returns a matplotlib Figure (no pyplot state: Agg canvas), and
save() writes it as PNG with a CSV beside it holding exactly what the figure's artists
draw (read back from the lines, scatter collections and bars), so the plotted numbers can
be checked against the netCDF files."""
import csv
import glob
import os
import re

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from .ncfiles import parse_config

# metrics.nc holds the loss terms as the total adds them: loss_i2t = (1 - w) L_i2t and
# loss_t2i = w L_t2i (w = [adaptor] image_weight); the panels show the raw L_i2t and L_t2i.
CURVES = (("loss", "loss (total, weighted sum)", "cross-entropy loss"),
          ("loss_i2t", "L_i2t image-to-text (raw)", "cross-entropy loss"),
          ("loss_t2i", "L_t2i text-to-image (raw)", "cross-entropy loss"),
          ("lr", "learning rate", "learning rate"))
IMAGE_WEIGHT_DEFAULT = 0.75  # [adaptor] image_weight when a config attribute omits it
# Per-rank time components in stacking order; other [step, rank] variables follow.
TIME_ORDER = ("compute_time", "comm_time", "data_time")
CSV_HEADER = ("panel", "series", "x", "y", "bottom", "sample_id")
# Throughput is averaged over about this many bins of consecutive steps.
THROUGHPUT_BINS = 100


def assign_colours(runs):
    """One colour per run, the same in every figure (run.colour)."""
    n = len(runs)
    for i, r in enumerate(runs):
        r.colour = f"C{i}" if n <= 10 else colormaps["tab20"](i % 20)


def loss_weights(config_text):
    """(weight of loss_i2t, weight of loss_t2i) in the total, from the config attribute;
    None when the file carries no configuration."""
    cp = parse_config(config_text) if config_text else None
    if cp is None:
        return None
    w = cp.get("adaptor", "image_weight", fallback=str(IMAGE_WEIGHT_DEFAULT))
    try:
        w = float(w.split(";")[0])
    except ValueError:
        return None
    return 1.0 - w, w


def raw_loss(values, col, weights):
    """(values, weighted?) for a loss column: divided by its weight when known and non-zero."""
    k = {"loss_i2t": 0, "loss_t2i": 1}.get(col)
    if k is None:
        return values, False
    if weights is None or weights[k] == 0:
        return values, True
    return np.asarray(values, float) / weights[k], False


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
    """Loss (total, and the raw loss of each direction) and learning rate against `step` or
    `epoch` (epoch = step / updates per epoch, so every recorded step is shown); the eval
    group's validation loss, where recorded, on the total-loss panel."""
    fig, axes = _figure(2, 2)
    weighted = set()
    for (col, title, ylabel), ax in zip(CURVES, axes.flat):
        ax.set_xlabel(against)
        ax.set_ylabel(ylabel)
        if col == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        for r in runs:
            m = r.metrics
            scale = 1.0 if against == "step" else float(m.steps_per_epoch())
            y, w = raw_loss(m.cols[col], col, loss_weights(m.config))
            if w:
                weighted.add(col)
            ax.plot(m.cols["step"] / scale, y, label=r.name, lw=1.2, color=r.colour)
            if col == "loss":
                for split, (st, val) in _eval_series(m, "loss").items():
                    ax.plot(st / scale, val, "o--", label=f"{r.name} {split} loss", ms=3,
                            color=r.colour, alpha=0.7)
        # A run without its configuration cannot be unweighted: say so in the title.
        ax.set_title(title.replace("(raw)", "(weighted)") if col in weighted else title)
        ax.legend(fontsize="small")
    return fig


def binned_rate(steps, samples, seconds, nbins=THROUGHPUT_BINS):
    """Throughput over consecutive bins of steps: (mean step of each bin, total samples /
    total seconds of the bin), so that one very short step cannot dominate."""
    steps, samples, seconds = (np.asarray(a, float) for a in (steps, samples, seconds))
    n = len(steps)
    if n == 0:
        return steps, steps
    w = max(1, -(-n // nbins))
    edges = np.arange(0, n, w)
    x = np.add.reduceat(steps, edges) / np.diff(np.append(edges, n))
    t = np.add.reduceat(seconds, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(t > 0, np.add.reduceat(samples, edges) / t, np.nan)
    return x, y


def global_batch(m):
    """Samples per step over all ranks: [train] batch_size of the config attribute, else
    what samples_per_s and rank 0's compute + communication time imply."""
    cp = parse_config(m.config) if m.config else None
    if cp is not None:
        try:
            return float(cp.get("train", "batch_size", fallback="").split(";")[0])
        except ValueError:
            pass
    pr = m.per_rank
    if "compute_time" in pr and "comm_time" in pr and len(m.cols["step"]):
        t0 = pr["compute_time"][:, 0] + pr["comm_time"][:, 0]
        return float(np.median(m.cols["samples_per_s"] * t0))
    return None


def throughput(runs):
    """Samples per second averaged over bins of steps: the whole job (left; samples_per_s
    of metrics.nc, which times rank 0's compute and communication) and each rank (right;
    its share of the batch over its compute + communication + data time)."""
    timed = [r for r in runs if r.metrics.per_rank and global_batch(r.metrics)]
    fig, axes = _figure(1, 2 if timed else 1, w=6.0, h=4.0)
    ax = axes[0, 0]
    ax.set_title("throughput, all ranks")
    ax.set_xlabel("step")
    ax.set_ylabel("samples / s (mean over bins of steps)")
    for r in runs:
        m = r.metrics
        sps = np.asarray(m.cols["samples_per_s"], float)
        with np.errstate(divide="ignore"):
            secs = np.where(sps > 0, 1.0 / sps, 0.0)  # seconds per sample of each step
        x, y = binned_rate(m.cols["step"], np.ones(len(sps)), secs)
        ax.plot(x, y, label=r.name, lw=1.4, color=r.colour)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    if not timed:
        return fig
    ax = axes[0, 1]
    ax.set_title("throughput per rank")
    ax.set_xlabel("step")
    ax.set_ylabel("samples / s of one rank")
    styles = ("-", "--", ":", "-.")
    for r in timed:
        m = r.metrics
        pr = m.per_rank
        total = sum(pr[c] for c in pr)
        nranks = total.shape[1]
        local = global_batch(m) / nranks
        for k in range(nranks):
            x, y = binned_rate(m.cols["step"], np.full(total.shape[0], local), total[:, k])
            ax.plot(x, y, styles[k % len(styles)], label=f"{r.name} rank {k}", lw=1.2,
                    color=r.colour, alpha=1.0 - 0.5 * k / max(1, nranks - 1))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", ncol=1 + len(ax.get_lines()) // 12)
    return fig


def _eval_label(name):
    """Panel title of an eval-group metric; its loss terms shown raw like the training ones."""
    for col, title, _ in CURVES[:3]:
        if name == col:
            return "validation " + title
    return f"validation {name}"


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
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss" if name.startswith("loss") else name)
        weighted = False
        for r in runs:
            spe = float(r.metrics.steps_per_epoch())
            for split, (st, val) in _eval_series(r.metrics, name).items():
                y, w = raw_loss(val, name, loss_weights(r.metrics.config))
                weighted |= w
                ax.plot(st / spe, y, "o-", label=f"{r.name} {split}", ms=3, color=r.colour)
        title = _eval_label(name)
        ax.set_title(title.replace("(raw)", "(weighted)") if weighted else title)
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


GENERIC_CLASSES = ("no finding", "unknown", "several findings", "unlabelled")


def tsne(x):
    from sklearn.manifold import TSNE
    x = np.asarray(x, dtype=np.float64)
    return TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3.0), init="pca",
                random_state=0).fit_transform(x)


def _pca_points(r, split, which, ids):
    """(xy of the samples `ids` from eval's pca-<split>-<which>.nc, explained variance
    ratios), or a note why there are none."""
    pca = r.pca.get((split, which))
    if pca is None:
        return None, f"{r.name}: no pca-{split}-{which}.nc (run `adaptor eval` again)"
    row = {int(s): i for i, s in enumerate(pca.sample_id)}
    missing = [int(s) for s in ids if int(s) not in row]
    if missing or len(row) != len(ids):
        return None, (f"{pca.path}: samples differ from embeddings.nc's {split} group "
                      f"(e.g. sample {missing[0] if missing else 'extra'})")
    xy = pca.projection[[row[int(s)] for s in ids], :2].astype(np.float64)
    return (xy, pca.explained_variance_ratio[:2]), None


def embedding_maps(runs, split, use_tsne=False):
    """Rows = runs, columns = image embeddings before / after the Adaptor: the PCA that
    `adaptor eval` computed (pca-<split>-frozen.nc / -adaptor.nc), and t-SNE of
    embeddings.nc with use_tsne=True; coloured by finding (the same colour per finding in
    every panel). Returns (figure or None, notes)."""
    notes, use = [], []
    for r in runs:
        if r.embeddings is None:
            if r.metrics is not None:
                notes.append(f"{r.name}: no embeddings.nc (run `adaptor eval` again)")
        elif split not in r.embeddings.splits:
            notes.append(f"{r.embeddings.path}: no split {split}")
        elif len(r.embeddings.splits[split]["sample_id"]) < (5 if use_tsne else 2):
            notes.append(f"{r.embeddings.path}: too few {split} samples for a map")
        else:
            pts, bad = {}, None
            for which in ("frozen", "adaptor"):
                pts[which], why = _pca_points(r, split, which, r.embeddings.splits[split]["sample_id"])
                bad = bad or why
            if bad:
                notes.append(bad)
            else:
                use.append((r, pts))
    if not use:
        return None, notes
    cats = {r.name: np.array(categories(r.embeddings.splits[split]["labels"],
                                        r.embeddings.splits[split]["label_names"]), dtype=object)
            for r, _ in use}
    allc = sorted({c for v in cats.values() for c in v}, key=lambda c: (c in GENERIC_CLASSES, c))
    cmap = colormaps["tab10" if len(allc) <= 10 else "tab20"]
    colour = {c: cmap(i % cmap.N) for i, c in enumerate(allc)}
    methods = ["PCA"] + (["t-SNE"] if use_tsne else [])
    fig, axes = _figure(len(use), 2 * len(methods), w=4.4, h=4.0)
    for (r, pts), row in zip(use, axes):
        e = r.embeddings.splits[split]
        cat = cats[r.name]
        col = 0
        for method in methods:
            for which, data in (("before", "frozen"), ("after", "adaptor")):
                ax = row[col]
                col += 1
                ax.set_title(f"{r.name}: {which} ({method})")
                if method == "PCA":
                    xy, ratio = pts[data]
                    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f}% of variance)")
                    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f}% of variance)")
                else:
                    xy = tsne(e[which])
                    ax.set_xlabel("t-SNE 1")
                    ax.set_ylabel("t-SNE 2")
                for c in allc:
                    sel = cat == c
                    if not np.any(sel):
                        continue
                    coll = ax.scatter(xy[sel, 0], xy[sel, 1], s=10, label=c, color=colour[c])
                    coll.sample_ids = e["sample_id"][sel]
                ax.legend(fontsize="x-small", markerscale=1.5)
    fig.suptitle(f"image embeddings of the {split} split, coloured by finding", fontsize="medium")
    return fig, notes


def overlay_files(runs, limit=8):
    """[(run, eval file, overlay PNGs)] of the segmentation results whose folder holds the
    overlays `adaptor segment` writes (overlays/NN-rowID.png)."""
    out = []
    for r in runs:
        for ev in r.downstream:
            if ev.task != "segment":
                continue
            pngs = sorted(glob.glob(os.path.join(os.path.dirname(ev.path), "overlays", "*-row*.png")))
            if pngs:
                out.append((r, ev, pngs[:limit]))
    return out


def segment_overlays(runs, ncols=4):
    """The segmentation overlays, captioned: each image shows the test image twice, the
    ground-truth region on the left and the predicted one on the right."""
    from matplotlib.image import imread
    sets = overlay_files(runs)
    if not sets:
        return None
    dice = {}  # overlay PNG -> its Dice, from the index.html `adaptor segment` writes beside them
    for _, _, pngs in sets:
        index = os.path.join(os.path.dirname(pngs[0]), "index.html")
        if os.path.exists(index):
            with open(index, encoding="utf-8", errors="replace") as f:
                for name, d in re.findall(r'<img src="([^"]+)">.*?; Dice ([0-9.]+)', f.read()):
                    dice[os.path.join(os.path.dirname(pngs[0]), name)] = d
    rows = sum(-(-len(p) // ncols) for _, _, p in sets)
    fig, axes = _figure(rows, ncols, w=3.6, h=2.2)
    flat = iter(axes.flat)
    for r, ev, pngs in sets:
        for k, png in enumerate(pngs):
            ax = next(flat)
            ax.imshow(imread(png), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            row = re.search(r"-row(-?\d+)\.png$", png)
            d = f", Dice {dice[png]}" if png in dice else ""
            ax.set_title(f"{r.name} ({ev.attrs.get('dataset', '')}): manifest row "
                         f"{row.group(1) if row else '?'}{d}\nleft: truth    right: prediction",
                         fontsize="small")
        for _ in range((-len(pngs)) % ncols):
            next(flat).set_visible(False)
    fig.suptitle("Segmentation on test images: the ground-truth mask (left half) and the "
                 "decoder's prediction (right half),\nregion lightened, its border in white",
                 fontsize="medium")
    return fig
