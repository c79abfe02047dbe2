#!/usr/bin/python3
"""Reference for the segmentation decoders and MGCA's segmentation loss, in plain PyTorch.

usage: segdecoder_ref.py OUT_DIR
Writes, for tiny configurations that tests/unit/test_segdecoder.c repeats:
  OUT_DIR/seg_{vit,unet}_weights.safetensors   state_dict (PyTorch names and layouts)
  OUT_DIR/seg_{vit,unet}_io.safetensors        inputs (NHWC), dlogits, the training-mode
      logits, the gradients (grad.<param>, dfeat<i>), the running statistics after that
      forward (after.<name>) and an evaluation-mode forward after it (eval_logits)
  OUT_DIR/seg_loss_io.safetensors              logits, targets, MGCA MixedLoss value, its
      parts, autograd gradient and MGCA's get_dice on the batch
The modules follow SPEC 8 / the torchvision-style U-Net; the loss is MGCA's
mgca/utils/segmentation_loss.py MixedLoss(alpha=10) restated here.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

torch.set_default_dtype(torch.float64)  # the reference in double: C's float error shows

# Keep in sync with tests/unit/test_segdecoder.c.
VIT = dict(in_ch=5, grid=6, stem=6, ch=[8, 6, 4, 4], b=2)
UNET = dict(in_ch=6, grid=2, ch=[8, 6, 4], skip=[5, 3, 0], b=2)


def cbr(cin, cout, pad):
    return [nn.Conv2d(cin, cout, 3, padding=pad), nn.BatchNorm2d(cout), nn.ReLU()]


class VitDecoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.decoder_0 = nn.Sequential(*cbr(c["in_ch"], c["stem"], 0))
        cin = c["stem"]
        for i, ch in enumerate(c["ch"]):
            setattr(self, "decoder_%d" % (i + 1),
                    nn.Sequential(*cbr(cin, ch, 1), nn.Upsample(scale_factor=2, mode="nearest")))
            cin = ch
        self.final_out = nn.Conv2d(cin, 1, 3, padding=1)

    def forward(self, feats):
        x = self.decoder_0(feats[0])
        for i in range(4):
            x = getattr(self, "decoder_%d" % (i + 1))(x)
        return self.final_out(x)


class UNetDecoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        cin = c["in_ch"]
        self.n = len(c["ch"])
        for i, (ch, sk) in enumerate(zip(c["ch"], c["skip"])):
            setattr(self, "up_%d" % i, nn.ConvTranspose2d(cin, ch, 2, stride=2))
            setattr(self, "dec_%d" % i, nn.Sequential(*cbr(ch + sk, ch, 1), *cbr(ch, ch, 1)))
            cin = ch
        self.final_out = nn.Conv2d(cin, 1, 3, padding=1)

    def forward(self, feats):
        x = feats[0]
        for i in range(self.n):
            x = getattr(self, "up_%d" % i)(x)
            if feats[i + 1] is not None:
                x = torch.cat([x, feats[i + 1]], dim=1)
            x = getattr(self, "dec_%d" % i)(x)
        return self.final_out(x)


def randomise(model, g):
    """Random weights and running statistics, so every term of the comparison matters."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(".weight") and t.dim() == 1:  # BN gamma
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                scale = 1.0 / np.sqrt(t[0].numel()) if t.dim() > 1 else 0.3
                t.copy_(torch.randn(t.shape, generator=g) * scale)


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)


def state(model):
    out = {}
    for name, t in model.state_dict().items():
        a = t.detach().numpy()
        out[name] = a.astype(np.int64) if name.endswith("num_batches_tracked") else a.astype(np.float32)
    return out


