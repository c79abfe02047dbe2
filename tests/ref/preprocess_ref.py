#!/usr/bin/python3
"""Reference outputs for tests/unit/test_preprocess.c, computed the way MGCA does it:
cv2.imread(path, 0), MGCA's resize_img (INTER_AREA, centred zero padding), torchvision's
CenterCrop + ToTensor + Normalize((0.5,), (0.5,)) arithmetic in float32 numpy.

usage: preprocess_ref.py <tests/data/images dir> <output dir>

Generates extra images (odd sizes, both orientations, tiny and upscaled, 16-bit, RGB,
RGBA, gray+alpha, palette, 1/2/4-bit gray, gAMA, JPEG gray and colour) into
<output dir>/gen, then writes for every image and configuration
  <prefix>.dec   decoded 8-bit gray, raw row-major
  <prefix>.pad   resize_img output (resize x resize), raw
  <prefix>.crop  first channel of the normalised centre crop, float32 little-endian
                 (for a subset of the cases)
  <prefix>.xrv   the torchxrayvision chain of the reference's resnet_ae (xrv_chain),
                 float32 little-endian (a few cases)
and a manifest line "path mode resize crop dec_w dec_h prefix" in <output dir>/manifest.txt.
"""
import os
import struct
import sys
import zlib

import cv2
import numpy as np
from PIL import Image


# ---- MGCA's preprocessing, same arithmetic ---------------------------------------------

def mgca_resize_img(img, scale):
    size = img.shape
    max_dim = max(size)
    max_ind = size.index(max_dim)
    if max_ind == 0:  # taller (or square): height becomes `scale`
        wpercent = scale / float(size[0])
        hsize = int((float(size[1]) * float(wpercent)))
        desired = (scale, hsize)
    else:
        hpercent = scale / float(size[1])
        wsize = int((float(size[0]) * float(hpercent)))
        desired = (wsize, scale)
    resized = cv2.resize(img, desired[::-1], interpolation=cv2.INTER_AREA)
    if max_ind == 0:
        pad = scale - resized.shape[1]
        top, bottom, left, right = 0, 0, int(np.floor(pad / 2)), int(np.ceil(pad / 2))
    else:
        pad = scale - resized.shape[0]
        top, bottom, left, right = int(np.floor(pad / 2)), int(np.ceil(pad / 2)), 0, 0
    return np.pad(resized, [(top, bottom), (left, right)], "constant", constant_values=0)


def center_crop_normalize(img, crop):
    h, w = img.shape
    top = int(round((h - crop) / 2.0))
    left = int(round((w - crop) / 2.0))
    t = img[top:top + crop, left:left + crop]
    f = t.astype(np.float32) / np.float32(255)          # ToTensor
    return (f - np.float32(0.5)) / np.float32(0.5)      # Normalize(0.5, 0.5)


def xrv_chain(pad, crop):
    """The reference Adaptor's AutoEncoderDataTransforms (utils/dataset_utils.py) on what
    MGCA's get_imgs hands it, PIL.Image.fromarray(pad).convert("RGB"):
    xrv.datasets.normalize(np.array(image).astype(float), 255), channel 0, its batched
    XRayCenterCrop (the largest centred square), then xrv.datasets.XRayResizer(crop,
    engine="cv2") = cv2.resize(img[0], (crop, crop), INTER_AREA) as float32."""
    img = np.array(Image.fromarray(pad).convert("RGB")).astype(float)
    assert img.max() <= 255
    img = (2 * (img.astype(np.float32) / 255) - 1.) * 1024   # xrv.datasets.normalize
    img = img[..., 0][None, :, :]
    *_, y, x = img.shape
    c = min(y, x)
    sx, sy = x // 2 - c // 2, y // 2 - c // 2
    img = img[..., sy:sy + c, sx:sx + c]
    return cv2.resize(img[0, :, :], (crop, crop),
                      interpolation=cv2.INTER_AREA).reshape(1, crop, crop).astype(np.float32)


def read_depth16_max(path):
    """MGCA's DICOM path applied to a 16-bit gray PNG: convertScaleAbs(x, 255 / max)."""
    x = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert x.dtype == np.uint16 and x.ndim == 2, path
    return cv2.convertScaleAbs(x, alpha=(255.0 / x.max()))


# ---- a minimal PNG writer for the colour types cv2.imwrite cannot produce ---------------

