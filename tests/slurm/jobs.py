"""Shared by the tests that submit to a test Slurm (slurm_check.py, multinode_check.py):
submitting in the work folder, waiting for jobs (releasing requeued ones), reading logs and
netCDF outputs."""
import os
import shutil
import signal
import time

import netCDF4
import numpy as np

from cluster import DONE, SKIP, Cluster, Unavailable

HERE = os.path.dirname(os.path.abspath(__file__))

T0 = time.time()

# Global attributes that record how and where a file was made (src/io/provenance.c), not what
# it holds: they legitimately differ between runs on other rank counts, hosts or Slurm jobs.
PROVENANCE = ("ranks", "hosts", "blis_kernels", "threads", "config", "slurm_job_id",
              "slurm_array_task_id")


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def stop_on_signal(sig, _frame):
    """SIGTERM handler (ctest's timeout): unwinds, so the Cluster's cleanup runs."""
    raise SystemExit(f"stopped by signal {sig}")


def prepare(work, files, synth):
    """Before a Slurm test: the reason to skip (exit status SKIP), else a fresh `work` holding
    the job files `files` (from tests/slurm/) and the corpus synth() writes (a finished
    process; exit status 1 if it failed). None when ready; SIGTERM then unwinds (cleanup)."""
    why = Cluster.unavailable_reason()
    if why:
        print(f"SKIPPED: Slurm cannot run here: {why}")
        return SKIP
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for f in files:
        shutil.copy(os.path.join(HERE, f), work)  # the corpus and caches go beside them
    p = synth()
    if p.returncode != 0:
        print(f"FAILED: synth: {p.stderr[-2000:]}")
        return 1
    log("synthetic corpus written")
    signal.signal(signal.SIGTERM, stop_on_signal)
    return None


def start(cluster):
    """Starts the cluster: None, or SKIP (saying why) when Slurm does not start here."""
    try:
        cluster.__enter__()
    except Unavailable as e:
        print(f"SKIPPED: Slurm did not start: {e}")
        return SKIP
    return None


def read_nc(path):
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return {k: np.array(v[:]) for k, v in ds.variables.items()}


def nc_differences(a, b):
    """What differs between two netCDF files: every variable (values bit for bit, dimensions,
    type, attributes) and every global attribute except PROVENANCE. [] when equal."""
    out = []
    with netCDF4.Dataset(a) as x, netCDF4.Dataset(b) as y:
        x.set_auto_mask(False)
        y.set_auto_mask(False)
        if set(x.variables) != set(y.variables):
            return [f"variables {sorted(x.variables)} vs {sorted(y.variables)}"]
        for k in x.variables:
            u, v = x.variables[k], y.variables[k]
            if u.dimensions != v.dimensions or u.dtype != v.dtype or u.shape != v.shape:
                out.append(f"{k}: {u.dimensions} {u.dtype} {u.shape} vs {v.dimensions} {v.dtype} {v.shape}")
                continue
            p, q = np.array(u[:]), np.array(v[:])
            same = p.tobytes() == q.tobytes() if p.dtype != object else list(p.ravel()) == list(q.ravel())
            if not same:
                out.append(f"{k}: values differ")
            if {n: str(u.getncattr(n)) for n in u.ncattrs()} != {n: str(v.getncattr(n)) for n in v.ncattrs()}:
                out.append(f"{k}: attributes differ")
        ga = {n: str(x.getncattr(n)) for n in x.ncattrs() if n not in PROVENANCE}
        gb = {n: str(y.getncattr(n)) for n in y.ncattrs() if n not in PROVENANCE}
        out += [f"global attribute {n}: {ga.get(n)!r} vs {gb.get(n)!r}" for n in sorted(set(ga) | set(gb))
                if ga.get(n) != gb.get(n)]
    return out


def submit(cluster, cwd, *cmd, env=None):
    """Runs a submit command in cwd (the jobs' submit directory); returns its key=value line
    as a dict, or sbatch --parsable's job id."""
    p = cluster.run(*cmd, check=False, cwd=cwd, env=cluster.env(**(env or {})))
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: status {p.returncode}: {p.stderr.strip()}")
    if "=" in p.stdout:
        return dict(kv.split("=", 1) for kv in p.stdout.split())
    return p.stdout.strip().split(";")[0]


def wait_all(cluster, ids, release, timeout, on_poll):
    """Polls until every job in `ids` (array job ids cover their tasks; on_poll may add jobs)
    is finished. A job in `release` that Slurm holds after a requeue (Reason=BeginTime, ~2 minutes)
    is released a few seconds later: this only shortens the test's wait and changes nothing the
    job does. Not at once: slurmd refuses a job whose new credential has the same second as the
    revocation of the old one ("Job credential revoked"), and the job then FAILS."""
    released, seen = set(), {}
    end = time.time() + timeout
    mine = []
    while time.time() < end:
        jobs = cluster.jobs()
        on_poll(jobs)
        mine = [r for r in jobs.values() if r["JobId"] in ids or r.get("ArrayJobId") in ids]
        for r in (jobs[i] for i in release if i in jobs):
            key = (r["JobId"], r.get("Restarts", "0"))
            if r["JobState"] == "PENDING" and r.get("Reason") == "BeginTime" and key[1] != "0":
                seen.setdefault(key, time.time())
            if key in seen and key not in released and time.time() - seen[key] >= 3:
                cluster.run("scontrol", "update", f"JobId={r['JobId']}", "StartTime=now")
                released.add(key)
                log(f"job {r['JobId']} requeued (restart {r['Restarts']}): released its BeginTime hold")
        if mine and all(r["JobState"] in DONE for r in mine) and \
                all(any(r["JobId"] == i or r.get("ArrayJobId") == i for r in mine) for i in ids):
            return jobs
        time.sleep(0.5)
    raise RuntimeError(f"jobs not finished after {timeout} s: " +
                       ", ".join(f"{r['JobId']} {r['JobState']} {r.get('Reason')}" for r in mine))


def job_ok(check, rec, what):
    check(rec["JobState"] == "COMPLETED" and rec["ExitCode"] == "0:0",
          f"{what}: job {rec['JobId']} {rec['JobState']} exit {rec['ExitCode']} (log {rec.get('StdOut')})")


def slurm_log(rec):
    try:
        with open(rec["StdOut"]) as f:
            return f.read()
    except OSError:
        return ""