def run(kind, model, shapes, b, out_dir, g):
    randomise(model, g)
    stio.write(os.path.join(out_dir, "seg_%s_weights.safetensors" % kind), state(model))
    feats = [None if ch == 0 else torch.randn(b, ch, s, s, generator=g).requires_grad_(True)
             for s, ch in shapes]
    model.train()
    logits = model(feats)
    dlogits = torch.randn(logits.shape, generator=g)
    logits.backward(dlogits)
    io = {"dlogits": dlogits[:, 0].numpy().astype(np.float32),
          "logits": logits.detach()[:, 0].numpy().astype(np.float32)}
    for i, f in enumerate(feats):
        if f is not None:
            io["feat%d" % i] = nhwc(f)
            io["dfeat%d" % i] = nhwc(f.grad)
    for name, p in model.named_parameters():
        io["grad." + name] = p.grad.numpy().astype(np.float32)
    for name, t in model.state_dict().items():
        if "running" in name:
            io["after." + name] = t.numpy().astype(np.float32)
    model.eval()
    with torch.no_grad():
        io["eval_logits"] = model(feats)[:, 0].numpy().astype(np.float32)
    stio.write(os.path.join(out_dir, "seg_%s_io.safetensors" % kind), io)


# ---- MGCA's MixedLoss (mgca/utils/segmentation_loss.py), restated ------------------------
def mgca_dice(pred, target):
    smooth = 1.0
    p = torch.sigmoid(pred).reshape(-1)
    t = target.reshape(-1)
    return (2.0 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)


def mgca_focal(x, t, gamma=2.0):
    max_val = (-x).clamp(min=0)
    loss = x - x * t + max_val + ((-max_val).exp() + (-x - max_val).exp()).log()
    invprobs = F.logsigmoid(-x * (t * 2.0 - 1.0))
    return ((invprobs * gamma).exp() * loss).mean()


def mgca_get_dice(prob, truth, threshold=0.5):
    b = len(truth)
    p = (prob.reshape(b, -1) > threshold).double()
    t = (truth.reshape(b, -1) > 0.5).double()
    t_sum, p_sum = t.sum(-1), p.sum(-1)
    neg, pos = torch.nonzero(t_sum == 0), torch.nonzero(t_sum >= 1)
    dice_neg = (p_sum == 0).double()
    dice_pos = 2 * (p * t).sum(-1) / ((p + t).sum(-1))
    return torch.mean(torch.cat([dice_pos[pos], dice_neg[neg]])).item()


def loss_case(out_dir, g):
    b, s = 4, 9
    x = (torch.randn(b, s, s, generator=g) * 3).requires_grad_(True)
    t = (torch.rand(b, s, s, generator=g) > 0.6).double()
    t[2] = 0                        # an image without findings ...
    with torch.no_grad():
        x[2] = -x[2].abs() - 0.1    # ... and nothing predicted: Dice 1 by MGCA's rule
        x[3, :2] = x[3, :2].abs() + 0.1
    t[3] = 0                        # no findings, something predicted: Dice 0
    focal, dice = mgca_focal(x, t), mgca_dice(x, t)
    loss = 10.0 * focal - torch.log(dice)
    loss.backward()
    io = {"x": x.detach().numpy().astype(np.float32), "t": t.numpy().astype(np.float32),
          "dx": x.grad.numpy().astype(np.float32),
          "parts": np.array([loss.item(), focal.item(), dice.item()], dtype=np.float64),
          "get_dice": np.array([mgca_get_dice(torch.sigmoid(x.detach()), t)], dtype=np.float64)}
    stio.write(os.path.join(out_dir, "seg_loss_io.safetensors"), io)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    v = VIT
    run("vit", VitDecoder(v), [(v["grid"], v["in_ch"])], v["b"], out_dir, g)
    u = UNET
    shapes = [(u["grid"], u["in_ch"])] + [(u["grid"] << (i + 1), sk) for i, sk in enumerate(u["skip"])]
    run("unet", UNetDecoder(u), shapes, u["b"], out_dir, g)
    loss_case(out_dir, g)


if __name__ == "__main__":
    main()
