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
from clitest import ENV, write_job  # noqa: E402
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


def run(binary, args, expect_ok=True, command="encode-image"):
    # ENV: no leak check (Open MPI's dlclose'd components leak at exit under LeakSanitizer);
    # the encoders' own memory is leak-checked by the unit tests.
    p = subprocess.run([binary, command] + args, capture_output=True, text=True, env=ENV)
    if expect_ok and p.returncode != 0:
        sys.exit("%s %s failed: %s" % (command, " ".join(args), p.stderr))
    return p


def register_default(binary, ref, tmp, pngs, x):
    """Issue 16: a register model (config.json model_type dinov2_with_registers) run with the
    default pos_interp (auto) gives HF's antialiased result, in encode-image and in embed;
    the embed cache records the resolved choice, and a cache of another pos_interp is never
    reused."""
    reg = os.path.join(ref, "dinov2_reg")
    rcfg = json.load(open(os.path.join(reg, "config.json")))
    assert rcfg["model_type"] == "dinov2_with_registers", rcfg["model_type"]
    with torch.no_grad():
        rw = weights(reg)
        want_aa = vision_ref.dino_forward(rw, rcfg, x, "aa")["cls"].numpy()
        want_hub = vision_ref.dino_forward(rw, rcfg, x, "hub")["cls"].numpy()
    gap = float(np.max(np.abs(want_aa - want_hub)) / np.max(np.abs(want_aa)))
    if not gap > 1e-3:
        sys.exit("register model: aa and hub agree (%.3g): the test cannot tell them apart" % gap)
    out = os.path.join(tmp, "reg.nc")
    run(binary, ["--model", reg, "--out", out] + pngs)
    with netCDF4.Dataset(out) as ds:
        assert ds.getncattr("pos_interp") == "aa", ds.getncattr("pos_interp")
        assert ds.getncattr("preprocess") == "mgca", ds.getncattr("preprocess")
        check("register model, encode-image default", ds["embedding"][:].data, want_aa)

    # embed: the image side of a job file that leaves pos_interp at its default
    man = os.path.join(tmp, "manifest.csv")
    with open(man, "w") as f:
        f.write("Path,impression,findings,split,ViewPosition\n")
        for i, p in enumerate(pngs):
            f.write("%s,no acute process %d,the lungs are clear,train,PA\n" % (p, i))
    cache = os.path.join(tmp, "cache")
    job = write_job(os.path.join(tmp, "job.ini"), {
        "data": {"manifest": man}, "image_encoder": {"model": reg},
        "text_encoder": {"model": os.path.join(tmp, "no-text-model")},
        "cache": {"dir": cache, "splits": "train"}})

    def embed(*sets, expect_ok=True):
        args = [job, "--modality", "image"]
        for kv in sets:
            args += ["--set", kv]
        return run(binary, args, expect_ok=expect_ok, command="embed")

    def caches():
        return sorted(f for f in os.listdir(cache) if f.endswith(".nc"))

    def cache_check(path, pos, want):
        with netCDF4.Dataset(path) as ds:
            assert ds.getncattr("pos_interp") == pos, (path, ds.getncattr("pos_interp"))
            pre = ds.getncattr("preprocessing")
            assert ("pos_interp=%s" % pos) in pre.split(), pre
            check("embed cache pos_interp=%s" % pos, ds["embedding"][:].data, want)

    p = embed()
    if "pos_interp = aa" not in p.stderr + p.stdout:
        sys.exit("embed did not print the resolved pos_interp: %r" % (p.stderr + p.stdout))
    (aa_name,) = caches()
    aa_path = os.path.join(cache, aa_name)
    cache_check(aa_path, "aa", want_aa)
    # explicit hub: its own cache beside the aa one, which stays as it was
    embed("image_encoder.pos_interp=hub")
    names = caches()
    assert len(names) == 2 and aa_name in names, names
    hub_path = os.path.join(cache, [n for n in names if n != aa_name][0])
    cache_check(hub_path, "hub", want_hub)
    cache_check(aa_path, "aa", want_aa)
    # explicit aa names the same cache as auto on this model: kept, not encoded again
    p = embed("image_encoder.pos_interp=aa")
    if "is complete, kept" not in p.stderr + p.stdout or caches() != names:
        sys.exit("pos_interp = aa did not reuse the auto cache: %r" % (p.stderr + p.stdout))
    # a hub cache put where the aa cache belongs is noticed and replaced, never reused
    os.replace(hub_path, aa_path)
    p = embed()
    if "not reused" not in p.stderr + p.stdout:
        sys.exit("a hub cache under the aa name was not reported: %r" % (p.stderr + p.stdout))
    cache_check(aa_path, "aa", want_aa)
    p = embed("image_encoder.pos_interp=bicubic", expect_ok=False)
    if p.returncode == 0 or "pos_interp" not in p.stderr or "adaptor: error" not in p.stderr:
        sys.exit("pos_interp = bicubic: status %d, %r" % (p.returncode, p.stderr))


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
        register_default(binary, ref, tmp, pngs, x)
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
