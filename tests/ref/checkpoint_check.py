#!/usr/bin/env python3
"""Reads a checkpoint written by unit.test_checkpoint (the SPEC 5 Adaptor layout with P 8,
Dv 12, Dt 10, F 16, two layers) with an independent safetensors reader (struct + json +
numpy) and checks that a PyTorch user can use it:
  - model.safetensors loads into the reference module with load_state_dict(strict=True)
    and holds the values the C test wrote (tensor k, element j = k + j/1024, in SPEC order);
  - optimizer.safetensors holds exp_avg.<name> / exp_avg_sq.<name> for every parameter and
    the step, and loads into torch.optim.AdamW's state_dict;
  - trainer.json's sizes and FNV-1a 64 checksums match the files.
Usage: checkpoint_check.py RUN_DIR"""
import glob
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

P, DV, DT, F, LAYERS, HEADS = 8, 12, 10, 16, 2, 2
DTYPES = {"F32": np.float32, "I64": np.int64, "F64": np.float64}


def read_safetensors(path):
    return stio.read(path)

def fnv1a64(path):
    h = 0xcbf29ce484222325
    with open(path, "rb") as f:
        for byte in f.read():
            h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(P, HEADS)
        self.linear1 = nn.Linear(P, F)
        self.linear2 = nn.Linear(F, P)
        self.norm1 = nn.LayerNorm(P)
        self.norm2 = nn.LayerNorm(P)


class Projection(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual_projection = nn.Linear(DV, P, bias=False)
        self.text_projection = nn.Linear(DT, P, bias=False)


class AdaptorModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleList([Layer() for _ in range(LAYERS)])


class Adaptor(nn.Module):
    def __init__(self):
        super().__init__()
        self.projection = Projection()
        self.adaptor_module = AdaptorModule()
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))


def spec_names():
    names = ["projection.visual_projection.weight", "projection.text_projection.weight"]
    for l in range(LAYERS):
        for s in ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
                  "attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                  "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]:
            names.append(f"adaptor_module.encoder.{l}.{s}")
    return names + ["logit_scale"]


def main():
    dirs = sorted(glob.glob(os.path.join(sys.argv[1], "checkpoints", "step-????????")))
    assert len(dirs) == 1, f"expected one checkpoint folder, found {dirs}"
    ckpt = dirs[0]
    trainer = json.load(open(os.path.join(ckpt, "trainer.json")))
    for fname, rec in trainer["files"].items():
        path = os.path.join(ckpt, fname)
        assert os.path.getsize(path) == rec["bytes"], f"{fname}: size"
        assert fnv1a64(path) == int(rec["fnv1a64"], 16), f"{fname}: checksum differs"
    assert sorted(trainer["files"]) == ["model.safetensors", "optimizer.safetensors"]
    step = trainer["step"]
    assert os.path.basename(ckpt) == f"step-{step:08d}"
    for key in ["epoch", "epoch_position", "num_ranks", "global_batch", "rng", "config",
                "adaptor_version"]:
        assert key in trainer, f"trainer.json lacks {key}"
    assert all(len(v) == 64 for v in trainer["rng"].values())

    weights, meta = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    assert meta.get("format") == "pt", meta
    model = Adaptor()
    sd = {k: torch.from_numpy(v) for k, v in weights.items()}
    model.load_state_dict(sd, strict=True)  # raises on any missing / unexpected / shape
    names = spec_names()
    assert sorted(names) == sorted(model.state_dict().keys())
    for k, name in enumerate(names):
        got = model.state_dict()[name].numpy()
        want = (np.float32(k) + np.arange(got.size, dtype=np.float32) / np.float32(1024))
        assert np.array_equal(got.reshape(-1), want), f"{name}: values differ"

    opt_t, _ = read_safetensors(os.path.join(ckpt, "optimizer.safetensors"))
    want_keys = {"step"} | {f"exp_avg.{n}" for n in names} | {f"exp_avg_sq.{n}" for n in names}
    assert set(opt_t) == want_keys, set(opt_t) ^ want_keys
    assert opt_t["step"].shape == () and int(opt_t["step"]) == step
    pnames = [n for n, _ in model.named_parameters()]
    state = {}
    for i, n in enumerate(pnames):
        p = weights[n]
        assert np.array_equal(opt_t[f"exp_avg.{n}"], -p), n
        assert np.array_equal(opt_t[f"exp_avg_sq.{n}"], p * p), n
        state[i] = {"step": torch.tensor(float(opt_t["step"])),
                    "exp_avg": torch.from_numpy(opt_t[f"exp_avg.{n}"]),
                    "exp_avg_sq": torch.from_numpy(opt_t[f"exp_avg_sq.{n}"])}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    groups = opt.state_dict()["param_groups"]
    opt.load_state_dict({"state": state, "param_groups": groups})
    opt.step()  # no grads: a no-op, but proves the state is usable
    print(f"{ckpt}: {len(names)} tensors load into torch (strict), optimizer state and "
          f"checksums OK")


if __name__ == "__main__":
    main()
