"""A single-node SLURM cluster started for a test: munged, slurmctld and slurmd from Debian's
packages (slurm-wlm, munge), run as root without systemd, everything under one folder.

``LocalSlurm(folder).start()`` writes a ``slurm.conf`` describing this machine as it is
(``slurmd -C``: its CPUs and real memory), links it at SLURM's default place
(``/etc/slurm/slurm.conf``, which must not exist before: the commands that run inside jobs
look there), starts the three daemons on free local ports and waits until the node is idle;
``stop()`` ends exactly the processes it started and removes the link. Jobs run as
root, without cgroups or accounting: job status comes from ``squeue`` (finished jobs stay
visible for ``MIN_JOB_AGE`` seconds) and every finished job is written, by slurmctld itself,
to the job completion log (``jobcomp/filetxt``) that ``completed_jobs()`` reads.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "debug"
MIN_JOB_AGE = 3600
# Where SLURM's commands look for the configuration when SLURM_CONF is not set: the job step
# that Snakemake starts inside each job (srun) runs with the SLURM_* variables cleared.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


def missing_requirement() -> str | None:
    """Why a local SLURM cannot be started here, or None when it can (possibly after
    ``install()``)."""
    if os.geteuid() != 0:
        return "starting SLURM's daemons needs root"
    if all(shutil.which(d, path=os.pathsep.join(sbin_path())) for d in DAEMONS):
        return None
    if shutil.which("apt-get") is None:
        return "slurm-wlm and munge are not installed and there is no apt-get to install them"
    return None


def conf_in_the_way() -> str | None:
    """Why the cluster's configuration cannot take SLURM's default place, or None. A link
    to a configuration that no longer exists (left by a run that was killed) is removed."""
    if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
        DEFAULT_CONF.unlink()
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        return f"{DEFAULT_CONF} exists (a SLURM is configured here): not replacing it"
    return None


def sbin_path() -> list[str]:
    return [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"]


def install() -> str | None:
    """Install Debian's slurm-wlm and munge when a daemon is missing; the reason on failure."""
    if all(shutil.which(d, path=os.pathsep.join(sbin_path())) for d in DAEMONS):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {(result.stderr or result.stdout)[-500:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_line() -> str:
    """This machine as slurmd sees it: ``NodeName=... CPUs=... RealMemory=...``."""
    output = subprocess.run(
        [daemon("slurmd"), "-C"], capture_output=True, text=True, check=True
    ).stdout
    return next(line for line in output.splitlines() if line.startswith("NodeName="))


def daemon(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join(sbin_path()))
    if path is None:
        raise FileNotFoundError(name)
    return path


class LocalSlurm:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.conf = self.folder / "slurm.conf"
        self.jobcomp = self.folder / "jobcomp.log"
        self.socket = self.folder / "munge" / "munge.socket"
        self._popen: dict[str, subprocess.Popen] = {}
        self.linked_conf = False

    @property
    def env(self) -> dict[str, str]:
        """Variables that point SLURM's commands (sbatch, squeue, srun, ...) at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def write_conf(self) -> None:
        node = node_line()
        self.node = node.split()[0].removeprefix("NodeName=")
        self.real_memory_mb = int(
            next(p for p in node.split() if p.startswith("RealMemory=")).split("=")[1]
        )
        folder = self.folder
        lines = [
            "ClusterName=poolstudy",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp}",
            f"MinJobAge={MIN_JOB_AGE}",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            # the node as it is: its CPUs and its real memory, as `slurmd -C` reports them
            f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> LocalSlurm:
        for sub in ("state", "spool", "munge"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder / "munge", 0o700)
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        os.chmod(key, 0o600)
        self.write_conf()
        reason = conf_in_the_way()
        if reason is not None:
            raise RuntimeError(reason)
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked_conf = True
        munge = self.folder / "munge"
        self.spawn(
            "munged",
            [
                daemon("munged"),
                "--foreground",
                "--force",
                f"--socket={self.socket}",
                f"--key-file={key}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
        )
        self.wait_for(lambda: self.socket.exists(), "munged's socket")
        self.spawn("slurmctld", [daemon("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self.wait_for(lambda: self.run("scontrol", "ping").returncode == 0, "slurmctld")
        self.spawn("slurmd", [daemon("slurmd"), "-D", "-f", str(self.conf)])
        self.wait_for(self.node_idle, "the node to be idle")
        return self

    def spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.folder / f"{name}.out", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._popen[name] = process

    def run(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(cmd), env={**os.environ, **self.env}, capture_output=True, text=True
        )

    def node_idle(self) -> bool:
        result = self.run("sinfo", "--noheader", "--format=%t")
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def wait_for(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self._popen.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.log")) + sorted(self.folder.glob("*.out")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """End the daemons this object started (slurmd, slurmctld, then munged)."""
        for name in reversed(list(self._popen)):
            process = self._popen[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._popen = {}
        if self.linked_conf and DEFAULT_CONF.is_symlink():
            if DEFAULT_CONF.resolve() == self.conf.resolve():
                DEFAULT_CONF.unlink()
            self.linked_conf = False

    def completed_jobs(self) -> list[dict[str, str]]:
        """slurmctld's record of every finished job (the job completion log), as dicts."""
        if not self.jobcomp.exists():
            return []
        jobs = []
        for line in self.jobcomp.read_text().splitlines():
            fields = {}
            for part in line.split():
                key, sep, value = part.partition("=")
                if sep:
                    fields[key] = value
            if fields:
                jobs.append(fields)
        return jobs
