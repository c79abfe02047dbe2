#!/usr/bin/python3
"""`adaptor segment` end to end on a synthetic corpus (pleural effusion masks: bit 1 of the
bitmask PNGs).

1. Half of the training rows (data_pct 0.5), decoder on the frozen DINOv2 tokens, on 1 and
   on 2 ranks: the training subset is the same file on both, has round(0.5 n) rows (half up), all of
   them frontal training rows with the finding (checked against the manifest and the mask
   PNGs with cv2), and both runs' test Dice is clearly above the all-background and
   all-foreground baselines (whose values are checked against numpy on the masks); the
   1- and 2-rank runs train the same model (synchronised BatchNorm, global loss), so their
   test Dice agree closely.
1b. [image_encoder] arch = resnet: the U-Net over the frozen synthetic ResNet's stages (small
   widths, a short run) records "baseline+unet_decoder" with test Dice clearly above the
   all-foreground baseline; its overlay's left panel outside the truth is the image after
   SPEC 3's resize, pad and centre crop (cv2 INTER_AREA), and overlays/index.html captions
   it with its image and the Dice of the regions it shows; features = adaptor with arch =
   resnet is a one-line config error naming both keys.
2. features = adaptor after a short pretrain: runs, records "adaptor+vit_decoder", and
   writes overlay PNGs.
3. Bad inputs fail with one line naming the file and row: a mask of another size, a
   bitmask read as a binary mask, a missing mask file.

usage: segment_cli.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import csv
import os
import re
import shutil
import sys
import time

import cv2
import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks, error_lines, errors, mpirun  # noqa: E402

MPI, ADAPTOR, SRC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3], os.path.abspath(sys.argv[4])
check = Checks()
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
JOB = os.path.join(SRC, "jobs", "segment-demo.ini")
CORPUS = os.path.join(WORK, "corpus")


def sets(manifest=None, out="run"):
    return ["--set", f"data.manifest={manifest or CORPUS + '/manifest.csv'}",
            "--set", f"text_encoder.model={CORPUS}/models/bert-tiny",
            "--set", f"image_encoder.model={CORPUS}/models/dinov2-tiny",
            "--set", f"cache.dir={WORK}/cache", "--set", f"output.dir={WORK}/{out}"]


# A quick decoder: small widths, few updates.
FAST = ["--set", "segment.decoder_channels=32,16,8,8", "--set", "segment.batch_size=8",
        "--set", "segment.lr=3e-3", "--set", "segment.log_every=1000"]


def run(ranks, *args, ok=True):
    p = mpirun(MPI, ADAPTOR, ranks, *args, cwd=WORK, timeout=600)
    if ok and p.returncode != 0:
        print(p.stderr[-3000:])
        sys.exit(f"{' '.join(args[:2])} on {ranks} ranks failed")
    return p


def crop_mask(mk):
    """SPEC 3's geometry on a 0/1 mask: MGCA's resize dims (nearest), centred pad, centre crop."""
    h, w = mk.shape
    rh, rw = (256, int(float(w) * (256 / float(h)))) if h >= w else (int(float(h) * (256 / float(w))), 256)
    rs = cv2.resize(mk.astype(np.uint8), (rw, rh), interpolation=cv2.INTER_NEAREST)
    pad = np.zeros((256, 256), np.uint8)
    pad[(256 - rh) // 2:(256 - rh) // 2 + rh, (256 - rw) // 2:(256 - rw) // 2 + rw] = rs
    return pad[16:240, 16:240]


def records(path):
    with netCDF4.Dataset(path) as ds:
        rec = {(s, m, k): float(v) for s, m, k, v in
               zip(ds["split"][:], ds["model"][:], ds["metric"][:], ds["value"][:])}
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    return rec, attrs


run(2, "synth", "corpus", "--n", "600", "--seed", "11")
rows = list(csv.DictReader(open(os.path.join(CORPUS, "manifest.csv"))))
positive = [i for i, r in enumerate(rows) if r["split"] == "train" and r["ViewPosition"] in ("PA", "AP")
            and r["Pleural Effusion"] == "1"]

# ---- 1. baseline decoder, data_pct 0.5, on 1 and 2 ranks ---------------------------------
dice = {}
subset = {}
for ranks in (1, 2):
    out = f"base{ranks}"
    run(ranks, "segment", JOB, *sets(out=out), *FAST, "--set", "segment.features=encoder",
        "--set", "segment.data_pct=0.5", "--set", "segment.max_steps=32", "--set", "segment.eval_every=16")
    d = os.path.join(WORK, out, "segment")
    subset[ranks] = open(os.path.join(d, "train_rows.csv")).read()
    rec, attrs = records(os.path.join(d, "eval.nc"))
    check(attrs.get("task") == "segment" and attrs.get("dataset") == "corpus" and attrs.get("data_pct") == "0.5",
          f"{ranks} ranks: eval.nc attributes {attrs.get('task')}, {attrs.get('dataset')}, {attrs.get('data_pct')}")
    m, bg, fg = (rec[("test", x, "dice_mean")] for x in ("baseline+vit_decoder", "all_background", "all_foreground"))
    dice[ranks] = m
    print(f"{ranks} rank(s): test Dice {m:.4f} (global {rec[('test', 'baseline+vit_decoder', 'dice_global')]:.4f}), "
          f"all-background {bg:.4f}, all-foreground {fg:.4f}, valid {rec[('valid', 'baseline+vit_decoder', 'dice_mean')]:.4f}")
    check(m >= fg + 0.2 and m >= 0.4, f"{ranks} ranks: test Dice {m:.4f} not clearly above the baselines ({bg:.4f}, {fg:.4f})")
    # the baselines against numpy on the masks of the test rows (centre crop of the same geometry)
    if ranks == 1:
        test_rows = [r for r in rows if r["split"] == "test" and r["ViewPosition"] in ("PA", "AP")
                     and r["Pleural Effusion"] == "1"]
        per = []
        for r in test_rows:
            mk = (cv2.imread(os.path.join(CORPUS, r["mask"]), cv2.IMREAD_UNCHANGED) >> 1) & 1
            t = crop_mask(mk)
            per.append(2.0 * t.sum() / (t.sum() + t.size))
        check(rec[("test", "all_background", "images")] == len(per),
              f"test images {rec[('test', 'all_background', 'images')]} vs {len(per)} in the manifest")
        check(abs(fg - float(np.mean(per))) < 1e-6, f"all-foreground Dice {fg} vs numpy {np.mean(per)}")
        check(bg == 0.0, "all-background Dice of positive rows is not 0")
check(subset[1] == subset[2], "the data_pct subset differs between 1 and 2 ranks")
ids = [int(l.split(",")[0]) for l in subset[1].splitlines()[1:]]
check(len(ids) == int(0.5 * len(positive) + 0.5), f"{len(ids)} training rows, expected round(0.5 * {len(positive)})")
check(set(ids) <= set(positive) and len(set(ids)) == len(ids), "the training subset holds rows outside the positive train rows")
check(abs(dice[1] - dice[2]) < 0.03, f"1 and 2 ranks train different models: test Dice {dice[1]:.4f} vs {dice[2]:.4f}")

# ---- 1b. ResNet U-Net ----------------------------------------------------------------------
RESNET = ["--set", f"image_encoder.model={CORPUS}/models/resnet-tiny", "--set", "image_encoder.arch=resnet"]
t0 = time.time()
run(2, "segment", JOB, *sets(out="unet"), *RESNET, "--set", "segment.features=encoder",
    "--set", "segment.unet_channels=32,16,8,4,4", "--set", "segment.batch_size=4", "--set", "segment.lr=3e-3",
    "--set", "segment.log_every=1000", "--set", "segment.max_steps=80", "--set", "segment.eval_every=40",
    "--set", "segment.overlays=2")
rec, attrs = records(os.path.join(WORK, "unet", "segment", "eval.nc"))
m, fg = rec[("test", "baseline+unet_decoder", "dice_mean")], rec[("test", "all_foreground", "dice_mean")]
print(f"resnet U-Net: test Dice {m:.4f}, all-foreground {fg:.4f}, valid "
      f"{rec[('valid', 'baseline+unet_decoder', 'dice_mean')]:.4f}, {time.time() - t0:.1f} s")
check(attrs.get("features") == "encoder", f"resnet: eval.nc features {attrs.get('features')}")
check(m >= fg + 0.2, f"resnet: test Dice {m:.4f} not clearly above all-foreground {fg:.4f}")
ov = sorted(f for f in os.listdir(os.path.join(WORK, "unet", "segment", "overlays")) if f.endswith(".png"))
check(len(ov) == 2, f"resnet overlays: {ov}")
if ov:
    r = rows[int(ov[0].split("row")[1].split(".")[0])]
    img = cv2.imread(os.path.join(CORPUS, r["Path"]), cv2.IMREAD_GRAYSCALE)
    h, w = img.shape
    rh, rw = (256, int(float(w) * (256 / float(h)))) if h >= w else (int(float(h) * (256 / float(w))), 256)
    pad = np.zeros((256, 256), np.uint8)
    pad[(256 - rh) // 2:(256 - rh) // 2 + rh, (256 - rw) // 2:(256 - rw) // 2 + rw] = \
        cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA)
    truth = crop_mask((cv2.imread(os.path.join(CORPUS, r["mask"]), cv2.IMREAD_UNCHANGED) >> 1) & 1)
    left = cv2.imread(os.path.join(WORK, "unet", "segment", "overlays", ov[0]), cv2.IMREAD_UNCHANGED)[:, :224]
    out = truth == 0
    check(truth.sum() > 0 and np.array_equal(left[out], pad[16:240, 16:240][out]),
          f"resnet overlay {ov[0]}: background differs from the preprocessed image")
    # index.html captions every overlay; its Dice is the one of the regions the PNG shows
    # (a region's pixels differ from the image: lifted to 96 + 5/8 v, or white on the border)
    right = cv2.imread(os.path.join(WORK, "unet", "segment", "overlays", ov[0]), cv2.IMREAD_UNCHANGED)[:, 228:]
    pred = right != pad[16:240, 16:240]
    inter, tot = float(np.sum(pred & (truth > 0))), float(pred.sum() + (truth > 0).sum())
    want = 2 * inter / tot if tot else 1.0
    html = open(os.path.join(WORK, "unet", "segment", "overlays", "index.html")).read()
    caps = re.findall(r'<img src="([^"]+)"><figcaption>sample (\d+), ([^:]+): left truth, right '
                      r'prediction; Dice ([0-9.]+), IoU ([0-9.]+)</figcaption>', html)
    check([c[0] for c in caps] == ov and caps[0][1] == ov[0].split("row")[1].split(".")[0]
          and caps[0][2].endswith(r["Path"]) and abs(float(caps[0][3]) - want) < 2e-3,
          f"overlays/index.html: captions {caps} (Dice of the PNG's regions {want:.4f})")
p = run(1, "segment", JOB, *sets(out="bad"), *RESNET, ok=False)
msg = errors(p)
check(p.returncode != 0 and "[segment] features = adaptor" in msg and "[image_encoder] arch" in msg
      and len(error_lines(p.stderr)) == 1,
      f"resnet + adaptor: exit {p.returncode}, {msg}")

# ---- 2. through a (briefly) pretrained Adaptor ------------------------------------------
run(2, "embed", os.path.join(SRC, "jobs", "demo.ini"), *sets(out="pre"))
run(2, "pretrain", os.path.join(SRC, "jobs", "demo.ini"), *sets(out="pre"), "--set", "train.max_steps=10")
run(2, "segment", JOB, *sets(out="pre"), *FAST, "--set", "segment.max_steps=8", "--set", "segment.overlays=3")
rec, _ = records(os.path.join(WORK, "pre", "segment", "eval.nc"))
check(("test", "adaptor+vit_decoder", "dice_mean") in rec, "no adaptor+vit_decoder record")
ov = sorted(f for f in os.listdir(os.path.join(WORK, "pre", "segment", "overlays")) if f.endswith(".png"))
check(len(ov) == 3, f"overlays: {ov}")
img = cv2.imread(os.path.join(WORK, "pre", "segment", "overlays", ov[0]), cv2.IMREAD_UNCHANGED)
check(img is not None and img.shape == (224, 452), f"overlay shape {None if img is None else img.shape}")

# ---- 2b. RSNA-style boxes: the effusions' bounding boxes, one CSV row per box ------------
with open(os.path.join(CORPUS, "boxes.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["Path", "split", "x", "y", "width", "height"])
    nbox, box_fg = {}, []
    for r in rows:
        if r["ViewPosition"] not in ("PA", "AP"):
            continue
        mk = ((cv2.imread(os.path.join(CORPUS, r["mask"]), cv2.IMREAD_UNCHANGED) >> 1) & 1).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mk)
        boxes = [stats[i][:4] for i in range(1, n) if stats[i][4] >= 20]
        for (x, y, bw, bh) in boxes:
            w.writerow([r["Path"], r["split"], x, y, bw, bh])
        if not boxes:
            w.writerow([r["Path"], r["split"], "", "", "", ""])
        nbox[r["Path"]] = len(boxes)
        if r["split"] == "test" and boxes:
            bm = np.zeros(mk.shape, np.float64)
            for (x, y, bw, bh) in boxes:  # MGCA's RSNA masks
                bm[int(y):int(y + bh), int(x):int(x + bw)] += 1
            t = crop_mask((bm >= 1).astype(np.uint8))
            if t.sum() > 0:
                box_fg.append(2.0 * t.sum() / (t.sum() + t.size))
p = run(1, "segment", JOB, *sets(out="boxes"), *FAST, "--set", f"segment.boxes={CORPUS}/boxes.csv", "--set", "segment.features=encoder",
        "--set", "segment.max_steps=2", "--set", "segment.overlays=0")
rec, attrs = records(os.path.join(WORK, "boxes", "segment", "eval.nc"))
check(rec[("test", "all_background", "images")] == len(box_fg) and attrs.get("dataset") == "corpus",
      f"boxes: {rec[('test', 'all_background', 'images')]} test images, {len(box_fg)} with boxes")
check(abs(rec[("test", "all_foreground", "dice_mean")] - float(np.mean(box_fg))) < 1e-6,
      f"boxes: all-foreground Dice {rec[('test', 'all_foreground', 'dice_mean')]} vs numpy {np.mean(box_fg)}")

# ---- 3. bad inputs ------------------------------------------------------------------------
def tampered(name, edit):
    """A manifest of the first 80 rows whose first positive train row is edited."""
    path = os.path.join(CORPUS, name)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), quoting=csv.QUOTE_ALL)
        w.writeheader()
        done = False
        for r in rows[:80]:
            r = dict(r)
            if not done and r["split"] == "train" and r["ViewPosition"] in ("PA", "AP") and r["Pleural Effusion"] == "1":
                edit(r)
                done = True
            w.writerow(r)
    return path


def small_mask(r):
    cv2.imwrite(os.path.join(CORPUS, "masks", "small.png"), np.zeros((10, 12), np.uint8))
    r["mask"] = "masks/small.png"


def missing_mask(r):
    r["mask"] = "masks/nothing-here.png"


for name, edit, extra, want in [
        ("size.csv", small_mask, [], ["mask is 12x10 but its image", "size.csv:"]),
        ("missing.csv", missing_mask, [], ["nothing-here.png: mask file not found", "missing.csv:"]),
        ("bits.csv", lambda r: None, ["--set", "segment.mask_bit="], ["is not binary", "bits.csv:"])]:
    p = run(2, "segment", JOB, *sets(tampered(name, edit), out="bad"), *FAST, *extra, ok=False)
    msg = errors(p)
    check(p.returncode != 0 and all(w in msg for w in want), f"{name}: exit {p.returncode}, {msg}")
    check(len(error_lines(p.stderr)) >= 1 and "Traceback" not in p.stderr
          and "AddressSanitizer" not in p.stderr, f"{name}: no clean error line")

check.finish()
