"""Inputs for the pretrain tests: cached embeddings in the documented netCDF-4 layout
(written with the netCDF4 library, independently of adaptor's writer) under the file
names adaptor derives from the job file, and the job file itself."""
import os

import netCDF4
import numpy as np

IMG_PRE = "arch=dinov2 output=cls resize=256 crop=224 depth16=highbyte pos_interp=hub"
TXT_PRE = "pooling=pooler max_words=112 mgca report_columns=impression,findings"


def fnv1a32(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def cache_path(cache_dir, modality, split="train"):
    """README: <cache.dir>/<modality>-<encoder folder>-<output>-<8 hex>-<split>.nc"""
    if modality == "image":
        name = f"image-enc-image-cls-{fnv1a32(IMG_PRE):08x}-{split}.nc"
    else:
        name = f"text-enc-text-pooler-{fnv1a32(TXT_PRE):08x}-{split}.nc"
    return os.path.join(cache_dir, name)


def write_cache(path, modality, emb, ids, split="train"):
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("sample", emb.shape[0])
        ds.createDimension("dim", emb.shape[1])
        ds.createVariable("embedding", "f4", ("sample", "dim"))[:] = emb
        ds.createVariable("sample_id", "i8", ("sample",))[:] = ids
        ds.setncattr("adaptor_cache_version", np.int32(1))
        attrs = dict(modality=modality, encoder="enc-" + modality, encoder_path="/x",
                     arch="dinov2" if modality == "image" else "bert",
                     output="cls" if modality == "image" else "pooler",
                     preprocessing=IMG_PRE if modality == "image" else TXT_PRE, split=split,
                     config="", adaptor_version="test")
        for k, val in attrs.items():
            ds.setncattr(k, val)


def write_caches(cache_dir, xv, xt, ids, split="train"):
    os.makedirs(cache_dir, exist_ok=True)
    write_cache(cache_path(cache_dir, "image", split), "image", xv, ids, split)
    write_cache(cache_path(cache_dir, "text", split), "text", xt, ids, split)


def paired_embeddings(n, dv, dt, seed):
    """Text embeddings that depend on the image ones, so there is something to learn."""
    rng = np.random.default_rng(seed)
    xv = rng.standard_normal((n, dv)).astype(np.float32)
    xt = (xv @ rng.standard_normal((dv, dt)).astype(np.float32) * 0.3
          + rng.standard_normal((n, dt)).astype(np.float32))
    return xv, xt, np.arange(n, dtype=np.int64) * 10 + 3


def write_job(work, cache_dir, *, layers, proj, heads, ffn, batch, epochs, lr, warmup,
              shuffle, init=None, dropout=0, log_every=5, extra=""):
    os.makedirs(work, exist_ok=True)
    job = os.path.join(work, "job.ini")
    with open(job, "w") as f:
        f.write(f"""[image_encoder]
model = /models/enc-image
[text_encoder]
model = /models/enc-text
[cache]
dir = {cache_dir}
[adaptor]
num_layers = {layers}
projection_dim = {proj}
num_heads = {heads}
ffn_dim = {ffn}
dropout = {dropout}
{"init = " + init if init else ""}
[train]
batch_size = {batch}
epochs = {epochs}
lr = {lr}
warmup_frac = {warmup}
shuffle = {shuffle}
log_every = {log_every}
{extra}
""")
    return job
