#!/usr/bin/python3
"""PyTorch twin of bench_segdecoder.c: the decoders of tests/ref/segdecoder_ref.py at full
size, training mode, forward + MGCA loss + backward, 1 CPU thread, float32.

usage: bench_segdecoder_torch.py --model vit|unet [--in-ch C] [--batch B] [--reps N]
prints "images/s: X" (median CPU time over N repetitions after one warm-up)."""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import segdecoder_ref as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["vit", "unet"])
    ap.add_argument("--in-ch", type=int, default=768)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    b = a.batch
    if a.model == "vit":
        model = ref.VitDecoder(dict(in_ch=a.in_ch, stem=a.in_ch, ch=[512, 256, 128, 64]))
        feats = [torch.randn(b, a.in_ch, 16, 16)]
    else:
        model = ref.UNetDecoder(dict(in_ch=2048, ch=[256, 128, 64, 32, 16],
                                     skip=[1024, 512, 256, 0, 0]))
        feats = [torch.randn(b, 2048, 7, 7), torch.randn(b, 1024, 14, 14),
                 torch.randn(b, 512, 28, 28), torch.randn(b, 256, 56, 56), None, None]
    model.train()
    mask = (torch.rand(b, 224, 224) > 0.5).float()

    def step():
        model.zero_grad()
        x = model(feats)[:, 0]
        loss = 10.0 * ref.mgca_focal(x, mask) - torch.log(ref.mgca_dice(x, mask))
        loss.backward()

    step()
    times = []
    for _ in range(a.reps):
        t0 = time.process_time()
        step()
        times.append(time.process_time() - t0)
    t = statistics.median(times)
    print("torch %s, %s decoder, BLIS_ARCH_TYPE=%s: %.3f s per batch" %
          (torch.__version__, a.model, os.environ.get("BLIS_ARCH_TYPE", "unset"), t))
    print("images/s: %.3f" % (b / t))


if __name__ == "__main__":
    main()
