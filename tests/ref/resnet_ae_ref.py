#!/usr/bin/python3
"""`adaptor encode-image --arch resnet_ae` against a PyTorch re-implementation of
torchxrayvision's ResNet autoencoder (torchxrayvision/autoencoders.py: Bottleneck,
DeconvBottleneck, _ResNetAE, ResNetAE101 = "101-elastic"), written from that source with
the same module names, so its state_dict keys are the ones the real pickle holds.
torchxrayvision itself is not installed; its preprocessing is preprocess_ref.xrv_chain.

usage: resnet_ae_ref.py ADAPTOR_BIN WORKDIR IMAGE... [--full]

Weights are drawn at test time from torch.manual_seed(0); the BatchNorm statistics are
then calibrated on the test images (train-mode pass, momentum None) so activations keep a
realistic scale through 33 blocks. Checks, each a pass/fail line:
  - --full: the real widths (ResNetAE101), the 512-d mean and the 9 x 512 tokens of the
    given real X-rays, relative error (max |c - t| / max |t|) <= 1e-4;
  - otherwise a narrow network of the same depth (cheap: unit/ASan runs), the same through
    `adaptor embed` (the image cache of a 2-row manifest), and bad
    checkpoints: a tensor missing in the middle, a mis-shaped one, a wrong model_type and a
    3-channel stem each give one error line naming it, non-zero status, no output file.
"""
import json
import os
import shutil
import sys

import netCDF4
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402
from clitest import ENV, Checks, error_lines, write_job  # noqa: E402
from preprocess_ref import mgca_resize_img, xrv_chain  # noqa: E402

import cv2  # noqa: E402
import subprocess  # noqa: E402


# ---- torchxrayvision/autoencoders.py, same structure and names ----------------------------

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, out_channels, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=stride,
                               bias=False, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out_channels * self.expansion, kernel_size=1,
                               bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.relu(self.bn3(self.conv3(out)))  # ReLU before the residual add
        if self.downsample is not None:
            shortcut = self.downsample(x)
        return self.relu(out + shortcut)


class DeconvBottleneck(nn.Module):
    def __init__(self, in_channels, out_channels, expansion=2, stride=1, upsample=None):
        super().__init__()
        self.expansion = expansion
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        if stride == 1:
            self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=stride,
                                   bias=False, padding=1)
        else:
            self.conv2 = nn.ConvTranspose2d(out_channels, out_channels, kernel_size=3,
                                            stride=stride, bias=False, padding=1,
                                            output_padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out_channels * self.expansion, kernel_size=1,
                               bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels * self.expansion)
        self.relu = nn.ReLU()
        self.upsample = upsample


