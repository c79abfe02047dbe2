#!/usr/bin/python3
"""PyTorch twin of bench_pretrain.c: one training step (forward, backward, AdamW) of the
reference Adaptor (tests/ref/torch_adaptor.py, the parity tests' model) at the given shapes,
1 CPU thread.

usage: bench_pretrain_torch.py DV DT P F LAYERS BATCH REPS; prints "samples/s: X" (median CPU
time per step after one warm-up step)."""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import torch_adaptor as ta  # noqa: E402


def main():
    dv, dt, p, f, layers, batch, reps = map(int, sys.argv[1:8])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ta.Adaptor(dv, dt, p, f, 12, layers)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    xv, xt = torch.randn(batch, dv), torch.randn(batch, dt)
    times = []
    for r in range(reps + 1):
        t0 = time.process_time()
        loss = model.loss(xv, xt, 0.75)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if r:
            times.append(time.process_time() - t0)
    t = statistics.median(times)
    print("torch %s, BLIS_ARCH_TYPE=%s: %.3f s per step" %
          (torch.__version__, os.environ.get("BLIS_ARCH_TYPE", "unset"), t))
    print("samples/s: %.2f" % (batch / t))


if __name__ == "__main__":
    main()
