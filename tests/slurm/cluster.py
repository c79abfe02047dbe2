"""A private Slurm for tests: munged, slurmctld and slurmd started from a temporary directory
(own munge key and socket, own ports, own state), stopped by their PIDs.

    with Cluster(workdir) as c:       # raises Unavailable if Slurm cannot start here
        c.run("sbatch", ...)
    with Cluster(workdir, nodes=3, private={"n3": [path]}) as c:   # nodes n1..n3, one slurmd each

With nodes=N, N slurmd run on this machine as nodes n1..nN (`slurmd -N nK`, Debian builds
multiple-slurmd support), each with its own spool, port, TmpFS and PMIx directory: its own copy
of slurm.conf differing only in TmpFS, with an mpi.conf beside it (PMIxCliTmpDirBase; `%n` is
not expanded there), else both slurmstepd of an `srun -N 2 --mpi=pmix` step create the same
/tmp/spmix_appdir_<uid>_<job>.<step>. `private` gives nodes their own mount namespace
(`unshare -m`) in which each listed path is an empty tmpfs: a folder that node does not share.

Nothing outside `workdir` is touched, so it can run beside a real Slurm or another test."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SKIP = 77  # ctest SKIP_RETURN_CODE
DAEMONS = ("munged", "mungekey", "munge", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo",
           "scancel", "srun")
DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
        "DEADLINE", "OUT_OF_MEMORY"}


class Unavailable(Exception):
    """Slurm cannot run on this machine (the test is skipped, saying why)."""


def _die_with_parent():
    """In the child before exec: own session, and SIGTERM when the test process dies (even
    by SIGKILL, e.g. a ctest timeout), so no daemon outlives the test."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_records(text):
    """`scontrol show job -o` lines -> [{key: value}] (values never contain spaces but Command's)."""
    out = []
    for line in text.splitlines():
        rec = {}
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                rec.setdefault(k, v)
        if "JobId" in rec:
            out.append(rec)
    return out


