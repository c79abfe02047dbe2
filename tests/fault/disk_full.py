#!/usr/bin/python3
"""A full disk ends the job instead of hanging it (issue 14, item 1), on small tmpfs mounts:

1. embed with [cache] dir on a 150 kB tmpfs (240 rows, part_rows = 64, 2 ranks) stops on
   every rank within 30 s with one error line naming the cache file and "No space left on
   device"; no temporary file stays behind, every part left validates, and a second embed
   does not take anything partial as complete (it fails the same way).
   Then with [cache] writer = parallel on a fresh 150 kB tmpfs holding an earlier (stale)
   train cache: parts written in parallel, the same one line within 30 s, and the earlier
   cache byte for byte intact.
   Then, parallel writer, the writes of rank 1 only failing (FAIL_WRITE, an LD_PRELOAD shim:
   parallel HDF5 then leaves the ranks waiting in different collectives inside one call):
   with [cache] write_timeout = 5 the job ends within 30 s, non-zero, with one line naming
   the file, no temporary file, the earlier cache intact.
2. checkpoints (safetensors) and metrics.nc on a full output folder name the file and the
   system's reason (full_writer).

Mounting needs root (CAP_SYS_ADMIN); without it the test says so and exits 77 (skipped).
usage: disk_full.py MPIEXEC ADAPTOR FULL_WRITER WORKDIR FAIL_WRITE"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import netCDF4

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from clitest import ENV, LABELS, Checks, error_lines, errors, mpirun, synth_job  # noqa: E402

MPI, ADAPTOR, WRITER, WORK, FAIL_WRITE = (os.path.abspath(a) for a in sys.argv[1:6])
check = Checks()
mounts = []


def mount(path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(f"skipped: cannot mount a {size} tmpfs on {path} (needs root or CAP_SYS_ADMIN): "
              f"{p.stderr.strip()}")
        sys.exit(77)
    mounts.append(path)


def unmount_all():
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", m], capture_output=True)
    mounts.clear()


def preload(lib):
    """LD_PRELOAD for lib; a sanitizer build needs ASan's runtime first."""
    out = subprocess.run(["ldd", ADAPTOR], capture_output=True, text=True).stdout
    asan = [l.split("=>")[1].split()[0] for l in out.splitlines() if "libasan" in l and "=>" in l]
    return ":".join(asan + [lib])