class _ResNetAE(nn.Module):
    """widths, stem, ups: the source's 64, 128, 256, 128 (_make_downlayer), 64 and 128, 64,
    32, 16 (_make_up_block); the test's narrow variant shrinks them. The decoder is built as
    in the source so the state_dict has its tensors too (adaptor ignores them)."""

    def __init__(self, num_layers, widths=(64, 128, 256, 128), stem=64, ups=(128, 64, 32, 16)):
        super().__init__()
        self.in_channels = stem
        self.conv1 = nn.Conv2d(1, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_downlayer(widths[0], num_layers[0])
        self.layer2 = self._make_downlayer(widths[1], num_layers[1], stride=2)
        self.layer3 = self._make_downlayer(widths[2], num_layers[2], stride=2)
        self.layer4 = self._make_downlayer(widths[3], num_layers[3], stride=6)
        self.uplayer1 = self._make_up_block(ups[0], num_layers[3], stride=6)
        self.uplayer2 = self._make_up_block(ups[1], num_layers[2], stride=2)
        self.uplayer3 = self._make_up_block(ups[2], num_layers[1], stride=2)
        self.uplayer4 = self._make_up_block(ups[3], num_layers[0], stride=2)
        upsample = nn.Sequential(
            nn.ConvTranspose2d(self.in_channels, 64, kernel_size=1, stride=2, bias=False,
                               output_padding=1),
            nn.BatchNorm2d(64))
        self.uplayer_top = DeconvBottleneck(self.in_channels, 64, 1, 2, upsample)
        self.conv1_1 = nn.ConvTranspose2d(64, 1, kernel_size=1, stride=1, bias=False)

    def _make_downlayer(self, init_channels, num_layer, stride=1):
        downsample = None
        if stride != 1 or self.in_channels != init_channels * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, init_channels * Bottleneck.expansion, kernel_size=1,
                          stride=stride, bias=False),
                nn.BatchNorm2d(init_channels * Bottleneck.expansion))
        layers = [Bottleneck(self.in_channels, init_channels, stride, downsample)]
        self.in_channels = init_channels * Bottleneck.expansion
        for _ in range(1, num_layer):
            layers.append(Bottleneck(self.in_channels, init_channels))
        return nn.Sequential(*layers)

    def _make_up_block(self, init_channels, num_layer, stride=1):
        upsample = None
        if stride != 1 or self.in_channels != init_channels * 2:
            upsample = nn.Sequential(
                nn.ConvTranspose2d(self.in_channels, init_channels * 2, kernel_size=1,
                                   stride=stride, bias=False, output_padding=1),
                nn.BatchNorm2d(init_channels * 2))
        layers = [DeconvBottleneck(self.in_channels, init_channels, 4)
                  for _ in range(1, num_layer)]
        layers.append(DeconvBottleneck(self.in_channels, init_channels, 2, stride, upsample))
        self.in_channels = init_channels * 2
        return nn.Sequential(*layers)

    def encode(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def ResNetAE101(**kw):
    return _ResNetAE([3, 4, 23, 2], **kw)


# ---- the reference's image path ------------------------------------------------------------

def reference_input(path, resize=256, crop=224):
    """MGCA get_imgs (cv2.imread gray, resize_img) then AutoEncoderDataTransforms."""
    return torch.from_numpy(xrv_chain(mgca_resize_img(cv2.imread(path, 0), resize), crop))


def make_model(full, x):
    torch.manual_seed(0)
    m = ResNetAE101() if full else ResNetAE101(widths=(8, 8, 16, 8), stem=8, ups=(8, 4, 2, 2))
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
        elif isinstance(mod, nn.BatchNorm2d):
            mod.momentum = None  # cumulative average over the calibration pass
    m.train()
    with torch.no_grad():
        m.encode(torch.cat([x, x.flip(3), -x]))
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m.eval()


def save(m, d, drop=None, reshape=None, model_type="torchxrayvision_resnet_ae"):
    os.makedirs(d, exist_ok=True)
    sd = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    if drop:
        del sd[drop]
    if reshape:
        sd[reshape] = sd[reshape][:, :-1].copy()
    stio.write(os.path.join(d, "model.safetensors"), sd)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": model_type}, f)


def encode(binary, model, out, images, *extra):
    return subprocess.run([binary, "encode-image", "--arch", "resnet_ae", "--model", model,
                           "--out", out, "--batch", "2", *extra, *images],
                          capture_output=True, text=True, env=ENV)


def rel(got, want):
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def main():
    args = [a for a in sys.argv[1:] if a != "--full"]
    full = "--full" in sys.argv
    binary, work, images = os.path.abspath(args[0]), os.path.abspath(args[1]), args[2:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    check = Checks()
    x = torch.stack([reference_input(p) for p in images])
    m = make_model(full, x)
    with torch.no_grad():
        z = m.encode(x)
    check(z.shape[1:] == ((512, 3, 3) if full else (32, 3, 3)), f"feature map {tuple(z.shape)}")
    want_mean = z.mean(dim=(2, 3)).numpy()
    want_tok = torch.flatten(z, start_dim=2).permute(0, 2, 1).numpy()  # the reference's
    model = os.path.join(work, "model")
    save(m, model)
    for output, want in (("cls", want_mean), ("tokens", want_tok)):
        out = os.path.join(work, output + ".nc")
        p = encode(binary, model, out, images, "--output", output)
        check(p.returncode == 0, f"encode-image --output {output}: {p.stderr[-800:]}")
        if p.returncode != 0:
            continue
        with netCDF4.Dataset(out) as ds:
            got = ds["embedding"][:].data
            check(ds.getncattr("preprocess") == "xrv", "preprocess attribute")
        check(got.shape == want.shape, f"{output}: shape {got.shape} vs {want.shape}")
        if got.shape == want.shape:
            e = rel(got, want)
            print(f"resnet_ae {'full' if full else 'narrow'} {output}: relative error {e:.3g}")
            check(e <= 1e-4, f"{output}: relative error {e:.3g} > 1e-4")
    if not full:
        # embed's cache goes through the pipeline's own preprocessing (frozen.c)
        with open(os.path.join(work, "manifest.csv"), "w") as f:
            f.write("Path,ViewPosition,split,impression,findings\n")
            for i in images:
                f.write(f"{os.path.abspath(i)},PA,train,no acute cardiopulmonary process,"
                        "heart size is normal\n")
        write_job(os.path.join(work, "job.ini"), {
            "data": {"manifest": "manifest.csv"},
            "image_encoder": {"arch": "resnet_ae", "model": model},
            "cache": {"dir": "cache", "splits": "train"}})
        p = subprocess.run([binary, "embed", "job.ini", "--modality", "image"], cwd=work,
                           capture_output=True, text=True, env=ENV)
        check(p.returncode == 0, f"embed: {p.stderr[-800:]}")
        caches = [c for c in os.listdir(os.path.join(work, "cache")) if c.startswith("image")]
        check(len(caches) == 1, f"image caches {caches}")
        if p.returncode == 0 and len(caches) == 1:
            with netCDF4.Dataset(os.path.join(work, "cache", caches[0])) as ds:
                got = ds["embedding"][:].data[np.argsort(ds["sample_id"][:].data)]
            e = rel(got, want_mean) if got.shape == want_mean.shape else float("inf")
            print(f"resnet_ae narrow embed cache: relative error {e:.3g}")
            check(e <= 1e-4, f"embed cache: relative error {e:.3g} > 1e-4")
        mid = "layer3.11.bn2.running_var"
        shaped = "layer2.1.conv2.weight"
        cases = [("missing", dict(drop=mid), [mid, "missing"]),
                 ("shape", dict(reshape=shaped), [shaped, "shape"]),
                 ("type", dict(model_type="torchvision_resnet"), ["model_type",
                                                                  "torchxrayvision_resnet_ae"])]
        for name, kw, needles in cases:
            d = os.path.join(work, "bad_" + name)
            save(m, d, **kw)
            out = os.path.join(work, "bad.nc")
            p = encode(binary, d, out, images[:1])
            lines = error_lines(p.stderr)
            check(p.returncode != 0 and len(lines) == 1 and all(n in lines[0] for n in needles)
                  and not os.path.exists(out),
                  f"bad checkpoint {name}: status {p.returncode}, stderr {p.stderr[-400:]!r}")
        # A torchvision ResNet folder given as resnet_ae: the 3-channel stem is named.
        d = os.path.join(work, "bad_stem")
        save(m, d)
        w, meta = stio.read(os.path.join(d, "model.safetensors"))
        w["conv1.weight"] = np.repeat(w["conv1.weight"], 3, axis=1)
        stio.write(os.path.join(d, "model.safetensors"), w)
        p = encode(binary, d, os.path.join(work, "bad.nc"), images[:1])
        lines = error_lines(p.stderr)
        check(p.returncode != 0 and len(lines) == 1 and "conv1.weight" in lines[0],
              f"3-channel stem: {p.stderr[-400:]!r}")
    check.finish()


if __name__ == "__main__":
    main()
