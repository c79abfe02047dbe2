#!/usr/bin/python3
"""Scaling of the Adaptor training step at 1-4 ranks over TCP (loopback) and shared memory,
and the alpha-beta model of its collectives extrapolated to 8, 64 and 512 ranks.

usage: bench_scaling.py BENCH_SCALING [--reps N] [--max-ranks R] [--quick]
  BENCH_SCALING: build/release/tests/bench_scaling; mpirun from PATH.
  --quick: tiny shapes, one repetition (the smoke test; numbers meaningless).

What it runs (each line printed by bench_scaling as key=value):
  coll   all-gather, reduce-scatter, all-reduce from 4 KB to 48 MB at 2..R ranks, per transport;
  step   weak scaling (256 rows per rank) and strong scaling (global batch 1024), blocking and
         overlapped gradient all-reduce, at 1..R ranks, per transport.
Definitions (see README "Scaling"):
  compute   main thread CPU seconds of a step outside MPI (max over ranks; median of steps);
  comm      the step's collectives at the same sizes replayed with all ranks ready (wall);
  E_comm    compute / (compute + comm): the step's efficiency on dedicated cores;
  E_weak    compute(1 rank) / (compute(p) + comm(p)) at a fixed per-rank batch: also charges
            the loss work that grows with the global batch (global negatives);
  E_strong  compute(1 rank, G) / (p (compute(p) + comm(p))) at a fixed global batch.
Model (ring algorithms, n bytes in total, p ranks):
  all-gather, reduce-scatter: (p-1) alpha + (p-1)/p n beta
  all-reduce:                 2(p-1) alpha + 2(p-1)/p n beta
alpha and beta are least-squares fits (relative error) to the coll lines; the predictions
take alpha from the TCP fit and beta = 8 / (link bits/s), compute(p) = c0 + c1 G fitted to
the measured weak-scaling compute, and for the overlapped all-reduce
exposed = max(AR(all slices) - W, AR(projection slice)), W the backward time left after
the first slice starts (measured on 1 rank)."""
import os
import re
import subprocess
import sys

BENCH = os.path.abspath(sys.argv[1])
ARGS = sys.argv[2:]
QUICK = "--quick" in ARGS
REPS = int(ARGS[ARGS.index("--reps") + 1]) if "--reps" in ARGS else (1 if QUICK else 5)
MAXR = int(ARGS[ARGS.index("--max-ranks") + 1]) if "--max-ranks" in ARGS else (2 if QUICK else 4)
BASE = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
            OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_pml="ob1",
            OMP_NUM_THREADS="1", BLIS_NUM_THREADS="1")
TRANSPORTS = {
    "tcp": {"OMPI_MCA_btl": "tcp,self", "OMPI_MCA_btl_tcp_if_include": "lo",
            "OMPI_MCA_oob_tcp_if_include": "lo"},
    "shm": {"OMPI_MCA_btl": "vader,self"},
}
SHAPE = ["--image-dim", "16", "--text-dim", "16", "--layers", "1"] if QUICK else []
PER_RANK, GLOBAL = (8, 16) if QUICK else (256, 1024)
MAX_MB = "0.1" if QUICK else "48"


def run(ranks, transport, *args):
    cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", BENCH, *args]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(BASE, **TRANSPORTS[transport]))
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-1000:]}{p.stderr[-2000:]}")
    rows = []
    for line in p.stdout.splitlines():
        m = re.match(r"(step|coll) (.*)", line)
        if m:
            kv = dict(x.split("=") for x in m.group(2).split())
            rows.append({k: (v if k == "op" else float(v)) for k, v in kv.items()})
    return rows


def shape(op, p):
    return (2 * (p - 1), 2 * (p - 1) / p) if op == "allreduce" else (p - 1, (p - 1) / p)


