"""Tables from eval.nc files, each written as markdown and CSV (CSV values in full
precision, markdown rounded to 4 decimals)."""
import csv
import math
import os
import re

from .ncfiles import DOWNSTREAM_TASKS, encoder_pair, parse_config

# The number a downstream table shows per file, by task, in order of preference; when none
# is present, the file's only metric, else the first metric naming the quantity.
HEADLINE = {"classify": ("auroc_mean", "auroc", "macro_auroc", "accuracy", "acc"),
            "probe": ("auroc_mean", "auroc", "macro_auroc", "accuracy", "acc"),
            "segment": ("dice_mean", "dice", "mean_dice")}
HEADLINE_WORD = {"classify": ("auroc", "acc"), "probe": ("auroc", "acc"), "segment": ("dice",)}


class Table:
    def __init__(self, name, title, keys, metrics, notes=()):
        self.name, self.title = name, title
        self.keys = list(keys)        # names of the leading (text) columns
        self.metrics = list(metrics)  # names of the value columns
        self.rows = []                # (key values, {metric: value})
        self.notes = list(notes)

    def add(self, key, values):
        self.rows.append((list(key), dict(values)))


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.6g}"


def write(table, out_dir):
    """<name>.csv and <name>.md; returns the file names."""
    csv_path, md_path = (os.path.join(out_dir, table.name + ext) for ext in (".csv", ".md"))
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(table.keys + table.metrics)
        for key, vals in table.rows:
            w.writerow(key + [repr(vals[m]) if m in vals else "" for m in table.metrics])
    with open(md_path, "w") as f:
        f.write(markdown(table))
    return [csv_path, md_path]


def markdown(table):
    lines = [f"### {table.title}", ""]
    for n in table.notes:
        lines.append(f"{n}  ")
    if table.notes:
        lines.append("")
    cols = table.keys + table.metrics
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join(" --- " if i < len(table.keys) else " ---: " for i in range(len(cols))) + "|")
    for key, vals in table.rows:
        lines.append("| " + " | ".join(key + [fmt(vals.get(m)) for m in table.metrics]) + " |")
    return "\n".join(lines) + "\n"


def _pick_split(ev, split):
    splits = ev.splits()
    if split in splits:
        return split
    return splits[-1] if splits else None


def _retrieval_order(name):
    """i2t before t2i, Recall@K by K, then median and mean ranks."""
    m = re.match(r"(i2t|t2i)_R@(\d+)$", name)
    if m:
        return (0, m.group(1), int(m.group(2)))
    return (1, name.split("_", 1)[1] if "_" in name else name, name)


def encoder_tables(runs, split):
    """Retrieval and zero-shot across runs: rows = run x model (projection, adaptor, ...),
    with the encoder pair from the config attribute; columns = metrics."""
    notes = []
    rows = []  # (run, image enc, text enc, split, model, {metric: value})
    for r in runs:
        if r.eval is None:
            if r.metrics is not None:
                notes.append(f"{r.name}: no eval.nc (run `adaptor eval`)")
            continue
        s = _pick_split(r.eval, split)
        if s is None:
            notes.append(f"{r.eval.path}: no records")
            continue
        if s != split:
            notes.append(f"{r.eval.path}: no split {split}, showing {s}")
        img, txt = encoder_pair(r.eval.config or r.config)
        by_model = {}
        for _, model, metric, value in r.eval.records(s):
            by_model.setdefault(model, {})[metric] = value
        for model, vals in by_model.items():
            rows.append((r.name, img, txt, s, model, vals))
    keys = ["run", "image_encoder", "text_encoder", "split", "model"]
    allm = list(dict.fromkeys(k for row in rows for k in row[5]))
    ret = sorted((k for k in allm if not k.startswith("zeroshot_")), key=_retrieval_order)
    zs = [k for k in allm if k.startswith("zeroshot_") and k != "zeroshot_auroc_mean"]
    zs += ["zeroshot_auroc_mean"] if "zeroshot_auroc_mean" in allm else []
    t_ret = Table("retrieval", f"Retrieval ({split} split)", keys, ret, notes)
    t_zs = Table("zeroshot", f"Zero-shot classification AUROC ({split} split)", keys, zs, notes)
    for run, img, txt, s, model, vals in rows:
        key = [run, img, txt, s, model]
        if any(k in vals for k in ret):
            t_ret.add(key, {k: vals[k] for k in ret if k in vals})
        if any(k in vals for k in zs):
            t_zs.add(key, {k: vals[k] for k in zs if k in vals})
    return t_ret, t_zs


