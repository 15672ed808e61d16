"""The CUDA branches of the launch path, with torch.cuda and torch.distributed mocked (this
machine has no GPU; imitations, said so): the device is set before NCCL starts, for a task that
sees all of the node's GPUs and one that sees only its own; DDP gets that device, not the local
rank; the stop flag is reduced on it; NCCL's error handling is switched on."""
import pytest
import torch
import torch.distributed as dist

from decon_d2.engine import base_trainer, launch, preemption


@pytest.fixture
def fake_cuda(monkeypatch):
    calls = []
    state = {"visible": 8, "current": 0}

    def set_device(i):
        calls.append(("set_device", i))
        state["current"] = i

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: state["visible"])
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: state["current"])
    monkeypatch.setattr(dist, "init_process_group",
                        lambda backend, **kw: calls.append(("init", backend, kw["rank"])))
    monkeypatch.setattr(launch.comm, "create_local_process_group", lambda n: None)
    monkeypatch.setattr(launch.comm, "synchronize", lambda: None)
    return calls, state


def _env(local_rank, rank=None):
    return launch.ClusterEnv("slurm", rank if rank is not None else local_rank, 16, local_rank, 8,
                             "127.0.0.1", 29500)


def test_device_is_set_before_nccl_for_both_gpu_bindings(fake_cuda):
    calls, state = fake_cuda
    launch.init_from_env(_env(3, rank=11), launch.collective_timeout(60))
    assert calls == [("set_device", 3), ("init", "nccl", 11)]  # all 8 GPUs visible
    assert base_trainer.ddp_device_kwargs("cuda") == {"device_ids": [3]}
    calls.clear()
    state["visible"] = 1  # --gpus-per-task=1: local rank 3 sees its GPU as device 0
    launch.init_from_env(_env(3, rank=11), launch.collective_timeout(60))
    assert calls == [("set_device", 0), ("init", "nccl", 11)]
    assert base_trainer.ddp_device_kwargs("cuda") == {"device_ids": [0]}
    state["visible"] = 2
    with pytest.raises(RuntimeError, match="local rank 3 of 8 but this process sees 2 GPU"):
        launch.init_from_env(_env(3), launch.collective_timeout(60))
    assert base_trainer.ddp_device_kwargs("cpu") == {"device_ids": None}


def test_stop_flag_is_reduced_on_this_ranks_gpu_under_nccl(fake_cuda, monkeypatch):
    _, state = fake_cuda
    state["current"] = 5
    monkeypatch.setattr(dist, "get_backend", lambda: "nccl")
    assert preemption.flag_device() == torch.device("cuda", 5)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    assert preemption.flag_device() == torch.device("cpu")


def test_nccl_error_handling_is_on_unless_the_user_chose():
    env = {}
    launch.set_nccl_env(env)
    assert env == {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}
    env = {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "3"}
    launch.set_nccl_env(env)
    assert env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "3"
