#!/usr/bin/python3
"""Independent reader check: files written by our C code (tests/ref/cache_fixture_writer.c,
run on 2 ranks) opened with the netCDF4 Python library; dimensions, variables, attributes
and values checked against the formulas of tests/cache_fixture.h recomputed in numpy.

usage: cache_check.py <mpiexec> <cache_fixture_writer>"""
import os
import socket
import subprocess
import sys
import tempfile

import netCDF4
import numpy as np

F = np.float32


def value(rows, T, D):
    """cf_value: ((row*131 + t*17 + d*7) mod 1009) / 1009 - 0.5, in float32."""
    r = np.arange(rows, dtype=np.int64)[:, None, None]
    t = np.arange(T, dtype=np.int64)[None, :, None]
    d = np.arange(D, dtype=np.int64)[None, None, :]
    k = ((r * 131 + t * 17 + d * 7) % 1009).astype(F)
    return k / F(1009) - F(0.5)


def check(cond, what):
    if not cond:
        sys.exit("cache_check: FAILED: " + what)


def prov_ok(ds, path):
    """The provenance of the fixture writer's 2-rank run (no job file: empty config)."""
    check(ds.getncattr("ranks") == "2", f"{path}: ranks {ds.getncattr('ranks')!r}")
    check(ds.getncattr("hosts") == socket.gethostname(), f"{path}: hosts {ds.getncattr('hosts')!r}")
    check(ds.getncattr("config") == "", f"{path}: config")
    check(len(ds.getncattr("git_commit")) >= 7, f"{path}: git_commit")


def check_common(ds, path, modality, N, D):
    check(ds.data_model == "NETCDF4", f"{path}: data model {ds.data_model}")
    check(ds.dimensions["sample"].size == N and ds.dimensions["dim"].size == D,
          f"{path}: dimensions")
    check(int(ds.getncattr("adaptor_cache_version")) == 1, f"{path}: version")
    check(ds.getncattr("modality") == modality, f"{path}: modality")
    for a in ("encoder", "encoder_path", "arch", "output", "preprocessing", "split",
              "config", "adaptor_version"):
        check(isinstance(ds.getncattr(a), str), f"{path}: attribute {a}")
    check(ds.getncattr("split") == "train", f"{path}: split")
    prov_ok(ds, path)
    sid = ds.variables["sample_id"]
    check(sid.dtype == np.int64 and sid.dimensions == ("sample",), f"{path}: sample_id")
    check(np.array_equal(sid[:], 1000 + 3 * np.arange(N)), f"{path}: sample_id values")


def check_caches(d):
    p = os.path.join(d, "image_train.nc")
    with netCDF4.Dataset(p) as ds:
        ds.set_auto_mask(False)
        check_common(ds, p, "image", 13, 6)
        e = ds.variables["embedding"]
        check(e.dtype == F and e.dimensions == ("sample", "dim"), f"{p}: embedding")
        check(e.chunking() != "contiguous" and e.chunking()[1] == 6, f"{p}: chunks {e.chunking()}")
        check(np.array_equal(e[:], value(13, 1, 6)[:, 0, :]), f"{p}: embedding values")
        check("mask" not in ds.variables and "token" not in ds.dimensions, f"{p}: pooled")
        check(ds.getncattr("output") == "cls", f"{p}: output")
    p = os.path.join(d, "text_train.nc")
    with netCDF4.Dataset(p) as ds:
        ds.set_auto_mask(False)
        check_common(ds, p, "text", 13, 4)
        check(ds.dimensions["token"].size == 7, f"{p}: token dimension")
        e = ds.variables["embedding"]
        check(e.dimensions == ("sample", "token", "dim"), f"{p}: embedding dims")
        check(np.array_equal(e[:], value(13, 7, 4)), f"{p}: embedding values")
        length = 1 + np.arange(13) % 7
        mask = (np.arange(7)[None, :] < length[:, None]).astype(np.uint8)
        m = ds.variables["mask"]
        check(m.dtype == np.uint8 and m.dimensions == ("sample", "token"), f"{p}: mask var")
        check(np.array_equal(m[:], mask), f"{p}: mask values")
        ln = ds.variables["length"]
        check(ln.dtype == np.int32 and np.array_equal(ln[:], length), f"{p}: length")
        check(ds.getncattr("output") == "tokens", f"{p}: output")


def check_metrics(d):
    p = os.path.join(d, "metrics.nc")
    s = np.arange(1, 6, dtype=np.float64)
    expect = {"loss": 2.0 + 1.0 / s, "loss_i2t": 1.0 + s * 1e-3, "loss_t2i": 3.0 - s * 1e-3,
              "lr": 1e-4 * s, "grad_norm": 0.5 * s, "logit_scale": 2.6592 + s * 1e-4,
              "samples_per_s": 100.0 + s, "wall_time": 0.25 * s}
    with netCDF4.Dataset(p) as ds:
        ds.set_auto_mask(False)
        check(ds.dimensions["step"].isunlimited() and ds.dimensions["step"].size == 5,
              f"{p}: step dimension")
        check(int(ds.getncattr("adaptor_metrics_version")) == 1, f"{p}: version")
        prov_ok(ds, p)
        check(np.array_equal(ds.variables["step"][:], np.arange(1, 6)), f"{p}: step")
        check(np.array_equal(ds.variables["epoch"][:], np.arange(1, 6) // 4), f"{p}: epoch")
        for k, v in expect.items():
            check(np.array_equal(ds.variables[k][:], v), f"{p}: {k}")
        g = ds.groups["eval"]
        check(list(g.variables["step"][:]) == [4, 5], f"{p}: eval step")
        check(list(g.variables["split"][:]) == ["valid", "test"], f"{p}: eval split")
        check(list(g.variables["metric"][:]) == ["i2t_R@1", "loss"], f"{p}: eval metric")
        check(list(g.variables["value"][:]) == [0.125, 3.5], f"{p}: eval value")


def main():
    mpiexec, writer = sys.argv[1], sys.argv[2]
    root = os.environ.get("ADAPTOR_TEST_TMP") or None
    with tempfile.TemporaryDirectory(dir=root, prefix="cache_check.") as d:
        subprocess.run([mpiexec, "-np", "2", "--oversubscribe", "--bind-to", "none", writer, d],
                       check=True)
        check(sorted(os.listdir(d)) == ["image_train.nc", "metrics.nc", "text_train.nc"],
              f"unexpected files {os.listdir(d)}")
        check_caches(d)
        check_metrics(d)
    print("cache_check: ok")


if __name__ == "__main__":
    main()
