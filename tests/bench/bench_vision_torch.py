#!/usr/bin/python3
"""PyTorch twin of bench_vision.c: DINOv2 ViT-S/14, ViT-B/14 (hub position interpolation)
or ResNet-50 at 224 px, random weights, 1 CPU thread, the plain-torch references of
tests/ref/vision_ref.py.

usage: bench_vision_torch.py --model vits|vitb|resnet50 [--precision fp32|autocast|bf16]
                             [--batch B] [--reps N]
autocast: torch.autocast("cpu", bfloat16); bf16: weights and input cast to bfloat16.
prints "images/s: X" (median CPU time over N repetitions after one warm-up)."""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import vision_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["vits", "vitb", "resnet50"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "autocast", "bf16"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    x = torch.rand(a.batch, 3, 224, 224) * 2 - 1
    if a.model == "resnet50":
        vision_ref.RESNET_LAYERS = [3, 4, 6, 3]
        vision_ref.RESNET_WIDTH = 64
        w = vision_ref.resnet_weights(42)

        def fwd():
            return vision_ref.resnet_forward(w, x).mean(dim=(2, 3))
    else:
        D, NH = (384, 6) if a.model == "vits" else (768, 12)
        cfg = dict(vision_ref.DINO, hidden_size=D, num_attention_heads=NH, num_hidden_layers=12)
        w = vision_ref.dino_weights(cfg, 42)

        def fwd():
            return vision_ref.dino_forward(w, cfg, x, "hub")["cls"]
    if a.precision == "bf16":
        x = x.bfloat16()
        for k, v in w.items():
            if torch.is_tensor(v) and v.is_floating_point():
                w[k] = v.bfloat16()
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                enabled=a.precision == "autocast"):
        fwd()
        for _ in range(a.reps):
            t0 = time.process_time()
            fwd()
            times.append(time.process_time() - t0)
    t = statistics.median(times)
    print("torch %s, %s, %s, BLIS_ARCH_TYPE=%s: %.3f s per batch" %
          (torch.__version__, a.model, a.precision, os.environ.get("BLIS_ARCH_TYPE", "unset"), t))
    print("images/s: %.3f" % (a.batch / t))


if __name__ == "__main__":
    main()
