#!/usr/bin/python3
"""`python3 -m analysis` on two small real runs, and `adaptor eval`'s embeddings.nc.

1. synth (300 rows) -> embed -> pretrain (2 layers, checkpoints) -> eval on 2 ranks: run1;
   pretrain + eval with 1 layer and image_weight 0.6: run2.
2. embeddings.nc against independent computations: image_before equals the image cache's
   rows for each sample_id, image_after equals a numpy (float64) forward of the Adaptor from
   model.safetensors (SPEC 5), labels equal the manifest's columns, the sample set equals
   the test cache's.
3. downstream eval.nc files written here with netCDF4 in the documented layout (task,
   dataset, data_pct attributes; some in a sub-folder of run1, one named directly).
4. `python3 -m analysis run1 run2 ... --out DIR`: every figure (PNG) and table exists; the
   CSV beside each figure holds the netCDF numbers (total loss, the raw L_i2t / L_t2i =
   the weighted terms of metrics.nc over their weights from the config, and lr against step
   and against step / updates per epoch; throughput of all ranks and of each rank as
   samples / seconds over bins of steps, recomputed here), the PCA map has one point per
   test sample at exactly the coordinates of eval's pca-test-*.nc (which agree with a numpy
   SVD PCA up to sign; t-SNE: the same samples) coloured by the manifest labels, its axes
   named with the files' explained variance; every axis of every figure is labelled and a
   run keeps its colour in every figure; summary.md has today's date, this checkout's
   commit and the runs' adaptor_version; segmentation overlays are captioned; retrieval /
   zero-shot / downstream tables (CSV exact, markdown to 4 decimals) equal the eval.nc
   values.
5. A metrics.nc written here with [step, rank] times and an eval group (validation loss):
   rank_times.csv holds the per-rank sums, the loss panel the validation points.
6. Bad input: missing folder, folder without metrics.nc, a netCDF file of another program,
   a text file, a metrics.nc missing a variable: exit status 2, one stderr line naming the
   file, no traceback, no output folder.

usage: analysis_check.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import csv
import datetime
import glob
import os
import re
import shutil
import subprocess
import sys

import matplotlib.colors
import matplotlib.image
import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import SMALL_ADAPTOR, Checks, errors, mpirun, synth_job  # noqa: E402
import stio  # noqa: E402

MPI, ADAPTOR, SRC, WORK = (sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]),
                           os.path.abspath(sys.argv[4]))
check = Checks()
LABELS = ["Cardiomegaly", "Pleural Effusion", "Nodule"]


def adaptor(*args):
    p = mpirun(MPI, ADAPTOR, 2, *args, cwd=WORK)
    if p.returncode != 0:
        print(p.stderr[-3000:])
        sys.exit(f"adaptor {' '.join(args[:2])} failed: {errors(p)}")
    return p


def analysis(*args):
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True,
                          env=env, cwd=WORK, timeout=300)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def series(rows, panel, name):
    sel = [r for r in rows if r["panel"] == panel and r["series"] == name]
    return np.array([float(r["x"]) for r in sel]), np.array([float(r["y"]) for r in sel])


def nc_records(path):
    with netCDF4.Dataset(path) as ds:
        return [(str(s), str(m), str(k), float(v))
                for s, m, k, v in zip(ds["split"][:], ds["model"][:], ds["metric"][:], ds["value"][:])]


def md_table(path):
    """{row key (leading text cells joined by '|'): {column: cell}} of a markdown table."""
    lines = [l for l in open(path) if l.startswith("|")]
    head = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    out = []
    for l in lines[2:]:
        out.append(dict(zip(head, [c.strip() for c in l.strip().strip("|").split("|")])))
    return out


def md_equal(cell, value):
    return cell != "" and abs(float(cell) - value) <= 0.5e-4 + 1e-12 * abs(value)


# ---- 1. two runs ----
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
adaptor("synth", "corpus", "--n", "300", "--seed", "5")
job = synth_job(os.path.join(WORK, "job.ini"), {
    "data": {"label_columns": ",".join(LABELS)}, "text_encoder": {"batch_size": 32},
    "image_encoder": {"batch_size": 16}, "cache": {"dir": "cache"}, "adaptor": SMALL_ADAPTOR,
    "train": {"batch_size": 32, "epochs": 4, "lr": "1e-3", "checkpoint_every": 10},
    "output": {"dir": "run1"}})
adaptor("embed", job)
adaptor("pretrain", job)
adaptor("eval", job)
two = ["--set", "output.dir=run2", "--set", "adaptor.num_layers=1", "--set", "train.epochs=3",
       "--set", "adaptor.image_weight=0.6"]
WEIGHTS = {"run1": (0.25, 0.75), "run2": (0.4, 0.6)}  # (loss_i2t, loss_t2i) weights in the total
adaptor("pretrain", job, *two)
adaptor("eval", job, *two)
run1, run2 = os.path.join(WORK, "run1"), os.path.join(WORK, "run2")
check(len(glob.glob(os.path.join(run1, "checkpoints", "step-*"))) >= 1, "run1 has no checkpoint")

# ---- 2. embeddings.nc against the cache, the manifest and a numpy Adaptor ----
with open(os.path.join(WORK, "corpus", "manifest.csv"), newline="") as f:
    manifest = list(csv.DictReader(f))


def manifest_labels(ids):
    def val(s):
        s = s.strip()
        return -1 if s in ("", "-1", "-1.0") else int(float(s))
    return np.array([[val(manifest[i][k]) for k in LABELS] for i in ids], dtype=np.int8)


def cache(split):
    path = glob.glob(os.path.join(WORK, "cache", f"image-*-{split}.nc"))[0]
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return np.array(ds["sample_id"][:]), np.array(ds["embedding"][:])


def adaptor_image(weights, x):
    t, _ = stio.read(weights)
    t = {k: np.asarray(v, np.float64) for k, v in t.items()}

    def ln(z, g, b):
        mu = z.mean(1, keepdims=True)
        var = ((z - mu) ** 2).mean(1, keepdims=True)
        return (z - mu) / np.sqrt(var + 1e-5) * g + b
    v = x.astype(np.float64) @ t["projection.visual_projection.weight"].T
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    P = v.shape[1]
    layers = sorted({int(k.split(".")[2]) for k in t if k.startswith("adaptor_module.encoder.")
                     and k.split(".")[2].isdigit()})
    prefixes = [f"adaptor_module.encoder.{l}." for l in layers] or ["adaptor_module.encoder."]
    for p in prefixes:
        # One key per sequence: attention weight 1, MHA = out_proj(V projection of src).
        vv = v @ t[p + "attn.in_proj_weight"][2 * P:].T + t[p + "attn.in_proj_bias"][2 * P:]
        a = vv @ t[p + "attn.out_proj.weight"].T + t[p + "attn.out_proj.bias"]
        x1 = ln(v + a, t[p + "norm1.weight"], t[p + "norm1.bias"])
        h = np.maximum(x1 @ t[p + "linear1.weight"].T + t[p + "linear1.bias"], 0)
        h = h @ t[p + "linear2.weight"].T + t[p + "linear2.bias"]
        v = ln(x1 + h, t[p + "norm2.weight"], t[p + "norm2.bias"])
    return v / np.linalg.norm(v, axis=1, keepdims=True)


emb = {}
for run in (run1, run2):
    path = os.path.join(run, "embeddings.nc")
    check(os.path.exists(path), f"{path} missing")
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        check(ds.getncattr("adaptor_embeddings_version") == 1, "embeddings.nc version")
        check("projection_dim = 32" in ds.getncattr("config") and run in ds.getncattr("config"),
              "embeddings.nc config attribute")
        check(sorted(ds.groups) == ["test", "valid"], f"groups {sorted(ds.groups)}")
        for split, g in ds.groups.items():
            ids = np.array(g["sample_id"][:])
            before, after = np.array(g["image_before"][:]), np.array(g["image_after"][:])
            labels = np.array(g["labels"][:])
            cid, cemb = cache(split)
            check(sorted(ids) == sorted(cid), f"{run} {split}: sample ids differ from the cache's")
            row = {int(s): i for i, s in enumerate(cid)}
            check(np.array_equal(before, cemb[[row[int(s)] for s in ids]]),
                  f"{run} {split}: image_before is not the cache rows")
            ref = adaptor_image(os.path.join(run, "model.safetensors"), before)
            err = float(np.max(np.abs(after - ref)))
            check(after.shape == ref.shape and err < 1e-5, f"{run} {split}: image_after vs numpy Adaptor {err:.3g}")
            check(np.array_equal(labels, manifest_labels(ids)), f"{run} {split}: labels differ from the manifest")
            check(list(g["label_names"][:]) == LABELS, f"label_names {list(g['label_names'][:])}")
            emb[(os.path.basename(run), split)] = (ids, before, after, labels)
print(f"embeddings.nc: {len(emb[('run1', 'test')][0])} test samples; image_after agrees with numpy")

# ---- 3. downstream eval.nc files in the documented layout ----


def write_eval(path, task, dataset, pct, records, config="[image_encoder]\nmodel = /x/dinov2-tiny\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("record", None)
        cols = {k: ds.createVariable(k, str, ("record",)) for k in ("split", "model", "metric")}
        val = ds.createVariable("value", "f8", ("record",))
        for i, (s, m, k, v) in enumerate(records):
            cols["split"][i], cols["model"][i], cols["metric"][i] = s, m, k
            val[i] = v
        ds.setncattr("adaptor_eval_version", np.int32(1))
        ds.setncattr("config", config)
        ds.setncattr("task", task)
        ds.setncattr("dataset", dataset)
        ds.setncattr("data_pct", pct)


rng = np.random.default_rng(3)
expect = {}  # (task, method, column) -> value
for dataset in ("CheXpert", "RSNA"):
    for pct, shown in (("0.01", "1"), ("0.1", "10"), ("1.0", "100")):
        recs = []
        for model in ("adaptor", "init"):
            auc = [float(x) for x in rng.uniform(0.5, 0.9, 3)]
            recs += [("valid", model, "auroc_mean", 0.0), ("test", model, "loss", 0.7)]
            recs += [("test", model, f"auroc_{n}", a) for n, a in zip(LABELS, auc)]
            recs.append(("test", model, "auroc_mean", float(np.mean(auc))))
            expect[("classify", model, f"{dataset} {shown}%")] = float(np.mean(auc))
        write_eval(os.path.join(run1, f"classify-{dataset}-{shown}", "eval.nc"), "classify", dataset, pct, recs)
# multi-class (COVIDx in the paper): accuracy is the number shown
write_eval(os.path.join(run1, "classify-covidx", "eval.nc"), "classify", "COVIDx", "1.0",
           [("test", "adaptor", "auroc_mean", 0.9), ("test", "adaptor", "accuracy", 0.8125)],
           config="[classify]\ntask = multiclass    ; from x.ini:2\n")
expect[("classify", "adaptor", "COVIDx 100%")] = 0.8125
seg = os.path.join(WORK, "seg-siim", "eval.nc")
write_eval(seg, "segment", "SIIM", "0.1", [("test", "adaptor", "dice_mean", 0.61), ("test", "adaptor", "iou_mean", 0.3),
                                           ("test", "unet", "dice_mean", 0.55), ("test", "unet", "iou_mean", 0.4)])
expect[("segment", "adaptor", "SIIM 10%")] = 0.61
expect[("segment", "unet", "SIIM 10%")] = 0.55
# overlays as `adaptor segment` writes them beside its eval.nc (NN-row<id>.png)
os.makedirs(os.path.join(WORK, "seg-siim", "overlays"))
for k, row in enumerate((12, 40, 7)):
    img = np.tile(np.linspace(0, 1, 20), (9, 1))
    img[2:5, 3:6] = 1.0
    matplotlib.image.imsave(os.path.join(WORK, "seg-siim", "overlays", f"{k:02d}-row{row}.png"), img,
                            cmap="gray", vmin=0, vmax=1)
with open(os.path.join(WORK, "seg-siim", "overlays", "index.html"), "w") as f:  # as segment writes it
    f.write('<!doctype html>\n<h1>x</h1>\n<figure><img src="00-row12.png"><figcaption>sample 12, a.png: left truth, '
            'right prediction; Dice 0.812, IoU 0.683</figcaption></figure>\n<figure><img src="02-row7.png">'
            '<figcaption>sample 7, b.png: left truth, right prediction; Dice 0.250, IoU 0.143</figcaption></figure>\n')

# ---- 4. the analysis ----
out = os.path.join(WORK, "out")
p = analysis("run1", "run2", seg, "--out", out, "--tsne")
check(p.returncode == 0, f"analysis: status {p.returncode}: {p.stderr[-2000:]}")
names = ["training_step", "training_epoch", "throughput", "embeddings_test", "segment_overlays"]
for n in names:
    png = os.path.join(out, n + ".png")
    ok = os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 5000
    check(ok, f"{png} missing or not a PNG")
    check(os.path.exists(os.path.join(out, n + ".csv")), f"{n}.csv missing")
for n in ("retrieval", "zeroshot", "downstream_classify", "downstream_segment"):
    for ext in (".csv", ".md"):
        check(os.path.exists(os.path.join(out, n + ext)), f"{n}{ext} missing")
check(os.path.exists(os.path.join(out, "summary.md")), "summary.md missing")

metrics, per_rank = {}, {}
for run in ("run1", "run2"):
    with netCDF4.Dataset(os.path.join(WORK, run, "metrics.nc")) as ds:
        metrics[run] = {k: np.array(ds[k][:]) for k in ("step", "epoch", "loss", "loss_i2t", "loss_t2i",
                                                       "lr", "samples_per_s")}
        per_rank[run] = sum(np.array(ds[k][:], dtype=np.float64) for k in ("compute_time", "comm_time", "data_time"))
    m = metrics[run]
    # the file's terms are weighted: they add up to the total
    check(np.allclose(m["loss_i2t"] + m["loss_t2i"], m["loss"], rtol=1e-6, atol=1e-6),
          f"{run}: loss_i2t + loss_t2i is not loss")
panels = {"loss": "loss (total, weighted sum)", "loss_i2t": "L_i2t image-to-text (raw)",
          "loss_t2i": "L_t2i text-to-image (raw)", "lr": "learning rate"}


def bins(n, nbins=100):
    w = -(-n // nbins)
    return [range(a, min(a + w, n)) for a in range(0, n, w)]


if os.path.exists(os.path.join(out, "training_step.csv")):
    for against in ("step", "epoch"):
        rows = read_csv(os.path.join(out, f"training_{against}.csv"))
        for run, m in metrics.items():
            spe = np.sum(m["epoch"] == 0)  # every step is recorded: the first epoch's count
            xs = m["step"] / (1.0 if against == "step" else spe)
            for col, panel in panels.items():
                want = m[col] / {"loss_i2t": WEIGHTS[run][0], "loss_t2i": WEIGHTS[run][1]}.get(col, 1.0)
                x, y = series(rows, panel, run)
                check(np.array_equal(x, xs) and len(y) == len(want) and np.allclose(y, want, rtol=1e-12, atol=0),
                      f"training_{against}: {panel} of {run} is not metrics.nc's {col} (unweighted)")
    rows = read_csv(os.path.join(out, "throughput.csv"))
    for run, m in metrics.items():
        n = len(m["step"])
        bx = [float(np.mean(m["step"][list(b)])) for b in bins(n)]
        by = [len(b) / sum(1.0 / m["samples_per_s"][i] for i in b) for b in bins(n)]
        x, y = series(rows, "throughput, all ranks", run)
        check(len(x) <= 100 and np.allclose(x, bx, rtol=1e-12) and np.allclose(y, by, rtol=1e-9),
              f"throughput of {run}: not samples_per_s over bins of steps ({len(x)} points)")
        local = 32 / 2  # [train] batch_size over 2 ranks
        for k in range(2):
            x, y = series(rows, "throughput per rank", f"{run} rank {k}")
            ry = [len(b) * local / sum(per_rank[run][i, k] for i in b) for b in bins(n)]
            check(np.allclose(x, bx, rtol=1e-12) and np.allclose(y, ry, rtol=1e-9),
                  f"throughput of {run} rank {k}: not its samples over its step times")
    check(len(metrics["run2"]["step"]) < len(metrics["run1"]["step"]), "run2 is not the shorter run")

if os.path.exists(os.path.join(out, "embeddings_test.csv")):
    rows = read_csv(os.path.join(out, "embeddings_test.csv"))
    for run in ("run1", "run2"):
        ids, before, after, labels = emb[(run, "test")]
        for which, x in (("before", before), ("after", after)):
            sel = [r for r in rows if r["panel"] == f"{run}: {which} (PCA)"]
            check(len(sel) == len(ids), f"{run} {which}: {len(sel)} points for {len(ids)} test samples")
            got = {int(r["sample_id"]): (float(r["x"]), float(r["y"]), r["series"]) for r in sel}
            xc = x.astype(np.float64) - x.astype(np.float64).mean(0)
            u, s, _ = np.linalg.svd(xc, full_matrices=False)
            ref = u[:, :2] * s[:2]
            pts = np.array([got.get(int(i), (np.nan, np.nan, ""))[:2] for i in ids])
            # adaptor eval's ScaLAPACK PCA of the same rows (pca-test-frozen/adaptor.nc): the
            # map shows exactly its projections, and they agree with numpy's SVD
            pca_path = os.path.join(WORK, run, f"pca-test-{'frozen' if which == 'before' else 'adaptor'}.nc")
            with netCDF4.Dataset(pca_path) as ds:
                pid = np.array(ds.variables["sample_id"][:])
                proj = np.array(ds.variables["projection"][:], dtype=np.float64)
                ev = np.array(ds.variables["explained_variance"][:])
            order = {int(i): k for k, i in enumerate(pid)}
            pp = np.array([proj[order[int(i)]] for i in ids])
            check(np.array_equal(pts, pp[:, :2]), f"{run} {which}: map points are not {pca_path}'s projections")
            signs = np.sign(np.sum(pp * ref, axis=0))
            perr = float(np.max(np.abs(pp - ref * signs))) / float(np.max(np.abs(ref)))
            eerr = float(np.max(np.abs(ev - s[:2] ** 2 / (len(ids) - 1)) / ev[0]))
            check(sorted(order) == sorted(int(i) for i in ids) and perr < 1e-4 and eerr < 1e-5,
                  f"{pca_path}: projections differ from numpy's SVD by {perr:.3g}, "
                  f"explained variance by {eerr:.3g}")
            want = []
            for lab in labels:
                pos = [LABELS[k] for k in range(len(LABELS)) if lab[k] == 1]
                want.append(pos[0] if len(pos) == 1 else "several findings" if pos else
                            "unknown" if np.any(lab < 0) else "no finding")
            check([got.get(int(i), (0, 0, ""))[2] for i in ids] == want, f"{run} {which}: colours are not the labels")
            tsne = [r for r in rows if r["panel"] == f"{run}: {which} (t-SNE)"]
            check(sorted(int(r["sample_id"]) for r in tsne) == sorted(ids), f"{run} {which}: t-SNE points")

# tables against eval.nc
for run in ("run1", "run2"):
    recs = [r for r in nc_records(os.path.join(WORK, run, "eval.nc")) if r[0] == "test"]
    for table in ("retrieval", "zeroshot"):
        path = os.path.join(out, table + ".csv")
        if not os.path.exists(path):
            continue
        rows = {(r["run"], r["model"]): r for r in read_csv(path)}
        md = {(r["run"], r["model"]): r for r in md_table(os.path.join(out, table + ".md"))}
        n = 0
        for _, model, metric, value in recs:
            if (metric.startswith("zeroshot_")) != (table == "zeroshot"):
                continue
            r, m = rows.get((run, model), {}), md.get((run, model), {})
            n += 1
            check(r.get(metric) not in (None, "") and float(r[metric]) == value,
                  f"{table}.csv {run}/{model}/{metric}: {r.get(metric)} vs {value}")
            check(md_equal(m.get(metric, ""), value), f"{table}.md {run}/{model}/{metric}: {m.get(metric)} vs {value}")
            check(r.get("image_encoder") == "dinov2-tiny" and r.get("text_encoder") == "bert-tiny",
                  f"{table}.csv encoder pair {r.get('image_encoder')}/{r.get('text_encoder')}")
        check(n >= (8 if table == "zeroshot" else 40), f"{table}: only {n} numbers of {run} checked")
for task in ("classify", "segment"):
    path = os.path.join(out, f"downstream_{task}.csv")
    if not os.path.exists(path):
        continue
    rows = {r["method"]: r for r in read_csv(path)}
    md = {r["method"]: r for r in md_table(os.path.join(out, f"downstream_{task}.md"))}
    want = {(m, c): v for (t, m, c), v in expect.items() if t == task}
    cols = [c for c in next(iter(rows.values())) if c != "method"] if rows else []
    check(sorted(cols) == sorted({c for _, c in want}), f"downstream_{task} columns {cols}")
    check(sorted(rows) == sorted({m for m, _ in want}), f"downstream_{task} rows {sorted(rows)}")
    for (m, c), v in want.items():
        check(rows.get(m, {}).get(c) not in (None, "") and float(rows[m][c]) == v,
              f"downstream_{task}.csv {m}/{c}: {rows.get(m, {}).get(c)} vs {v}")
        check(md_equal(md.get(m, {}).get(c, ""), v), f"downstream_{task}.md {m}/{c}")
if os.path.exists(os.path.join(out, "downstream_classify.csv")):
    cols = list(read_csv(os.path.join(out, "downstream_classify.csv"))[0])
    check(cols == ["method", "COVIDx 100%", "CheXpert 1%", "CheXpert 10%", "CheXpert 100%", "RSNA 1%", "RSNA 10%", "RSNA 100%"],
          f"downstream columns out of order: {cols}")

# ---- 4b. the figures themselves (built in-process from the same inputs) ----
sys.path.insert(0, SRC)
from analysis import figures as F, runs as R  # noqa: E402
runs = R.load([run1, run2, seg])
F.assign_colours(runs)
trained = [r for r in runs if r.metrics is not None]
built = {"training_step": F.training_curves(trained, "step"), "throughput": F.throughput(trained),
         "training_epoch": F.training_curves(trained, "epoch"), "validation": F.validation(trained),
         "embeddings_test": F.embedding_maps(trained, "test", True)[0], "rank_times": F.rank_times(trained),
         "segment_overlays": F.segment_overlays(runs)}
for name, fig in built.items():
    check(fig is not None, f"{name}: no figure")
    for ax in (fig.axes if fig is not None else []):
        if not ax.get_visible() or not ax.axison:
            continue
        check(ax.get_xlabel().strip() != "" and ax.get_ylabel().strip() != "" and ax.get_title().strip() != "",
              f"{name}: panel '{ax.get_title()}' has an unlabelled axis "
              f"(x '{ax.get_xlabel()}', y '{ax.get_ylabel()}')")
colours = {}  # run -> colours its lines have anywhere
for name in ("training_step", "throughput", "validation"):
    for ax in built[name].axes:
        for line in ax.get_lines():
            run = line.get_label().split(" ")[0]
            colours.setdefault(run, set()).add(matplotlib.colors.to_hex(line.get_color()))
check(sorted(colours) == ["run1", "run2"] and all(len(c) == 1 for c in colours.values())
      and colours["run1"] != colours["run2"], f"one colour per run across panels: {colours}")
for ax in built["embeddings_test"].axes:
    m = re.match(r"(run\d): (before|after) \(PCA\)$", ax.get_title())
    if not m:
        continue
    with netCDF4.Dataset(os.path.join(WORK, m.group(1), f"pca-test-{'frozen' if m.group(2) == 'before' else 'adaptor'}.nc")) as ds:
        ratio = np.array(ds["explained_variance_ratio"][:])
    check(ax.get_xlabel() == f"PC1 ({100 * ratio[0]:.1f}% of variance)" and
          ax.get_ylabel() == f"PC2 ({100 * ratio[1]:.1f}% of variance)",
          f"{ax.get_title()}: axes {ax.get_xlabel()!r} / {ax.get_ylabel()!r}, ratios {ratio}")
titles = [ax.get_title() for ax in built["segment_overlays"].axes if ax.get_visible()]
check(len(titles) == 3 and all("truth" in t and "prediction" in t for t in titles)
      and sorted(re.search(r"row (\d+)", t).group(1) for t in titles) == ["12", "40", "7"]
      and sorted(re.findall(r"row (\d+), Dice ([0-9.]+)", " ".join(titles))) == [("12", "0.812"), ("7", "0.250")]
      and any("ground-truth" in t.get_text() for t in built["segment_overlays"].texts), f"overlay captions {titles}")
summary = open(os.path.join(out, "summary.md")).read()
today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
head = subprocess.run(["git", "-C", SRC, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
check(today in summary and (head.returncode != 0 or head.stdout.strip() in summary),
      f"summary.md lacks the date {today} or the commit {head.stdout.strip()}")
with netCDF4.Dataset(os.path.join(run1, "metrics.nc")) as ds:
    version = str(ds.getncattr("adaptor_version"))
check(f"run1: {run1} (written by adaptor {version})" in summary, f"summary.md lacks run1's version {version}")

# a run folder without eval's PCA files: a note, no map computed another way
nopca = os.path.join(WORK, "nopca")
shutil.copytree(run2, nopca)
for f in glob.glob(os.path.join(nopca, "pca-*.nc")):
    os.remove(f)
p = analysis("nopca", "--out", os.path.join(WORK, "out-nopca"))
check(p.returncode == 0 and "no pca-test-frozen.nc" in p.stderr
      and not os.path.exists(os.path.join(WORK, "out-nopca", "embeddings_test.png")),
      f"run without pca-*.nc: status {p.returncode}, {p.stderr[-500:]!r}")

# ---- 5. per-rank times and validation loss (a metrics.nc in the documented layout) ----
fake = os.path.join(WORK, "timed")
os.makedirs(fake)
steps, ranks = 12, 3
times = {k: rng.uniform(0.1, 1.0, (steps, ranks)) for k in ("compute_time", "comm_time", "data_time")}
val = [(4, 0, 2.5), (8, 1, 2.25), (12, 2, 2.0)]  # (step, epoch, valid loss)
with netCDF4.Dataset(os.path.join(fake, "metrics.nc"), "w") as ds:
    ds.createDimension("step", None)
    ds.createDimension("rank", ranks)
    ds.createVariable("step", "i8", ("step",))[:] = np.arange(1, steps + 1)
    ds.createVariable("epoch", "i4", ("step",))[:] = np.arange(steps) // 4
    for k in ("loss", "loss_i2t", "loss_t2i", "lr", "grad_norm", "logit_scale", "samples_per_s", "wall_time"):
        ds.createVariable(k, "f8", ("step",))[:] = rng.uniform(1, 2, steps)
    for k, v in times.items():
        ds.createVariable(k, "f8", ("step", "rank"))[:] = v
    g = ds.createGroup("eval")
    g.createDimension("record", None)
    g.createVariable("step", "i8", ("record",))[:] = [v[0] for v in val]
    g.createVariable("epoch", "i4", ("record",))[:] = [v[1] for v in val]
    sp, mt = g.createVariable("split", str, ("record",)), g.createVariable("metric", str, ("record",))
    vv = g.createVariable("value", "f8", ("record",))
    for i, v in enumerate(val):
        sp[i], mt[i], vv[i] = "valid", "loss", v[2]
    ds.setncattr("adaptor_metrics_version", np.int32(1))
    ds.setncattr("ranks", np.int32(ranks))
    ds.setncattr("config", "")
out2 = os.path.join(WORK, "out2")
p = analysis("timed", "--out", out2)
check(p.returncode == 0, f"analysis of the timed run: {p.stderr[-2000:]}")
path = os.path.join(out2, "rank_times.csv")
check(os.path.exists(path) and os.path.exists(os.path.join(out2, "rank_times.png")), "rank_times missing")
if os.path.exists(path):
    rows = read_csv(path)
    below = np.zeros(ranks)
    for k in ("compute_time", "comm_time", "data_time"):  # stacked in this order
        sel = [r for r in rows if r["series"] == k]
        x = np.array([float(r["x"]) for r in sel])
        y, b = np.array([float(r["y"]) for r in sel]), np.array([float(r["bottom"]) for r in sel])
        check(np.array_equal(x, np.arange(ranks)) and np.allclose(y, times[k].sum(0), rtol=1e-12)
              and np.allclose(b, below, rtol=1e-12), f"rank_times {k}: {y} on {b}")
        below += times[k].sum(0)
if os.path.exists(os.path.join(out2, "training_epoch.csv")):
    x, y = series(read_csv(os.path.join(out2, "training_epoch.csv")), "loss (total, weighted sum)", "timed valid loss")
    check(np.allclose(x, [1, 2, 3]) and np.array_equal(y, [v[2] for v in val]),
          f"validation loss points {x} {y}")
check(os.path.exists(os.path.join(out2, "validation.csv")), "validation.csv missing")

# ---- 6. bad input ----
os.makedirs(os.path.join(WORK, "empty"))
os.makedirs(os.path.join(WORK, "foreign"))
with netCDF4.Dataset(os.path.join(WORK, "foreign", "metrics.nc"), "w") as ds:
    ds.createDimension("x", 3)
    ds.createVariable("t", "f4", ("x",))[:] = [1, 2, 3]
    ds.title = "some other program"
os.makedirs(os.path.join(WORK, "text"))
with open(os.path.join(WORK, "text", "metrics.nc"), "w") as f:
    f.write("step,loss\n1,2\n")
os.makedirs(os.path.join(WORK, "noloss"))
with netCDF4.Dataset(os.path.join(WORK, "noloss", "metrics.nc"), "w") as ds:
    ds.createDimension("step", None)
    ds.createVariable("step", "i8", ("step",))[:] = [1, 2]
    ds.setncattr("adaptor_metrics_version", np.int32(1))
cases = [(["nowhere"], "nowhere"), (["run1", "empty"], os.path.join("empty", "metrics.nc")),
         (["foreign"], os.path.join("foreign", "metrics.nc")), (["text"], os.path.join("text", "metrics.nc")),
         (["noloss"], "epoch"), ([os.path.join("foreign", "metrics.nc")], os.path.join("foreign", "metrics.nc"))]
for args, named in cases:
    bad_out = os.path.join(WORK, "bad-out")
    p = analysis(*args, "--out", bad_out)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("analysis: error: ")
          and named in lines[0] and "Traceback" not in p.stderr,
          f"{args}: status {p.returncode}, stderr {p.stderr[-600:]!r}")
    check(not os.path.exists(bad_out), f"{args}: output written despite the error")
print("bad input:", analysis("foreign", "--out", "x").stderr.strip())

check.finish()
