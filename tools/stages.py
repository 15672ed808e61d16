"""Multi-stage jobs made of real commands (the demo, the learning study): each stage's command is
printed before it runs, a failure stops the job naming it, and between stages the elapsed time
and an estimate of what remains are printed (stage budgets scaled by how fast the machine has
been so far)."""
import subprocess
import time
from typing import Dict, List

from tools.paths import REPO_ROOT

__all__ = ["Progress", "run"]


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
