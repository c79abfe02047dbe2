#!/usr/bin/python3
"""`adaptor pretrain` against a plain-PyTorch implementation of SPEC 5, and R ranks against 1.

Builds random cached embeddings (written here with the netCDF4 library in the documented
cache layout), a PyTorch Adaptor (nn.MultiheadAttention, nn.LayerNorm, torch.optim.AdamW,
the linear warm-up schedule) whose initial state_dict is handed to adaptor as [adaptor] init,
trains both for 20 updates on the same batches (shuffle = none, dropout 0), and compares the
per-step losses (metrics.nc) and the final weights (model.safetensors) for 1, 2 and 3 ranks,
and the validation loss logged after every epoch (metrics.nc group eval) with the reference
model's loss on the valid caches at the same point. metrics.nc must also hold every rank's
compute / communication / data seconds per step.

Tolerance: both sides compute in float32 with different summation orders (BLIS vs MKL-less
torch, ranks splitting sums); AdamW divides by sqrt(v) + eps, so round-off in tiny gradient
entries is amplified in early updates. Losses must agree to 1e-5 relative; each tensor to
2e-5 of its largest absolute value (observed: 2e-7 and 1.5e-6, see the printed figures).

usage: pretrain_ref.py MPIEXEC ADAPTOR WORKDIR"""
import os
import subprocess
import sys

import netCDF4
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pretrain_fixture as fx  # noqa: E402
import stio  # noqa: E402
import torch_adaptor as ta  # noqa: E402

N, G, DV, DT, P, FF, HEADS, LAYERS = 48, 12, 10, 12, 16, 24, 4, 2
NV = 20  # valid pairs: one batch of G (the rest is left out, as adaptor does)
EPOCHS, LR, WARM, W_IMG = 5, 1e-3, 0.1, 0.75
T = EPOCHS * (N // G)


def lr_at(k):
    w = int(WARM * T)
    return LR * k / w if k < w else LR * max(0.0, (T - k) / (T - w))


def reference(xv, xt, init_path, vv=None, vt=None):
    torch.manual_seed(1)
    model = ta.Adaptor(DV, DT, P, FF, HEADS, LAYERS)
    stio.write(init_path, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    losses, valid = [], []
    for k in range(1, T + 1):
        b = (k - 1) % (N // G)
        for g in opt.param_groups:
            g["lr"] = lr_at(k)
        loss = model.loss(torch.from_numpy(xv[b * G:(b + 1) * G]),
                          torch.from_numpy(xt[b * G:(b + 1) * G]), W_IMG)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if vv is not None and k % (N // G) == 0:
            with torch.no_grad():
                valid.append(model.loss(torch.from_numpy(vv[:G]), torch.from_numpy(vt[:G]),
                                        W_IMG).item())
    w = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return np.array(losses), w, np.array(valid)


def main():
    mpiexec, adaptor, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    xv, xt, ids = fx.paired_embeddings(N, DV, DT, seed=7)
    fx.write_caches(os.path.join(work, "cache"), xv, xt, ids)
    vv, vt, vids = fx.paired_embeddings(NV, DV, DT, seed=8)
    fx.write_caches(os.path.join(work, "cache"), vv, vt, vids, split="valid")
    init = os.path.join(work, "init.safetensors")
    ref_losses, ref_w, ref_valid = reference(xv, xt, init, vv, vt)
    job = fx.write_job(work, os.path.join(work, "cache"), layers=LAYERS, proj=P, heads=HEADS,
                       ffn=FF, batch=G, epochs=EPOCHS, lr=LR, warmup=WARM, shuffle="none",
                       init=init)
    failures = 0
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    for ranks in (1, 2, 3):
        run = os.path.join(work, f"run{ranks}")
        subprocess.run(["rm", "-rf", run], check=True)
        cmd = [mpiexec, "-np", str(ranks), "--oversubscribe", adaptor, "pretrain", job,
               "--set", f"output.dir={run}"]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            sys.exit(f"pretrain with {ranks} ranks failed ({p.returncode})")
        with netCDF4.Dataset(os.path.join(run, "metrics.nc")) as ds:
            losses = np.array(ds.variables["loss"][:], dtype=np.float64)
            steps = np.array(ds.variables["step"][:])
            times = [np.array(ds.variables[v][:]) for v in ("compute_time", "comm_time",
                                                               "data_time")]
            g = ds.groups["eval"]
            sel = [i for i in range(len(g.variables["metric"][:]))
                   if g.variables["metric"][i] == "loss" and g.variables["split"][i] == "valid"]
            vsteps = np.array(g.variables["step"][:])[sel]
            vloss = np.array(g.variables["value"][:], dtype=np.float64)[sel]
        w, _ = stio.read(os.path.join(run, "model.safetensors"))
        lerr = float(np.max(np.abs(losses - ref_losses) / np.abs(ref_losses)))
        werr = max(float(np.max(np.abs(w[k] - ref_w[k])) / max(np.max(np.abs(ref_w[k])), 1e-30))
                   for k in ref_w)
        verr = (float(np.max(np.abs(vloss - ref_valid) / ref_valid))
                if len(vloss) == len(ref_valid) else float("inf"))
        times_ok = all(x.shape == (T, ranks) and np.all(np.isfinite(x)) and np.all(x >= 0)
                       for x in times) and np.all(times[0] > 0)
        ok = (len(losses) == T and list(steps) == list(range(1, T + 1)) and lerr < 1e-5
              and werr < 2e-5 and set(w) == set(ref_w) and verr < 1e-5 and times_ok
              and list(vsteps) == list(range(N // G, T + 1, N // G)))
        print(f"ranks {ranks}: valid loss after each epoch {np.round(vloss, 5).tolist()} "
              f"(torch {np.round(ref_valid, 5).tolist()}), max rel. err {verr:.2e}; per-rank "
              f"times {'[step, rank] ' + str(times[0].shape) if times_ok else 'WRONG'}")
        print(f"ranks {ranks}: {len(losses)} steps, loss {losses[0]:.5f} -> {losses[-1]:.5f} "
              f"(torch {ref_losses[0]:.5f} -> {ref_losses[-1]:.5f}), max loss rel. err {lerr:.2e}, "
              f"max weight err {werr:.2e}: {'ok' if ok else 'FAILED'}")
        failures += not ok
    if ref_losses[-1] >= ref_losses[0]:
        print("the reference did not learn: the test data are wrong")
        failures += 1
    print(f"{3 - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
