#!/usr/bin/python3
"""Writes the fixture of tests/unit/test_adaptor_image.c: a small random Adaptor (reference
state_dict names) and the three image paths of include/adaptor/adaptor_image.h computed with
plain PyTorch (nn.MultiheadAttention, nn.LayerNorm, F.normalize):

  pooled          SPEC 5 image side, with a random text beside it (it must not matter)
  tokens          SPEC 6 pair forward with one fixed report (padded) beside every image
  self-attention  per-token projection + L2 norm, each layer attending to its own sequence

usage: adaptor_image_ref.py OUTDIR   (writes weights.safetensors and io.safetensors)"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402
import torch_adaptor as ta  # noqa: E402

DV, DT, P, FF, HEADS, LAYERS = 10, 12, 16, 24, 4, 2
B, TV, TT, TREAL = 3, 5, 4, 2


def main():
    out = sys.argv[1]
    torch.manual_seed(3)
    m = ta.Adaptor(DV, DT, P, FF, HEADS, LAYERS)
    with torch.no_grad():  # non-trivial biases and norms (PyTorch's init zeroes some)
        for name, p in m.named_parameters():
            if "bias" in name or "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
    enc = m.adaptor_module.encoder
    wv, wt = m.projection.visual_projection, m.projection.text_projection
    xp = torch.randn(B, DV)
    xpt = torch.randn(B, DT)
    xv = torch.randn(B, TV, DV)
    ctx = torch.randn(TT, DT)
    ctx_mask = torch.tensor([1] * TREAL + [0] * (TT - TREAL), dtype=torch.uint8)
    with torch.no_grad():
        pooled = m.pooled(xp, xpt)[0]
        V = F.normalize(wv(xv), dim=-1)
        T = F.normalize(wt(ctx), dim=-1)[None].repeat(B, 1, 1)
        pad = (ctx_mask == 0)[None].repeat(B, 1)
        for layer in enc:
            V = layer.block(V, T, pad)
            T = layer.block(T, V)
        tokens = F.normalize(V[:, 0], dim=-1)

        S = F.normalize(wv(xv), dim=-1)
        for layer in enc:
            S = layer.block(S, S)
    os.makedirs(out, exist_ok=True)
    stio.write(os.path.join(out, "weights.safetensors"),
               {k: v.detach().numpy() for k, v in m.state_dict().items()})
    stio.write(os.path.join(out, "io.safetensors"),
               {"x_pooled": xp.numpy(), "x_pooled_text": xpt.numpy(), "x_tokens": xv.numpy(),
                "ctx": ctx.numpy(), "ctx_mask": ctx_mask.float().numpy(), "out_pooled": pooled.numpy(),
                "out_tokens": tokens.numpy(), "out_selfattn": S.numpy()})


if __name__ == "__main__":
    main()
