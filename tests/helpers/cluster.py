"""Drivers of the cluster tests (tests/engine/test_launch.py, test_preemption.py, tests/slurm/):
``train_net.py`` started as Detectron2's launch(), as 2 "machines", by torchrun, with SLURM's
variables or by a real SLURM, on gloo at 127.0.0.1, and the session-wide reference run
(1 machine x 2 processes, ``reference_run`` in tests/conftest.py) they are compared to."""
import os
import signal
import socket
import subprocess
import sys
import time

import torch

from tools.paths import REPO_ROOT, config_path
from decon_d2.variants import get_variant

CONFIG = config_path(get_variant("decon_ml").instant_test)
#: long enough for two stops and a resume between them, none at the last iteration
ITERS = 8
#: launcher variables a test must not inherit (it may itself run inside a SLURM job)
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
               "MASTER_PORT", "TORCHELASTIC_RUN_ID", "DECON_DIST_TIMEOUT_S")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") and k not in LAUNCH_VARS}
    # gloo's own connections on the loopback interface, whatever the host name resolves to
    env.update(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo",
               **{k: str(v) for k, v in extra.items()})
    return env


def train_args(out, *flags, opts=()):
    """``train_net.py`` arguments: ``flags`` first, then the tiny run's overrides. One loader
    worker everywhere: with none, augmentations draw from the training process's RNG between
    its per-iteration seeding and the dropout masks, so 0 and >0 workers train differently."""
    return [str(REPO_ROOT / "train_net.py"), "--config-file", CONFIG, *flags,
            "SOLVER.MAX_ITER", str(ITERS), "SOLVER.IMS_PER_BATCH", "4",
            "DATALOADER.NUM_WORKERS", "1", "OUTPUT_DIR", str(out), *map(str, opts)]


def slurm_env(rank, world, port):
    return clean_env(SLURM_PROCID=rank, SLURM_NTASKS=world, SLURM_LOCALID=rank, SLURM_NODEID=0,
                     MASTER_ADDR="127.0.0.1", MASTER_PORT=port)


def run_ranks(commands, timeout=300):
    """Start ``(argv, env)`` processes at once, wait for all (killed at ``timeout``); returns
    ``[(returncode, output)]``."""
    procs = [subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for argv, env in commands]
    deadline, results = time.monotonic() + timeout, []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((p.returncode, out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=30)
    return results


def assert_ok(results):
    for rc, out in results:
        assert rc == 0, out[-4000:]


def final_model(out):
    return torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]


def assert_same_model(out, reference):
    """Bitwise equal: the same ranks do the same arithmetic in the same order, whoever
    started them."""
    a, b = final_model(out), final_model(reference)
    assert a.keys() == b.keys()
    worst = max((x.double() - b[k].double()).abs().max().item() for k, x in a.items()
                if x.is_floating_point())
    assert worst == 0.0, worst
    for k, x in a.items():
        assert torch.equal(x, b[k]), k


def run_reference(out):
    """1 machine x 2 processes (Detectron2's launch), uninterrupted, into ``out``."""
    argv = [sys.executable, *train_args(out, "--num-gpus", "2",
                                        "--dist-url", f"tcp://127.0.0.1:{free_port()}")]
    assert_ok(run_ranks([(argv, clean_env())]))
    assert (out / "log.txt.rank1").exists()
    return out


def signal_when(argv, out, path, send, timeout=240):
    """Start ``argv`` in its own session (console to ``out/console.txt``: a file, not a pipe,
    since nobody reads it while it runs), call ``send(proc)`` once ``path`` exists, and wait
    for the end (everything killed after ``timeout``). Returns ``(returncode, console)``."""
    console = out / "console.txt"
    with open(console, "w") as f:
        proc = subprocess.Popen(argv, env=clean_env(), cwd=REPO_ROOT, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not path.exists():
            assert proc.poll() is None, f"exited with {proc.returncode} before {path.name}:\n" \
                + console.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
            time.sleep(0.05)
        send(proc)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return proc.returncode, console.read_text()
