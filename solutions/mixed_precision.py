"""Dynamic loss scaling for mixed-precision training, as torch.amp.GradScaler does it.

In float16 a gradient below about 6e-8 flushes to zero. Loss scaling multiplies the loss by a
large factor S before backward, so that every gradient is S times larger and survives, then
divides the gradients by S before the optimizer sees them. S is chosen dynamically: as large
as possible without overflowing. Build `DynamicLossScaler`, on whatever device the gradients
live on (cpu, cuda or mps):

    scaler = DynamicLossScaler(init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                               growth_interval=2000)
    for x, y in data:
        opt.zero_grad()
        scaler.scale(loss_fn(model(x), y)).backward()
        scaler.unscale_(opt)                 # optional: only if you clip or inspect grads
        clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)                     # skipped if a gradient is inf or NaN
        scaler.update()

1. `scale(loss)` -> loss * S (a tensor; S is the current scale, a Python float).
2. `unscale_(optimizer)` -> bool found_inf. Multiplies every `.grad` of every parameter of
   every param group of `optimizer` in place by 1 / S (parameters whose grad is None are
   skipped), and returns True if any gradient holds an inf or a NaN. Calling it a second time
   before `update()` is an error (RuntimeError): the gradients would be divided by S twice.
3. `step(optimizer)` -> bool stepped. Unscales first if `unscale_` was not called in this
   iteration; then calls `optimizer.step()` only if no gradient was inf or NaN, and returns
   whether it did.
4. `update(found_inf=None)`: the scale decision. `found_inf` defaults to what this
   iteration's `unscale_` found (it is an error to call update(None) before any unscale_).
     - overflow (found_inf True): S *= backoff_factor, and the count of clean steps resets
       to 0;
     - a clean step: the count grows by 1; when it reaches growth_interval, S *= growth_factor
       and the count resets to 0. S is kept in float32 range: a growth that would give
       inf in float32 (S * growth_factor > 3.4028235e38) is not applied (the count still
       resets).
   After update the next iteration starts: unscale_ may be called again.
`get_scale()` returns S as a Python float, `growth_tracker` the count of clean steps.

Pitfalls an interviewer looks for:
- growing the scale one step early (after growth_interval - 1 clean steps), or forgetting to
  reset the count after an overflow, so that the scale grows right back into the overflow;
- stepping the optimizer on inf gradients (one bad batch poisons the weights forever);
- unscaling twice (once explicitly for clipping, once again inside step);
- multiplying the gradients by S instead of dividing; clipping before unscaling.
"""

from __future__ import annotations

import math

import torch

FLOAT32_MAX = 3.4028234663852886e38


def _grads(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Given. Every gradient the optimizer would use, in param-group order."""
    return [p.grad for group in optimizer.param_groups for p in group["params"]
            if p.grad is not None]


class DynamicLossScaler:
    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000):
        if not (growth_factor > 1.0 and 0.0 < backoff_factor < 1.0 and growth_interval >= 1):
            raise ValueError("need growth_factor > 1, 0 < backoff_factor < 1, "
                             "growth_interval >= 1")
        self._scale = float(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = int(growth_interval)
        self.growth_tracker = 0
        # Per-iteration state: None until unscale_ runs, then whether it found inf/NaN.
        self._found_inf: bool | None = None

    def get_scale(self) -> float:
        return self._scale

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """loss * S, to be backpropagated instead of the loss."""
        # >>> TODO: multiply by the current scale
        return loss * self._scale
        # <<<

    def unscale_(self, optimizer: torch.optim.Optimizer) -> bool:
        """Divide every gradient by S in place; return True if any is inf or NaN."""
        # >>> TODO: refuse a second unscale in one iteration; divide each grad in place;
        # >>> remember (and return) whether any gradient is non-finite
        if self._found_inf is not None:
            raise RuntimeError("unscale_() was already called since the last update(): "
                               "unscaling twice divides the gradients by the scale twice")
        inv_scale = 1.0 / self._scale
        found_inf = False
        for g in _grads(optimizer):
            g.mul_(inv_scale)
            # inf * (1/S) is still inf and NaN stays NaN, so checking after is as good.
            found_inf = found_inf or not bool(torch.isfinite(g).all())
        self._found_inf = found_inf
        return found_inf
        # <<<

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """optimizer.step() unless this iteration's gradients overflowed; True if it stepped."""
        # >>> TODO: unscale if not done yet this iteration, then step only on finite grads
        if self._found_inf is None:
            self.unscale_(optimizer)
        if self._found_inf:
            return False
        optimizer.step()
        return True
        # <<<

    def update(self, found_inf: bool | None = None) -> None:
        """Back off on overflow, grow after growth_interval clean steps; start a new iteration."""
        if found_inf is None:
            if self._found_inf is None:
                raise RuntimeError("update() without found_inf needs an unscale_() or step() "
                                   "in this iteration")
            found_inf = self._found_inf
        # >>> TODO: overflow: back off and reset the count; clean: count, and grow the
        # >>> scale (if it stays finite in float32) when the count reaches the interval
        if found_inf:
            self._scale *= self.backoff_factor
            self.growth_tracker = 0
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                grown = self._scale * self.growth_factor
                if math.isfinite(grown) and grown <= FLOAT32_MAX:
                    self._scale = grown
                self.growth_tracker = 0
        # <<<
        self._found_inf = None
