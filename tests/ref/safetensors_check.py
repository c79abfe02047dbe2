#!/usr/bin/python3
"""Independent check of our safetensors reader and writer with struct + json + numpy only.

1. `st_ref_tool write` writes a file with our writer; this script parses it byte by byte and
   checks the layout HuggingFace's writer produces (8-byte LE header length, header padded
   with spaces to a multiple of 8, "__metadata__" first, tensors sorted by decreasing dtype
   alignment then name, packed back to back up to the end of the file) and every value
   (float16 via numpy's own conversion, bfloat16 via integer round-to-nearest-even here).
2. This script writes a file itself (header keys in an order unrelated to the data order,
   special half values, subnormals, inf, NaN) and `st_ref_tool dump` must read back exactly
   the float32 values numpy computes.
3. Files this script corrupts must be rejected with a one-line error naming the file.

usage: safetensors_check.py ST_REF_TOOL   (temporary files go to $ADAPTOR_TEST_TMP)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

# 1 + 2^-11 and 1 + 2^-8, 1 + 3 * 2^-8: ties for float16 and bfloat16 rounding
VALUES = ["1.0", "0.33333334", "-0.1", "65504.0", "65519.0", "65520.0", "1e-07", "-3e-08",
          "100000.0", "1.00048828125", "1.00390625", "1.01171875"]

# HuggingFace's Dtype enum order (increasing alignment); its writer sorts by it, descending.
HF_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "U16": 6, "F16": 7, "BF16": 8, "I32": 9,
           "U32": 10, "F32": 11, "F64": 12, "I64": 13, "U64": 14}
NP_TYPE = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8", "I64": "<i8", "I32": "<i4",
           "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def bf16_bits(f32):
    """float32 -> bfloat16 bits, round to nearest even, by integer arithmetic."""
    u = np.asarray(f32, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def parse(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header_bytes = raw[8:8 + n]
    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=lambda kv: kv)
    return raw, n, header_bytes, header


def check_our_writer(tool, tmp):
    path = os.path.join(tmp, "ours.safetensors")
    subprocess.run([tool, "write", path], check=True)
    raw, n, header_bytes, header = parse(path)
    check(n % 8 == 0, "header length %d is a multiple of 8" % n)
    text = header_bytes.decode("utf-8")
    check(text.rstrip(" ").endswith("}") and len(text) - len(text.rstrip(" ")) < 8,
          "header padded with fewer than 8 spaces")
    check(header[0][0] == "__metadata__", "__metadata__ comes first")
    meta = dict(header[0][1])
    check(meta == {"format": "pt", "producer": 'adaptor "test" \u00e9'}, "metadata %r" % meta)
    entries = [(k, dict(v)) for k, v in header[1:]]
    order = [k for k, _ in entries]
    expect_order = sorted(order, key=lambda k: (-HF_RANK[dict(entries)[k]["dtype"]], k))
    check(order == expect_order, "tensor order %r, HF order %r" % (order, expect_order))
    data = raw[8 + n:]
    pos = 0
    tensors = {}
    for name, e in entries:
        b, end = e["data_offsets"]
        check(b == pos, "%s starts where the previous tensor ends" % name)
        size = int(np.prod(e["shape"], dtype=np.int64)) * np.dtype(NP_TYPE[e["dtype"]]).itemsize
        check(end - b == size, "%s byte size" % name)
        check(b % np.dtype(NP_TYPE[e["dtype"]]).itemsize == 0, "%s aligned" % name)
        tensors[name] = (e["dtype"], e["shape"],
                         np.frombuffer(data[b:end], dtype=NP_TYPE[e["dtype"]]))
        pos = end
    check(pos == len(data), "tensors end at the end of the file")

    vals = np.array([np.float32(v) for v in VALUES], dtype=np.float32)
    want = {
        "x.f32": ("F32", [3, 4], vals),
        "x.f16": ("F16", [12], vals.astype(np.float16)),
        "x.bf16": ("BF16", [12], bf16_bits(vals)),
        "ints.i64": ("I64", [3], np.array([-1, 1 << 40, 7], dtype=np.int64)),
        "ints.i32": ("I32", [2, 2], np.array([-5, 0, 2**31 - 1, -2**31], dtype=np.int32)),
        "ints.i16": ("I16", [3], np.array([-32768, 1, 32767], dtype=np.int16)),
        "ints.i8": ("I8", [4], np.array([-128, -1, 0, 127], dtype=np.int8)),
        "u": ("U8", [5], np.array([0, 1, 128, 254, 255], dtype=np.uint8)),
        "mask": ("BOOL", [3], np.array([1, 0, 1], dtype=np.uint8)),
        "d": ("F64", [2], np.array([0.1, -2.5e300])),
        "scalar": ("F32", [], np.array([42.0], dtype=np.float32)),
        "empty": ("F32", [0, 3], np.zeros(0, dtype=np.float32)),
    }
    check(sorted(tensors) == sorted(want), "tensor names %r" % sorted(tensors))
    for name, (dt, shape, v) in want.items():
        if name not in tensors:
            continue
        gdt, gshape, gv = tensors[name]
        check(gdt == dt and gshape == shape, "%s: %s %r, want %s %r" % (name, gdt, gshape, dt, shape))
        check(gv.tobytes() == np.asarray(v).tobytes(),
              "%s values %r, want %r" % (name, gv, np.asarray(v)))
    # spot checks of the rounding that numpy and our writer must agree on
    f16 = tensors["x.f16"][2].view(np.uint16)
    check(f16[3] == 0x7BFF and f16[4] == 0x7BFF and f16[5] == 0x7C00, "f16 overflow rounding")


def write_st(path, tensors, meta=None, order=None):
    """tensors: list of (name, dtype, shape, bytes) in data order; header keys in `order`."""
    header, pos, blob = {}, 0, b""
    for name, dt, shape, b in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + len(b)]}
        pos += len(b)
        blob += b
    keys = order or list(header)
    obj = {}
    if meta is not None:
        obj["__metadata__"] = meta
    for k in keys:
        obj[k] = header[k]
    text = json.dumps(obj).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


def check_our_reader(tool, tmp):
    path = os.path.join(tmp, "theirs.safetensors")
    f16_bits = np.array([0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00, 0x7E00,
                         0x8000, 0x3555, 0x1234], dtype=np.uint16)
    bf16 = np.array([0x3F80, 0xC000, 0x4049, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000, 0x3EAB],
                    dtype=np.uint16)
    f32 = np.array([[1.5, -0.0], [3.4e38, 1e-45]], dtype=np.float32)
    f64 = np.array([0.1, 1e-50, -1e300, 2.0**-149 * 1.5], dtype=np.float64)
    i32 = np.array([7, -9], dtype=np.int32)
    u8 = np.array([3, 250], dtype=np.uint8)
    tensors = [
        ("half", "F16", [12], f16_bits.tobytes()),
        ("w.f64", "F64", [4], f64.tobytes()),
        ("brain", "BF16", [3, 3], bf16.tobytes()),
        ("a.f32", "F32", [2, 2], f32.tobytes()),
        ("ids", "I32", [2], i32.tobytes()),
        ("bytes", "U8", [2], u8.tobytes()),
    ]
    write_st(path, tensors, meta={"k": "v", "z": "1"},
             order=["ids", "half", "bytes", "a.f32", "brain", "w.f64"])
    out = subprocess.run([tool, "dump", path], capture_output=True, text=True)
    check(out.returncode == 0, "dump of a numpy-written file: %s" % out.stderr.strip())
    lines = out.stdout.split("\n")
    expect = {
        "half": f16_bits.view(np.float16).astype(np.float32),
        "w.f64": f64.astype(np.float32),
        "brain": (bf16.astype(np.uint32) << 16).view(np.float32),
        "a.f32": f32.reshape(-1),
        "ids": i32,
        "bytes": u8,
    }
    want = []
    for name, dt, shape, _ in sorted(tensors):
        want.append("%s %s [%s]" % (name, dt, ", ".join(str(d) for d in shape)))
        v = expect[name]
        if v.dtype == np.float32:
            want += ["%08x" % b for b in v.view(np.uint32)]
        else:
            want += [str(int(x)) for x in v]
    want += ["metadata k=v", "metadata z=1", ""]
    check(len(lines) == len(want), "dump has %d lines, want %d" % (len(lines), len(want)))
    for got, exp in zip(lines, want):
        if got != exp:
            # NaN payloads may legitimately differ; both must still be NaN
            try:
                g = np.array([int(got, 16)], dtype=np.uint32).view(np.float32)[0]
                e = np.array([int(exp, 16)], dtype=np.uint32).view(np.float32)[0]
                if np.isnan(g) and np.isnan(e):
                    continue
            except ValueError:
                pass
            check(False, "dump line %r, want %r" % (got, exp))


def check_rejects(tool, tmp):
    ok = [("a", "F32", [2], b"\0" * 8), ("b", "F32", [1], b"\0" * 4)]
    cases = {}
    path = os.path.join(tmp, "hole.safetensors")
    write_st(path, ok)
    raw = bytearray(open(path, "rb").read())
    # "b" moved 4 bytes on, leaving a hole of 4 bytes between the tensors
    text = raw[8:8 + struct.unpack("<Q", raw[:8])[0]].decode().replace("[8, 12]", "[12, 16]")
    cases["hole"] = struct.pack("<Q", len(text)) + text.encode() + b"\0" * 16
    cases["overlap"] = (struct.pack("<Q", len(text)) +
                        text.replace("[12, 16]", "[4, 8]").encode() + b"\0" * 8)
    cases["truncated"] = bytes(raw[:-3])
    cases["tiny"] = b"\x05\0\0"
    for name, blob in cases.items():
        p = os.path.join(tmp, name + ".safetensors")
        with open(p, "wb") as f:
            f.write(blob)
        out = subprocess.run([tool, "dump", p], capture_output=True, text=True)
        err = out.stderr.strip()
        check(out.returncode != 0, "%s: rejected" % name)
        check(p in err and "\n" not in err, "%s: one-line error naming the file: %r" % (name, err))


def main():
    np.seterr(over="ignore")
    tool = sys.argv[1]
    root = os.environ.get("ADAPTOR_TEST_TMP") or None
    with tempfile.TemporaryDirectory(dir=root, prefix="st_ref.") as tmp:
        check_our_writer(tool, tmp)
        check_our_reader(tool, tmp)
        check_rejects(tool, tmp)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("safetensors reference checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