def headline_metric(ev, split):
    metrics = list(dict.fromkeys(k for _, _, k, _ in ev.records(split)))
    prefer = HEADLINE[ev.task]
    cp = parse_config(ev.config)
    if cp is not None and cp.get("classify", "task", fallback="").strip() == "multiclass":
        prefer = ("accuracy", "acc") + prefer  # the paper reports accuracy for COVIDx
    for k in prefer:
        if k in metrics:
            return k
    if len(metrics) == 1:
        return metrics[0]
    for word in HEADLINE_WORD[ev.task]:
        hits = [k for k in metrics if word in k.lower()]
        if hits:
            means = [k for k in hits if "mean" in k.lower()]
            return (means or hits)[0]
    return metrics[0] if metrics else None


def _pct_key(p):
    try:
        return (0, float(p))
    except ValueError:
        return (1, p)


def _pct_label(p):
    """eval.nc's data_pct is the fraction of the training labels ([classify] data_pct)."""
    try:
        return f"{100 * float(p):g}%"
    except ValueError:
        return str(p)


def downstream_tables(runs, split):
    """Per task: rows = methods (eval.nc `model`), columns = '<dataset> <100 data_pct>%',
    the task's headline metric; and every downstream record in one long CSV."""
    files = [(r, ev) for r in runs for ev in r.downstream]
    long_rows = []
    tables = []
    for task in DOWNSTREAM_TASKS:
        mine = [(r, ev) for r, ev in files if ev.task == task]
        if not mine:
            continue
        cells, notes, used = {}, [], {}
        for r, ev in mine:
            s = _pick_split(ev, split)
            if s is None:
                notes.append(f"{ev.path}: no records")
                continue
            k = headline_metric(ev, s)
            col = (str(ev.attrs["dataset"]), str(ev.attrs["data_pct"]))
            used.setdefault(k, {})[col[0]] = None
            for _, model, metric, value in ev.records(s):
                if metric == k:
                    cells.setdefault((r.name, model), {})[col] = value
        # A method evaluated in several runs keeps one row per run.
        models = [m for _, m in cells]
        label = {rm: (rm[1] if models.count(rm[1]) == 1 else f"{rm[0]}: {rm[1]}") for rm in cells}
        cols = sorted({c for v in cells.values() for c in v},
                      key=lambda c: (c[0], _pct_key(c[1])))
        names = [f"{d} {_pct_label(p)}" for d, p in cols]
        metric_note = (next(iter(used)) if len(used) == 1 else
                       ", ".join(f"{k} ({', '.join(d)})" for k, d in used.items()))
        t = Table(f"downstream_{task}", f"Downstream: {task} ({metric_note}; {split} split)",
                  ["method"], names, notes)
        for rm, vals in cells.items():
            t.add([label[rm]], {f"{d} {_pct_label(p)}": vals[(d, p)] for d, p in cols if (d, p) in vals})
        tables.append(t)
    for r, ev in files:
        for s, model, metric, value in ev.records():
            long_rows.append([r.name, ev.task, str(ev.attrs["dataset"]), str(ev.attrs["data_pct"]),
                              s, model, metric, repr(value), ev.path])
    return tables, long_rows


def write_long(rows, out_dir):
    path = os.path.join(out_dir, "downstream_all.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "task", "dataset", "data_pct", "split", "model", "metric", "value", "file"])
        w.writerows(rows)
    return [path]
