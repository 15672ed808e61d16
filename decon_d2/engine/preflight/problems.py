"""One problem the preflight found: what is wrong, where (the key, flag, path or variable), and
the fix (the key, flag or command that resolves it)."""
from dataclasses import dataclass
from typing import List

__all__ = ["Problem", "PreflightFailed", "EXIT_STATUS"]

#: exit status of a run the preflight stopped (argparse's for a bad command line)
EXIT_STATUS = 2


@dataclass(frozen=True)
class Problem:
    what: str
    where: str
    fix: str

    def text(self) -> str:
        return f"  - {self.what}\n      where: {self.where}\n      fix:   {self.fix}"


class PreflightFailed(Exception):
    """Raised with every problem found, so that one run shows them all."""

    def __init__(self, problems: List[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"preflight: {n} problem{'s stop' if n > 1 else ' stops'} the run before "
                         f"it starts (nothing was spawned or built):\n"
                         + "\n".join(p.text() for p in self.problems))
