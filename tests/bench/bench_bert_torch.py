#!/usr/bin/python3
"""PyTorch twin of bench_bert.c: BERT-base shapes, random weights, 1 CPU thread.

usage: bench_bert_torch.py [--precision fp32|autocast|bf16] [--batch B] [--tokens T] [--reps N];
prints "reports/s: X" (autocast: torch.autocast("cpu", bfloat16); bf16: bfloat16 weights)
(median CPU time over N repetitions after one warm-up; 1 thread, so CPU time is
steadier than wall time on a shared machine)."""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import bert_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default="fp32", choices=["fp32", "autocast", "bf16"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=112)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    bert_ref.CONFIG.update(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, vocab_size=30522, max_position_embeddings=512)
    w = bert_ref.random_weights()
    ids = torch.randint(0, 30522, (a.batch, a.tokens))
    lengths = torch.full((a.batch,), a.tokens)
    if a.precision == "bf16":
        w = {k: v.bfloat16() if v.is_floating_point() else v for k, v in w.items()}
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                enabled=a.precision == "autocast"):
        bert_ref.bert_forward(w, ids, lengths)
        for _ in range(a.reps):
            t0 = time.process_time()
            bert_ref.bert_forward(w, ids, lengths)
            times.append(time.process_time() - t0)
    t = statistics.median(times)
    print("torch %s, %s, BLIS_ARCH_TYPE=%s: %.3f s per batch" %
          (torch.__version__, a.precision, os.environ.get("BLIS_ARCH_TYPE", "unset"), t))
    print("reports/s: %.3f" % (a.batch / t))


if __name__ == "__main__":
    main()
