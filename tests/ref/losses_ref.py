#!/usr/bin/python3
"""Writes the fixture of tests/unit/test_head.c's loss checks: logits with targets and
PyTorch's binary_cross_entropy_with_logits (mean) and cross_entropy (mean) values and
gradients, including large logits (stability) and unknown (-1) binary labels, which are
left out (torch: a 0 weight, mean over the known elements).

usage: losses_ref.py OUTDIR   (writes losses.safetensors)"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

torch.manual_seed(5)
N, K = 6, 4
zb = (torch.randn(N, K) * 3).double()
zb[0, 0], zb[1, 1] = 40.0, -45.0
yb = torch.randint(0, 2, (N, K)).double()
yb[2, 3] = -1
known = (yb >= 0).double()
zb.requires_grad_(True)
lb = (F.binary_cross_entropy_with_logits(zb, yb.clamp(min=0), weight=known, reduction="sum")
      / known.sum())
lb.backward()
zc = (torch.randn(N, K) * 3).double()
zc[3, 2] = 60.0
yc = torch.randint(0, K, (N,))
zc.requires_grad_(True)
lc = F.cross_entropy(zc, yc)
lc.backward()
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
f = lambda t: t.detach().float().numpy()  # noqa: E731
stio.write(os.path.join(out, "losses.safetensors"),
           {"bce_z": f(zb), "bce_y": f(yb), "bce_loss": f(lb.reshape(1)), "bce_grad": f(zb.grad),
            "ce_z": f(zc), "ce_y": f(yc.double()), "ce_loss": f(lc.reshape(1)),
            "ce_grad": f(zc.grad)})
