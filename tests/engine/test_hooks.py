"""The EMA hook on a toy student/teacher model, the NaN guard, the resumable sampler, decon_meta."""

import itertools
import math

import pytest
import torch
from detectron2.engine.train_loop import SimpleTrainer
from torch import nn

from decon_d2.engine.hooks import IterationSeedHook, MomentumTeacherHook
from decon_d2.engine.sampler import ResumableTrainingSampler, SampleSeededMapper
from decon_d2.engine.schedules import cosine_momentum
from decon_d2.engine.step import DeConStepTrainer
from tests.helpers import spawn


class ToyTeacherModel(nn.Module):
    """A linear student, a frozen teacher twin, and the two methods of contracts.md."""

    def __init__(self, nan_at=None):
        super().__init__()
        self.student = nn.Linear(3, 2)
        self.teacher = nn.Linear(3, 2).requires_grad_(False)
        self.nan_at, self.calls = nan_at, 0

    @torch.no_grad()
    def momentum_update(self, m):
        for t, s in zip(self.teacher.parameters(), self.student.parameters()):
            t.mul_(m).add_(s, alpha=1 - m)

    @torch.no_grad()
    def copy_student_to_teacher(self):
        self.teacher.load_state_dict(self.student.state_dict())

    def forward(self, batch):
        self.calls += 1
        out = self.student(batch).pow(2).mean()
        loss_b = out * 0.5
        if self.nan_at is not None and self.calls > self.nan_at:
            loss_b = loss_b * float("nan")
        return {"loss_a": out, "loss_b": loss_b}


def _data():
    g = torch.Generator().manual_seed(0)
    while True:
        yield torch.randn(4, 3, generator=g)


def test_teacher_equals_ema_of_student_after_each_step():
    torch.manual_seed(0)
    model = ToyTeacherModel()
    with torch.no_grad():
        model.teacher.weight.add_(1.0)  # differs before training: before_train must copy
    trainer = SimpleTrainer(model, _data(), torch.optim.SGD(model.student.parameters(), lr=0.1))
    max_iter, checked = 4, []

    class Check(MomentumTeacherHook.__base__):
        def before_train(self):
            torch.testing.assert_close(model.teacher.weight, model.student.weight.detach())

        def before_step(self):
            self.prev = [p.detach().clone() for p in model.teacher.parameters()]

        def after_step(self):  # runs after MomentumTeacherHook.after_step
            m = cosine_momentum(self.trainer.iter, max_iter, 0.99, 1.0)
            for t0, s, t in zip(self.prev, model.student.parameters(), model.teacher.parameters()):
                torch.testing.assert_close(t, m * t0 + (1 - m) * s.detach(), rtol=0, atol=1e-7)
            assert self.trainer.storage.history("decon/teacher_momentum").latest() == m
            checked.append(self.trainer.iter)

    trainer.register_hooks([MomentumTeacherHook(0.99, 1.0), Check()])
    trainer.train(0, max_iter)
    assert checked == list(range(max_iter))


def test_teachers_initial_share_is_the_product_of_the_momenta_also_after_a_resume():
    """What a short run exports: after 4 iterations from m0 = 0.9, the teacher still holds the
    initial network with weight m(0) m(1) m(2) m(3); a run resumed at 2 says the same."""
    shares = {}
    for start in (0, 2):
        model = ToyTeacherModel()
        trainer = SimpleTrainer(model, _data(), torch.optim.SGD(model.student.parameters(), lr=0))
        trainer.register_hooks([MomentumTeacherHook(0.9, 1.0)])
        trainer.train(start, 4)
        shares[start] = trainer.storage.history("decon/teacher_initial_share").latest()
    want = math.prod(cosine_momentum(i, 4, 0.9, 1.0) for i in range(4))
    assert shares[0] == pytest.approx(want, rel=1e-12) and shares[2] == pytest.approx(want)
    assert 0.75 < want < 0.8  # 0.9 x 0.915 x 0.95 x 0.985


def test_first_step_uses_m0_and_a_copy_of_the_student():
    torch.manual_seed(1)
    model = ToyTeacherModel()
    with torch.no_grad():
        model.teacher.weight.zero_()
    trainer = SimpleTrainer(model, _data(), torch.optim.SGD(model.student.parameters(), lr=0.1))
    start = [p.detach().clone() for p in model.student.parameters()]
    trainer.register_hooks([MomentumTeacherHook(0.99, 1.0)])
    trainer.train(0, 1)
    for s0, s1, t in zip(start, model.student.parameters(), model.teacher.parameters()):
        torch.testing.assert_close(t, 0.99 * s0 + 0.01 * s1.detach(), rtol=0, atol=1e-7)


def test_resumed_run_does_not_copy_student_to_teacher():
    model = ToyTeacherModel()
    with torch.no_grad():
        model.teacher.weight.fill_(3.0)
    trainer = SimpleTrainer(model, _data(), torch.optim.SGD(model.student.parameters(), lr=0.0))
    trainer.register_hooks([MomentumTeacherHook(1.0, 1.0)])  # m = 1: teacher must stay put
    trainer.train(5, 6)
    assert torch.all(model.teacher.weight == 3.0)


