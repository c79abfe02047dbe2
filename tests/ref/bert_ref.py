#!/usr/bin/python3
"""Reference for the BERT encoder: a random small BertModel written with plain torch from the
HuggingFace BertModel definition (transformers is not needed), saved in HF layout.

usage: bert_ref.py OUT_DIR
Writes OUT_DIR/{plain,prefixed,nopooler}/ (config.json, model.safetensors, vocab.txt),
bad-input folders (bad_noconfig, bad_json, bad_missing, bad_shape, bad_act), and
OUT_DIR/expected.safetensors with ids, lengths and the pooled / cls / mean / token states.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

CONFIG = dict(architectures=["BertModel"], model_type="bert", hidden_size=48,
              num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
              vocab_size=120, max_position_embeddings=64, type_vocab_size=2,
              layer_norm_eps=1e-12, hidden_act="gelu", hidden_dropout_prob=0.1,
              attention_probs_dropout_prob=0.1, pad_token_id=0,
              position_embedding_type="absolute")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["no", "acute", "cardio", "##pulmonary", "process", "heart", "size", "is", "normal",
         "the", "lungs", "are", "clear", "effusion", "pneumothorax", "mild", "left", "right",
         "lower", "lobe", "opacity", "stable", "there", "and", "of"]
PUNCT = [".", ",", ":", ";", "-", "(", ")"]


def vocab():
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    v = SPECIALS + PUNCT + WORDS + letters + ["##" + c for c in letters]
    v += ["[unused%d]" % i for i in range(CONFIG["vocab_size"] - len(v))]
    assert len(v) == CONFIG["vocab_size"]
    return v


def wordpiece(text, vocab_list, max_length=64):
    """Lower-cased basic tokenizer + greedy longest-match WordPiece (ASCII texts only)."""
    index = {t: i for i, t in enumerate(vocab_list)}
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace() or ch in PUNCT or (not ch.isalnum()):
            if cur:
                words.append(cur)
            cur = ""
            if not ch.isspace():
                words.append(ch)
        else:
            cur += ch
    if cur:
        words.append(cur)
    ids = []
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            while end > start:
                sub = ("##" if start else "") + w[start:end]
                if sub in index:
                    pieces.append(index[sub])
                    break
                end -= 1
            if end == start:
                pieces = [index["[UNK]"]]
                break
            start = end
        ids += pieces
    return [index["[CLS]"]] + ids[:max_length - 2] + [index["[SEP]"]]


def random_weights(seed=1234):
    g = torch.Generator().manual_seed(seed)
    H, I, L = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["num_hidden_layers"]

    def n(*shape, std=0.2):
        return torch.randn(*shape, generator=g) * std

    def ln(prefix, w):
        w[prefix + ".weight"] = 1.0 + n(H, std=0.3)
        w[prefix + ".bias"] = n(H, std=0.2)

    w = {}
    w["embeddings.word_embeddings.weight"] = n(CONFIG["vocab_size"], H, std=0.5)
    w["embeddings.position_embeddings.weight"] = n(CONFIG["max_position_embeddings"], H, std=0.5)
    w["embeddings.token_type_embeddings.weight"] = n(CONFIG["type_vocab_size"], H, std=0.5)
    ln("embeddings.LayerNorm", w)
    for i in range(L):
        p = "encoder.layer.%d." % i
        for name in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % name] = n(H, H, std=0.3)
            w[p + "attention.self.%s.bias" % name] = n(H, std=0.2)
        w[p + "attention.output.dense.weight"] = n(H, H, std=0.15)
        w[p + "attention.output.dense.bias"] = n(H, std=0.1)
        ln(p + "attention.output.LayerNorm", w)
        w[p + "intermediate.dense.weight"] = n(I, H, std=0.2)
        w[p + "intermediate.dense.bias"] = n(I, std=0.3)
        w[p + "output.dense.weight"] = n(H, I, std=0.12)
        w[p + "output.dense.bias"] = n(H, std=0.1)
        ln(p + "output.LayerNorm", w)
    w["pooler.dense.weight"] = n(H, H, std=0.2)
    w["pooler.dense.bias"] = n(H, std=0.1)
    return w


def bert_forward(w, ids, lengths, act="gelu"):
    """HF BertModel forward (eval mode), token type 0, padding id 0. Returns (tokens, pooled)."""
    H, NH = CONFIG["hidden_size"], CONFIG["num_attention_heads"]
    eps, dh = CONFIG["layer_norm_eps"], H // NH
    B, T = ids.shape
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(torch.float32)
    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min

    def lin(x, name):
        return torch.nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"])

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (H,), w[name + ".weight"], w[name + ".bias"], eps)

    def gelu(x):
        if act == "gelu":
            return torch.nn.functional.gelu(x)
        return torch.nn.functional.gelu(x, approximate="tanh")

    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][torch.arange(T)][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    x = ln(x, "embeddings.LayerNorm")
    for i in range(CONFIG["num_hidden_layers"]):
        p = "encoder.layer.%d." % i

        def heads(t):
            return t.view(B, T, NH, dh).permute(0, 2, 1, 3)

        q = heads(lin(x, p + "attention.self.query"))
        k = heads(lin(x, p + "attention.self.key"))
        v = heads(lin(x, p + "attention.self.value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh) + ext
        # .to(v.dtype): a no-op in fp32; keeps a bfloat16 model (bench_bert_torch.py) in bf16
        ctx = (torch.softmax(scores, dim=-1).to(v.dtype) @ v).permute(0, 2, 1, 3).reshape(B, T, H)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        inter = gelu(lin(x, p + "intermediate.dense"))
        x = ln(lin(inter, p + "output.dense") + x, p + "output.LayerNorm")
    pooled = torch.tanh(lin(x[:, 0], "pooler.dense"))
    return x, pooled, mask


def save_safetensors(path, tensors):
    """F32 / I32 tensors in the official layout (tests/ref/stio.py)."""
    stio.write(path, {k: v.contiguous().numpy() for k, v in tensors.items()})

def write_model(folder, tensors, config=None, with_config=True):
    os.makedirs(folder, exist_ok=True)
    if with_config:
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config or CONFIG, f, indent=2)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab()) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 64}, f)
    save_safetensors(os.path.join(folder, "model.safetensors"), tensors)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    w = random_weights()
    write_model(os.path.join(out, "plain"), w)
    # BertForMaskedLM layout: "bert." prefix, a cls head to ignore, TF-era gamma/beta names
    pre = {}
    for k, v in w.items():
        k2 = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta") \
            if k.startswith("encoder.layer.1.") else k
        pre["bert." + k2] = v
    pre["cls.predictions.bias"] = torch.zeros(CONFIG["vocab_size"])
    pre["cls.predictions.transform.dense.weight"] = torch.zeros(5, 5)
    write_model(os.path.join(out, "prefixed"), pre)
    nopool = {k: v for k, v in w.items() if not k.startswith("pooler.")}
    write_model(os.path.join(out, "nopooler"), nopool)
    gnew = dict(CONFIG, hidden_act="gelu_new")
    write_model(os.path.join(out, "gelu_new"), w, config=gnew)

    # bad inputs
    write_model(os.path.join(out, "bad_noconfig"), w, with_config=False)
    write_model(os.path.join(out, "bad_json"), w)
    with open(os.path.join(out, "bad_json", "config.json"), "w") as f:
        f.write('{"hidden_size": 48, "num_hidden_layers": ')
    missing = {k: v for k, v in w.items() if k != "encoder.layer.1.output.dense.bias"}
    write_model(os.path.join(out, "bad_missing"), missing)
    shape = dict(w)
    shape["encoder.layer.2.attention.self.key.weight"] = torch.zeros(48, 47)
    write_model(os.path.join(out, "bad_shape"), shape)
    write_model(os.path.join(out, "bad_act"), w, config=dict(CONFIG, hidden_act="swish"))

    # a batch with padding: lengths 1..17, ids past each length are garbage (must be ignored)
    lengths = torch.tensor([7, 17, 1, 12, 17, 3], dtype=torch.int32)
    B, T = len(lengths), int(lengths.max())
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, CONFIG["vocab_size"], (B, T), generator=g, dtype=torch.int64)
    ids[:, 0] = 2  # [CLS]
    with torch.no_grad():
        clean = ids.clone()
        for b in range(B):
            clean[b, lengths[b]:] = 0
        tokens, pooled, mask = bert_forward(w, clean, lengths.long())
        tokens_new, pooled_new, _ = bert_forward(w, clean, lengths.long(), act="gelu_new")
    for b in range(B):
        ids[b, lengths[b]:] = 10_000 + b  # out-of-vocabulary garbage beyond the length
    m = mask[:, :, None]
    mean = (tokens * m).sum(1) / m.sum(1)
    save_safetensors(os.path.join(out, "expected.safetensors"), {
        "ids": ids.to(torch.int32), "lengths": lengths,
        "pooled": pooled, "cls": tokens[:, 0].contiguous(), "mean": mean,
        "tokens": (tokens * m).contiguous(), "pooled_gelu_new": pooled_new})


if __name__ == "__main__":
    main()