def fit(points):
    """alpha: median of t / (latency factor) over messages <= 16 KB (latency-bound); beta:
    least squares through the origin of t - a alpha against (bandwidth factor) n over messages
    >= 1 MB (bandwidth-bound). One fit over every size weighs either regime wrongly: the
    transports switch protocol (eager / rendezvous) in between."""
    small = sorted(t / shape(op, p)[0] for op, p, n, t in points if n <= 16384)
    alpha = small[len(small) // 2] if small else 0.0
    sxy = sxx = 0.0
    for op, p, n, t in points:
        if n >= 1e6:
            a, c = shape(op, p)
            sxy += c * n * (t - a * alpha)
            sxx += (c * n) ** 2
    return alpha, (sxy / sxx if sxx > 0 else 0.0)


def coll_time(op, p, n, alpha, beta):
    if p == 1:
        return 0.0
    if op == "allreduce":
        return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta
    return (p - 1) * alpha + (p - 1) / p * n * beta


def main():
    print(f"bench_scaling.py: {REPS} steps per point, 1..{MAXR} ranks, machine shared "
          f"({os.cpu_count()} cores; numbers from a loaded machine are noisy)")
    fits = {}
    for tr in TRANSPORTS:
        pts = []
        for p in range(2, MAXR + 1):
            for r in run(p, tr, "coll", "--reps", str(REPS), "--max-mb", MAX_MB):
                pts.append((r["op"], p, r["bytes"], r["seconds"]))
        fits[tr] = {op: fit([x for x in pts if x[0] == op])
                    for op in ("allgather", "reduce_scatter", "allreduce")}
        fits[tr]["all"] = fit(pts)
        print(f"\n{tr}: measured collectives (seconds; n bytes in total)")
        for op, p, n, t in pts:
            print(f"  {op:15s} p={p} n={n / 1e6:8.4f} MB  {t:.6f}  model "
                  f"{coll_time(op, p, n, *fits[tr][op]):.6f}")
        for k, (a, b) in fits[tr].items():
            print(f"  fit {k:15s} alpha {a * 1e6:8.1f} us  beta {b * 1e9:6.3f} ns/B "
                  f"({8 / b / 1e9:5.1f} Gb/s)")

    steps = []
    one = {}
    for kind, flag, val in (("weak", "--per-rank", PER_RANK), ("strong", "--global", GLOBAL)):
        r = run(1, "shm", "step", flag, str(val), "--reps", str(REPS), *SHAPE)[0]
        one[kind] = r
        steps.append(("-", kind, 0, r))
        for tr in TRANSPORTS:
            for p in range(2, MAXR + 1):
                for ov in ([0, 1] if kind == "weak" else [0]):
                    extra = ["--overlap"] if ov else []
                    r = run(p, tr, "step", flag, str(val), "--reps", str(REPS), *SHAPE, *extra)[0]
                    steps.append((tr, kind, ov, r))
    win = run(1, "shm", "step", "--per-rank", str(PER_RANK), "--reps", str(REPS), *SHAPE,
              "--overlap")[0]

    print("\nmeasured (medians; compute = CPU s outside MPI, comm = collectives replayed with "
          "all ranks ready, in-step = wall inside MPI during the step incl. waiting)")
    print("| transport | scaling | ranks | rows/rank | global | all-reduce | compute s | comm s "
          "| in-step MPI s | grad all-reduce in-step s | E_comm | E_weak/strong | RSS MB/rank |")
    print("| --- " * 13 + "|")
    for tr, kind, ov, r in steps:
        p = int(r["ranks"])
        c1 = one[kind]["comp"]
        tot = r["comp"] + (r["comm_sync"] if p > 1 else 0)
        e_comm = r["comp"] / tot
        e_scal = c1 / tot if kind == "weak" else c1 / (p * tot)
        print(f"| {tr} | {kind} | {p} | {int(r['b'])} | {int(r['G'])} | "
              f"{'overlapped' if ov else 'blocking'} | {r['comp']:.3f} | "
              f"{r['comm_sync'] if p > 1 else 0:.3f} | {r['mpi_wall']:.3f} | {r['grad_wall']:.3f} "
              f"| {100 * e_comm:.1f}% | {100 * e_scal:.1f}% | {r['rss_mb']:.0f} |")

    # ---- model ----
    nparams = int(one["weak"]["nparams"])
    P = 768
    proj_floats = P * ((16 + 16) if QUICK else (384 + 768))
    weak = [(r["G"], r["comp"]) for tr, kind, ov, r in steps if kind == "weak" and not ov]
    n = len(weak)
    mg = sum(g for g, _ in weak) / n
    mc = sum(c for _, c in weak) / n
    sxx = sum((g - mg) ** 2 for g, _ in weak)
    c1 = sum((g - mg) * (c - mc) for g, c in weak) / sxx if sxx > 0 else 0.0
    c0 = mc - c1 * mg
    W = win["window"]
    alpha_tcp = fits["tcp"]["all"][0]
    beta_loop = fits["tcp"]["all"][1]
    print(f"\nmodel: compute(G) = {c0:.3f} + {c1 * 1e6:.2f}e-6 G s at {PER_RANK} rows per rank "
          f"(fit to the measured weak-scaling compute); gradient {nparams * 4 / 1e6:.1f} MB, "
          f"projection slice {proj_floats * 4 / 1e6:.1f} MB; W = {W:.3f} s of backward after "
          f"the first layer's all-reduce starts (1 rank); alpha {alpha_tcp * 1e6:.1f} us "
          f"(TCP loopback fit), beta = 8 / link (TCP loopback here: {beta_loop * 1e9:.2f} ns/B = "
          f"{8 / beta_loop / 1e9 if beta_loop > 0 else 0:.1f} Gb/s)")

    strong = [(r["b"], r["comp"]) for tr, kind, ov, r in steps if kind == "strong"]
    mb = sum(b for b, _ in strong) / len(strong)
    mc = sum(c for _, c in strong) / len(strong)
    sxx = sum((b - mb) ** 2 for b, _ in strong)
    s1 = sum((b - mb) * (c - mc) for b, c in strong) / sxx if sxx > 0 else 0.0
    s0 = mc - s1 * mb

    def predict(p, gbps, overlap, G=None):
        beta = 8 / (gbps * 1e9)
        fixed = G is not None
        G = G if fixed else PER_RANK * p
        emb = G * P * 4
        comm = (2 * coll_time("allgather", p, emb, alpha_tcp, beta)
                + 2 * coll_time("reduce_scatter", p, emb, alpha_tcp, beta)
                + coll_time("allgather", p, 4 * p, alpha_tcp, beta)
                + coll_time("allreduce", p, 16, alpha_tcp, beta))
        ar = coll_time("allreduce", p, nparams * 4, alpha_tcp, beta)
        if overlap:
            layers = 1 if QUICK else 2
            ar_slices = ar + layers * 2 * (p - 1) * alpha_tcp
            ar = max(ar_slices - W, coll_time("allreduce", p, proj_floats * 4, alpha_tcp, beta))
        comp = s0 + s1 * G / p if fixed else c0 + c1 * G
        return comp / (comp + comm + ar), comp, comm, ar

    print("\n| ranks | link | global batch | compute s | embeddings comm s | gradient all-reduce "
          "s (blocking / overlapped) | E_comm blocking | E_comm overlapped |")
    print("| --- " * 8 + "|")
    for p in (8, 64, 512):
        for gbps in (25, 100):
            e0, comp, comm, ar0 = predict(p, gbps, 0)
            e1, _, _, ar1 = predict(p, gbps, 1)
            print(f"| {p} | {gbps} Gb/s | {PER_RANK * p} | {comp:.3f} | {comm:.3f} | "
                  f"{ar0:.3f} / {ar1:.3f} | {100 * e0:.1f}% | {100 * e1:.1f}% |")

    print(f"\nstrong scaling, global batch {GLOBAL}: compute(b) = {s0:.3f} + {s1 * 1e3:.3f}e-3 b s "
          "(fit to the measured strong-scaling compute); E_strong = compute(1) / (p step(p))")
    print("| ranks | link | rows per rank | compute s | comm s (blocking) | E_strong blocking | "
          "E_strong overlapped |")
    print("| --- " * 7 + "|")
    t1 = s0 + s1 * GLOBAL
    for p in (8, 16, 32, 64):
        for gbps in (25, 100):
            e0, comp, comm, ar0 = predict(p, gbps, 0, GLOBAL)
            e1, _, _, ar1 = predict(p, gbps, 1, GLOBAL)
            print(f"| {p} | {gbps} Gb/s | {GLOBAL // p} | {comp:.3f} | {comm + ar0:.3f} | "
                  f"{100 * t1 / (p * (comp + comm + ar0)):.1f}% | "
                  f"{100 * t1 / (p * (comp + comm + ar1)):.1f}% |")


main()