class Cluster:
    def __init__(self, workdir, cpus=None, nodes=None, private=None):
        self.dir = os.path.abspath(workdir)
        self.cpus = cpus or os.cpu_count() or 1
        self.nodes = [f"n{i + 1}" for i in range(nodes)] if nodes else None
        self.private = private or {}
        self.procs = []  # (name, Popen), started in order, stopped in reverse
        self.host = socket.gethostname().split(".")[0]
        # a unix socket path has at most 107 bytes; the build tree may be deeper
        self.sockdir = os.path.join(self.dir, "munge")
        if len(self.sockdir) > 80:
            self.sockdir = tempfile.mkdtemp(prefix="adslurm-")
        self.conf = os.path.join(self.dir, "slurm.conf")

    @staticmethod
    def unavailable_reason():
        if os.geteuid() != 0:
            return "not root: slurmd and munged need root to run jobs as their users"
        missing = [d for d in DAEMONS if not shutil.which(d, path=os.environ.get("PATH", "") +
                                                          ":/usr/sbin:/sbin")]
        if missing:
            return "missing " + ", ".join(missing) + " (Debian: apt-get install slurm-wlm munge)"
        return None

    def env(self, **extra):
        e = dict(os.environ, SLURM_CONF=self.conf, PATH=os.environ.get("PATH", "") + ":/usr/sbin")
        e.update(extra)
        return e

    def run(self, *cmd, check=True, **kw):
        p = subprocess.run(list(cmd), capture_output=True, text=True, env=kw.pop("env", self.env()), **kw)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: status {p.returncode}: {p.stderr.strip()}")
        return p

    def _spawn(self, name, cmd):
        log = open(os.path.join(self.dir, name + ".out"), "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                             preexec_fn=_die_with_parent)
        log.close()
        self.procs.append((name, p))
        return p

    def _log_tail(self, name, n=15):
        try:
            with open(os.path.join(self.dir, name + ".out")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def _wait_for(self, what, cond, timeout, name):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            for n, p in self.procs:
                if p.poll() is not None:
                    raise Unavailable(f"{n} exited with status {p.returncode}:\n{self._log_tail(n)}")
            time.sleep(0.2)
        raise Unavailable(f"{what} not ready after {timeout} s:\n{self._log_tail(name)}")

    def start(self):
        why = self.unavailable_reason()
        if why:
            raise Unavailable(why)
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in ("state", "spool", "munge"):
            os.makedirs(os.path.join(self.dir, d))
        for d in (p for ps in self.private.values() for p in ps):
            os.makedirs(d, exist_ok=True)
        os.makedirs(self.sockdir, exist_ok=True)
        os.chmod(self.sockdir, 0o755)
        sock = os.path.join(self.sockdir, "munge.sock")
        key = os.path.join(self.dir, "munge", "munge.key")
        self.run("mungekey", "--create", "--keyfile", key)
        # -f: munged refuses root without it; -F: stays in the foreground so its PID is ours
        self._spawn("munged", ["munged", "-F", "-f", "-S", sock, "--key-file", key,
                               "--log-file", os.path.join(self.dir, "munge", "munged.log"),
                               "--pid-file", os.path.join(self.dir, "munge", "munged.pid"),
                               "--seed-file", os.path.join(self.dir, "munge", "munged.seed")])
        self._wait_for("munged", lambda: os.path.exists(sock), 15, "munged")
        cred = self.run("munge", "-S", sock, "-n", check=False).stdout
        if self.run("unmunge", "-S", sock, check=False, input=cred).returncode != 0:
            raise Unavailable("munge credentials do not verify")
        d = self.dir
        if self.nodes:
            spool = f"SlurmdSpoolDir={d}/spool%n\nSlurmdPidFile={d}/slurmd-%n.pid\n" \
                    f"SlurmdLogFile={d}/slurmd-%n.log\n"
            nodes = "".join(f"NodeName={n} NodeHostname={self.host} Port={free_port()} "
                            f"CPUs={self.cpus} RealMemory=1000 State=UNKNOWN\n" for n in self.nodes)
            names = ",".join(self.nodes)
        else:
            spool = f"SlurmdSpoolDir={d}/spool\nSlurmdPidFile={d}/slurmd.pid\nSlurmdLogFile={d}/slurmd.log\n"
            nodes = f"NodeName={self.host} CPUs={self.cpus} RealMemory=1000 State=UNKNOWN\n"
            names = self.host
        # KillWait=5: when a rank dies, its peers (blocked in a collective, where SIGTERM cannot
        # stop them) get SIGKILL 5 s after SIGTERM rather than Slurm's default 30.
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=adaptortest
SlurmctldHost={self.host}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmctldPidFile={d}/slurmctld.pid
SlurmctldLogFile={d}/slurmctld.log
{spool}MailProg=/bin/true
ReturnToService=2
MpiDefault=none
MinJobAge=3600
KillWait=5
{nodes}PartitionName=debug Nodes={names} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        # -D: foreground (our PID); -i: a fresh state directory has no state files to read
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        for n in self.nodes or []:
            self._spawn(f"slurmd-{n}", self._node_cmd(n))
        if not self.nodes:
            self._spawn("slurmd", ["slurmd", "-D"])

        def idle():
            p = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
            states = p.stdout.split()
            return p.returncode == 0 and states and all(t == "idle" for t in states)
        self._wait_for("the nodes (sinfo: idle)", idle, 40, f"slurmd-{self.nodes[-1]}" if self.nodes else "slurmd")

    def _node_cmd(self, n):
        """One node's slurmd: its own slurm.conf (TmpFS) and mpi.conf in <dir>/<node>/."""
        d = os.path.join(self.dir, n)
        tmp = os.path.join(self.dir, "tmp" + n)
        for sub in (d, tmp, os.path.join(self.dir, "spool" + n)):
            os.makedirs(sub, exist_ok=True)
        conf = os.path.join(d, "slurm.conf")
        # Real nodes each have their own /tmp, where Open MPI keeps its session directory
        # (shared-memory backing files per job family and rank): on one host, tasks of
        # concurrent jobs on different "nodes" could meet there. TaskProlog's "export" lines
        # set the tasks' environment: TMPDIR is the node's own folder.
        prolog = os.path.join(d, "taskprolog.sh")
        with open(prolog, "w") as g:
            g.write(f"#!/bin/sh\necho 'export TMPDIR={tmp}'\n")
        os.chmod(prolog, 0o755)
        with open(self.conf) as f, open(conf, "w") as g:
            g.write(f.read() + f"TmpFS={tmp}\nTaskProlog={prolog}\n")
        with open(os.path.join(d, "mpi.conf"), "w") as g:
            g.write(f"PMIxCliTmpDirBase={tmp}\n")
        cmd = ["slurmd", "-D", "-f", conf, "-N", n]
        if n not in self.private:
            return cmd
        # its own mount namespace (slurmstepd and the tasks inherit it): each path an empty tmpfs
        mounts = " && ".join(f"mount -t tmpfs adaptor-private-{n} '{p}'" for p in self.private[n])
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                mounts + ' && exec "$@"', "sh"] + cmd

    def jobs(self):
        """{JobId: record} for every job slurmctld knows (array tasks are separate records)."""
        p = self.run("scontrol", "-o", "show", "job", check=False)
        return {r["JobId"]: r for r in parse_records(p.stdout)} if p.returncode == 0 else {}

    def stop(self):
        if any(n == "slurmctld" and p.poll() is None for n, p in self.procs):
            self.run("scancel", "--user", "root", check=False, timeout=30)
            end = time.time() + 20
            while time.time() < end and any(r.get("JobState") not in DONE for r in self.jobs().values()):
                time.sleep(0.5)
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if not self.sockdir.startswith(self.dir):
            shutil.rmtree(self.sockdir, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
