#!/usr/bin/python3
"""Benchmark of `adaptor segment`: decoder training images/s at 224 on 1 and 2 ranks, and
where the time goes (frozen encoder while the token cache is written, vs. token reads,
Adaptor and decoder per training step).

usage: bench_segment.py ADAPTOR WORKDIR [--steps N] [--channels 512,256,128,64] [--n ROWS]
                        [--features encoder|adaptor]

Writes a synthetic corpus (tiny DINOv2, hidden 64) into WORKDIR once, then for each rank
count runs `adaptor segment` on it with a fresh token cache and prints one line per run:
  ranks, training images/s, frozen-encoder images/s (cache pass), and the training step's
  time split as the program reports it. The frozen encoder runs once per image; the decoder
  runs once per image and epoch, so the encoder's share of a whole job is
  t_enc / (t_enc + epochs * t_dec) per image, printed for 50 epochs (SPEC 8's setting)."""
import argparse
import os
import re
import shutil
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("adaptor")
ap.add_argument("work")
ap.add_argument("--steps", type=int, default=12)
ap.add_argument("--channels", default="512,256,128,64")
ap.add_argument("--n", type=int, default=600)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--features", default="encoder")
a = ap.parse_args()

env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", BLIS_NUM_THREADS="1")
src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = os.path.abspath(a.work)
corpus = os.path.join(work, "corpus")
adaptor = os.path.abspath(a.adaptor)


def run(ranks, *args):
    cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", adaptor, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
    if p.returncode != 0:
        sys.exit(p.stderr[-2000:])
    return p.stderr


os.makedirs(work, exist_ok=True)
if not os.path.exists(os.path.join(corpus, "manifest.csv")):
    run(2, "synth", "corpus", "--n", str(a.n), "--seed", "11")
sets = ["--set", f"data.manifest={corpus}/manifest.csv",
        "--set", f"text_encoder.model={corpus}/models/bert-tiny",
        "--set", f"image_encoder.model={corpus}/models/dinov2-tiny",
        "--set", f"output.dir={work}/run", "--set", "segment.overlays=0",
        "--set", f"segment.features={a.features}", "--set", f"segment.decoder_channels={a.channels}",
        "--set", f"segment.batch_size={a.batch}", "--set", f"segment.max_steps={a.steps}",
        "--set", f"segment.eval_every={a.steps}", "--set", "segment.log_every=1000"]
if a.features == "adaptor" and not os.path.exists(os.path.join(work, "run", "model.safetensors")):
    job = os.path.join(src, "jobs", "demo.ini")
    run(2, "embed", job, *sets[:8], "--set", f"cache.dir={work}/cache-pre")
    run(2, "pretrain", job, *sets[:8], "--set", f"cache.dir={work}/cache-pre", "--set", "train.max_steps=10")

print(f"segment benchmark: {a.n}-row synthetic corpus, DINOv2-tiny tokens (257 x 64), decoder "
      f"{a.channels}, global batch {a.batch}, {a.steps} updates, features {a.features}")
for ranks in (1, 2):
    cache = os.path.join(work, f"cache{ranks}")
    shutil.rmtree(cache, ignore_errors=True)
    log = run(ranks, "segment", os.path.join(src, "jobs", "segment-demo.ini"), *sets, "--set", f"cache.dir={cache}")
    train = re.search(r"trained in ([\d.]+) s \(.*?\), ([\d.]+) images/s.*?time: (.*)", log)
    enc = re.search(r"token cache train: rank 0 spent ([\d.]+) s: .*frozen encoder (\d+)% \(([\d.]+) images/s", log)
    cache_rate = re.search(r"token cache train \d+/\d+ \(100%\) ([\d.]+) images/s", log)
    ips = float(train.group(2))
    enc_ips = float(enc.group(3))
    t_dec, t_enc = ranks / ips, 1.0 / enc_ips  # seconds of one core per image
    share = t_enc / (t_enc + 50 * t_dec)
    print(f"  {ranks} rank(s): training {ips:.1f} images/s; time split: {train.group(3)}")
    print(f"             token cache {cache_rate.group(1) if cache_rate else '?'} images/s (decode + "
          f"preprocess + encoder), encoder alone {enc_ips:.0f} images/s per rank; frozen encoder "
          f"= {100 * share:.2f}% of a 50-epoch job's compute per image")
