"""Multi-stage jobs made of real commands (the demo, the learning study): each stage's command is
printed before it runs, a failure stops the job naming it, and between stages the elapsed time
and an estimate of what remains are printed (stage budgets scaled by how fast the machine has
been so far)."""
import os
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Tuple

from tools.paths import REPO_ROOT

__all__ = ["Progress", "run", "run_many"]


class Progress:
    """Elapsed time and remaining-time estimate across named stages with budgets in seconds."""

    def __init__(self, budgets: Dict[str, float], tag: str = "job"):
        self.budgets, self.tag = dict(budgets), tag
        self.stages, self.t0, self.done = list(budgets), time.time(), []

    def start(self, name: str, what: str) -> None:
        i = self.stages.index(name) + 1
        spent = time.time() - self.t0
        budget_done = sum(self.budgets[s] for s in self.done)
        # Observed speed relative to the budgets, damped: stages differ in how they scale.
        speed = min(max(spent / budget_done, 0.75), 3.0) if budget_done and spent > 0 else 1.0
        left = speed * sum(self.budgets[s] for s in self.stages if s not in self.done)
        print(f"\n[{self.tag} {i}/{len(self.stages)}] {what}  (elapsed {spent / 60:.1f} min, "
              f"~{left / 60:.1f} min left)", flush=True)

    def finish(self, name: str) -> None:
        self.done.append(name)

    def minutes(self) -> float:
        return (time.time() - self.t0) / 60


def run(cmd: List[str], tag: str = "job") -> None:
    """Run ``cmd`` from the repository root; a non-zero exit stops the job with its command."""
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=REPO_ROOT)
    if rc != 0:
        raise SystemExit(f"{tag} stage failed (exit {rc}): {' '.join(cmd)}")


def run_many(jobs: List[Tuple[str, List[str], Path]], parallel: int, tag: str = "job") -> None:
    """Run ``(what, command, log file)`` jobs (``what`` is printed as each starts), ``parallel``
    at a time, each with this machine's cores
    shared out as ``OMP_NUM_THREADS`` (at least 1) and its output in its log file (``parallel``
    1: one after the other, output on the console, as ``run``). The first failure stops the
    others and the job, naming the command and printing the end of its log."""
    if parallel <= 1:
        for what, cmd, _ in jobs:
            print(what, flush=True)
            run(cmd, tag)
        return
    cores = len(os.sched_getaffinity(0))
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // parallel)))
    pending, active = list(jobs), []
    try:
        while pending or active:
            while pending and len(active) < parallel:
                what, cmd, log = pending.pop(0)
                log.parent.mkdir(parents=True, exist_ok=True)
                print(f"{what}\n$ {' '.join(cmd)}  > {log}", flush=True)
                with open(log, "w") as f:
                    active.append((subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=f,
                                                    stderr=subprocess.STDOUT), cmd, log))
            time.sleep(0.2)
            for proc, cmd, log in list(active):
                if proc.poll() is None:
                    continue
                active.remove((proc, cmd, log))
                if proc.returncode != 0:
                    tail = Path(log).read_text(errors="replace")[-3000:]
                    raise SystemExit(f"{tag} stage failed (exit {proc.returncode}): "
                                     f"{' '.join(cmd)}\nend of {log}:\n{tail}")
    finally:  # a failure or Ctrl-C: the other runs stop too
        for proc, _, _ in active:
            proc.terminate()
        for proc, _, _ in active:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
