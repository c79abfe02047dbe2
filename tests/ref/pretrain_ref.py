#!/usr/bin/python3
"""`adaptor pretrain` against a plain-PyTorch implementation of SPEC 5, and R ranks against 1.

Builds random cached embeddings (written here with the netCDF4 library in the documented
cache layout), a PyTorch Adaptor (nn.MultiheadAttention, nn.LayerNorm, torch.optim.AdamW,
the linear warm-up schedule) whose initial state_dict is handed to adaptor as [adaptor] init,
trains both for 25 updates on the same batches (shuffle = none, dropout 0), and compares the
per-step losses and rates (metrics.nc) and the final weights (model.safetensors) for 1, 2 and
3 ranks, and the validation loss logged after every epoch (metrics.nc group eval) with the
reference model's loss on the valid caches at the same point. metrics.nc must also hold every
rank's compute / communication / data seconds per step.

Validation (SPEC 5) covers every valid pair once: NV = 26 pairs in batches of 12, 12 and 2,
the last smaller than 3 ranks (1+1+0), weighted by batch size (sum_k G_k L_k / NV), also
with drop_last = true; 1, 2 and 3 ranks must agree to 1e-6. Two more runs: a valid split of
5 pairs (< one batch, 2+2+1 on 3 ranks), and valid caches without a usable
pair (all skipped as bad; no rows), refused with one error line before anything is written.

N = 50 pairs in batches of 12: every epoch ends with a partial batch of 2 pairs (the
reference's drop_last = False), split 1+1 over 2 ranks and 1+1+0 over 3 (a rank with no
rows still joins the collectives), with global negatives over the 2 and the loss averaged
over 2. Two more runs check `schedule = reference` (the reference's Lightning loop: the
LambdaLR stepped before every update and once more at every epoch end) against a torch
LambdaLR stepped the same way across the 4 epoch boundaries: on 1 rank, and on 2 ranks with
local negatives (DDP: the mean of the per-rank losses) and T counted in the per-rank batch
([train] schedule_batch = 6, T = ceil(50 / 6) * 5 = 45 as the reference computes it).

Tolerance: both sides compute in float32 with different summation orders (BLIS vs MKL-less
torch, ranks splitting sums); AdamW divides by sqrt(v) + eps, so round-off in tiny gradient
entries is amplified in early updates. Losses must agree to 1e-5 relative; each tensor to
2e-5 of its largest absolute value (observed: 2e-7 and 1.5e-6, see the printed figures).

usage: pretrain_ref.py MPIEXEC ADAPTOR WORKDIR"""
import json
import os
import shutil
import sys

import netCDF4
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import launch  # noqa: E402
import pretrain_fixture as fx  # noqa: E402
import stio  # noqa: E402
import torch_adaptor as ta  # noqa: E402

