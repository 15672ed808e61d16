"""``python -m tools.batch MODULE ARGS... [--then ARGS...]...``: one command line, several runs,
one process.

Each run is ``MODULE``'s own ``main(argv)`` (what ``python -m MODULE ARGS`` runs), printed before
it runs; the first failure stops the batch with its exit status. Short stages of the demo and
the study (converting a few checkpoints, saving a few initial networks) otherwise pay an
interpreter start per run, mostly importing torch and detectron2 (~5 s on 2 cores).
"""
import importlib
import sys
from typing import List, Optional

__all__ = ["THEN", "command", "main"]

THEN = "--then"


def command(python: str, module: str, argvs: List[List[str]]) -> List[str]:
    """The command line that runs ``python -m module argv`` for every ``argv``, in one process."""
    out = [python, "-m", "tools.batch", module]
    for i, argv in enumerate(argvs):
        out += ([THEN] if i else []) + [str(a) for a in argv]
    return out


def _entry(module: str):
    """``main`` of ``module``, or of ``module.__main__`` (a package run with ``-m``)."""
    for name in (module, f"{module}.__main__"):
        try:
            found = getattr(importlib.import_module(name), "main", None)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        if found is not None:
            return found
    raise SystemExit(f"tools.batch: {module} has no main(argv) (nor {module}.__main__)")


def _split(args: List[str]) -> List[List[str]]:
    runs = [[]]
    for a in args:
        if a == THEN:
            runs.append([])
        else:
            runs[-1].append(a)
    return runs


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-"):
        print(__doc__.splitlines()[0].split(": ")[0], file=sys.stderr)
        return 2
    module, runs = argv[0], _split(argv[1:])
    entry = _entry(module)
    for i, args in enumerate(runs, 1):
        print(f"[batch {i}/{len(runs)}] python -m {module} {' '.join(args)}", flush=True)
        try:
            rc = entry(args)
        except SystemExit as e:  # argparse errors and CLIs that exit
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if rc:
            print(f"tools.batch: run {i} of {len(runs)} failed (exit {rc}): python -m {module} "
                  f"{' '.join(args)}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
