#!/usr/bin/python3
"""Reference for the image encoders: random small DINOv2 (HF Dinov2Model names, also with
registers + SwiGLU) and torchvision-layout ResNet models written with plain torch from the
HuggingFace / facebookresearch / torchvision definitions (no transformers, no torchvision).

usage: vision_ref.py OUT_DIR
Writes OUT_DIR/{dinov2,dinov2_reg,resnet}/ (config.json + model.safetensors), bad-input
folders, two PNGs for the CLI test and OUT_DIR/expected.safetensors with the outputs for
inputs that both sides compute from the integer formula in `images` (exact in float32).
"""
import json
import math
import os
import sys
import zlib
import struct

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

DINO = dict(architectures=["Dinov2Model"], model_type="dinov2", hidden_size=48,
            num_hidden_layers=2, num_attention_heads=4, mlp_ratio=4, patch_size=14,
            image_size=518, layer_norm_eps=1e-6, layerscale_value=1.0, qkv_bias=True,
            use_swiglu_ffn=False, hidden_act="gelu", num_channels=3, use_mask_token=True)
DINO_REG = dict(DINO, architectures=["Dinov2WithRegistersModel"],
                model_type="dinov2_with_registers", num_register_tokens=2, use_swiglu_ffn=True)
RESNET_LAYERS = [1, 2, 1, 1]
RESNET_WIDTH = 8


def images(b, h, w):
    """x[b][c][y][x] = (hash % 255) / 127.5 - 1 from integers: identical in C and here."""
    bb, cc, yy, xx = np.meshgrid(np.arange(b), np.arange(3), np.arange(h), np.arange(w),
                                 indexing="ij")
    v = (bb * 7919 + cc * 104729 + yy * yy * 3 + yy * 31 + xx * 17 + (xx * yy) % 13) % 255
    return torch.tensor(v.astype(np.float32) / np.float32(127.5) - np.float32(1.0))


def randn(g, *shape, std=1.0):
    return torch.randn(*shape, generator=g) * std


def dino_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    D, p = cfg["hidden_size"], cfg["patch_size"]
    M = cfg["image_size"] // p
    F1 = int(D * cfg["mlp_ratio"])
    Fh = F1
    if cfg["use_swiglu_ffn"]:
        Fh = (int(F1 * 2 / 3) + 7) // 8 * 8
        F1 = 2 * Fh
    w = {"embeddings.cls_token": randn(g, 1, 1, D, std=0.5),
         "embeddings.mask_token": torch.zeros(1, D),
         "embeddings.position_embeddings": randn(g, 1, 1 + M * M, D, std=0.5),
         "embeddings.patch_embeddings.projection.weight": randn(g, D, 3, p, p, std=0.05),
         "embeddings.patch_embeddings.projection.bias": randn(g, D, std=0.1),
         "layernorm.weight": 1 + randn(g, D, std=0.2), "layernorm.bias": randn(g, D, std=0.1)}
    if cfg.get("num_register_tokens", 0):
        w["embeddings.register_tokens"] = randn(g, 1, cfg["num_register_tokens"], D, std=0.5)
    for l in range(cfg["num_hidden_layers"]):
        pre = "encoder.layer.%d." % l
        for n in ("query", "key", "value"):
            w[pre + "attention.attention.%s.weight" % n] = randn(g, D, D, std=0.15)
            w[pre + "attention.attention.%s.bias" % n] = randn(g, D, std=0.1)
        w[pre + "attention.output.dense.weight"] = randn(g, D, D, std=0.15)
        w[pre + "attention.output.dense.bias"] = randn(g, D, std=0.1)
        for n in ("norm1", "norm2"):
            w[pre + n + ".weight"] = 1 + randn(g, D, std=0.2)
            w[pre + n + ".bias"] = randn(g, D, std=0.1)
        w[pre + "layer_scale1.lambda1"] = 0.5 + randn(g, D, std=0.2)
        w[pre + "layer_scale2.lambda1"] = 0.5 + randn(g, D, std=0.2)
        fin, fout = ("weights_in", "weights_out") if cfg["use_swiglu_ffn"] else ("fc1", "fc2")
        w[pre + "mlp.%s.weight" % fin] = randn(g, F1, D, std=0.15)
        w[pre + "mlp.%s.bias" % fin] = randn(g, F1, std=0.1)
        w[pre + "mlp.%s.weight" % fout] = randn(g, D, Fh, std=0.1)
        w[pre + "mlp.%s.bias" % fout] = randn(g, D, std=0.1)
    return w


