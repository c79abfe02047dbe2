#!/usr/bin/python3
"""bf16 encoders (--precision bf16) on the real images and reports of tests/data, against
adaptor's fp32 path and against the plain-torch references (fp32, and PyTorch's own bf16
autocast for scale).  Asserts cosine >= 0.999 per row of the CLS / pooled outputs and that
the bf16 path really ran (outputs differ from fp32); prints the measured errors.  Then the
refusal on a CPU without the instructions (oneDNN's ISA capped by ONEDNN_MAX_CPU_ISA): one
error line, non-zero status, the existing output file untouched; and a pretrain whose
encoder precision differs from that of the caches present: one line naming both, nothing
written.

usage: bf16_check.py ADAPTOR_BIN VISION_REF_DIR BERT_REF_DIR DATA_DIR"""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

import cv2
import netCDF4
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_cli_check  # noqa: E402
from clitest import ENV, write_job  # noqa: E402
import preprocess_ref  # noqa: E402
import stio  # noqa: E402
import vision_ref  # noqa: E402

IMAGES = ["00000001_000.png", "00027426_000.png", "1.jpg", "2.jpg", "3.jpg", "4.jpg"]
N_REPORTS = 24


def run(binary, args, stdin=None, env_extra=None):
    return subprocess.run([binary] + args, input=stdin, capture_output=True, text=True,
                          env=dict(ENV, **(env_extra or {})))


def ok(p, what):
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (what, p.returncode, p.stderr))
    return p


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def report(label, got, want, floor):
    c = cosines(got, want)
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    print("%-34s min cosine %.6f  (1 - cos: max %.2e)  max rel error %.2e" %
          (label, c.min(), 1 - c.min(), rel))
    if floor is not None and not c.min() >= floor:
        sys.exit("%s: cosine %.6f < %g (row %d)" % (label, c.min(), floor, int(c.argmin())))
    return rel


def compare_all(name, got, want, auto):
    """adaptor fp32 must match torch (the pixels / ids are the same); bf16 must be within
    cosine 0.999 of both and must differ from fp32 (else the bf16 path did not run)."""
    report(name + " fp32 vs torch fp32", got["fp32"], want, 0.99999)
    report(name + " bf16 vs adaptor fp32", got["bf16"], got["fp32"], 0.999)
    report(name + " bf16 vs torch fp32", got["bf16"], want, 0.999)
    report("(torch autocast bf16 vs torch fp32)", auto, want, None)
    if np.array_equal(got["bf16"], got["fp32"]):
        sys.exit("%s: bf16 output equals fp32: the bf16 path did not run" % name)


def refused(p, out=None, before=None):
    lines = p.stderr.strip().splitlines()
    if p.returncode == 0 or len(lines) != 1 or "adaptor: error" not in lines[0] or \
            "precision = bf16" not in lines[0] or "AVX512_BF16" not in lines[0]:
        sys.exit("capped ISA: status %d, stderr %r" % (p.returncode, p.stderr))
    if out is not None and open(out, "rb").read() != before:
        sys.exit("capped ISA: %s was modified" % out)
    print("no bf16 instructions: %s" % lines[0].split("adaptor: error")[1])


def vision(binary, ref, data, tmp):
    dino = os.path.join(ref, "dinov2")
    cfg = json.load(open(os.path.join(dino, "config.json")))
    w = {k: torch.tensor(v) for k, v in stio.read(os.path.join(dino, "model.safetensors"))[0].items()}
    paths = [os.path.join(data, "images", n) for n in IMAGES]
    x = []
    for p in paths:
        g = preprocess_ref.mgca_resize_img(cv2.imread(p, 0), 256)
        x.append(np.repeat(preprocess_ref.center_crop_normalize(g, 224)[None], 3, axis=0))
    x = torch.tensor(np.stack(x))
    with torch.no_grad():
        want = vision_ref.dino_forward(w, cfg, x, "hub")["cls"].numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = vision_ref.dino_forward(w, cfg, x, "hub")["cls"].float().numpy()
    got = {}
    for prec in ("fp32", "bf16"):
        out = os.path.join(tmp, prec + ".nc")
        ok(run(binary, ["encode-image", "--model", dino, "--out", out, "--batch", "4",
                        "--precision", prec] + paths), "encode-image --precision " + prec)
        with netCDF4.Dataset(out) as ds:
            if ds.getncattr("precision") != prec:
                sys.exit("%s: precision attribute %r" % (out, ds.getncattr("precision")))
            got[prec] = ds["embedding"][:].data
    compare_all("DINOv2 CLS", got, want, auto)
    out = os.path.join(tmp, "fp32.nc")
    before = open(out, "rb").read()
    refused(run(binary, ["encode-image", "--model", dino, "--out", out, "--precision", "bf16"]
                + paths[:1], env_extra={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}), out, before)


