#!/usr/bin/python3
"""`adaptor classify` with a token-mode Adaptor (SPEC 6, 8), checked against PyTorch.

A tiny synthetic corpus is embedded as tokens, a token-mode Adaptor pre-trained for one
epoch, and classify run on 2 ranks with [classify] embeddings = true. Then, per split:

  - image_before is the first (CLS) token of the frozen image-token cache classify made;
  - image_after equals the plain-torch image path (torch_adaptor.Layer.block): image tokens
    beside the fixed text context = the torch BERT token states of the prompt (default the
    empty report, "[CLS] [SEP]" with the pad tokens masked), to <= 1e-4 relative;
  - a non-empty [classify] prompt gives its own torch-matching features, different from the
    empty report's (the context is really used);
  - bad input gives one error line naming the key: a token-mode Adaptor over pooled image
    features, text pooling other than tokens, image tokens for the baseline.

usage: classify_tokens_cli.py MPIEXEC ADAPTOR SOURCE_DIR WORKDIR"""
import glob
import json
import os
import sys

import netCDF4
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import stio  # noqa: E402
import torch_adaptor as ta  # noqa: E402
from clitest import corpus_workdir, error_lines, errors, launch, mpirun  # noqa: E402

mpi, exe, src, work = sys.argv[1:5]
corpus = corpus_workdir(exe, work, 48, 11)
man = os.path.join(corpus, "manifest.csv")
bert_dir, dino_dir = os.path.join(corpus, "models", "bert-tiny"), os.path.join(corpus, "models",
                                                                              "dinov2-tiny")
P, FF, HEADS, LAYERS, MAXW = 32, 48, 4, 2, 24
common = ["--set", f"data.manifest={man}", "--set", f"text_encoder.model={bert_dir}",
          "--set", f"image_encoder.model={dino_dir}", "--set", f"cache.dir={work}/cache",
          "--set", "text_encoder.pooling=tokens", "--set", "image_encoder.output=tokens",
          "--set", "adaptor.mode=tokens", "--set", f"adaptor.projection_dim={P}",
          "--set", f"adaptor.ffn_dim={FF}", "--set", f"adaptor.num_heads={HEADS}",
          "--set", f"adaptor.num_layers={LAYERS}", "--set", f"data.max_words={MAXW}"]
pre = [os.path.join(src, "jobs", "demo.ini"), *common, "--set", f"output.dir={work}/run",
       "--set", "train.epochs=1", "--set", "train.batch_size=16", "--set", "eval.splits=valid"]


def must(p, what):
    if p.returncode != 0:
        print(p.stdout[-2000:], p.stderr[-3000:])
        sys.exit(f"{what} failed: {errors(p)}")


must(mpirun(mpi, exe, 2, "embed", *pre), "embed")
must(mpirun(mpi, exe, 2, "pretrain", *pre), "pretrain")
weights = os.path.join(work, "run", "model.safetensors")


def classify(out, *sets, ranks=2):
    args = [os.path.join(src, "jobs", "classify-demo.ini"), *common,
            "--set", f"output.dir={work}/{out}", "--set", f"classify.adaptor={weights}",
            "--set", "classify.epochs=2", "--set", "classify.labels=Cardiomegaly",
            "--set", "classify.task=binary", "--set", "classify.data_pct=1.0",
            "--set", "classify.embeddings=true"]
    for kv in sets:
        args += ["--set", kv]
    if ranks == 1:  # no mpirun: saves its start-up
        return launch(mpi, exe, 0, "classify", *args, cwd=work)
    return mpirun(mpi, exe, ranks, "classify", *args, cwd=work)


# the torch side: BERT token states of the prompt, the Adaptor of the checkpoint
bcfg = json.load(open(os.path.join(bert_dir, "config.json")))
bert_ref.CONFIG = bcfg  # bert_forward reads its sizes from CONFIG
bw = {k: torch.tensor(v) for k, v in stio.read(os.path.join(bert_dir, "model.safetensors"))[0]
      .items()}
