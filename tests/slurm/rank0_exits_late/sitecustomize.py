"""Test-only (on PYTHONPATH of the SLURM tests' jobs): rank 0 of a job's first slot exits
``DECON_TEST_RANK0_EXIT_DELAY_S`` seconds after the others, so the other rank's exit status
reaches srun first and ``--kill-on-bad-exit`` kills rank 0: the order in which the requeue used to
be lost. Python runs this at start-up (``site``); the sleep runs at interpreter exit."""
import atexit
import os
import time

_delay = float(os.environ.get("DECON_TEST_RANK0_EXIT_DELAY_S") or 0)
if (_delay > 0 and os.environ.get("SLURM_PROCID") == "0"
        and os.environ.get("SLURM_RESTART_COUNT", "0") in ("", "0")):
    _pid = os.getpid()
    atexit.register(lambda: os.getpid() == _pid and time.sleep(_delay))