def text(binary, ref, data):
    model = os.path.join(ref, "plain")
    with open(os.path.join(data, "reports", "iuxray-report-label-300.csv"), newline="") as f:
        texts = [r["Reports"] for r in csv.DictReader(f) if r["Reports"].strip()][:N_REPORTS]
    want = bert_cli_check.reference("pooler", texts).numpy()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = bert_cli_check.reference("pooler", texts).float().numpy()
    stdin = "\n".join(texts) + "\n"
    got = {}
    for prec in ("fp32", "bf16"):
        p = ok(run(binary, ["encode-text", "--model", model, "--raw", "--batch", "8",
                            "--precision", prec], stdin), "encode-text --precision " + prec)
        got[prec] = np.array([[float(v) for v in line.split(" ")]
                              for line in p.stdout.strip("\n").split("\n")])
        if got[prec].shape != want.shape:
            sys.exit("encode-text %s: shape %s, expected %s" % (prec, got[prec].shape, want.shape))
    compare_all("BERT pooled", got, want, auto)
    p = run(binary, ["encode-text", "--model", model, "--raw", "--precision", "bf16"], stdin,
            env_extra={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})
    refused(p)
    if p.stdout:
        sys.exit("capped ISA: encode-text printed %d bytes" % len(p.stdout))


def cache_of_other_precision(binary, tmp):
    """An fp32 cache is present (an empty stand-in: the stage check looks at names only);
    pretrain with precision = bf16 must not take it, and must say so in one line."""
    job = write_job(os.path.join(tmp, "job.ini"), {
        "data": {"manifest": "m.csv"}, "text_encoder": {"model": "models/bert"},
        "image_encoder": {"model": "models/dino"}, "cache": {"dir": "cache"},
        "output": {"dir": "run"}})
    os.makedirs(os.path.join(tmp, "cache"))
    fp32 = {}
    for mod in ("image", "text"):
        p = run(binary, ["pretrain", job])
        m = re.search(r"(/\S+-train\.nc) does not exist", p.stderr)
        path = m.group(1) if m else ""
        if p.returncode == 0 or not os.path.basename(path).startswith(mod):
            sys.exit("pretrain without caches: status %d, stderr %r" % (p.returncode, p.stderr))
        with open(path, "wb") as f:
            f.write(mod.encode())
        fp32[mod] = path
    for sec, mod in (("image_encoder", "image"), ("text_encoder", "text")):
        p = run(binary, ["pretrain", job, "--set", sec + ".precision=bf16"])
        lines = p.stderr.strip().splitlines()
        errs = [ln for ln in lines if "adaptor: error" in ln]
        if p.returncode == 0 or len(errs) != 1 or fp32[mod] not in errs[0] or \
                "precision = fp32) is not used" not in errs[0]:
            sys.exit("pretrain %s.precision=bf16 over fp32 caches: status %d, stderr %r" %
                     (sec, p.returncode, p.stderr))
        print("fp32 cache, bf16 job: %s" % errs[0].split("adaptor: error: ")[1][:120])
    for mod, path in fp32.items():
        if open(path, "rb").read() != mod.encode():
            sys.exit("%s was modified" % path)
    if os.path.exists(os.path.join(tmp, "run")):
        sys.exit("the refused pretrain created its output folder")


def main():
    binary, vref, bref, data = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        vision(binary, vref, data, tmp)
    with tempfile.TemporaryDirectory() as tmp:
        cache_of_other_precision(binary, tmp)
    text(binary, bref, data)
    print("ok")


if __name__ == "__main__":
    main()