vocab = [line.rstrip("\n") for line in open(os.path.join(bert_dir, "vocab.txt"))]
aw = {k: torch.tensor(v) for k, v in stio.read(weights)[0].items()}
DV, DT = aw["projection.visual_projection.weight"].shape[1], \
    aw["projection.text_projection.weight"].shape[1]
adaptor = ta.Adaptor(DV, DT, P, FF, HEADS, LAYERS)
adaptor.load_state_dict(aw)
adaptor.eval()


def context(prompt):
    ids = bert_ref.wordpiece(prompt, vocab, MAXW)
    n = len(ids)
    x = torch.tensor([ids + [0] * (MAXW - n)])
    with torch.no_grad():
        tokens = bert_ref.bert_forward(bw, x, torch.tensor([n]))[0][0]
    return tokens, torch.arange(MAXW) >= n  # True = padded key


def image_path(xv, ctx, pad):
    with torch.no_grad():
        V = F.normalize(adaptor.projection.visual_projection(xv), dim=-1)
        T = F.normalize(adaptor.projection.text_projection(ctx), dim=-1)[None].repeat(len(xv), 1, 1)
        pad = pad[None].repeat(len(xv), 1)
        for layer in adaptor.adaptor_module.encoder:
            V = layer.block(V, T, pad)
            T = layer.block(T, V)
        return F.normalize(V[:, 0], dim=-1).numpy()


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def check_features(out, prompt):
    ctx, pad = context(prompt)
    got = {}
    with netCDF4.Dataset(os.path.join(work, out, "embeddings.nc")) as ds:
        for split in ("train", "valid", "test"):
            g = ds.groups[split]
            caches = glob.glob(os.path.join(work, "cache", f"classify-*tokens*-{split}.nc"))
            assert len(caches) == 1, caches
            with netCDF4.Dataset(caches[0]) as c:
                xv = np.asarray(c["embedding"][:], dtype=np.float32)
                assert list(c["sample_id"][:]) == list(g["sample_id"][:])
            before, after = np.asarray(g["image_before"][:]), np.asarray(g["image_after"][:])
            if not np.array_equal(before, xv[:, 0]):
                sys.exit(f"{out} {split}: image_before is not the CLS token of the cache")
            want = image_path(torch.tensor(xv), ctx, pad)
            err = rel(after, want)
            print(f"{out} {split} ({len(xv)} rows, prompt {prompt!r}): relative error {err:.3g}")
            if not err <= 1e-4:
                sys.exit(f"{out} {split}: Adaptor features differ from torch ({err:.3g})")
            got[split] = after
    return got


p = classify("cls-empty")
must(p, "classify (token mode)")
empty = check_features("cls-empty", "")
with netCDF4.Dataset(os.path.join(work, "cls-empty", "eval.nc")) as ds:
    assert "adaptor+linear" in set(str(m) for m in ds["model"][:])
p = classify("cls-prompt", "classify.prompt=no acute process", ranks=1)
must(p, "classify (token mode, prompt)")
prompted = check_features("cls-prompt", "no acute process")
d = rel(prompted["test"], empty["test"])
print(f"prompt vs empty report: features differ by {d:.3g} relative")
if not d > 1e-3:
    sys.exit("the prompt does not change the features: the text context is not used")

# bad input: one line naming the key, non-zero status
cases = [(["image_encoder.output=cls"], "output"),
         (["text_encoder.pooling=pooler"], "pooling"),
         (["classify.adaptor=none"], "output = tokens")]
for sets, needle in cases:
    p = classify("bad", *sets, ranks=1)
    lines = error_lines(p.stderr)
    if p.returncode == 0 or len(lines) != 1 or needle not in lines[0]:
        sys.exit(f"{sets}: status {p.returncode}, errors {lines} (wanted one naming {needle!r})")
print("ok")