def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_png(path, rows, width, height, bit_depth, color_type, extra=()):
    """rows: list of already packed scanline bytes (no filter byte)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    for tag, payload in extra:
        data += png_chunk(tag, payload)
    data += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def pack_bits(values, bits):
    out = bytearray()
    acc, n = 0, 0
    for v in values:
        acc = (acc << bits) | int(v)
        n += bits
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def smooth_image(rng, h, w, channels=1, hi=255):
    """Gradients plus noise: exercises interpolation better than pure noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        base = 0.5 + 0.35 * np.sin(x / (3.0 + 2 * c) + c) * np.cos(y / (5.0 + c))
        noise = rng.uniform(-0.15, 0.15, size=(h, w))
        planes.append(np.clip(base + noise, 0, 1) * hi)
    a = np.stack(planes, axis=-1) if channels > 1 else planes[0]
    return np.rint(a)


def generate(gen):
    os.makedirs(gen, exist_ok=True)
    rng = np.random.default_rng(20240607)
    made = []

    def gray(name, h, w):
        p = os.path.join(gen, name)
        cv2.imwrite(p, smooth_image(rng, h, w).astype(np.uint8))
        made.append(p)

    # Orientation, odd sizes, squares, integer factors (2x, 3x), up- and downscaling,
    # destination widths of 24 and 40 (8 mod 16) for the SIMD tail of the bilinear path.
    for h, w in [(300, 200), (200, 300), (257, 257), (49, 49), (200, 13), (13, 200),
                 (512, 512), (768, 300), (1001, 603), (120, 90), (255, 100), (256, 100),
                 (200, 19), (200, 32), (100, 400), (37, 700), (700, 37), (1024, 257),
                 (200, 2), (200, 3), (200, 5), (200, 6), (150, 7), (60, 3), (255, 255)]:
        gray("gray_%dx%d.png" % (h, w), h, w)

    p = os.path.join(gen, "gray16_150x220.png")
    cv2.imwrite(p, smooth_image(rng, 150, 220, hi=60000).astype(np.uint16))
    made.append(p)
    p = os.path.join(gen, "bgr_210x170.png")
    cv2.imwrite(p, smooth_image(rng, 210, 170, 3).astype(np.uint8))
    made.append(p)
    p = os.path.join(gen, "bgra_90x130.png")
    cv2.imwrite(p, smooth_image(rng, 90, 130, 4).astype(np.uint8))
    made.append(p)
    p = os.path.join(gen, "bgr16_80x60.png")
    cv2.imwrite(p, smooth_image(rng, 80, 60, 3, hi=65535).astype(np.uint16))
    made.append(p)
    p = os.path.join(gen, "bgra16_70x50.png")
    cv2.imwrite(p, smooth_image(rng, 70, 50, 4, hi=65535).astype(np.uint16))
    made.append(p)

    # gray + alpha, 8 and 16 bit
    h, w = 60, 75
    ga = smooth_image(rng, h, w, 2).astype(np.uint8)
    p = os.path.join(gen, "ga8_60x75.png")
    write_png(p, [ga[y].tobytes() for y in range(h)], w, h, 8, 4)
    made.append(p)
    ga16 = smooth_image(rng, h, w, 2, hi=65535).astype(">u2")
    p = os.path.join(gen, "ga16_60x75.png")
    write_png(p, [ga16[y].tobytes() for y in range(h)], w, h, 16, 4)
    made.append(p)

    # RGB with a gAMA chunk (libpng then converts through gamma tables) and with sRGB
    rgb = smooth_image(rng, 50, 66, 3).astype(np.uint8)
    for name, extra in [("rgb_gama45455_50x66.png", [(b"gAMA", struct.pack(">I", 45455))]),
                        ("rgb_srgb_50x66.png", [(b"sRGB", b"\x00")]),
                        ("rgb_gama100000_50x66.png", [(b"gAMA", struct.pack(">I", 100000))])]:
        p = os.path.join(gen, name)
        write_png(p, [rgb[y].tobytes() for y in range(50)], 66, 50, 8, 2, extra)
        made.append(p)

    # palette PNGs, 8-bit and 4-bit indices, with a tRNS chunk on one
    for bits in (8, 4, 2, 1):
        n = 1 << bits
        pal = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
        h, w = 45, 53
        idx = rng.integers(0, n, size=(h, w))
        extra = [(b"PLTE", pal.tobytes())]
        if bits == 4:
            extra.append((b"tRNS", bytes(rng.integers(0, 256, size=n, dtype=np.uint8))))
        p = os.path.join(gen, "pal%d_45x53.png" % bits)
        write_png(p, [pack_bits(idx[y], bits) for y in range(h)], w, h, bits, 3, extra)
        made.append(p)

    # low bit-depth gray
    for bits in (1, 2, 4):
        h, w = 31, 29
        v = rng.integers(0, 1 << bits, size=(h, w))
        p = os.path.join(gen, "gray%d_31x29.png" % bits)
        write_png(p, [pack_bits(v[y], bits) for y in range(h)], w, h, bits, 0)
        made.append(p)

    # JPEG gray and colour (4:2:0 YCbCr)
    p = os.path.join(gen, "jpeg_gray_233x177.jpg")
    cv2.imwrite(p, smooth_image(rng, 233, 177).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    made.append(p)
    p = os.path.join(gen, "jpeg_color_143x201.jpg")
    cv2.imwrite(p, smooth_image(rng, 143, 201, 3).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])
    made.append(p)

    # EXIF orientation (cv2.imread turns images upright): an APP1 segment after a JPEG's
    # SOI, an eXIf chunk in a PNG; both byte orders.
    def exif_tiff(orient, order):
        fmt = ">" if order == "MM" else "<"
        tiff = order.encode() + struct.pack(fmt + "HI", 42, 8) + struct.pack(fmt + "H", 1)
        return tiff + struct.pack(fmt + "HHIHH", 0x0112, 3, 1, orient, 0) + struct.pack(fmt + "I", 0)

    g = smooth_image(rng, 41, 67).astype(np.uint8)
    for orient, order in [(6, "MM"), (2, "II"), (7, "II")]:
        p = os.path.join(gen, "png_exif%d_41x67.png" % orient)
        write_png(p, [g[y].tobytes() for y in range(41)], 67, 41, 8, 0,
                  [(b"eXIf", exif_tiff(orient, order))])
        made.append(p)
    with open(os.path.join(gen, "jpeg_gray_233x177.jpg"), "rb") as f:
        jpg = f.read()
    for orient, order in [(3, "MM"), (6, "II"), (8, "MM"), (5, "II"), (4, "II")]:
        app1 = b"Exif\0\0" + exif_tiff(orient, order)
        p = os.path.join(gen, "jpeg_exif%d_233x177.jpg" % orient)
        with open(p, "wb") as f:
            f.write(jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:])
        made.append(p)
    return made


