"""``train_net.py``'s own parser and ``main`` in the test process: the command line's path
(argument parsing, setup, the trainer, evaluation) without an interpreter start (~5 s).
Tests of what only a process shows (exit status, the error printed, signals) start one."""
import importlib.util

from tools.paths import REPO_ROOT

__all__ = ["run_train_net"]


def run_train_net(*argv):
    """``python train_net.py ARGV`` as ``main`` runs it, in this process (from the checkout)."""
    spec = importlib.util.spec_from_file_location("train_net", REPO_ROOT / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(module.parser().parse_args([str(a) for a in argv]))
