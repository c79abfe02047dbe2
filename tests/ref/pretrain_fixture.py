"""Inputs for the pretrain tests: cached embeddings in the documented netCDF-4 layout
(written with the netCDF4 library, independently of adaptor's writer) under the file
names adaptor derives from the job file, and the job file itself."""
import os
import sys

import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402

def img_pre(output="cls"):
    return f"arch=dinov2 output={output} resize=256 crop=224 depth16=highbyte pos_interp=hub"


def txt_pre(pooling="pooler"):
    return f"pooling={pooling} max_words=112 mgca report_columns=impression,findings"


def fnv1a32(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def cache_path(cache_dir, modality, split="train", tokens=False):
    """README: <cache.dir>/<modality>-<encoder folder>-<output>-<8 hex>-<split>.nc"""
    if modality == "image":
        out = "tokens" if tokens else "cls"
        name = f"image-enc-image-{out}-{fnv1a32(img_pre(out)):08x}-{split}.nc"
    else:
        out = "tokens" if tokens else "pooler"
        name = f"text-enc-text-{out}-{fnv1a32(txt_pre(out)):08x}-{split}.nc"
    return os.path.join(cache_dir, name)


def write_cache(path, modality, emb, ids, split="train", mask=None):
    """emb [N, D] (pooled) or [N, T, D] with mask [N, T] (tokens)."""
    tokens = emb.ndim == 3
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("sample", emb.shape[0])
        ds.createDimension("dim", emb.shape[-1])
        if tokens:
            ds.createDimension("token", emb.shape[1])
            ds.createVariable("embedding", "f4", ("sample", "token", "dim"))[:] = emb
            m = np.ones(emb.shape[:2], np.uint8) if mask is None else mask.astype(np.uint8)
            ds.createVariable("mask", "u1", ("sample", "token"))[:] = m
            ds.createVariable("length", "i4", ("sample",))[:] = m.sum(axis=1).astype(np.int32)
        else:
            ds.createVariable("embedding", "f4", ("sample", "dim"))[:] = emb
        ds.createVariable("sample_id", "i8", ("sample",))[:] = ids
        ds.setncattr("adaptor_cache_version", np.int32(1))
        out = ("tokens" if tokens else "cls") if modality == "image" else \
              ("tokens" if tokens else "pooler")
        attrs = dict(modality=modality, encoder="enc-" + modality, encoder_path="/x",
                     arch="dinov2" if modality == "image" else "bert", output=out,
                     preprocessing=img_pre(out) if modality == "image" else txt_pre(out),
                     split=split, config="", adaptor_version="test")
        for k, val in attrs.items():
            ds.setncattr(k, val)


def write_caches(cache_dir, xv, xt, ids, split="train", tmask=None):
    os.makedirs(cache_dir, exist_ok=True)
    tokens = xv.ndim == 3
    write_cache(cache_path(cache_dir, "image", split, tokens), "image", xv, ids, split)
    write_cache(cache_path(cache_dir, "text", split, tokens), "text", xt, ids, split, tmask)


def paired_embeddings(n, dv, dt, seed):
    """Text embeddings that depend on the image ones, so there is something to learn."""
    rng = np.random.default_rng(seed)
    xv = rng.standard_normal((n, dv)).astype(np.float32)
    xt = (xv @ rng.standard_normal((dv, dt)).astype(np.float32) * 0.3
          + rng.standard_normal((n, dt)).astype(np.float32))
    return xv, xt, np.arange(n, dtype=np.int64) * 10 + 3


def write_job(work, cache_dir, *, layers, proj, heads, ffn, batch, epochs, lr, warmup,
              shuffle, init=None, dropout=0, log_every=5, extra="", tokens=False):
    """extra: job-file lines added at the end, after [train]'s keys."""
    os.makedirs(work, exist_ok=True)
    adaptor = {"mode": "tokens" if tokens else "pooled", "num_layers": layers,
               "projection_dim": proj, "num_heads": heads, "ffn_dim": ffn, "dropout": dropout}
    if init:
        adaptor["init"] = init
    job = clitest.write_job(os.path.join(work, "job.ini"), {
        "image_encoder": {"model": "/models/enc-image", "output": "tokens" if tokens else "cls"},
        "text_encoder": {"model": "/models/enc-text",
                         "pooling": "tokens" if tokens else "pooler"},
        "cache": {"dir": cache_dir}, "adaptor": adaptor,
        "train": {"batch_size": batch, "epochs": epochs, "lr": lr, "warmup_frac": warmup,
                  "shuffle": shuffle, "log_every": log_every}})
    with open(job, "a") as f:
        f.write(extra + "\n")
    return job
