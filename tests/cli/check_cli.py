#!/usr/bin/python3
"""`adaptor check` (the dry run) and `adaptor config` on a small synthetic corpus:

- a good job passes; its rows per split equal those counted here from the CSV; the plan's
  steps per epoch, updates, parameter count, cache and checkpoint bytes and the times equal
  numbers computed here from the job, the models' config.json and the printed rates;
- each bad value, placed in the MIDDLE of a job file, fails with exactly one stderr line
  (timestamped, naming the key or file, ending with a HINT) and a non-zero status: a
  missing manifest, a misspelt image / view column (did you mean), num_heads not dividing
  the projection, arch = resnet_ae on a DINOv2 folder, a model folder without weights, a batch larger than the
  training split;
- the stage to run next follows what exists (embed, then pretrain).

usage: check_cli.py MPIEXEC ADAPTOR WORKDIR"""
import csv
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from clitest import STAMP, Checks, corpus_workdir, error_lines, launch  # noqa: E402

MPI, ADAPTOR, WORK = sys.argv[1:4]
check = Checks()
CORPUS = corpus_workdir(ADAPTOR, WORK, 160, 5)

# A job with every section; a bad line replaces one key in the middle of its section.
JOB_LINES = [
    "[data]",
    "image_column = Path",
    "manifest = corpus/manifest.csv",
    "view_column = ViewPosition",
    "views = PA,AP",
    "[text_encoder]",
    "model = corpus/models/bert-tiny",
    "pooling = pooler",
    "[image_encoder]",
    "arch = dinov2",
    "model = corpus/models/dinov2-tiny",
    "output = cls",
    "[cache]",
    "dir = cache",
    "part_rows = 64",
    "[adaptor]",
    "num_layers = 2",
    "num_heads = 4",
    "projection_dim = 128",
    "ffn_dim = 256",
    "[train]",
    "batch_size = 16",
    "epochs = 7",
    "checkpoint_every = 10",
    "keep_checkpoints = 2",
    "[output]",
    "dir = run",
]


def job(name, replace=None):
    lines = list(JOB_LINES)
    if replace:
        key, value = replace
        i = lines.index(key)
        assert 0 < i < len(lines) - 1
        lines[i] = value
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run(*args, ranks=0):
    return launch(MPI, ADAPTOR, ranks, *args, cwd=WORK)


def one_error(p, what, *needles):
    lines = p.stderr.splitlines()
    errs = error_lines(p.stderr)
    check(p.returncode != 0, f"{what}: exit status {p.returncode}")
    check(len(lines) == 1 and len(errs) == 1,
          f"{what}: expected one stderr line, got {len(lines)}: {p.stderr[-1500:]!r}")
    if not errs:
        return
    e = errs[0]
    check(STAMP.match(e) is not None, f"{what}: no timestamp: {e!r}")
    check("; HINT: " in e and len(e.split("; HINT: ")[1]) > 10, f"{what}: no hint: {e!r}")
    check(e.count("adaptor:") == 1, f"{what}: prefix twice: {e!r}")
    for n in needles:
        check(n in e, f"{what}: {n!r} not in {e!r}")
    check("effective configuration" not in p.stderr + p.stdout, f"{what}: configuration printed")


# ---- independent numbers from the corpus and the job ----
rows = {}
with open(os.path.join(CORPUS, "manifest.csv"), newline="") as f:
    for r in csv.DictReader(f):
        s = rows.setdefault(r["split"], [0, 0])
        s[0] += 1
        s[1] += r["ViewPosition"] in ("PA", "AP")
cfg_img = json.load(open(os.path.join(CORPUS, "models", "dinov2-tiny", "config.json")))
cfg_txt = json.load(open(os.path.join(CORPUS, "models", "bert-tiny", "config.json")))
DV, DT, P, F, L, G, EPOCHS, EVERY, KEEP = (cfg_img["hidden_size"], cfg_txt["hidden_size"], 128,
                                           256, 2, 16, 7, 10, 2)


def nparams(dv, dt, p, f, layers):
    per_layer = 3 * p * p + 3 * p + p * p + p + f * p + f + p * f + p + 4 * p
    return p * dv + p * dt + layers * per_layer + 1


def step_flops(n, g, p):
    return 6.0 * n * g + 6.0 * g * g * p


NP = nparams(DV, DT, P, F, L)
RATE = step_flops(nparams(384, 768, 768, 2048, 2), 1024, 768) / 1.2  # README: bench_pretrain

