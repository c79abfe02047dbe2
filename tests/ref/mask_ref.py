#!/usr/bin/python3
"""Reference outputs for tests/unit/test_mask.c, computed with cv2 + numpy:
  - cv2.resize(..., INTER_NEAREST) of masks of many sizes (up and down, both axes);
  - the image geometry of SPEC 3 applied to a mask: MGCA's resize_img dimensions, nearest
    resize, centred zero padding (floor before), crop at (top, left);
  - bit extraction of bitmask masks ((v >> bit) & 1) and 0/255 binarisation;
  - RSNA box masks the way MGCA's RSNA dataset draws them: corners truncated to int64, a
    numpy slice mask[y1:y2, x1:x2] = 1 per box (slices clip at the border).

usage: mask_ref.py <output dir>
Writes PNG masks and raw reference bytes into <output dir> and one case per line into
<output dir>/cases.txt:
  nearest <png> <dw> <dh> <ref>
  geom    <png> <bit> <resize> <crop> <top> <left> <ref>      (bit -1: binary 0/255 mask)
  boxes   <w> <h> <n> x y w h ... <ref>
"""
import os
import sys

import cv2
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20240401)
lines = []


def blobby(h, w):
    """A mask with structure (ellipses), so misplaced pixels show."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(3):
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        ax, ay = max(1, int(rng.integers(1, max(2, w // 2)))), max(1, int(rng.integers(1, max(2, h // 2))))
        cv2.ellipse(m, (int(cx), int(cy)), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return m


def mgca_dims(h, w, size):
    if h >= w:  # taller or square: height becomes size
        return size, int(float(w) * (size / float(h)))
    return int(float(h) * (size / float(w))), size


def geometry(mask01, resize, crop, top, left):
    h, w = mask01.shape
    rh, rw = mgca_dims(h, w, resize)
    r = cv2.resize(mask01, (rw, rh), interpolation=cv2.INTER_NEAREST)
    pad = np.zeros((resize, resize), np.uint8)
    pt, pl = (resize - rh) // 2, (resize - rw) // 2
    pad[pt:pt + rh, pl:pl + rw] = r
    return pad[top:top + crop, left:left + crop]


k = 0
sizes = [(17, 23), (256, 256), (300, 200), (200, 300), (511, 512), (1024, 768), (7, 5), (224, 224), (97, 401)]
for (h, w) in sizes:
    m = blobby(h, w)
    png = os.path.join(out, f"m{k}.png")
    cv2.imwrite(png, m)
    for (dw, dh) in [(w * 2 + 1, h + 3), (max(1, w // 3), max(1, h // 2)), (224, 224), (13, 300)]:
        ref = cv2.resize(m, (dw, dh), interpolation=cv2.INTER_NEAREST)
        rp = os.path.join(out, f"n{k}_{dw}x{dh}.raw")
        ref.tofile(rp)
        lines.append(f"nearest {png} {dw} {dh} {rp}")
    for (resize, crop) in [(256, 224), (224, 224), (300, 128)]:
        c = (resize - crop) / 2.0
        for (top, left) in [(int(round(c)), int(round(c))), (0, resize - crop), (resize - crop, 3 if resize - crop >= 3 else 0)]:
            ref = geometry((m > 0).astype(np.uint8), resize, crop, top, left)
            rp = os.path.join(out, f"g{k}_{resize}_{crop}_{top}_{left}.raw")
            ref.tofile(rp)
            lines.append(f"geom {png} -1 {resize} {crop} {top} {left} {rp}")
    k += 1

# bitmask masks (several findings per pixel, like the synthetic corpus)
for (h, w) in [(300, 260), (180, 333)]:
    bits = np.zeros((h, w), np.uint8)
    for b in range(6):
        bits |= ((blobby(h, w) > 0).astype(np.uint8) << b)
    png = os.path.join(out, f"m{k}.png")
    cv2.imwrite(png, bits)
    for bit in (0, 1, 5, 7):
        ref = geometry(((bits >> bit) & 1).astype(np.uint8), 256, 224, 16, 16)
        rp = os.path.join(out, f"b{k}_{bit}.raw")
        ref.tofile(rp)
        lines.append(f"geom {png} {bit} 256 224 16 16 {rp}")
    k += 1

# RSNA boxes
for case in range(12):
    w, h = int(rng.integers(20, 400)), int(rng.integers(20, 400))
    n = int(rng.integers(0, 4))
    boxes = []
    for _ in range(n):
        x, y = float(rng.uniform(0, w * 1.1)), float(rng.uniform(0, h * 1.1))
        bw, bh = float(rng.uniform(0, w / 2)), float(rng.uniform(0, h / 2))
        if case % 3 == 0:  # integral coordinates, as RSNA's CSV mostly has
            x, y, bw, bh = float(int(x)), float(int(y)), float(int(bw)), float(int(bh))
        boxes.append((x, y, bw, bh))
    m = np.zeros((h, w), np.float64)
    for (x, y, bw, bh) in boxes:
        x1, y1, x2, y2 = np.array([x, y, x + bw, y + bh]).astype(np.int64)
        m[y1:y2, x1:x2] += 1
    ref = (m >= 1).astype(np.uint8)
    rp = os.path.join(out, f"box{case}.raw")
    ref.tofile(rp)
    coords = " ".join(f"{v!r}" for b in boxes for v in b)
    lines.append(f"boxes {w} {h} {n} {coords} {rp}".replace("  ", " "))

with open(os.path.join(out, "cases.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"{len(lines)} mask reference cases in {out}")