def interpolate_pos(pos, n_tokens, x_shape, p, conv):
    """Hub code (names the height w) or HF's; `conv` is hub | hf | aa."""
    _, _, w, h = x_shape  # facebookresearch/dinov2: B, nc, w, h = x.shape
    npatch, N = n_tokens - 1, pos.shape[1] - 1
    if npatch == N and w == h:
        return pos
    dim = pos.shape[-1]
    M = int(math.sqrt(N))
    w0, h0 = w // p, h // p
    pp = pos[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2)
    if conv == "hub":
        pp = F.interpolate(pp, mode="bicubic", antialias=False,
                           scale_factor=(float(w0 + 0.1) / M, float(h0 + 0.1) / M))
    else:
        pp = F.interpolate(pp, size=(w0, h0), mode="bicubic", align_corners=False,
                           antialias=conv == "aa")
    assert tuple(pp.shape[-2:]) == (w0, h0)
    pp = pp.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos[:, :1], pp), dim=1)


def dino_forward(w, cfg, x, conv):
    B = x.shape[0]
    D, p, NH = cfg["hidden_size"], cfg["patch_size"], cfg["num_attention_heads"]
    eps = cfg["layer_norm_eps"]
    emb = F.conv2d(x, w["embeddings.patch_embeddings.projection.weight"],
                   w["embeddings.patch_embeddings.projection.bias"], stride=p)
    emb = emb.flatten(2).transpose(1, 2)
    emb = torch.cat((w["embeddings.cls_token"].expand(B, -1, -1), emb), dim=1)
    emb = emb + interpolate_pos(w["embeddings.position_embeddings"], emb.shape[1], x.shape, p,
                                conv)
    R = cfg.get("num_register_tokens", 0)
    if R:
        emb = torch.cat((emb[:, :1], w["embeddings.register_tokens"].expand(B, -1, -1),
                         emb[:, 1:]), dim=1)
    h = emb
    T, dh = h.shape[1], D // NH
    for l in range(cfg["num_hidden_layers"]):
        pre = "encoder.layer.%d." % l
        n = F.layer_norm(h, (D,), w[pre + "norm1.weight"], w[pre + "norm1.bias"], eps)
        q, k, v = (F.linear(n, w[pre + "attention.attention.%s.weight" % s],
                            w[pre + "attention.attention.%s.bias" % s])
                   .view(B, T, NH, dh).transpose(1, 2) for s in ("query", "key", "value"))
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * dh ** -0.5, dim=-1)
        ctx = torch.matmul(att, v).transpose(1, 2).reshape(B, T, D)
        a = F.linear(ctx, w[pre + "attention.output.dense.weight"],
                     w[pre + "attention.output.dense.bias"])
        h = a * w[pre + "layer_scale1.lambda1"] + h
        n = F.layer_norm(h, (D,), w[pre + "norm2.weight"], w[pre + "norm2.bias"], eps)
        if cfg["use_swiglu_ffn"]:
            x1, x2 = F.linear(n, w[pre + "mlp.weights_in.weight"],
                              w[pre + "mlp.weights_in.bias"]).chunk(2, dim=-1)
            m = F.linear(F.silu(x1) * x2, w[pre + "mlp.weights_out.weight"],
                         w[pre + "mlp.weights_out.bias"])
        else:
            m = F.linear(F.gelu(F.linear(n, w[pre + "mlp.fc1.weight"], w[pre + "mlp.fc1.bias"])),
                         w[pre + "mlp.fc2.weight"], w[pre + "mlp.fc2.bias"])
        h = m * w[pre + "layer_scale2.lambda1"] + h
    h = F.layer_norm(h, (D,), w["layernorm.weight"], w["layernorm.bias"], eps)
    cls, patches = h[:, 0], h[:, 1 + R:]
    return {"cls": cls, "tokens": torch.cat((h[:, :1], patches), dim=1),
            "mean": patches.mean(dim=1)}


