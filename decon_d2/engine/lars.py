"""LARS (layer-wise adaptive rate scaling), as used by SlotCon/DeCon (Barlow Twins' variant).

No maintained implementation is installed (timm/lightly are not dependencies), so this is a small
class. Per parameter group it honours two flags, set by ``build_optimizer`` for biases and norm
parameters, which get neither weight decay nor the trust ratio (docs/method.md §3.2):

    g  <- g + wd * w                                    (if apply_weight_decay)
    g  <- g * eta * ||w|| / ||g||   when both norms > 0  (if apply_trust_ratio)
    mu <- momentum * mu + g ;  w <- w - lr * mu
"""

import torch


class LARS(torch.optim.Optimizer):
    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            eta=eta,
            apply_weight_decay=True,
            apply_trust_ratio=True,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["apply_weight_decay"] and group["weight_decay"] != 0:
                    g = g.add(p, alpha=group["weight_decay"])
                if group["apply_trust_ratio"]:
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(g)
                    # One where either norm is zero (fresh zero-init weights, zero gradients).
                    ratio = torch.where(
                        (w_norm > 0) & (g_norm > 0),
                        group["eta"] * w_norm / g_norm,
                        torch.ones_like(w_norm),
                    )
                    g = g.mul(ratio)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"]
                mu.mul_(group["momentum"]).add_(g)
                p.add_(mu, alpha=-group["lr"])
        return loss
