#!/usr/bin/python3
"""The Slurm scripts' own logic, without Slurm: stand-ins for sbatch, scontrol, srun, mpirun and
adaptor record what they are given. Bad job files fail at once with one line (before any
sbatch; inside the batch scripts before any launch); pipeline.sh chains afterok and shares the
run dir; sweep.sh maps array index -> job file over the paper's grid; a batch script picks its
array task's job file, run dir and launcher; pretrain.sbatch forwards USR1, requeues on exit
status 3 and resumes when its run dir has checkpoints.

usage: submit_check.py SOURCE_DIR WORKDIR"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from clitest import Checks  # noqa: E402

SRC, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SLURM = os.path.join(SRC, "slurm")
BIN = os.path.join(WORK, "bin")
check = Checks()

STUB_LOG = """import json, os, sys
with open(os.path.join(os.environ["STUB_DIR"], NAME + ".log"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "env": {k: os.environ.get(k) for k in
            ("AD_RUN_ID", "AD_RUN_ROOT", "AD_RUN_DIR", "OMP_NUM_THREADS", "BLIS_NUM_THREADS", "PMIX_MCA_gds")}}) + "\\n")
"""
STUBS = {
    "sbatch": STUB_LOG + """
n = sum(1 for _ in open(os.path.join(os.environ["STUB_DIR"], "sbatch.log")))
print(f"{99 + n};cluster")  # --parsable on a multi-cluster setup adds ';cluster'
""",
    "scontrol": STUB_LOG,
    "adaptor": STUB_LOG + """
import signal, time
mode = os.environ.get("STUB_MODE", "ok")
if mode == "wait_usr1":
    signal.signal(signal.SIGUSR1, lambda *a: sys.exit(3))  # checkpoint, then status 3
    open(os.path.join(os.environ["STUB_DIR"], "ready"), "w").close()
    time.sleep(60)
    sys.exit(9)
sys.exit({"ok": 0, "fail": 1, "stopped": 3}[mode])
""",
}
SHELL_STUBS = {
    # srun offers pmix only when STUB_PMIX=1; as a launcher it runs the command once, after its
    # options, which must include --kill-on-bad-exit=1 (a lost rank ends the step)
    "srun": """#!/bin/bash
if [ "$1" = --mpi=list ]; then
  [ "${STUB_PMIX:-1}" = 1 ] && echo "MPI plugin types are... pmix none" || echo "MPI plugin types are... none pmi2"
  exit 0
