"""One launch path for Detectron2's ``launch()``, ``torchrun`` and ``srun``.

Detectron2's ``launch()`` spawns one process per GPU and initialises the process group in each
(``detectron2/engine/launch.py``: ``init_process_group``, then ``comm.create_local_process_group``,
the CUDA device, a barrier). Under ``torchrun`` or ``srun`` the processes already exist, one per
rank: ``launch_any`` then reads rank, world size, local rank and the rendezvous address from
their environment and does what Detectron2's worker does, without spawning.

Exit statuses (docs/cluster.md): ``REQUEUE_EXIT_CODE`` (75, ``EX_TEMPFAIL`` of sysexits.h:
"temporary failure, retry") when a signal stopped the run at a checkpoint (``preemption.py``);
1 with one message naming the timeout when a collective failed (a rank died or hung).

Every rank installs the stop-signal handlers before anything else, leaves the process group
(``destroy_process_group``) before it exits, and on GPUs takes its device before NCCL starts:
``cuda_device`` handles a task that sees all of the node's GPUs and one that sees only its own
(``--gpus-per-task=1``, site GPU binding). NCCL's async error handling is switched on, so a
timed-out collective ends the process instead of hanging it.
"""

import logging
import os
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import launch
from detectron2.utils import comm

from .preemption import REQUEUE_EXIT_CODE, STOP_SIGNALS, install_stop_handlers
from .preflight.gate import PreflightGate

logger = logging.getLogger(__name__)

#: overrides SOLVER.DECON.DIST_TIMEOUT_S (seconds) when set
TIMEOUT_ENV = "DECON_DIST_TIMEOUT_S"
#: NCCL: a collective past its timeout aborts the communicator and raises (torch >= 2.2 name)
NCCL_ENV = {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}


@dataclass(frozen=True)
class ClusterEnv:
    """Where this process sits in a job its launcher (torchrun or srun) already started."""
    source: str  # "torchrun" or "slurm"
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int

    @property
    def dist_url(self) -> str:
        return f"tcp://{self.master_addr}:{self.master_port}"


def _int(env, key: str, source: str) -> int:
    try:
        return int(env[key])
    except (KeyError, ValueError):
        raise RuntimeError(f"{source} launch: environment variable {key} is missing or not an "
                           f"integer ({env.get(key)!r}); start through torchrun or srun") from None


def _slurm_tasks_per_node(env, ntasks: int) -> int:
    """Tasks on this node: ``SLURM_NTASKS_PER_NODE``, else ntasks / number of nodes."""
    if env.get("SLURM_NTASKS_PER_NODE", "").isdigit():
        return int(env["SLURM_NTASKS_PER_NODE"])
    nodes = env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES") or "1"
    return ntasks // int(nodes)


def detect_cluster_env(env=None) -> Optional[ClusterEnv]:
    """The torchrun or SLURM (``srun``, more than one task) placement of this process, or None
    (then Detectron2's ``launch()`` spawns the processes). torchrun wins over SLURM: torchrun
    inside an sbatch job sees both."""
    env = os.environ if env is None else env
    if "TORCHELASTIC_RUN_ID" in env or ("LOCAL_RANK" in env and "WORLD_SIZE" in env):
        src = "torchrun"
        return ClusterEnv(src, _int(env, "RANK", src), _int(env, "WORLD_SIZE", src),
                          _int(env, "LOCAL_RANK", src), _int(env, "LOCAL_WORLD_SIZE", src),
                          env.get("MASTER_ADDR", "127.0.0.1"), _int(env, "MASTER_PORT", src))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        src = "slurm"
        if "MASTER_ADDR" not in env or "MASTER_PORT" not in env:
            raise RuntimeError(
                "slurm launch: set MASTER_ADDR and MASTER_PORT for srun (the first node's host "
                "name and a free port, as scripts/slurm_pretrain.sbatch does)")
        ntasks = _int(env, "SLURM_NTASKS", src)
        return ClusterEnv(src, _int(env, "SLURM_PROCID", src), ntasks,
                          _int(env, "SLURM_LOCALID", src), _slurm_tasks_per_node(env, ntasks),
                          env["MASTER_ADDR"], _int(env, "MASTER_PORT", src))
    return None


def collective_timeout(seconds: float) -> timedelta:
    """The process group's timeout: ``$DECON_DIST_TIMEOUT_S`` if set, else ``seconds``
    (``SOLVER.DECON.DIST_TIMEOUT_S``)."""
    return timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, seconds)))


def set_nccl_env(environ=None) -> None:
    """NCCL's error handling, unless the user set it (inherited by spawned ranks)."""
    environ = os.environ if environ is None else environ
    for key, value in NCCL_ENV.items():
        environ.setdefault(key, value)


def cuda_device(local_rank: int, local_world_size: int, visible: int) -> int:
    """The CUDA device index of this rank among the ``visible`` ones: its local rank when the
    task sees the node's GPUs, 0 when it sees only its own."""
    if visible == 1:
        return 0
    if local_rank < visible:
        return local_rank
    raise RuntimeError(
        f"local rank {local_rank} of {local_world_size} but this process sees {visible} GPU(s) "
        f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): give each "
        f"task one GPU (srun --gpus-per-task=1) or all of the node's (--gpus-per-node)")


