"""SGD (momentum, Nesterov), RMSprop, Adam and AdamW as torch.optim.Optimizer subclasses.

Build four optimizers that follow torch.optim's update rules step for step:

    SGD(params, lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0)
    RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8)
    Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)

`params` is an iterable of tensors or of param-group dicts ({"params": [...], "lr": ...}),
exactly as for torch.optim. The constructors are given: they store the hyperparameters as the
defaults of every param group. You write `step()`: for every group, read the hyperparameters
FROM THE GROUP (a scheduler may change group["lr"] between steps), and for every parameter p
of the group that has a gradient (p.grad is not None; skip the others) update p IN PLACE
under torch.no_grad(). Per-parameter state lives in self.state[p] (a dict, empty at first).
Tensors keep their device and dtype. With g = p.grad and t the number of steps THIS parameter
has taken (1 on its first update):

SGD         g <- g + wd p                                   (L2 decay, coupled)
            if momentum: b <- g on the first step, else b <- momentum b + g
                         g <- g + momentum b if nesterov, else g <- b
            p <- p - lr g
RMSprop     v <- alpha v + (1 - alpha) g^2                  (v starts at 0)
            p <- p - lr g / (sqrt(v) + eps)
Adam        g <- g + wd p                                   (L2 decay, coupled: goes
                                                             through m and v)
            m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2      (both start at 0)
            m_hat = m / (1 - b1^t),   v_hat = v / (1 - b2^t)        (bias corrections)
            p <- p - lr m_hat / (sqrt(v_hat) + eps)
AdamW       p <- p (1 - lr wd)                              (decoupled decay, first)
            then the Adam update with the raw gradient g (no wd term in m and v)

step(closure=None) returns closure() (evaluated with grad enabled) or None, as torch's do.

Pitfalls an interviewer looks for:
- Bias correction: without it the first Adam steps are scaled by (1 - b1) / sqrt(1 - b2)
  (about 3x too large with the defaults). t counts the steps of each parameter (state per
  parameter), not of the optimizer: a parameter that first gets a gradient at step 5 is at t=1.
- eps goes OUTSIDE the square root: sqrt(v_hat) + eps, not sqrt(v_hat + eps).
- Adam's weight_decay is L2 (added to the gradient, then rescaled by the adaptive
  denominator); AdamW's is decoupled (p shrinks by lr * wd, independent of the gradient).
- Nesterov looks ahead: g + momentum * b with the NEW buffer. The buffer is the plain sum
  momentum * b + g (torch's dampening = 0), not the average momentum * b + (1 - momentum) g.
  Its first value is the gradient itself (which, without dampening, is what a zero buffer
  would give too).
"""

import torch
from torch.optim import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""

    def __init__(self, params, lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum requires a momentum > 0")
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns closure() or None."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # >>> TODO: per group and parameter: L2 term, momentum buffer (per parameter, first
        # >>>       value = the gradient), Nesterov look-ahead, then the in-place update
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + wd * p  # L2 decay: its gradient wd * p joins the loss gradient
                if mu:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = g.clone()
                    else:
                        buf = state["momentum_buffer"].mul_(mu).add_(g)  # mu b + g
                    g = g + mu * buf if group["nesterov"] else buf
                p.sub_(lr * g)
        # <<<
        return loss


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running RMS of past gradients."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns closure() or None."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # >>> TODO: per parameter: running average of g^2 (starts at 0), then the scaled step
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = p.grad, self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                v = state["square_avg"].mul_(alpha).add_((1 - alpha) * g * g)
                p.sub_(lr * g / (v.sqrt() + eps))  # eps outside the sqrt, as torch
        # <<<
        return loss


class Adam(Optimizer):
    """Adam with L2 weight decay (coupled: the decay term goes through the moments)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _adam_update(self, p, g, group):
        """The Adam update of p (in place) for gradient g, with p's own state and step count."""
        # >>> TODO: per-parameter step count and moments (start at 0), bias-corrected
        # >>>       moments, then the update (eps outside the sqrt)
        b1, b2 = group["betas"]
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        m = state["exp_avg"].mul_(b1).add_((1 - b1) * g)  # b1 m + (1 - b1) g
        v = state["exp_avg_sq"].mul_(b2).add_((1 - b2) * g * g)  # b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1**t)  # both moments start at 0: undo that bias
        v_hat = v / (1 - b2**t)
        p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
        # <<<

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns closure() or None."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # >>> TODO: per parameter with a gradient: add the L2 term to the gradient, then
        # >>>       the Adam update
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._adam_update(p, p.grad + group["weight_decay"] * p, group)
        # <<<
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns closure() or None."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # >>> TODO: per parameter with a gradient: shrink the weights (decoupled decay), then
        # >>>       the Adam update with the raw gradient
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    self._adam_update(p, p.grad, group)
        # <<<
        return loss