# ---- 1. the good job ----
good = job("good.ini")
p = run("check", good, "--ranks", "4")
check(p.returncode == 0, f"good job: {p.stderr[-1500:]}")
out = p.stdout
print(out)
for split, (n_all, n_view) in rows.items():
    m = re.search(rf"split {split} +(\d+) rows, (\d+) after the view filter \((\d+) of other views "
                  rf"left out\), (\d+) with a report", out)
    check(m is not None, f"no line for split {split}")
    if m:
        a, v, left, kept = map(int, m.groups())
        check((a, v, left) == (n_all, n_view, n_all - n_view),
              f"split {split}: {a}/{v}/{left}, counted {n_all}/{n_view}/{n_all - n_view}")
        check(kept <= v, f"split {split}: {kept} kept of {v}")
        rows[split].append(kept)
ntrain = rows["train"][2]
spe = -(-ntrain // G)  # the partial last batch is kept ([train] drop_last = false)
updates = EPOCHS * spe
m = re.search(r"each epoch's last step: (\d+) pairs\n", out)
check((m is not None and int(m.group(1)) == ntrain - (spe - 1) * G) if ntrain % G else m is None,
      f"last-step line {m and m.group(0)!r} vs {ntrain - (spe - 1) * G} pairs")
m = re.search(r"(\d+) pairs / global batch (\d+) = (\d+) steps per epoch \((\d+) per rank per step\), "
              r"(\d+) epochs -> (\d+) updates", out)
check(m is not None and tuple(map(int, m.groups())) == (ntrain, G, spe, G // 4, EPOCHS, updates),
      f"plan line {m and m.groups()} vs {(ntrain, G, spe, G // 4, EPOCHS, updates)}")
m = re.search(r"Adaptor: pooled, 2 layers, projection 128, 4 heads, ffn 256: (\d+) parameters", out)
check(m is not None and int(m.group(1)) == NP, f"parameters {m and m.group(1)} vs {NP}")
cache_bytes = sum(r[2] * (DV * 4 + 8) + r[2] * (DT * 4 + 8) for r in rows.values())
m = re.search(r"caches [\d.]+ [kMG]?B \((\d+) bytes\)", out)
check(m is not None and int(m.group(1)) == cache_bytes, f"cache bytes {m and m.group(1)} vs {cache_bytes}")
written = updates // EVERY + (updates % EVERY != 0)
m = re.search(r"checkpoints (\d+) written, (\d+) kept x [\d.]+ [kMG]?B \((\d+) bytes each\)", out)
check(m is not None and tuple(map(int, m.groups())) == (written, min(written, KEEP), 3 * NP * 4 + 4),
      f"checkpoints {m and m.groups()} vs {(written, min(written, KEEP), 3 * NP * 4 + 4)}")
m = re.search(r"pretrain [\d.]+ (?:s|min|h) \(([\d.]+) s: (\d+) updates x ([\d.e+-]+) GFLOP / "
              r"([\d.]+) GFLOP/s / 4\)", out)
want = updates * step_flops(NP, G, P) / RATE / 4
check(m is not None and abs(float(m.group(1)) - want) <= 0.05 + 1e-3 * want
      and abs(float(m.group(3)) * 1e9 - step_flops(NP, G, P)) < 1e-3 * step_flops(NP, G, P)
      and abs(float(m.group(4)) * 1e9 - RATE) < 1e-3 * RATE,
      f"pretrain time {m and m.groups()} vs {want:.2f} s, {step_flops(NP, G, P) / 1e9:.4g} GFLOP, "
      f"{RATE / 1e9:.1f} GFLOP/s")
# The image encoder's FLOPs (a ViT: patch embedding, projections, MLP, attention).
D, T = DV, 1 + (224 // 14) ** 2
vit = 2 * 256 * 3 * 14 * 14 * D + cfg_img["num_hidden_layers"] * (
    T * (2 * D * 3 * D + 2 * D * D + 2 * 2 * D * 4 * D) + 4 * T * T * D)
m = re.search(r"dinov2, 64-d embeddings x 1, ([\d.]+) GFLOP per 224 px image", out)
check(m is not None and abs(float(m.group(1)) * 1e9 - vit) < 0.01 * vit,
      f"image encoder GFLOP {m and m.group(1)} vs {vit / 1e9:.4g}")
m = re.search(r"embed [\d.]+ (?:s|min|h) \(([\d.]+) s: (\d+) rows x \(1/131 s \+ ([\d.e+-]+) GFLOP / "
              r"100 GFLOP/s\) / 4\)", out)
allrows = sum(r[2] for r in rows.values())
if m:
    want = allrows * (1 / 131 + float(m.group(3)) / 100) / 4
check(m is not None and int(m.group(2)) == allrows and abs(float(m.group(1)) - want) <= 0.05,
      f"embed time {m and m.groups()} ({allrows} rows)")
check("next: run `adaptor embed " in out, "next stage is not embed before any cache exists")
# The same job on 1 rank: times scale with the rank count.
p1 = run("check", good, "--ranks", "1")
t4 = re.search(r"pretrain [\d.]+ \S+ \(([\d.]+) s", out)
t1 = re.search(r"pretrain [\d.]+ \S+ \(([\d.]+) s", p1.stdout)
check(t1 and t4 and abs(float(t1.group(1)) - 4 * float(t4.group(1))) <= 0.2 + 1e-3 * float(t1.group(1)),
      f"1 rank vs 4: {t1 and t1.group(1)} vs {t4 and t4.group(1)}")
# Under mpirun the default rank count is the job's.
p3 = run("check", good, ranks=3)
check(p3.returncode == 0 and "plan on 3 ranks" in p3.stdout and p3.stdout.count("plan on") == 1,
      f"check on 3 ranks: {p3.stderr[-500:]}")

# ---- 2. one bad value in the middle of the job file ----
for name, replace, args, needles in [
        ("nomanifest.ini", ("manifest = corpus/manifest.csv", "manifest = corpus/nothere.csv"), [],
         ["nothere.csv", "cannot open manifest", "[data] manifest"]),
        ("column.ini", ("image_column = Path", "image_column = Pth"), [],
         ["missing column 'Pth'", "did you mean 'Path'?", "[data]"]),
        ("view.ini", ("view_column = ViewPosition", "view_column = ViewPositon"), [],
         ["did you mean 'ViewPosition'?"]),
        # The config-level check names the line of the bad key (counted here, not hard-coded).
        ("heads.ini", ("num_heads = 4", "num_heads = 5"), [],
         [f"heads.ini:{JOB_LINES.index('num_heads = 4') + 1}: [adaptor] projection_dim = 128 "
          "is not divisible by [adaptor] num_heads = 5"]),
        ("arch.ini", ("arch = dinov2", "arch = resnet_ae"), [],
         ["arch.ini: ", "tensor 'conv1.weight' is missing", "arch = resnet_ae"]),
        ("aug.ini", ("arch = dinov2", "arch = resnet_ae"),
         ["--set", "train.source=online", "--set", "train.augment=random_crop"],
         ["[train] augment = random_crop is not available with [image_encoder] arch = resnet_ae"]),
        ("noweights.ini", ("model = corpus/models/bert-tiny", "model = corpus/models/bert-noweights"), [],
         ["bert-noweights", "model.safetensors"]),
        ("batch.ini", ("batch_size = 16", "batch_size = 100000"), [],
         ["batch_size = 100000 is larger than the", "at most"]),
        # more ranks than the global batch: the line pretrain itself gives at its start
        ("ranks.ini", ("batch_size = 16", "batch_size = 3"), ["--ranks", "4"],
         ["ranks.ini:", "batch_size = 3 is smaller than the 4 ranks", "at most 3 ranks"])]:
    if name == "noweights.ini":
        src, dst = os.path.join(CORPUS, "models", "bert-tiny"), os.path.join(CORPUS, "models", "bert-noweights")
        shutil.copytree(src, dst)
        os.remove(os.path.join(dst, "model.safetensors"))
    path = job(name, replace)
    one_error(run("check", path, *args), f"check {name}", *needles)
    if name == "heads.ini":
        one_error(run("config", path), f"config {name}", *needles)

# ---- 3. the next stage follows what exists ----
p = run("embed", good, ranks=2)
check(p.returncode == 0, f"embed: {p.stderr[-1500:]}")
p = run("check", good)
check(p.returncode == 0 and "next: run `adaptor pretrain " in p.stdout
      and p.stdout.count("  present ") == 6 and "missing" in p.stdout.split("weights ")[1],
      f"after embed: {p.stdout[-800:]}")
# A stale cache (fewer rows than the manifest selects) sends the user back to embed.
half = job("half.ini", ("views = PA,AP", "views = PA"))
p = run("check", half)
check(p.returncode == 0 and "stale" in p.stdout and "next: run `adaptor embed " in p.stdout,
      f"stale caches: {p.stdout[-800:]}")
check.finish()
