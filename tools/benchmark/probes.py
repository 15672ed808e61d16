"""Micro-measurements behind the keep/reject decisions of docs/benchmarks.md (``--probes``).

- ``ema``: the EMA update with ``torch._foreach_*`` (the model's) against a per-tensor loop.
- ``batched_views``: an upper bound on what one call over both views would save: student
  backbone forward + backward on 2B images at once against two calls on B (plain BN; the real
  method needs per-view statistics, so this only bounds the gain of a ghost-batch variant).
"""
import statistics

import torch

from tools.benchmark.device import timed


def _median_time(fn, repeats, device):
    times = [timed(fn, device) for _ in range(repeats + 1)]  # the first run is a warm-up
    return statistics.median(times[1:])


def probe_ema(model, device, repeats=5):
    t_list, s_list = model.ema_pairs()

    def loop():
        with torch.no_grad():
            for t, s in zip(t_list, s_list):
                t.mul_(0.99).add_(s, alpha=0.01)

    foreach = _median_time(lambda: model.momentum_update(0.99), repeats, device)
    looped = _median_time(loop, repeats, device)
    return {"foreach_s": foreach, "loop_s": looped, "tensors": len(t_list)}


def probe_batched_views(model, views, device, repeats=2):
    """``views``: two normalised B x 3 x H x W tensors."""
    backbone = model.student.backbone
    state = {k: v.clone() for k, v in backbone.state_dict().items()}

    def run(xs):
        backbone.zero_grad(set_to_none=True)
        loss = 0.0
        for x in xs:
            loss = loss + sum(f.float().mean() for f in backbone(x).values())
        loss.backward()

    separate = _median_time(lambda: run(views), repeats, device)
    together = _median_time(lambda: run([torch.cat(views)]), repeats, device)
    backbone.zero_grad(set_to_none=True)
    backbone.load_state_dict(state)  # undo the norm statistics the probe moved
    return {"two_calls_s": separate, "one_call_s": together}
