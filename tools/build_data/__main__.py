"""``python -m tools.build_data {demo,study} [--force]``: build the demo or study data sets.

One command for both builders (``demo_sets/build.py``, ``study_sets/build.py``); the rest of the
command line is theirs.
"""
import argparse
import sys
from typing import List, Optional

from tools.build_data.demo_sets import build as demo_build
from tools.build_data.study_sets import build as study_build

PROG = "python -m tools.build_data"
COMMANDS = {"demo": demo_build, "study": study_build}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("data", choices=sorted(COMMANDS),
                        help="demo: decon_demo_*; study: decon_study_* (needs "
                             "requirements-study.txt)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="e.g. --force (rebuild)")
    args = parser.parse_args(argv)
    return COMMANDS[args.data].main(args.options, prog=f"{PROG} {args.data}")


if __name__ == "__main__":
    sys.exit(main())
