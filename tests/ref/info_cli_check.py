#!/usr/bin/python3
"""CLI test of `adaptor info`: a safetensors file written here with struct + json + numpy,
netCDF files written with netCDF4-python (netCDF-4/HDF5 and classic), the lines expected
from what this script put in them, and one-line errors with a non-zero exit for bad files.

Needs ADAPTOR_BIN (the executable) and ADAPTOR_TEST_TMP from ctest's environment."""
import json
import re
import os
import struct
import subprocess
import sys
import tempfile

import netCDF4
import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    # Open MPI's start-up leaks (dlopen'ed components LeakSanitizer cannot name) would turn
    # every exit status of a sanitizer build into 23; the unit tests and st_ref_tool cover
    # leaks in our own code.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    return subprocess.run([os.environ["ADAPTOR_BIN"], "info", *args], capture_output=True,
                          text=True, env=env)


def make_safetensors(path):
    tensors = [("encoder.layer.0.w", "F32", [3, 4]), ("bias", "BF16", [4]),
               ("embed", "F16", [2, 3, 2]), ("steps", "I64", []), ("mask", "BOOL", [0])]
    size = {"F32": 4, "BF16": 2, "F16": 2, "I64": 8, "BOOL": 1}
    header, pos = {"__metadata__": {"format": "pt", "note": "two\nlines"}}, 0
    for name, dt, shape in tensors:
        n = int(np.prod(shape, dtype=np.int64)) * size[dt]
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + n]}
        pos += n
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(range(pos)))
    lines = ["== %s (safetensors, %d tensors)" % (path, len(tensors)),
             "metadata format: pt", "metadata note: two ..."]
    for name, dt, shape in sorted(tensors):
        lines.append("%s %s [%s]" % (name, dt, ", ".join(str(d) for d in shape)))
    total = sum(int(np.prod(s, dtype=np.int64)) for _, _, s in tensors)
    lines.append("total parameters: %d" % total)
    return lines


NC_TYPE = {np.dtype("float32"): "float", np.dtype("float64"): "double",
           np.dtype("int32"): "int", np.dtype("uint8"): "ubyte", np.dtype("int16"): "short"}


def make_netcdf(path, fmt):
    ds = netCDF4.Dataset(path, "w", format=fmt)
    dims = [("epoch", None, 3), ("x", 4, 4), ("y", 2, 2)]
    for name, size, _ in dims:
        ds.createDimension(name, size)
    variables = [("loss", "f4", ("epoch",)), ("image", "i2" if fmt.startswith("NETCDF3") else "u1",
                                               ("epoch", "y", "x")),
                 ("step", "i4", ()), ("grid", "f8", ("x", "y"))]
    for name, dt, vd in variables:
        v = ds.createVariable(name, dt, vd)
        if name == "loss":
            v[:] = np.arange(3, dtype=np.float32)
    long_title = "Adaptor metrics " + "x" * 150
    ds.setncattr("title", long_title + "\nsecond line")
    ds.setncattr("run", "short")
    ds.setncattr("version", np.int32(3))
    ds.setncattr("scales", np.array([0.5, 2.25], dtype=np.float64))
    ds.close()
    kind = {"NETCDF4": "netCDF-4", "NETCDF3_CLASSIC": "netCDF classic"}[fmt]
    lines = ["== %s (%s, %d dimensions, %d variables, %d global attributes)"
             % (path, kind, len(dims), len(variables), 4)]
    sizes = {}
    for name, size, length in dims:
        sizes[name] = length
        lines.append("dimension %s = %d%s" % (name, length, "" if size else " (unlimited)"))
    for name, dt, vd in variables:
        lines.append("variable %s %s [%s]" % (name, NC_TYPE[np.dtype(dt)],
                                              ", ".join("%s=%d" % (d, sizes[d]) for d in vd)))
    lines += ['attribute title = "%s ..."' % long_title[:100], 'attribute run = "short"',
              "attribute version = 3", "attribute scales = 0.5, 2.25"]
    return lines


def main():
    root = os.environ.get("ADAPTOR_TEST_TMP") or None
    with tempfile.TemporaryDirectory(dir=root, prefix="info_cli.") as tmp:
        st = os.path.join(tmp, "model.safetensors")
        nc4 = os.path.join(tmp, "metrics.nc")
        nc3 = os.path.join(tmp, "classic.nc")
        want = make_safetensors(st)
        want4 = make_netcdf(nc4, "NETCDF4")
        want3 = make_netcdf(nc3, "NETCDF3_CLASSIC")
        with open(nc3, "rb") as f:
            check(f.read(4) == b"CDF\x01", "classic file starts with CDF\\x01")

        for args, expect in [([st], want), ([nc4], want4), ([st, nc3], want + [""] + want3)]:
            out = run(*args)
            got = out.stdout.rstrip("\n").split("\n")
            check(out.returncode == 0, "info %s exit %d: %s" % (args, out.returncode, out.stderr))
            check(got == expect, "info %s printed\n  %s\nwant\n  %s"
                  % (args, "\n  ".join(got), "\n  ".join(expect)))

        # a folder is read as a safetensors model folder
        out = run(tmp)
        check(out.returncode == 0 and out.stdout.split("\n")[0] ==
              "== %s (safetensors, 5 tensors)" % tmp, "folder: %r %r" % (out.stdout, out.stderr))

        bad = {"garbage.bin": b"hello, this is not a tensor file\n",
               "cut.safetensors": open(st, "rb").read()[:-5],
               "empty.nc": b"CDF\x01"}
        for name, blob in bad.items():
            p = os.path.join(tmp, name)
            with open(p, "wb") as f:
                f.write(blob)
            out = run(p)
            err = out.stderr.rstrip("\n")
            check(out.returncode != 0, "%s: non-zero exit" % name)
            check(out.stdout == "", "%s: nothing on stdout (%r)" % (name, out.stdout))
            check(err.count("\n") == 0 and p in err and
                  re.match(r"\d{4}-\d\d-\d\dT[\d:]{8} \+[\d:]+ adaptor: error: ", err),
                  "%s: one-line error naming the file: %r" % (name, err))
        out = run(os.path.join(tmp, "missing.safetensors"))
        check(out.returncode != 0 and "missing.safetensors" in out.stderr, "missing file")
        out = run()
        check(out.returncode == 2, "no FILE is a usage error (exit %d)" % out.returncode)
        out = run("--help")
        check(out.returncode == 0 and out.stdout.startswith("usage: adaptor info"), "--help")

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("adaptor info checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