def torchrun_store(env: ClusterEnv, timeout: timedelta):
    """The rendezvous store of a torchrun rank, its keys prefixed with the restart count.

    torchrun's agent keeps serving one store at ``MASTER_ADDR:MASTER_PORT`` across
    ``--max-restarts`` restarts, and torch adds no prefix there: a restarted rank read the dead
    ranks' gloo addresses and failed to connect ("Connection refused"). Fresh keys per attempt
    make a restart rendezvous like a first start."""
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(env.master_addr, env.master_port, env.world_size,
                          is_master=env.rank == 0 and not agent, timeout=timeout)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"decon_d2/attempt_{attempt}", store)


def init_from_env(env: ClusterEnv, timeout: timedelta) -> None:
    """What Detectron2's spawned worker does, for a process the launcher started; on GPUs the
    device is set before NCCL starts."""
    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.set_device(
            cuda_device(env.local_rank, env.local_world_size, torch.cuda.device_count()))
    backend = "nccl" if gpu else "gloo"
    if env.source == "torchrun":
        dist.init_process_group(backend, store=torchrun_store(env, timeout),
                                world_size=env.world_size, rank=env.rank, timeout=timeout)
    else:
        dist.init_process_group(backend, init_method=env.dist_url, world_size=env.world_size,
                                rank=env.rank, timeout=timeout)
    comm.create_local_process_group(env.local_world_size)
    comm.synchronize()


def is_collective_failure(error: BaseException) -> bool:
    """A failed collective (dead peer, timeout), as gloo and NCCL report it."""
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        s in text for s in ("Gloo", "gloo", "NCCL", "Connection closed by peer", "Timed out",
                            "Connection reset by peer", "timed out"))


def _leave_group() -> None:
    """Leave the process group before the exit (its destructors otherwise run at interpreter
    shutdown, in no defined order, and NCCL warns or hangs there)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _call(main_func, args, timeout: timedelta):
    """``main_func(*args)`` in an initialised group; a collective failure becomes one message,
    any other end (result, stop, error) leaves the group first."""
    install_stop_handlers()  # a spawned rank: before anything else it does
    try:
        result = main_func(*args)
    except SystemExit:
        _leave_group()
        raise
    except Exception as e:
        if comm.get_world_size() > 1 and is_collective_failure(e):
            logger.error(f"Collective failed: {e}")
            sys.stderr.write(
                f"error: rank {comm.get_rank()} of {comm.get_world_size()}: a collective failed: "
                f"another rank died or did not answer within the collective timeout of "
                f"{timeout.total_seconds():g} s (SOLVER.DECON.DIST_TIMEOUT_S or "
                f"${TIMEOUT_ENV}); see the other ranks' logs (log.txt.rankN), then restart "
                f"with --resume.\n  {type(e).__name__}: {str(e)[:500]}\n")
            sys.stderr.flush()
            os._exit(1)  # the group is broken: its destructors may block
        _leave_group()
        raise
    _leave_group()
    return result


def _forward_stop_signals() -> None:
    """In a launch() parent: pass SIGTERM/SIGUSR1 on to the spawned ranks (which checkpoint and
    stop, ``preemption.py``) instead of dying and orphaning them."""
    def forward(signum, frame):
        for child in mp.active_children():
            os.kill(child.pid, signum)
    for s in STOP_SIGNALS:
        signal.signal(s, forward)


def launch_any(main_func, args, *, num_gpus: int, num_machines: int = 1, machine_rank: int = 0,
               dist_url: Optional[str] = None, timeout: timedelta, preflight=None,
               dry_run: bool = False):
    """Run ``main_func(*args)`` on every rank, whoever started the processes. The calling
    process installs its stop handlers first (``train_net.cli``); spawned ranks in ``_call``.
    ``preflight(processes, local_processes, launcher)`` runs first (``preflight/gate.py``);
    ``dry_run``: only it (returns 0 when it passed)."""
    set_nccl_env()
    env = detect_cluster_env()
    gate = PreflightGate(preflight, dry_run)
    if env is not None:
        if num_gpus > 1 or num_machines > 1:
            raise SystemExit(f"error: started by {env.source} ({env.world_size} ranks): each "
                             f"process is one rank; drop --num-gpus/--num-machines")
        print(f"{env.source}: rank {env.rank}/{env.world_size}, local rank "
              f"{env.local_rank}/{env.local_world_size}, {env.dist_url}", flush=True)
        if env.world_size == 1:
            return 0 if gate.local(1, 1, env.source) else main_func(*args)
        try:
            init_from_env(env, timeout)
        except RuntimeError as e:  # a GPU binding that does not match the ranks: one line
            raise SystemExit(f"error: rank {env.rank}: {e}") from None
        if gate.shared(env.rank, env.world_size, env.local_world_size, env.source, _leave_group):
            return 0
        return _call(main_func, args, timeout)
    if gate.local(num_gpus * num_machines, num_gpus, "--num-gpus"):
        return 0
    if num_gpus * num_machines == 1:
        return main_func(*args)
    _forward_stop_signals()
    try:
        launch(_call, num_gpus, num_machines=num_machines, machine_rank=machine_rank,
               dist_url=dist_url, args=(main_func, args, timeout), timeout=timeout)
    except mp.ProcessExitedException as e:
        if e.exit_code == REQUEUE_EXIT_CODE:
            raise SystemExit(REQUEUE_EXIT_CODE) from None
        raise SystemExit(f"error: local process {e.error_index} (rank "
                         f"{machine_rank * num_gpus + e.error_index}) died: {e}") from None
    except mp.ProcessRaisedException as e:  # the first failed rank's traceback, shown once
        raise SystemExit(f"error: local process {e.error_index} (rank "
                         f"{machine_rank * num_gpus + e.error_index}) failed; the other ranks "
                         f"were stopped. Its traceback:\n{e.msg.strip()}") from None