def test_nan_guard_reports_terms_and_last_checkpoint():
    model = ToyTeacherModel(nan_at=2)
    opt = torch.optim.SGD(model.student.parameters(), lr=0.1)
    trainer = DeConStepTrainer(
        model, _data(), opt, last_checkpoint=lambda: "/out/model_0000001.pth"
    )
    before = {}

    class Keep(MomentumTeacherHook.__base__):
        def before_step(self):
            before["w"] = model.student.weight.detach().clone()

    trainer.register_hooks([Keep()])
    with pytest.raises(FloatingPointError) as err:
        trainer.train(0, 10)
    msg = str(err.value)
    assert "iteration=2" in msg and "loss_a" in msg and "loss_b" in msg and "nan" in msg
    assert "/out/model_0000001.pth" in msg
    torch.testing.assert_close(model.student.weight, before["w"])  # bad step not applied


def test_bf16_autocast_step_on_cpu():
    """The forward runs inside a bf16 autocast region (the student's Linear yields bf16 from fp32
    weights and inputs), the region is left after the step, and the weights stay fp32."""
    model = ToyTeacherModel()
    opt = torch.optim.SGD(model.student.parameters(), lr=0.1)
    trainer = DeConStepTrainer(model, _data(), opt, precision=torch.bfloat16, device_type="cpu")
    assert trainer.grad_scaler is None
    seen = []
    model.student.register_forward_hook(
        lambda m, i, o: seen.append((o.dtype, torch.is_autocast_enabled("cpu"))))
    w0 = model.student.weight.detach().clone()
    trainer.train(0, 2)
    assert seen == [(torch.bfloat16, True)] * 2
    assert not torch.is_autocast_enabled("cpu")
    assert model.student.weight.dtype == torch.float32
    assert torch.isfinite(model.student.weight).all() and not torch.equal(model.student.weight, w0)
    seen.clear()
    model.student(torch.randn(4, 3))  # outside the step: plain fp32
    assert seen == [(torch.float32, False)]


def test_iteration_seed_hook_makes_draws_a_function_of_the_iteration():
    draws = {}

    class Draw(MomentumTeacherHook.__base__):
        def before_step(self):
            draws.setdefault(self.trainer.iter, []).append(torch.rand(1).item())

    for start in (0, 2):
        model = ToyTeacherModel()
        trainer = SimpleTrainer(model, _data(), torch.optim.SGD(model.student.parameters(), lr=0))
        trainer.register_hooks([IterationSeedHook(7), Draw()])
        trainer.train(start, 4)
    assert draws[2][0] == draws[2][1] and draws[3][0] == draws[3][1]


def test_resumable_sampler_continues_the_stream():
    full = list(itertools.islice(iter(ResumableTrainingSampler(10, seed=3)), 25))
    tail = list(itertools.islice(iter(ResumableTrainingSampler(10, seed=3, start_index=8)), 17))
    assert tail == full[8:]


def test_sample_seeded_mapper_draws_depend_on_the_stream_position_only():
    mapper = SampleSeededMapper(lambda record: (record, torch.rand(1).item()))

    def run(start, n):
        sampler = ResumableTrainingSampler(10, seed=3, start_index=start, seed_samples=True)
        out = []
        for idx in itertools.islice(iter(sampler), n):
            torch.manual_seed(12345 + len(out))  # whatever the process's RNG state is
            out.append(mapper(idx))
        return out

    full = run(0, 12)
    assert run(5, 7) == full[5:]
    assert len({draw for _, draw in full}) == 12


def test_fp16_step_uses_a_grad_scaler_whose_state_is_checkpointed():
    model = ToyTeacherModel()
    opt = torch.optim.SGD(model.student.parameters(), lr=0.1)
    trainer = DeConStepTrainer(model, _data(), opt, precision=torch.float16, device_type="cpu")
    assert trainer.grad_scaler is not None
    trainer.train(0, 2)
    state = trainer.state_dict()
    assert "grad_scaler" in state and "optimizer" in state
    fresh = DeConStepTrainer(model, _data(), opt, precision=torch.float16, device_type="cpu")
    fresh.load_state_dict(state)
    assert fresh.grad_scaler.get_scale() == trainer.grad_scaler.get_scale()


def _nan_on_one_rank_worker(rank, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        model = ToyTeacherModel(nan_at=2 if rank == 1 else None)
        opt = torch.optim.SGD(model.student.parameters(), lr=0.1)
        trainer = DeConStepTrainer(model, _data(), opt, last_checkpoint=lambda: "none")
        try:
            trainer.train(0, 10)
            msg = "no error"
        except FloatingPointError as e:
            msg = str(e)
        (out_dir / f"rank{rank}.txt").write_text(msg)
    finally:
        dist.destroy_process_group()


def test_nan_on_one_rank_stops_every_rank_at_the_same_iteration(tmp_path):
    """Rank 1's loss turns NaN: both ranks raise at iteration 2, before the optimiser step,
    instead of rank 0 going on and waiting in the next collective until a time-out."""
    spawn(_nan_on_one_rank_worker, (str(tmp_path / "init"), tmp_path), 2)
    rank0, rank1 = ((tmp_path / f"rank{r}.txt").read_text() for r in (0, 1))
    assert "iteration=2" in rank0 and "another rank" in rank0, rank0
    assert "iteration=2" in rank1 and "(rank 1)" in rank1, rank1
