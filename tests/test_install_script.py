"""``make test`` / ``make demo`` run the set-up first only when .venv is missing or stale
(``scripts/install.sh --if-stale``), checked on a copy of the scripts with a stand-in Python
that records what it is asked to do (nothing is installed)."""
import hashlib
import os
import shutil
import subprocess
import sys

from tools.paths import REPO_ROOT

STAMPED = ("requirements.txt", "requirements-data.txt", "setup.cfg", "scripts/install.sh")


def _checkout(tmp_path):
    for rel in STAMPED + ("Makefile",):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, tmp_path / rel)
    log = tmp_path / "python_calls.log"
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    # The up-to-date check's import succeeds (the real interpreter); pip and the check after it
    # fail, as if the network were down, so a set-up stops right after trying to install.
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n'
                    f'case "$*" in *pip*|*"import torch,"*) exit 1;; esac\n'
                    f'exec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    return log


def _stamp(tmp_path):
    digest = hashlib.sha256(b"".join((tmp_path / rel).read_bytes() for rel in STAMPED))
    (tmp_path / ".venv" / ".decon-install-stamp").write_text(digest.hexdigest() + "\n")


def _if_stale(tmp_path):
    return subprocess.run(["bash", "scripts/install.sh", "--if-stale"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_up_to_date_venv_is_left_alone(tmp_path):
    log = _checkout(tmp_path)
    _stamp(tmp_path)
    run = _if_stale(tmp_path)
    assert run.returncode == 0 and run.stdout == "", run.stdout + run.stderr
    assert "pip" not in log.read_text()  # only the import check ran


def test_stale_or_missing_venv_runs_the_set_up(tmp_path):
    log = _checkout(tmp_path)
    run = _if_stale(tmp_path)  # no stamp: a fresh clone's .venv
    assert "missing or stale: running the set-up first" in run.stdout
    assert run.returncode != 0 and "-m pip" in log.read_text()  # it tried to install
    _stamp(tmp_path)
    with open(tmp_path / "requirements.txt", "a") as f:
        f.write("# a changed pin\n")
    assert "running the set-up first" in _if_stale(tmp_path).stdout


#: what a parent ``make`` (``make test`` running this suite) passes down; a nested ``make`` would
#: otherwise print "make[1]: Entering directory" first and inherit the parent's flags
MAKE_ENV = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")


def test_make_targets_run_the_check_first(tmp_path):
    _checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ENV}
    plan = subprocess.run(["make", "--no-print-directory", "-n", "test", "demo"], cwd=tmp_path,
                          capture_output=True, text=True, check=True, env=env,
                          timeout=60).stdout.splitlines()
    assert plan[0] == "bash scripts/install.sh --if-stale" and "pytest" in plan[1]
    assert plan[2] == "bash scripts/install.sh --if-stale" and "tools.demo" in plan[3]