def embed(timeout, *extra):
    """embed under mpirun in its own session, so a hang is killed with every rank."""
    t0 = time.time()
    cmd = [MPI, "-np", "2", "--oversubscribe", *extra, ADAPTOR, "embed", "job.ini"]
    p = subprocess.Popen(cmd, cwd=WORK, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        print(f"embed: exit status {p.returncode} after {time.time() - t0:.1f} s")
        return p.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, ""


def disk_full_embed():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    p = mpirun(MPI, ADAPTOR, 2, "synth", "corpus", "--n", "240", "--seed", "7", cwd=WORK)
    check(p.returncode == 0, f"synth: {errors(p)}")
    job = {"data": {"label_columns": LABELS}, "text_encoder": {"batch_size": 7},
           "image_encoder": {"batch_size": 5}, "cache": {"dir": "small/cache", "part_rows": 64}}
    synth_job(os.path.join(WORK, "job.ini"), job)
    small = os.path.join(WORK, "small")
    mount(small, "150k")
    for attempt in (1, 2):
        if not embed_fails(f"embed #{attempt}", small):
            return
    # An earlier cache of the train split (stale: it holds only the first part's rows, so
    # embed writes it again) must survive the parallel writer's failure byte for byte.
    parts = glob.glob(os.path.join(small, "cache", "*.parts", "0+*.nc"))
    check(len(parts) == 1, f"a first part to plant as the earlier cache: {parts}")
    with open(parts[0], "rb") as f:
        earlier = f.read()
    final = os.path.join(small, "cache", os.path.basename(os.path.dirname(parts[0]))[:-6])
    unmount_all()
    mount(small, "150k")
    os.makedirs(os.path.join(small, "cache"))
    with open(final, "wb") as f:
        f.write(earlier)
    job["cache"]["writer"] = "parallel"
    synth_job(os.path.join(WORK, "job.ini"), job)
    if embed_fails("parallel writer", small):
        written = glob.glob(os.path.join(small, "cache", "*.parts", "*.nc"))
        check(written, "parallel writer: wrote parts before the disk filled")
        with open(final, "rb") as f:
            check(f.read() == earlier, f"parallel writer: the earlier {final} is intact")
    unmount_all()
    one_rank_fails(job, earlier, os.path.basename(final))


def one_rank_fails(job, earlier, name):
    cache = os.path.join(WORK, "cache_fw")
    os.makedirs(cache)
    final = os.path.join(cache, name)
    with open(final, "wb") as f:
        f.write(earlier)
    job["cache"].update(dir="cache_fw", write_timeout=5)
    synth_job(os.path.join(WORK, "job.ini"), job)
    rc, err = embed(30, "-x", f"LD_PRELOAD={preload(FAIL_WRITE)}", "-x", "AD_TEST_FAIL_RANK=1")
    what = "writes failing on rank 1 only"
    check(rc is not None, f"{what}: ended within 30 s (it hung)")  # embed() gives None on a timeout
    lines = error_lines(err)
    check(rc not in (0, None), f"{what}: exit status {rc} is non-zero")
    check(len(lines) == 1 and "/cache_fw/" in lines[0] and "did not return within 5 s" in lines[0],
          f"{what}: one line naming the file and the stuck call: {lines or err[-600:]}")
    leftovers = glob.glob(os.path.join(cache, "**", "*.tmp.*"), recursive=True)
    check(not leftovers, f"{what}: no temporary files left: {leftovers}")
    with open(final, "rb") as f:
        check(f.read() == earlier, f"{what}: the earlier {final} is intact")


def embed_fails(what, small):
    """One embed on the full disk: ends within 30 s, non-zero, with one line naming the
    file and ENOSPC; leaves no temporary file and only complete caches. False if it hung."""
    rc, err = embed(30)
    check(rc is not None, f"{what} ended within 30 s (it hung)")
    if rc is None:
        return False
    # adaptor's own error lines (timestamped); Open MPI's "mpiexec detected" banner is not one.
    lines = error_lines(err)
    check(rc != 0, f"{what}: exit status {rc} is non-zero")
    check(len(lines) == 1, f"{what}: one error line: {lines or err[-400:]}")
    check(any("No space left on device" in l and "/small/cache/" in l and ".nc" in l
              for l in lines), f"{what}: names the file and ENOSPC: {lines}")
    leftovers = glob.glob(os.path.join(small, "cache", "**", "*.tmp.*"), recursive=True)
    check(not leftovers, f"{what}: no temporary files left: {leftovers}")
    # What stays is complete: every final cache and part opens with all its rows.
    for f in glob.glob(os.path.join(small, "cache", "**", "*.nc"), recursive=True):
        try:
            with netCDF4.Dataset(f) as ds:
                ds.set_auto_mask(False)
                ids = ds.variables["sample_id"][:]
                ok = len(ids) == ds.dimensions["sample"].size and len(set(ids)) == len(ids)
        except Exception as e:  # noqa: BLE001 - any failure to read is the finding
            ok = False
            print(f"{f}: {e}")
        check(ok, f"{what}: {os.path.relpath(f, WORK)} is a complete cache")
    return True


def full_output_folder():
    out = os.path.join(WORK, "out")
    mount(out, "64k")
    p = subprocess.run([WRITER, out], capture_output=True, text=True, env=ENV, timeout=60)
    print(p.stdout, end="")
    check(p.returncode == 0, f"full_writer: {p.stdout[-600:]} {p.stderr[-600:]}")
    unmount_all()


try:
    disk_full_embed()
    full_output_folder()
finally:
    unmount_all()
check.finish()