N, G, DV, DT, P, FF, HEADS, LAYERS = 50, 12, 10, 12, 16, 24, 4, 2
NV, NV_SMALL = 26, 5  # valid pairs: batches of 12, 12, 2; a split smaller than a batch
EPOCHS, LR, WARM, W_IMG = 5, 1e-3, 0.1, 0.75
SPE = -(-N // G)  # 5 steps per epoch, the last of N % G = 2 pairs
T = EPOCHS * SPE
T_DDP = EPOCHS * -(-N // (G // 2))  # the reference's T under 2-rank DDP: per-rank batch 6


def linear(s, total):
    """transformers' get_linear_schedule_with_warmup multiplier, W = int(0.02 T) there."""
    w = int(WARM * total)
    return s / max(1, w) if s < w else max(0.0, (total - s) / max(1, total - w))


def shares(n, ranks):
    """core/share: contiguous blocks, the first n % ranks ranks one more."""
    return [n // ranks + (r < n % ranks) for r in range(ranks)]


def valid_loss(model, vv, vt, ranks):
    """Naive SPEC 5 validation: each pair's loss terms within its batch of G (the last one
    partial, nothing dropped) and, with local negatives (ranks > 1), within its rank's share
    of the batch; the mean over all pairs."""
    total = 0.0
    with torch.no_grad():
        for b0 in range(0, len(vv), G):
            at = b0
            for n in shares(min(G, len(vv) - b0), ranks):
                if n:
                    total += n * model.loss(torch.from_numpy(vv[at:at + n]),
                                            torch.from_numpy(vt[at:at + n]), W_IMG).item()
                at += n
    return total / len(vv)


def reference(xv, xt, init_path, vsets=(), stepping="formula", total=T, ranks=1,
              drop_last=False):
    """stepping "formula": update k uses lambda(k) (SPEC 5); "lightning": a LambdaLR stepped
    as the reference's loop does. ranks > 1: local negatives, DDP's mean of rank losses.
    drop_last: N // G steps per epoch, the remaining pairs never trained on."""
    spe = N // G if drop_last else SPE
    steps = EPOCHS * spe
    torch.manual_seed(1)
    model = ta.Adaptor(DV, DT, P, FF, HEADS, LAYERS)
    stio.write(init_path, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: linear(s, total))
    losses, rates, valid = [], [], [[] for _ in vsets]
    for k in range(1, steps + 1):
        b = (k - 1) % spe
        if stepping == "lightning":
            sched.step()  # training_step's self.lr_schedulers().step(), before the update
        else:
            for g in opt.param_groups:
                g["lr"] = LR * linear(k, total)
        rows = np.arange(b * G, min((b + 1) * G, N))
        parts, at = [], 0
        for n in shares(len(rows), ranks):
            if n:
                r = rows[at:at + n]
                parts.append(model.loss(torch.from_numpy(xv[r]), torch.from_numpy(xt[r]), W_IMG))
            else:
                parts.append(torch.zeros(()))
            at += n
        loss = sum(parts) / ranks
        opt.zero_grad()
        loss.backward()
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        losses.append(loss.item())
        if k % spe == 0:
            if stepping == "lightning":
                sched.step()  # Lightning's own step of an interval = "epoch" scheduler
            for i, (vv, vt) in enumerate(vsets):  # with the training negatives
                valid[i].append(valid_loss(model, vv, vt, ranks))
    w = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return np.array(losses), w, [np.array(v) for v in valid], np.array(rates), spe


def old_checkpoint(mpiexec, adaptor, job, run):
    """A checkpoint written before [train] drop_last existed (its configuration lacks the key;
    it was cut in floor(N / G) steps per epoch): --resume under today's default must refuse
    with the plan mismatch, not continue on another trajectory. 1 on failure."""
    ck = os.path.join(run, "checkpoints", sorted(os.listdir(os.path.join(run, "checkpoints")))[-1])
    with open(os.path.join(ck, "trainer.json")) as f:
        state = json.load(f)
    state["config"] = "\n".join(line for line in state["config"].splitlines()
                                if not line.startswith("drop_last"))
    with open(os.path.join(ck, "trainer.json"), "w") as f:
        json.dump(state, f)
    cmd = ["pretrain", job, "--resume", "--set", f"output.dir={run}"]
    p = launch(mpiexec, adaptor, 2, *cmd, quiet=False, timeout=300)
    ok = (p.returncode != 0 and "[train] drop_last = true -> false" in p.stderr
          and "adaptor: error" in p.stderr)
    print(f"resume of a pre-drop_last checkpoint: {'refused' if ok else 'NOT refused'}: "
          f"{[line for line in p.stderr.splitlines() if 'adaptor: error' in line][:1]}")
    p = launch(mpiexec, adaptor, 2, *cmd, "--set", "train.drop_last=true", quiet=False, timeout=300)
    ok2 = p.returncode == 0 and "already finished (step 20)" in p.stderr
    print(f"... and with drop_last = true: {'accepted' if ok2 else 'NOT accepted: ' + p.stderr}")
    # Without a configuration to compare, the position in the epoch still gives it away.
    state["config"] = ""
    with open(os.path.join(ck, "trainer.json"), "w") as f:
        json.dump(state, f)
    p = launch(mpiexec, adaptor, 2, *cmd, quiet=False, timeout=300)
    ok3 = (p.returncode != 0 and "saved at step 20 in epoch 6 (sample 0 of its order), but "
           "this run's plan of 5 steps per epoch" in p.stderr)
    print(f"... without its configuration: {'refused' if ok3 else 'NOT refused: ' + p.stderr}")
    return 0 if ok and ok2 and ok3 else 1


def valid_records(run):
    """The steps and values of the `loss` records of split valid in metrics.nc's eval group."""
    with netCDF4.Dataset(os.path.join(run, "metrics.nc")) as ds:
        g = ds.groups["eval"]
        sel = [i for i in range(len(g.variables["metric"][:]))
               if g.variables["metric"][i] == "loss" and g.variables["split"][i] == "valid"]
        return (np.array(g.variables["step"][:])[sel],
                np.array(g.variables["value"][:], dtype=np.float64)[sel])


def run_adaptor(mpiexec, adaptor, job, ranks, run, sets):
    shutil.rmtree(run, ignore_errors=True)
    extra = [a for kv in sets.split() for a in ("--set", kv)]
    return launch(mpiexec, adaptor, ranks, "pretrain", job, "--set", f"output.dir={run}", *extra,
                  quiet=False, timeout=300)


def small_and_empty_valid(mpiexec, adaptor, job, work, xv, xt, ids, ref_small):
    """A valid split smaller than one batch (3 ranks: 2+2+1) after every epoch against torch;
    valid caches with no usable pair refused at start-up. 1 per failure."""
    failures = 0
    caches = {k: os.path.join(work, "cache-" + k) for k in ("small", "bad", "norows")}
    for k, d in caches.items():
        fx.write_caches(d, xv, xt, ids)
    sv, st, sids = fx.paired_embeddings(NV_SMALL, DV, DT, seed=9)
    fx.write_caches(caches["small"], sv, st, sids, split="valid")
    fx.write_caches(caches["bad"], sv, st, -sids - 1, split="valid")  # every sample bad
    fx.write_caches(caches["norows"], sv[:0], st[:0], sids[:0], split="valid")
    run = os.path.join(work, "run3-small")
    p = run_adaptor(mpiexec, adaptor, job, 3, run, f"cache.dir={caches['small']}")
    vsteps, vloss = valid_records(run) if p.returncode == 0 else ([], [])
    err = (float(np.max(np.abs(vloss - ref_small) / ref_small)) if len(vloss) == len(ref_small)
           else float("inf"))
    ok = p.returncode == 0 and list(vsteps) == list(range(SPE, T + 1, SPE)) and err < 1e-5
    print(f"valid split of {NV_SMALL} pairs < batch {G} on 3 ranks: {np.round(vloss, 5).tolist()} "
          f"(torch {np.round(ref_small, 5).tolist()}), max rel. err {err:.1e}: "
          f"{'ok' if ok else 'FAILED: ' + p.stderr}")
    failures += not ok
    for k, why in (("bad", "every sample was skipped as bad"), ("norows", "empty cache")):
        run = os.path.join(work, "run2-" + k)
        p = run_adaptor(mpiexec, adaptor, job, 2, run, f"cache.dir={caches[k]}")
        errs = [line for line in p.stderr.splitlines() if "adaptor: error" in line]
        ok = (p.returncode != 0 and len(errs) >= 1 and all(
              "valid split (the validation loss): " in e and "-valid.nc" in e and why in e
              and "HINT: " in e for e in errs) and not os.path.exists(os.path.join(run, "metrics.nc"))
              and "pretrain step" not in p.stderr)
        print(f"valid caches with no usable pair ({k}): {'refused' if ok else 'NOT refused'}: "
              f"{errs[:1] if ok else p.stderr}")
        failures += not ok
    return failures


def main():
    mpiexec, adaptor, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    xv, xt, ids = fx.paired_embeddings(N, DV, DT, seed=7)
    fx.write_caches(os.path.join(work, "cache"), xv, xt, ids)
    vv, vt, vids = fx.paired_embeddings(NV, DV, DT, seed=8)
    fx.write_caches(os.path.join(work, "cache"), vv, vt, vids, split="valid")
    sv, st, _ = fx.paired_embeddings(NV_SMALL, DV, DT, seed=9)
    init = os.path.join(work, "init.safetensors")
    ref = reference(xv, xt, init, [(vv, vt), (sv, st)])
    lightning1 = reference(xv, xt, init, [(vv, vt)], stepping="lightning")
    lightning2 = reference(xv, xt, init, [(vv, vt)], stepping="lightning", total=T_DDP, ranks=2)
    dropped = reference(xv, xt, init, [(vv, vt)], total=EPOCHS * (N // G), drop_last=True)
    job = fx.write_job(work, os.path.join(work, "cache"), layers=LAYERS, proj=P, heads=HEADS,
                       ffn=FF, batch=G, epochs=EPOCHS, lr=LR, warmup=WARM, shuffle="none",
                       init=init)
    failures = 0
    cases = [(1, "", ref), (2, "", ref), (3, "", ref),
             (1, "train.schedule=reference", lightning1),
             (2, "train.schedule=reference train.negatives=local train.schedule_batch=6",
              lightning2),
             (2, "train.drop_last=true", dropped)]
    per_ranks = {}  # the default job's validation losses by rank count
    for ranks, sets, (ref_losses, ref_w, ref_valids, ref_rates, spe) in cases:
        steps = EPOCHS * spe
        ref_valid = ref_valids[0]
        run = os.path.join(work, f"run{ranks}" + ("-" + sets.split()[-1].split("=")[-1]
                                                   if sets else ""))
        p = run_adaptor(mpiexec, adaptor, job, ranks, run, sets)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            sys.exit(f"pretrain with {ranks} ranks failed ({p.returncode})")
        with netCDF4.Dataset(os.path.join(run, "metrics.nc")) as ds:
            losses = np.array(ds.variables["loss"][:], dtype=np.float64)
            rates = np.array(ds.variables["lr"][:], dtype=np.float64)
            logged = np.array(ds.variables["step"][:])
            times = [np.array(ds.variables[v][:]) for v in ("compute_time", "comm_time",
                                                               "data_time")]
        vsteps, vloss = valid_records(run)
        if not sets:
            per_ranks[ranks] = vloss
        w, _ = stio.read(os.path.join(run, "model.safetensors"))
        # (local negatives: the partial batch's 1 x 1 softmaxes have loss 0 on both sides)
        lerr = float(np.max(np.abs(losses - ref_losses) / np.maximum(np.abs(ref_losses), 1e-3)))
        werr = max(float(np.max(np.abs(w[k] - ref_w[k])) / max(np.max(np.abs(ref_w[k])), 1e-30))
                   for k in ref_w)
        rerr = (float(np.max(np.abs(rates - ref_rates) / np.maximum(ref_rates, 1e-30)))
                if len(rates) == steps else float("inf"))
        verr = (float(np.max(np.abs(vloss - ref_valid) / ref_valid))
                if len(vloss) == len(ref_valid) else float("inf"))
        times_ok = all(x.shape == (steps, ranks) and np.all(np.isfinite(x)) and np.all(x >= 0)
                       for x in times) and np.all(times[0] > 0)
        ok = (len(losses) == steps and list(logged) == list(range(1, steps + 1)) and lerr < 1e-5
              and werr < 2e-5 and set(w) == set(ref_w) and verr < 1e-5 and times_ok
              and rerr < 1e-6 and list(vsteps) == list(range(spe, steps + 1, spe)))
        label = f"ranks {ranks}{' ' + sets if sets else ''}"
        print(f"{label}: valid loss after each epoch {np.round(vloss, 5).tolist()} "
              f"(torch {np.round(ref_valid, 5).tolist()}), max rel. err {verr:.2e}; per-rank "
              f"times {'[step, rank] ' + str(times[0].shape) if times_ok else 'WRONG'}")
        print(f"{label}: {len(losses)} steps, loss {losses[0]:.5f} -> {losses[-1]:.5f} "
              f"(torch {ref_losses[0]:.5f} -> {ref_losses[-1]:.5f}), max loss rel. err {lerr:.2e}, "
              f"max weight err {werr:.2e}, max lr rel. err {rerr:.1e}: {'ok' if ok else 'FAILED'}")
        failures += not ok
    # Validation must not depend on the rank count (global negatives): 1 vs 2 and 3 ranks.
    dev = max(float(np.max(np.abs(per_ranks[r] - per_ranks[1]) / per_ranks[1])) for r in (2, 3))
    same = all(np.array_equal(per_ranks[r], per_ranks[1]) for r in (2, 3))
    print(f"valid loss, 2 and 3 ranks against 1: max rel. difference {dev:.1e} "
          f"({'bitwise equal' if same else 'not bitwise'})")
    failures += not dev < 1e-6
    failures += small_and_empty_valid(mpiexec, adaptor, job, work, xv, xt, ids, ref[2][1])
    if ref[0][-1] >= ref[0][0]:
        print("the reference did not learn: the test data are wrong")
        failures += 1
    failures += old_checkpoint(mpiexec, adaptor, job, os.path.join(work, "run2-true"))
    # The two steppings must differ where the test looks (else it could not tell them apart).
    if np.max(np.abs(lightning1[3] - ref[3])) < 0.1 * LR or lightning2[3][-1] < 0.3 * LR:
        print("the reference steppings coincide: the test schedule is wrong")
        failures += 1
    print(f"{len(cases)} runs compared, {failures} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
