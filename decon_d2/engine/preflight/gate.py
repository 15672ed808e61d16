"""Where the preflight runs: once, before any work, for every launcher.

``--num-gpus`` (Detectron2's ``launch``): in the launching process, before any process is
spawned. torchrun / srun (the processes exist already): rank 0 checks once the process group
is up and every rank takes its verdict (a broadcast), so a failed check prints one message and
every rank exits 2 instead of each building a model first.
"""
import logging
import sys
from typing import Callable, List, Optional

import torch.distributed as dist

from .problems import EXIT_STATUS, PreflightFailed

__all__ = ["PreflightGate"]

logger = logging.getLogger(__name__)

#: ``check(processes, local_processes, launcher)``: prints the summary, raises PreflightFailed
Check = Callable[[int, int, str], None]


def _verdict(check: Optional[Check], processes: int, local: int, launcher: str) -> Optional[str]:
    """None when the run may go on, else the message that stops it."""
    if check is None:
        return None
    try:
        check(processes, local, launcher)
    except PreflightFailed as e:
        return str(e)
    except Exception as e:  # a fault of the check itself must not stop a good run
        logger.warning(f"the preflight could not run ({type(e).__name__}: {e}); going on "
                       f"without it")
    return None


def _stop(message: str):
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_STATUS)


class PreflightGate:
    def __init__(self, check: Optional[Check], dry_run: bool = False):
        self.check, self.dry_run = check, dry_run

    def local(self, processes: int, local: int, launcher: str) -> bool:
        """Check in this process; True when a dry run passed (the caller stops there)."""
        message = _verdict(self.check, processes, local, launcher)
        if message:
            _stop(message)
        return self.dry_run

    def shared(self, rank: int, processes: int, local: int, launcher: str,
               leave: Callable[[], None]) -> bool:
        """Rank 0 checks, every rank takes its verdict; as ``local`` otherwise."""
        box: List[Optional[str]] = [None]
        if rank == 0:
            box[0] = _verdict(self.check, processes, local, launcher) or ""
        dist.broadcast_object_list(box, src=0)
        if box[0]:
            leave()
            if rank == 0:
                _stop(box[0])
            raise SystemExit(EXIT_STATUS)
        if self.dry_run:
            leave()
        return self.dry_run