def main():
    data_dir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    images = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir)
                    if f.endswith((".png", ".jpg")))
    images += generate(os.path.join(out, "gen"))

    configs = [(256, 224)]
    lines = []

    def emit(path, mode, dec, resize, crop):
        prefix = os.path.join(out, "%s.%s.%d.%d" % (os.path.basename(path), mode, resize, crop))
        pad = mgca_resize_img(dec, resize)
        assert pad.shape == (resize, resize), (path, pad.shape)
        dec.tofile(prefix + ".dec")
        pad.tofile(prefix + ".pad")
        # The float crop (the bulk of the output) only where it adds something: the
        # real images, other sizes, and the decoders' odd cases.
        name = os.path.basename(path)
        big = {(448, "00000001_000.png"), (896, "gray_49x49.png")}
        if (resize, name) in big or (resize == 256 and (
                not path.startswith(os.path.join(out, "gen")) or mode == "max"
                or "49x49" in name or "jpeg" in name or "pal8" in name)):
            center_crop_normalize(pad, crop).astype("<f4").tofile(prefix + ".crop")
        # resnet_ae's chain: the real X-rays, a padded odd size, identity and a 2x factor.
        if (not path.startswith(os.path.join(out, "gen")) and resize == 256) or (
                "49x49" in name and resize == 256) or (name == "1.jpg" and resize == 448):
            xrv_chain(pad, crop).astype("<f4").tofile(prefix + ".xrv")
        lines.append("%s %s %d %d %d %d %s" % (path, mode, resize, crop, dec.shape[1],
                                               dec.shape[0], prefix))

    for path in images:
        dec = cv2.imread(path, 0)
        assert dec is not None and dec.dtype == np.uint8, path
        for resize, crop in configs:
            emit(path, "hi", dec, resize, crop)
    # Other resize / crop sizes the models use, and MGCA's max-scaled 16-bit path.
    for path in images:
        name = os.path.basename(path)
        if name == "2.jpg":  # an integer factor for the torchxrayvision resize
            emit(path, "hi", cv2.imread(path, 0), 256, 128)
        if name in ("00000001_000.png", "gray_1001x603.png", "gray_49x49.png", "1.jpg"):
            dec = cv2.imread(path, 0)
            emit(path, "hi", dec, 448, 448)
            if name in ("00000001_000.png", "gray_49x49.png"):
                emit(path, "hi", dec, 896, 518)
        if name == "gray16_150x220.png":
            emit(path, "max", read_depth16_max(path), 256, 224)

    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("preprocess_ref: %d cases in %s" % (len(lines), out))


if __name__ == "__main__":
    main()
