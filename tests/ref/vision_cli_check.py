#!/usr/bin/python3
"""CLI test of `adaptor encode-image`: two 256x256 grayscale PNGs from vision_ref.py are
encoded with the DINOv2 and ResNet test models; the netCDF output is read with the netCDF4
library and compared with the plain-torch references on the MGCA-preprocessed pixels
(a 256-px square image needs no resize or padding: centre crop at 16, then (v/255-0.5)/0.5).
Bad invocations must fail with a one-line message naming the problem.

usage: vision_cli_check.py ADAPTOR_BIN REF_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import zlib

import netCDF4
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402
import vision_ref  # noqa: E402


def read_png_gray(path):
    """Inverse of vision_ref.write_png (8-bit grayscale, filter 0 rows)."""
    data = open(path, "rb").read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        t = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            w, h = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif t == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    rows = [raw[y * (w + 1) + 1:(y + 1) * (w + 1)] for y in range(h)]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w)


def preprocess(path):
    g = read_png_gray(path)[16:240, 16:240].astype(np.float32)
    x = (g / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return torch.tensor(np.repeat(x[None], 3, axis=0))


def weights(d):
    w, _ = stio.read(os.path.join(d, "model.safetensors"))
    return {k: torch.tensor(v) for k, v in w.items()}


def run(binary, args, expect_ok=True):
    # Open MPI's dlclose'd components leak at exit under LeakSanitizer (unsymbolizable
    # frames); the encoders' own memory is leak-checked by the unit tests.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    p = subprocess.run([binary, "encode-image"] + args, capture_output=True, text=True, env=env)
    if expect_ok and p.returncode != 0:
        sys.exit("encode-image %s failed: %s" % (" ".join(args), p.stderr))
    return p


def check(name, got, want):
    err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
    print("%s: relative error %.3g" % (name, err))
    if not err <= 1e-4:
        sys.exit("%s: relative error %.3g > 1e-4" % (name, err))


def main():
    binary, ref = sys.argv[1], sys.argv[2]
    pngs = [os.path.join(ref, "png", n) for n in ("a.png", "b.png")]
    x = torch.stack([preprocess(p) for p in pngs])
    dino, resnet = os.path.join(ref, "dinov2"), os.path.join(ref, "resnet")
    cfg = json.load(open(os.path.join(dino, "config.json")))
    with tempfile.TemporaryDirectory() as tmp:
        with torch.no_grad():
            want = vision_ref.dino_forward(weights(dino), cfg, x, "hub")
            want_hf = vision_ref.dino_forward(weights(dino), cfg, x, "hf")
            want_rn = vision_ref.resnet_forward(weights(resnet), x).mean(dim=(2, 3))
        out = os.path.join(tmp, "cls.nc")
        run(binary, ["--model", dino, "--out", out, "--batch", "1"] + pngs)
        with netCDF4.Dataset(out) as ds:
            assert ds["embedding"].dimensions == ("image", "dim"), ds["embedding"].dimensions
            assert list(ds["path"][:]) == pngs, list(ds["path"][:])
            assert ds.getncattr("pos_interp") == "hub"
            check("dinov2 cls", ds["embedding"][:].data, want["cls"].numpy())
        out = os.path.join(tmp, "tok.nc")
        run(binary, ["--model", dino, "--out", out, "--output", "tokens", "--pos-interp", "hf"]
            + pngs)
        with netCDF4.Dataset(out) as ds:
            assert ds["embedding"].shape == (2, 257, 48), ds["embedding"].shape
            check("dinov2 tokens hf", ds["embedding"][:].data, want_hf["tokens"].numpy())
        out = os.path.join(tmp, "rn.nc")
        run(binary, ["--model", resnet, "--arch", "resnet", "--out", out] + pngs)
        with netCDF4.Dataset(out) as ds:
            check("resnet", ds["embedding"][:].data, want_rn.numpy())

        # bad input: one line naming the problem, non-zero status, no output file left
        bad = os.path.join(tmp, "bad.nc")
        cases = [(["--model", dino, "--out", bad, pngs[0], os.path.join(tmp, "none.png")],
                  "none.png"),
                 (["--model", dino, "--out", bad, "--crop", "300", pngs[0]], "--crop 300"),
                 (["--model", os.path.join(ref, "bad_dino_missing"), "--out", bad, pngs[0]],
                  "layernorm.bias"),
                 (["--model", dino, "--out", bad, "--arch", "vit", pngs[0]], "'vit'"),
                 (["--model", dino, "--out", bad], "no IMAGE")]
        for args, needle in cases:
            p = run(binary, args, expect_ok=False)
            if p.returncode == 0 or needle not in p.stderr or os.path.exists(bad):
                sys.exit("encode-image %s: status %d, stderr %r (wanted %r)" %
                         (" ".join(args), p.returncode, p.stderr, needle))
            if len(p.stderr.strip().splitlines()) != 1:
                sys.exit("encode-image %s: expected one error line, got %r" %
                         (" ".join(args), p.stderr))
            leftovers = [f for f in os.listdir(tmp) if f.startswith("bad.nc")]
            if leftovers:
                sys.exit("temporary files left behind: %r" % leftovers)
    print("ok")


if __name__ == "__main__":
    main()
