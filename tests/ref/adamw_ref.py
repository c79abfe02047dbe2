#!/usr/bin/env python3
"""Reference trajectories for tests/unit/test_adamw.c: torch.optim.AdamW driven by LambdaLR
(linear / cosine warm-up schedules of SPEC 5) and torch's clip_grad_norm_, plus the rates of
CosineAnnealingWarmRestarts.

Gradients and initial values come from integer formulas of (tensor, index, step) evaluated in
double and rounded to float32, which the C test reproduces bit for bit.

Output (text): for each run a header
  run <id> <lr> <beta1> <beta2> <eps> <weight_decay> <max_grad_norm> <schedule> <warmup_frac> <steps>
then one line per update k = 1..steps: <lr_k> <grad norm before clipping> <params after update k>;
then
  restarts <lr> <T_0> <eta_min> <n>  followed by one line of n rates (update k = 1..n).
Usage: adamw_ref.py OUT_FILE"""
import math
import sys

import numpy as np
import torch

# Parameter tensors: (shape, gradient scale, number of leading elements with zero gradient).
# The zero-gradient block mimics the Q/K weights of pooled mode: decayed, never moved by Adam.
TENSORS = [((8, 8), 1.0, 0), ((16,), 1e-3, 8), ((), 10.0, 0)]
RUNS = [
    # id, lr, beta1, beta2, eps, weight_decay, max_grad_norm (0: off), schedule, warmup_frac, T
    (1, 1e-2, 0.9, 0.999, 1e-8, 0.01, 0.0, "linear", 0.1, 30),
    (2, 5e-3, 0.8, 0.99, 1e-6, 0.1, 0.5, "cosine", 0.2, 30),
]
RESTARTS = (1e-3, 7, 1e-8, 30)  # lr, T_0, eta_min, updates


def initial(k, n):
    if k == 2:  # the scalar plays logit_scale, init ln(1/0.07) as in SPEC 5
        return np.array([2.6592], dtype=np.float32)
    return np.array([((i * 31 + k * 17) % 23 - 11) / 10.0 for i in range(n)], dtype=np.float32)


def grad(k, n, step, scale, zeros):
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        h = (i * 2654435761 + step * 40503 + k * 97) % 2**32
        u = (h % 2001) - 1000
        out[i] = 0.0 if i < zeros else np.float32(u / 1000.0 * scale)
    return out


def lr_factor(kind, k, total, warmup):
    """Multiplier of update k (1-based), the formula of SPEC 5."""
    if k < warmup:
        return k / warmup
    if kind == "linear":
        return max(0.0, (total - k) / (total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * (k - warmup) / (total - warmup)))


def run(out, rid, lr, b1, b2, eps, wd, clip, kind, wfrac, steps):
    params = []
    for k, (shape, _, _) in enumerate(TENSORS):
        n = int(np.prod(shape)) if shape else 1
        params.append(torch.nn.Parameter(torch.from_numpy(initial(k, n).reshape(shape))))
    opt = torch.optim.AdamW(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                            foreach=False)
    warmup = int(wfrac * steps)
    # LambdaLR's epoch e (0 after construction, +1 per scheduler.step()) serves update e + 1.
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: lr_factor(kind, e + 1, steps, warmup))
    out.write(f"run {rid} {lr!r} {b1!r} {b2!r} {eps!r} {wd!r} {clip!r} {kind} {wfrac!r} {steps}\n")
    for step in range(1, steps + 1):
        for k, (shape, scale, zeros) in enumerate(TENSORS):
            g = grad(k, params[k].numel(), step, scale, zeros)
            params[k].grad = torch.from_numpy(g.reshape(shape))
        cur_lr = opt.param_groups[0]["lr"]
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else math.inf)
        opt.step()
        sched.step()
        flat = np.concatenate([p.detach().numpy().reshape(-1) for p in params])
        out.write(f"{cur_lr!r} {float(norm)!r} " + " ".join(f"{x:.9g}" for x in flat) + "\n")


def restarts(out, lr, t0, eta_min, n):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=t0, T_mult=1,
                                                                 eta_min=eta_min)
    rates = []
    for _ in range(n):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out.write(f"restarts {lr!r} {t0} {eta_min!r} {n}\n")
    out.write(" ".join(repr(r) for r in rates) + "\n")


def main():
    torch.set_num_threads(1)
    with open(sys.argv[1], "w") as out:
        for r in RUNS:
            run(out, *r)
        restarts(out, *RESTARTS)


if __name__ == "__main__":
    main()
