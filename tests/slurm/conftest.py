"""A real one-node SLURM (Debian's slurm-wlm and munge, local_slurm.sh) for the tests of the
shipped ``scripts/slurm_pretrain.sbatch``, and a driver for its jobs.

Where SLURM is not installed or this is not root, the tests skip with that reason; with
``DECON_REQUIRE_SLURM=1`` (set by ``.ci/run``) they fail instead, so CI always runs them.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.cluster import CONFIG, ITERS, REPO_ROOT, clean_env

HERE = Path(__file__).resolve().parent
SCRIPT = REPO_ROOT / "scripts" / "slurm_pretrain.sbatch"
REQUIRE_ENV = "DECON_REQUIRE_SLURM"
#: final job states
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "srun", "scontrol", "scancel")
#: the tiny run of the cluster tests (tests/helpers/cluster.py train_args), as sbatch arguments
RUN_OPTS = ["SOLVER.MAX_ITER", str(ITERS), "SOLVER.IMS_PER_BATCH", "4",
            "DATALOADER.NUM_WORKERS", "1"]


class Slurm:
    """Submit the shipped script with the CPU overrides, read and steer its job."""

    def __init__(self, conf: str):
        self.env = {"SLURM_CONF": conf}

    def cmd(self, *argv, check=True) -> str:
        p = subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True,
                           timeout=60)
        if check and p.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {p.stderr or p.stdout}")
        return p.stdout

    def submit(self, out: Path, *args, env=None) -> str:
        """``sbatch`` the shipped script on 2 CPU tasks; its console goes to ``out/slurm.out``."""
        out.mkdir(parents=True, exist_ok=True)
        job_env = clean_env(**self.env, **(env or {}))
        job_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + job_env["PATH"]
        argv = ["sbatch", "--parsable", f"--chdir={REPO_ROOT}", f"--output={out / 'slurm.out'}",
                "--ntasks-per-node=2", "--cpus-per-task=1", "--gpus-per-node=0", "--time=15",
                str(SCRIPT), CONFIG, *args, *RUN_OPTS, "OUTPUT_DIR", str(out)]
        # cwd: SLURM_SUBMIT_DIR, where the script keeps the stop record while it decides
        p = subprocess.run(argv, env=job_env, cwd=out, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip().split(";")[0]

    def job(self, job: str) -> dict:
        """``scontrol show job`` as a dict (JobState, Restarts, Reason, ExitCode, ...)."""
        text = self.cmd("scontrol", "show", "job", "-o", job)
        return dict(re.findall(r"(\w+)=(\S*)", text))

    def wait(self, job: str, until, what: str, timeout: float, out: Path = None) -> dict:
        """Poll until ``until(info)``; a job that ended otherwise fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(job)
            if until(info):
                return info
            if time.monotonic() > deadline or info.get("JobState") in ENDED:
                log = (out / "slurm.out").read_text()[-4000:] if out else ""
                raise AssertionError(f"job {job}: no {what} ({info.get('JobState')}, restarts "
                                     f"{info.get('Restarts')}, exit {info.get('ExitCode')}):\n"
                                     f"{log}")
            time.sleep(0.3)

    def release(self, job: str) -> None:
        """A requeued job waits ~2 minutes (BeginTime) before it may run: now. Not in the second
        its last run was killed: slurmd compares credential times in whole seconds and refuses
        a launch stamped in the second of the revocation ("Job credential revoked"), the race
        SLURM's 2 minutes avoid."""
        time.sleep(1.2)
        self.cmd("scontrol", "update", f"JobId={job}", "StartTime=now")

    def cancel_all(self) -> None:
        self.cmd("scancel", "--user", "root", check=False)


def wait_for_file(path: Path, slurm: Slurm, job: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        info = slurm.job(job)
        if info.get("JobState") not in ("PENDING", "RUNNING", "CONFIGURING"):
            log = path.parent / "slurm.out"
            raise AssertionError(f"job {job} is {info.get('JobState')} ({info.get('Reason')}) "
                                 f"before {path.name}:\n"
                                 + (log.read_text()[-3000:] if log.exists() else ""))
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.05)


def _unavailable() -> str:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): "
                f"`bash tests/slurm/local_slurm.sh install` as root installs it")
    if os.geteuid() != 0:
        return "not root: the local SLURM runs its daemons as root"
    return ""


@pytest.fixture(scope="session")
def slurm():
    reason = _unavailable()
    if reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    state = Path(tempfile.gettempdir()) / "decon-test-slurm"
    p = subprocess.run(["bash", str(HERE / "local_slurm.sh"), "start", str(state)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"the local SLURM did not start:\n{p.stdout}\n{p.stderr}"
    cluster = Slurm(p.stdout.strip().splitlines()[-1])
    yield cluster
    cluster.cancel_all()
    subprocess.run(["bash", str(HERE / "local_slurm.sh"), "stop", str(state)], timeout=60)
