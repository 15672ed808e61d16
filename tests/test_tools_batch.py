"""``tools/batch.py``: several runs of one command line in one process, in order, stopping at the
first failure with its status (the study's conversion and initial-network stages use it)."""
import sys

from tools import batch


def _module(tmp_path, monkeypatch, body):
    (tmp_path / "fake_cli.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fake_cli", None)


def test_runs_each_argv_in_order_and_stops_at_the_first_failure(tmp_path, monkeypatch, capsys):
    _module(tmp_path, monkeypatch, "import sys\nSEEN = []\n"
            "def main(argv):\n    SEEN.append(argv)\n    return 3 if argv == ['bad'] else 0\n")
    cmd = batch.command("py", "fake_cli", [["a", 1], ["b"], ["bad"], ["never"]])
    assert cmd == ["py", "-m", "tools.batch", "fake_cli", "a", "1", "--then", "b", "--then",
                   "bad", "--then", "never"]
    assert batch.main(cmd[3:]) == 3
    assert sys.modules["fake_cli"].SEEN == [["a", "1"], ["b"], ["bad"]]
    assert "run 3 of 4 failed (exit 3): python -m fake_cli bad" in capsys.readouterr().err


def test_an_argparse_exit_is_a_failure_not_an_escape(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "import argparse\n"
            "def main(argv):\n    argparse.ArgumentParser().parse_args(argv)\n    return 0\n")
    assert batch.main(["fake_cli", "--nope"]) == 2
    assert batch.main(["fake_cli"]) == 0


def test_run_many_runs_jobs_at_once_and_a_failure_stops_the_rest(tmp_path):
    """``tools/stages.run_many`` (the study's ``--jobs``): two plain-Python jobs overlap (each
    waits for the other's file), threads are shared out, and a failing job ends the batch with
    its command and the end of its log while the one still running is stopped."""
    import pytest

    from tools.stages import run_many

    py = sys.executable
    wait_for = ("import os, sys, time, pathlib; pathlib.Path(sys.argv[1]).touch(); "
                "t = time.time() + 30\nwhile not os.path.exists(sys.argv[2]):\n"
                "    assert time.time() < t; time.sleep(0.05)\n"
                "print('threads', os.environ['OMP_NUM_THREADS'])")
    a, b = tmp_path / "a", tmp_path / "b"
    run_many([("first", [py, "-c", wait_for, str(a), str(b)], tmp_path / "1.out"),
              ("second", [py, "-c", wait_for, str(b), str(a)], tmp_path / "2.out")], 2)
    assert (tmp_path / "1.out").read_text().startswith("threads ")

    sleeper = [py, "-c", "import time; time.sleep(60)"]
    with pytest.raises(SystemExit, match=r"(?s)failed \(exit 3\).*boom"):
        run_many([("sleeps", sleeper, tmp_path / "s.out"),
                  ("fails", [py, "-c", "print('boom'); raise SystemExit(3)"],
                   tmp_path / "f.out")], 2)