def resnet_weights(seed):
    g = torch.Generator().manual_seed(seed)
    w = {}

    def conv(name, cout, cin, k):
        w[name] = randn(g, cout, cin, k, k, std=math.sqrt(2.0 / (cin * k * k)))

    def bn(pre, c):
        w[pre + ".weight"] = 0.5 + torch.rand(c, generator=g)
        w[pre + ".bias"] = randn(g, c, std=0.1)
        w[pre + ".running_mean"] = randn(g, c, std=0.2)
        w[pre + ".running_var"] = 0.5 + 1.5 * torch.rand(c, generator=g)
        w[pre + ".num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)

    conv("conv1.weight", RESNET_WIDTH, 3, 7)
    bn("bn1", RESNET_WIDTH)
    inplanes = RESNET_WIDTH
    for s, nb in enumerate(RESNET_LAYERS):
        planes = RESNET_WIDTH << s
        for k in range(nb):
            pre = "layer%d.%d." % (s + 1, k)
            conv(pre + "conv1.weight", planes, inplanes, 1)
            bn(pre + "bn1", planes)
            conv(pre + "conv2.weight", planes, planes, 3)
            bn(pre + "bn2", planes)
            conv(pre + "conv3.weight", planes * 4, planes, 1)
            bn(pre + "bn3", planes * 4)
            if k == 0:
                conv(pre + "downsample.0.weight", planes * 4, inplanes, 1)
                bn(pre + "downsample.1", planes * 4)
            inplanes = planes * 4
    w["fc.weight"] = randn(g, 10, inplanes, std=0.05)
    w["fc.bias"] = randn(g, 10, std=0.05)
    return w


def resnet_forward(w, x):
    def bn(t, pre):
        return F.batch_norm(t, w[pre + ".running_mean"], w[pre + ".running_var"],
                            w[pre + ".weight"], w[pre + ".bias"], False, 0.0, 1e-5)

    x = F.relu(bn(F.conv2d(x, w["conv1.weight"], stride=2, padding=3), "bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    for s, nb in enumerate(RESNET_LAYERS):
        for k in range(nb):
            pre = "layer%d.%d." % (s + 1, k)
            stride = 2 if s > 0 and k == 0 else 1
            out = F.relu(bn(F.conv2d(x, w[pre + "conv1.weight"]), pre + "bn1"))
            out = F.relu(bn(F.conv2d(out, w[pre + "conv2.weight"], stride=stride, padding=1),
                            pre + "bn2"))
            out = bn(F.conv2d(out, w[pre + "conv3.weight"]), pre + "bn3")
            idt = x
            if pre + "downsample.0.weight" in w:
                idt = bn(F.conv2d(x, w[pre + "downsample.0.weight"], stride=stride),
                         pre + "downsample.1")
            x = F.relu(out + idt)
    return x


def save_model(d, weights, config):
    os.makedirs(d, exist_ok=True)
    if config is not None:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
    stio.write(os.path.join(d, "model.safetensors"),
               {k: v.numpy() for k, v in weights.items()})


def write_png(path, gray):
    """8-bit grayscale PNG (numpy + zlib)."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(t, data):
        c = struct.pack(">I", len(data)) + t + data
        return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    exp = {}
    with torch.no_grad():
        dw = dino_weights(DINO, 1)
        save_model(os.path.join(out, "dinov2"), dw, DINO)
        sq, rect, native = images(2, 224, 224), images(2, 224, 168), images(1, 518, 518)
        for conv in ("hub", "hf"):
            r = dino_forward(dw, DINO, sq, conv)
            exp["dino_%s_cls_sq" % conv] = r["cls"]
            exp["dino_%s_mean_sq" % conv] = r["mean"]
            r = dino_forward(dw, DINO, rect, conv)
            exp["dino_%s_cls_rect" % conv] = r["cls"]
            exp["dino_%s_tokens_rect" % conv] = r["tokens"][:1]
        exp["dino_native_cls"] = dino_forward(dw, DINO, native, "hub")["cls"]

        rw = dino_weights(DINO_REG, 2)
        save_model(os.path.join(out, "dinov2_reg"), rw, DINO_REG)
        for conv in ("aa", "hub"):
            r = dino_forward(rw, DINO_REG, rect, conv)
            exp["reg_%s_cls_rect" % conv] = r["cls"]
            exp["reg_%s_mean_rect" % conv] = r["mean"]
        exp["reg_aa_tokens_sq"] = dino_forward(rw, DINO_REG, sq, "aa")["tokens"][:1]

        nw = resnet_weights(3)
        save_model(os.path.join(out, "resnet"), nw,
                   dict(architectures=["ResNet"], model_type="torchvision_resnet",
                        layers=RESNET_LAYERS, width=RESNET_WIDTH, batch_norm_eps=1e-5))
        save_model(os.path.join(out, "resnet_noconfig"), nw, None)
        f = resnet_forward(nw, sq)
        exp["resnet_cls_sq"] = f.mean(dim=(2, 3))
        f = resnet_forward(nw, images(2, 112, 112))
        exp["resnet_tokens_112"] = f.permute(0, 2, 3, 1).reshape(2, -1, f.shape[1])
        exp["resnet_cls_rect"] = resnet_forward(nw, rect).mean(dim=(2, 3))

    # bad inputs
    bad = dict(dw)
    del bad["layernorm.bias"]
    save_model(os.path.join(out, "bad_dino_missing"), bad, DINO)
    bad = dict(dw)
    bad["encoder.layer.1.mlp.fc1.weight"] = bad["encoder.layer.1.mlp.fc1.weight"][:, :40]
    save_model(os.path.join(out, "bad_dino_shape"), bad, DINO)
    save_model(os.path.join(out, "bad_dino_json"), dw, None)
    with open(os.path.join(out, "bad_dino_json", "config.json"), "w") as f:
        f.write('{"hidden_size": 48, "num_hidden_layers": ')
    save_model(os.path.join(out, "bad_dino_heads"), dw, dict(DINO, num_attention_heads=5))
    bad = dict(nw)
    del bad["layer2.1.bn2.running_var"]
    save_model(os.path.join(out, "bad_resnet_missing"), bad, None)
    bad = dict(nw)
    bad["layer3.0.conv2.weight"] = bad["layer3.0.conv2.weight"][:, :, :1, :1].contiguous()
    save_model(os.path.join(out, "bad_resnet_shape"), bad, None)

    # CLI inputs: two grayscale PNGs and their preprocessed tensors are rebuilt by the
    # CLI check from these pixels (MGCA: resize 256, pad, centre crop 224)
    g = np.random.default_rng(5)
    os.makedirs(os.path.join(out, "png"), exist_ok=True)
    write_png(os.path.join(out, "png", "a.png"), g.integers(0, 256, (256, 256)))
    write_png(os.path.join(out, "png", "b.png"), g.integers(0, 256, (256, 256)))

    stio.write(os.path.join(out, "expected.safetensors"),
               {k: v.contiguous().numpy().astype(np.float32) for k, v in exp.items()})


if __name__ == "__main__":
    main()
