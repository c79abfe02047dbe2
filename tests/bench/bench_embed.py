#!/usr/bin/python3
"""`adaptor embed` throughput at 1 and 2 ranks: the demo's tiny encoders and BERT-base /
DINOv2 ViT-B/14 shapes (random weights in HuggingFace layout), on a synthetic corpus, with
where rank 0's time goes (decoding, preprocessing, encoder, cache I/O).

usage: bench_embed.py ADAPTOR [WORKDIR] [N]      (mpirun from PATH; N corpus rows, default 100)

With --cxr BENCH_CXR_IMAGES [REPEATS]: the corpus's images rewritten as real-size chest X-rays
(tests/bench/bench_cxr_images.c), ViT-S/14 and ViT-B/14 on one rank with decoding overlapped
([run] decode_overlap = true) and not, alternately REPEATS times (default 3), medians; and
BERT-base once.
usage: bench_embed.py ADAPTOR WORKDIR N --cxr BENCH_CXR_IMAGES [REPEATS]

With --writers [REPEATS]: the demo DINOv2, pooled and token caches, at 1, 2 and 4 ranks with
[cache] writer = serial and = parallel, alternately REPEATS times (default 3): medians of
rows/s and of rank 0's cache I/O seconds (the demo encoder is small, so the writer shows).
usage: bench_embed.py ADAPTOR WORKDIR N --writers [REPEATS]"""
import csv
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import bert_ref  # noqa: E402
import vision_ref  # noqa: E402
from clitest import synth_job  # noqa: E402

ADAPTOR = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "/tmp/bench_embed")
N = int(sys.argv[3]) if len(sys.argv) > 3 else 100
CXR = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--cxr" else None
WRITERS = len(sys.argv) > 4 and sys.argv[4] == "--writers"
REPEATS = (int(sys.argv[6]) if CXR and len(sys.argv) > 6 else
           int(sys.argv[5]) if WRITERS and len(sys.argv) > 5 else 3)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", BLIS_NUM_THREADS="1")


def run(ranks, *args, bind="core"):
    cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", bind, ADAPTOR, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=WORK)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return p.stderr