fi
kill=0
while [ "${1#-}" != "$1" ]; do [ "$1" = --kill-on-bad-exit=1 ] && kill=1; shift; done
[ $kill = 1 ] || { echo "srun stub: no --kill-on-bad-exit=1" >&2; exit 99; }
exec "$@"
""",
    "mpirun": "#!/bin/bash\nexec \"$@\"\n",
}


def setup():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(BIN)
    for name, body in STUBS.items():
        with open(os.path.join(BIN, name), "w") as f:
            f.write(f"#!{sys.executable}\nNAME = {name!r}\n" + body)
    for name, body in SHELL_STUBS.items():
        with open(os.path.join(BIN, name), "w") as f:
            f.write(body)
    for name in list(STUBS) + list(SHELL_STUBS):
        os.chmod(os.path.join(BIN, name), 0o755)
    for name in ("a.ini", "b.ini"):
        with open(os.path.join(WORK, name), "w") as f:
            f.write("[train]\nepochs = 1\n")


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "AD_", "OMP_", "BLIS_", "PMIX_"))}
    e.update(PATH=BIN + ":" + os.environ["PATH"], STUB_DIR=WORK, ADAPTOR=os.path.join(BIN, "adaptor"),
             AD_RUN_ROOT=os.path.join(WORK, "runs"))
    e.update(extra)
    return e


def records(name):
    path = os.path.join(WORK, name + ".log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        recs = [json.loads(line) for line in f]
    os.remove(path)
    return recs


def run(*cmd, **extra):
    return subprocess.run(list(cmd), capture_output=True, text=True, cwd=WORK, env=env(**extra), timeout=60)


def one_line_error(p, what, needle):
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and "error" in lines[0] and needle in lines[0],
          f"{what}: status {p.returncode}, stderr {p.stderr!r}")


setup()
a, b = os.path.join(WORK, "a.ini"), os.path.join(WORK, "b.ini")
sbatch_scripts = sorted(glob.glob(os.path.join(SLURM, "*.sbatch")))
check(len(sbatch_scripts) >= 5, f"batch scripts: {sbatch_scripts}")

# 1. bad input: one line, status 2, nothing submitted or launched
for cmd, needle in [((os.path.join(SLURM, "pipeline.sh"), "missing.ini"), "missing.ini"),
                    ((os.path.join(SLURM, "sweep.sh"), a, "missing.ini"), "missing.ini"),
                    ((os.path.join(SLURM, "pipeline.sh"), a, "--set", "lr"), "lr"),
                    ((os.path.join(SLURM, "pipeline.sh"), a, b), "sweep.sh"),
                    ((os.path.join(SLURM, "pipeline.sh"), a, "--bogus"), "--bogus")]:
    one_line_error(run(*cmd), " ".join(os.path.basename(c) for c in cmd), needle)
check(records("sbatch") == [], "sbatch was called for bad input")
for script in sbatch_scripts:
    one_line_error(run("bash", script, "missing.ini", SLURM_JOB_ID="5"), os.path.basename(script), "missing.ini")
    one_line_error(run("bash", script, a, b, SLURM_JOB_ID="5"), os.path.basename(script) + " a b (no array)",
                   "not a job array")
    one_line_error(run("bash", script, a, b, SLURM_JOB_ID="5", SLURM_ARRAY_JOB_ID="5", SLURM_ARRAY_TASK_ID="2"),
                   os.path.basename(script) + " task 2 of 2", "array task 2")
check(records("adaptor") == [], "adaptor was launched for bad input")

# 2. pipeline.sh: afterok chain, one run dir named by the embed job
p = run(os.path.join(SLURM, "pipeline.sh"), "a.ini", "--set", "train.lr=1e-3", AD_SBATCH_ARGS="-p debug -A proj",
        AD_SBATCH_PRETRAIN_ARGS="--time=2:00:00")
check(p.returncode == 0, f"pipeline.sh: {p.stderr}")
subs = records("sbatch")
check(len(subs) == 3, f"pipeline.sh made {len(subs)} submissions")
if len(subs) == 3:
    scripts = [next((x for x in s["argv"] if x.endswith(".sbatch")), "") for s in subs]
    check([os.path.basename(s) for s in scripts] == ["embed.sbatch", "pretrain.sbatch", "eval.sbatch"],
          f"pipeline.sh scripts {scripts}")
    for s in subs:
        tail = s["argv"][s["argv"].index(next(x for x in s["argv"] if x.endswith(".sbatch"))) + 1:]
        check(tail == [a, "--set", "train.lr=1e-3"], f"pipeline.sh job arguments {tail}")
        check("--parsable" in s["argv"] and "-p" in s["argv"] and "proj" in s["argv"],
              f"pipeline.sh sbatch options {s['argv']}")
    check(not any(x.startswith("--dependency") for x in subs[0]["argv"]), "embed has a dependency")
    check("--dependency=afterok:100" in subs[1]["argv"] and "--time=2:00:00" in subs[1]["argv"],
          f"pretrain options {subs[1]['argv']}")
    check("--dependency=afterok:101" in subs[2]["argv"] and "--time=2:00:00" not in subs[2]["argv"],
          f"eval options {subs[2]['argv']}")
    check(subs[0]["env"]["AD_RUN_ID"] is None and subs[1]["env"]["AD_RUN_ID"] == "100" ==
          subs[2]["env"]["AD_RUN_ID"], f"run ids {[s['env']['AD_RUN_ID'] for s in subs]}")
check(f"run_dir={WORK}/runs/100" in p.stdout and "embed=100 pretrain=101 eval=102" in p.stdout,
      f"pipeline.sh printed {p.stdout!r}")

# 3. sweep.sh: the paper's grid by default, array index i -> job file i
grid = sorted(f for f in glob.glob(os.path.join(SRC, "jobs", "paper", "*-*.ini"))
              if "include = mimic.ini" in open(f).read())  # 4 image x 5 text encoders
p = run(os.path.join(SLURM, "sweep.sh"), "--set", "train.epochs=1")
check(p.returncode == 0, f"sweep.sh: {p.stderr}")
subs = records("sbatch")
check(len(grid) == 20 and len(subs) == 3, f"sweep.sh: {len(grid)} grid jobs, {len(subs)} submissions")
for k, s in enumerate(subs):
    argv = s["argv"]
    i = next((j for j, x in enumerate(argv) if x.endswith(".sbatch")), len(argv))
    check(argv[i + 1:] == grid + ["--set", "train.epochs=1"], f"sweep.sh job list {argv[i + 1:]}")
    array = [x for x in argv if x.startswith("--array=")]
    check(array == ["--array=0-19%1" if k == 0 else "--array=0-19"], f"sweep.sh arrays {array}")
    if k:
        check(f"--dependency=aftercorr:{99 + k}" in argv and s["env"]["AD_RUN_ID"] == "100",
              f"sweep.sh submission {k}: {argv}, AD_RUN_ID {s['env']['AD_RUN_ID']}")
check("jobs=20" in p.stdout, f"sweep.sh printed {p.stdout!r}")

# 4. in a batch script: array task -> job file, run dir, launcher, threads
arr = dict(SLURM_JOB_ID="77", SLURM_ARRAY_JOB_ID="70", SLURM_ARRAY_TASK_ID="1")
p = run("bash", os.path.join(SLURM, "eval.sbatch"), "a.ini", "b.ini", "--set", "eval.splits=test", **arr)
rec = records("adaptor")
check(p.returncode == 0 and len(rec) == 1, f"eval.sbatch array task: {p.stderr}")
if rec:
    check(rec[0]["argv"] == ["eval", b, "--set", "eval.splits=test", "--set", f"output.dir={WORK}/runs/70_1"],
          f"eval.sbatch task 1 ran {rec[0]['argv']}")
    check(rec[0]["env"]["OMP_NUM_THREADS"] == "1" and rec[0]["env"]["BLIS_NUM_THREADS"] == "1",
          f"threads {rec[0]['env']}")
    check(rec[0]["env"].get("PMIX_MCA_gds") == "hash", f"srun step without PMIX_MCA_gds=hash: {rec[0]['env']}")
check("launching with srun --mpi=pmix" in p.stderr and "PMIX_MCA_gds=hash" in p.stderr,
      f"launcher with pmix: {p.stderr}")
p = run("bash", os.path.join(SLURM, "eval.sbatch"), "a.ini", **arr, PMIX_MCA_gds="ds12")
rec = records("adaptor")
check(p.returncode == 0 and rec and rec[0]["env"].get("PMIX_MCA_gds") == "ds12",
      f"the user's PMIX_MCA_gds was not kept: {p.stderr}")
p = run("bash", os.path.join(SLURM, "embed.sbatch"), "a.ini", "--set", f"output.dir={WORK}/mine",
        SLURM_JOB_ID="78", STUB_PMIX="0", OMP_NUM_THREADS="4")
rec = records("adaptor")
check(p.returncode == 0 and "launching with mpirun" in p.stderr, f"launcher without pmix: {p.stderr}")
if rec:
    check(rec[0]["argv"][-1] == f"output.dir={WORK}/mine" and rec[0]["env"]["OMP_NUM_THREADS"] == "4",
          f"embed.sbatch with output.dir and OMP_NUM_THREADS=4: {rec[0]}")

# 5. pretrain.sbatch: USR1 -> forwarded -> status 3 -> requeue; then --resume from checkpoints
job = dict(SLURM_JOB_ID="90", STUB_MODE="wait_usr1")
proc = subprocess.Popen(["bash", os.path.join(SLURM, "pretrain.sbatch"), "a.ini"], cwd=WORK, env=env(**job),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
end = time.time() + 30
while time.time() < end and not os.path.exists(os.path.join(WORK, "ready")):
    time.sleep(0.05)
proc.send_signal(signal.SIGUSR1)  # what Slurm's --signal=B:USR1 does: the batch shell only
out, err = proc.communicate(timeout=30)
rec, req = records("adaptor"), records("scontrol")
check(proc.returncode == 3 and "got SIGUSR1" in err, f"pretrain.sbatch after USR1: status {proc.returncode}, {err}")
check(len(rec) == 1 and "--resume" not in rec[0]["argv"], f"first run: {rec}")
check([r["argv"] for r in req if r["argv"][:1] == ["requeue"]] == [["requeue", "90"]],
      f"scontrol calls {[r['argv'] for r in req]}")
os.makedirs(os.path.join(WORK, "runs", "90", "checkpoints"), exist_ok=True)
p = run("bash", os.path.join(SLURM, "pretrain.sbatch"), "a.ini", SLURM_JOB_ID="90", SLURM_RESTART_COUNT="1")
rec, req = records("adaptor"), records("scontrol")
check(p.returncode == 0 and rec and rec[0]["argv"][-1] == "--resume", f"requeued run: {p.stderr} {rec}")
check(not any(r["argv"][:1] == ["requeue"] for r in req), "a finished run was requeued")
p = run("bash", os.path.join(SLURM, "pretrain.sbatch"), "a.ini", SLURM_JOB_ID="91", STUB_MODE="fail")
req = records("scontrol")
records("adaptor")
check(p.returncode == 1 and not any(r["argv"][:1] == ["requeue"] for r in req), f"a failed run: {p.returncode} {req}")
p = run("bash", os.path.join(SLURM, "pretrain.sbatch"), "a.ini", SLURM_JOB_ID="92", STUB_MODE="stopped")
req = records("scontrol")
check(p.returncode == 3 and [r["argv"] for r in req if r["argv"][:1] == ["requeue"]] == [["requeue", "92"]],
      f"status 3 without a signal (e.g. SIGTERM to the ranks) is requeued too: {p.returncode} {req}")

check.finish()
