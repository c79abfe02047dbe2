#!/usr/bin/python3
"""`adaptor encode-text` against the plain-torch reference of bert_ref.py.

usage: bert_cli_check.py ADAPTOR_BIN REF_DIR   (REF_DIR written by bert_ref.py)"""
import os
import subprocess
import sys

import torch

import bert_ref
import mgca_text

TEXTS = ["No acute cardiopulmonary process.",
         "Heart size is normal and the lungs are clear.",
         "mild left lower lobe opacity, stable",
         "xyzzy (qwerty)"]


def run(binary, model, *args, expect_ok=True, texts=TEXTS, raw=True):
    # Open MPI's dlclose'd components leak at exit under LeakSanitizer (unsymbolizable
    # frames); the encoder's own memory is leak-checked by tests/unit/test_bert.c.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    p = subprocess.run([binary, "encode-text", "--model", model, *(["--raw"] if raw else []), *args],
                       input="\n".join(texts) + "\n", capture_output=True, text=True, env=env)
    if expect_ok and p.returncode != 0:
        sys.exit("encode-text failed (%d): %s" % (p.returncode, p.stderr))
    return p


def reference(what, texts=TEXTS):
    vocab = bert_ref.vocab()
    seqs = [bert_ref.wordpiece(t, vocab) for t in texts]
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
    with torch.no_grad():
        tokens, pooled, mask = bert_ref.bert_forward(bert_ref.random_weights(), ids, lengths)
    if what == "pooler":
        return pooled
    if what == "cls":
        return tokens[:, 0]
    m = mask[:, :, None]
    return (tokens * m).sum(1) / m.sum(1)


def compare(out, ref, label, n=len(TEXTS)):
    lines = out[:-1].split("\n") if out.endswith("\n") else out.split("\n")
    if len(lines) != n:
        sys.exit("%s: %d output lines for %d texts" % (label, len(lines), n))
    got = torch.tensor([[float(v) for v in line.split(" ")] for line in lines])
    if got.shape != ref.shape:
        sys.exit("%s: shape %s, expected %s" % (label, tuple(got.shape), tuple(ref.shape)))
    err = float((got - ref).abs().max() / ref.abs().max())
    print("%s: max relative error %.3g" % (label, err))
    if not err <= 1e-4:
        sys.exit("%s: relative error %.3g > 1e-4" % (label, err))


def main():
    binary, ref_dir = sys.argv[1], sys.argv[2]
    plain, nopool = os.path.join(ref_dir, "plain"), os.path.join(ref_dir, "nopooler")
    # batch 3 splits the four texts into two forward passes of different padded lengths
    compare(run(binary, plain, "--batch", "3").stdout, reference("pooler"), "pooler")
    compare(run(binary, plain, "--pooling", "cls").stdout, reference("cls"), "cls")
    compare(run(binary, nopool, "--pooling", "mean", "--batch", "1").stdout, reference("mean"),
            "mean (no pooler)")
    p = run(binary, nopool, expect_ok=False)
    if p.returncode == 0 or "cls or mean" not in p.stderr:
        sys.exit("pooler on a model without pooler: status %d, stderr %r" % (p.returncode, p.stderr))
    print("no pooler: refused with %r" % p.stderr.strip())
    # default mode: MGCA preprocessing; a report it drops gives an empty line and status 1
    reports = TEXTS[:2] + ["Normal."] + TEXTS[2:3]
    p = run(binary, plain, "--batch", "2", texts=reports, raw=False, expect_ok=False)
    lines = p.stdout.split("\n")
    if p.returncode != 1 or len(lines) != len(reports) + 1 or lines[2] != "" or \
            "line 3" not in p.stderr:
        sys.exit("MGCA mode: status %d, stderr %r, lines %d" % (p.returncode, p.stderr, len(lines)))
    kept = [mgca_text.mgca_caption(t, "")[0] for i, t in enumerate(reports) if i != 2]
    compare("\n".join(lines[:2] + lines[3:]), reference("pooler", kept), "pooler (MGCA)",
            n=len(kept))


if __name__ == "__main__":
    main()
