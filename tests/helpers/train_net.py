"""``train_net.py``'s own parser and ``main`` in the test process: the command line's path
(argument parsing, setup, the trainer, evaluation) without an interpreter start (~5 s).
Tests of what only a process shows (exit status, the error printed, signals) start one."""
import importlib.util
import signal

from decon_d2.engine.preemption import STOP_SIGNALS
from tools.paths import REPO_ROOT

__all__ = ["run_train_net", "run_train_net_cli"]


def _module():
    spec = importlib.util.spec_from_file_location("train_net", REPO_ROOT / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_train_net(*argv):
    """``python train_net.py ARGV`` as ``main`` runs it, in this process (from the checkout)."""
    module = _module()
    return module.main(module.parser().parse_args([str(a) for a in argv]))


def run_train_net_cli(*argv):
    """``python train_net.py ARGV`` from its command line on (preflight, launch), in this
    process: for runs the preflight stops or that ``--dry-run`` ends before any process. The
    stop-signal handlers ``cli`` installs are put back afterwards."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        return _module().cli([str(a) for a in argv])
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