models = os.path.join(WORK, "models")
# --cxr reuses a finished set-up of the same folder (writing the models takes minutes).
REUSE = CXR and os.path.exists(os.path.join(models, "vit-small", "model.safetensors"))
if not REUSE:
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    run(2, "synth", "corpus", "--n", str(N), "--seed", "3")
if not REUSE and not WRITERS:
    print("writing BERT-base and ViT-B/14 with random weights ...", flush=True)
    bert_ref.CONFIG.update(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, vocab_size=30522, max_position_embeddings=512)
    bert_ref.write_model(os.path.join(models, "bert-base"), bert_ref.random_weights())
    shutil.copy(os.path.join(WORK, "corpus", "models", "bert-tiny", "vocab.txt"),
                os.path.join(models, "bert-base", "vocab.txt"))  # the reports' own words
    vit = dict(vision_ref.DINO, hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
    vision_ref.save_model(os.path.join(models, "vit-base"), vision_ref.dino_weights(vit, 5), vit)

synth_job(os.path.join(WORK, "job.ini"), {"text_encoder": {"batch_size": 32},
                                          "image_encoder": {"batch_size": 16},
                                          "cache": {"splits": "train"}})



def embed_line(mod, *sets, ranks=1, cache="cache"):
    args = ["embed", "job.ini", "--modality", mod, "--set", f"cache.dir={cache}"]
    for s in sets:
        args += ["--set", s]
    shutil.rmtree(os.path.join(WORK, cache), ignore_errors=True)
    err = run(ranks, *args, bind="none")  # a rank bound to one core gives its thread no room
    return [l for l in err.splitlines() if re.search(rf"embed {mod} train: \d+ rows", l)][0]


def seconds(line, what):
    return float(re.search(rf"{what} ([\d.]+) s", line).group(1))


def cxr_bench():
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "images")
    with open(os.path.join(WORK, "corpus", "manifest.csv"), newline="") as f:
        paths = [os.path.join(WORK, "corpus", r["Path"]) for r in csv.DictReader(f)]
    if not REUSE:
        subprocess.run([CXR, data, *paths], check=True)
        vits = dict(vision_ref.DINO, hidden_size=384, num_hidden_layers=12, num_attention_heads=6)
        vision_ref.save_model(os.path.join(models, "vit-small"), vision_ref.dino_weights(vits, 6),
                              vits)
    print(f"\n{N} corpus rows as real-size chest X-rays (JPEG 2544x3056 q95, PNG 2048x2500), "
          f"one rank, one BLIS thread; medians of {REPEATS} (ViT-B: {max(1, REPEATS // 3)}) alternating runs", flush=True)
    print("| encoder | decode_overlap | rows/s | decoding s | preprocessing s | encoder s | "
          "cache I/O s | encoder waited s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, model, reps in [("ViT-S/14", "models/vit-small", REPEATS),
                               ("ViT-B/14", "models/vit-base", max(1, REPEATS // 3))]:
        got = {False: [], True: []}
        for _ in range(reps):
            for ov in (False, True):
                got[ov].append(embed_line("image", f"image_encoder.model={model}",
                                          f"run.decode_overlap={'true' if ov else 'false'}"))
        for ov in (False, True):
            ls = got[ov]
            med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
            rate = med([float(re.search(r"([\d.]+) rows/s", l).group(1)) for l in ls])
            cols = [med([seconds(l, w) for l in ls]) for w in
                    ("decoding", "preprocessing", "encoder", "cache I/O")]
            wait = med([float(re.search(r"waited for ([\d.]+) s", l).group(1)) if ov else 0.0
                        for l in ls])
            print(f"| {label} | {'on' if ov else 'off'} | {rate:.2f} | " +
                  " | ".join(f"{c:.1f}" for c in cols) + (f" | {wait:.1f} |" if ov else " | - |"),
                  flush=True)
    line = embed_line("text", "text_encoder.model=models/bert-base")
    print(f"BERT-base: {line.split('train: ')[1]}")


def writers_bench():
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    print(f"{N} synthetic rows, demo DINOv2 (64-d), one thread per rank, medians of {REPEATS} "
          "alternating runs\n| cache | ranks | serial rows/s | parallel rows/s | parallel / serial "
          "| cache I/O s (rank 0) serial | parallel |\n| --- | --- | --- | --- | --- | --- | --- |")
    for output in ("cls", "tokens"):
        for ranks in (1, 2, 4):
            got = {"serial": [], "parallel": []}
            for _ in range(REPEATS):
                for wr in got:
                    got[wr].append(embed_line("image", f"image_encoder.output={output}",
                                              f"cache.writer={wr}", ranks=ranks))
            rate = {w: med([float(re.search(r"([\d.]+) rows/s", l).group(1)) for l in ls])
                    for w, ls in got.items()}
            io = {w: med([seconds(l, "cache I/O") for l in ls]) for w, ls in got.items()}
            print(f"| {'pooled' if output == 'cls' else 'tokens'} | {ranks} | {rate['serial']:.1f} | "
                  f"{rate['parallel']:.1f} | {rate['parallel'] / rate['serial']:.2f} | "
                  f"{io['serial']:.2f} | {io['parallel']:.2f} |", flush=True)


if CXR:
    cxr_bench()
    sys.exit(0)
if WRITERS:
    writers_bench()
    sys.exit(0)

rows = []
for label, mod, sets in [
        ("demo DINOv2 (64-d)", "image", []),
        ("demo BERT (64-d)", "text", []),
        ("ViT-B/14", "image", ["image_encoder.model=models/vit-base"]),
        ("BERT-base", "text", ["text_encoder.model=models/bert-base"])]:
    for ranks in (1, 2):
        cache = f"cache-{mod}-{len(rows)}"
        args = ["embed", "job.ini", "--modality", mod, "--set", f"cache.dir={cache}"]
        for s in sets:
            args += ["--set", s]
        t0 = time.time()
        err = run(ranks, *args)
        wall = time.time() - t0
        line = [l for l in err.splitlines() if re.search(rf"embed {mod} train: \d+ rows", l)][0]
        rate = float(re.search(r"([\d.]+) rows/s", line).group(1))
        where = line.split("rank 0's time: ")[1]
        rows.append((label, ranks, rate, rate / ranks, where, wall))
        print(f"{label:20s} {ranks} rank(s): {rate:8.1f} rows/s ({rate / ranks:7.1f} per rank); "
              f"{where}", flush=True)
print(f"\n({N} synthetic rows, train split; one thread per rank; rows/s over the encoding "
      "loop, not counting start-up)")
