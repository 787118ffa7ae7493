"""Learning-rate schedules as pure functions of the step: warmup, cosine, step and linear decay.

Build, in plain Python (floats in, a float out; no numpy, no torch):

    linear_warmup(step, warmup, base_lr)                        the warmup ramp alone
    warmup_cosine(step, warmup, total, base_lr, min_lr=0.0)     linear warmup, cosine decay
    linear_warmup_linear_decay(step, warmup, total, base_lr, min_lr=0.0)
                                                                linear warmup, linear decay
    step_decay(step, base_lr, step_size, gamma=0.1)             x gamma every step_size steps

Conventions (each function returns the lr used for the optimizer update AT `step`):
- `step` is 0-based: 0 is the first update. The lr is never 0 during warmup.
- Warmup (steps 0 .. warmup - 1) rises linearly and reaches base_lr at its LAST step:
      lr(step) = base_lr * (step + 1) / warmup
  so lr(0) = base_lr / warmup (a step at lr 0 would be wasted). warmup = 0 means no warmup.
  This is torch's LinearLR(start_factor=1/warmup, end_factor=1, total_iters=warmup - 1).
- Decay starts at step `warmup` (lr = base_lr there again) and counts from there, NOT from
  step 0: with progress p = (step - warmup) / (total - warmup), p in [0, 1],
      cosine: lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2
      linear: lr = base_lr + (min_lr - base_lr) * p
  lr(total) = min_lr exactly, and every step after `total` stays at min_lr (p is clamped
  to 1; the cosine does not come back up). The cosine part is torch's
  CosineAnnealingLR(T_max=total - warmup, eta_min=min_lr), the linear part
  LinearLR(1, min_lr / base_lr, total - warmup), each started at step `warmup`.
- step_decay: lr = base_lr * gamma ** (step // step_size), torch's StepLR: the first decay
  happens at step == step_size.
Arguments are checked for you: 0 <= step, 0 <= warmup < total, step_size >= 1.

Pitfalls an interviewer looks for:
- Warmup off by one: base_lr * step / warmup gives lr 0 at step 0 and reaches base_lr a
  step late.
- A decay whose clock starts at step 0 instead of at the end of warmup: the lr then drops
  from below base_lr right after warmup, and the shape depends on the warmup length.
- A cosine that does not end at min_lr (pi * p with p never reaching 1, or forgetting the
  min_lr offset), or that rises again after `total`.
"""

import math


def _check(step: int, warmup: int = 0, total: int = 1) -> None:
    """Given. Reject arguments outside the conventions above."""
    if step < 0 or not 0 <= warmup < total:
        raise ValueError(f"need 0 <= step and 0 <= warmup < total; got step={step}, "
                         f"warmup={warmup}, total={total}")


def linear_warmup(step: int, warmup: int, base_lr: float) -> float:
    """lr during warmup (0 <= step < warmup): rises linearly to base_lr at step warmup - 1."""
    if not 0 <= step < warmup:
        raise ValueError(f"linear_warmup needs 0 <= step < warmup; got {step=}, {warmup=}")
    # >>> TODO: a linear ramp that is already non-zero at step 0 and ends at base_lr
    return base_lr * (step + 1) / warmup  # step 0 already trains, at base_lr / warmup
    # <<<


def warmup_cosine(step: int, warmup: int, total: int, base_lr: float,
                  min_lr: float = 0.0) -> float:
    """Linear warmup for `warmup` steps, then a half cosine from base_lr (at step warmup) to
    min_lr (at step total and after)."""
    _check(step, warmup, total)
    # >>> TODO: warmup first; then the cosine's progress counted from the end of warmup,
    # >>>       clamped so that the lr stays at min_lr from `total` on
    if step < warmup:
        return linear_warmup(step, warmup, base_lr)
    progress = min(1.0, (step - warmup) / (total - warmup))  # 0 at warmup, 1 at total
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
    # <<<


def linear_warmup_linear_decay(step: int, warmup: int, total: int, base_lr: float,
                               min_lr: float = 0.0) -> float:
    """Linear warmup for `warmup` steps, then a straight line from base_lr (at step warmup)
    to min_lr (at step total and after)."""
    _check(step, warmup, total)
    # >>> TODO: warmup first; then interpolate from base_lr to min_lr, progress clamped at 1
    if step < warmup:
        return linear_warmup(step, warmup, base_lr)
    progress = min(1.0, (step - warmup) / (total - warmup))
    return base_lr + (min_lr - base_lr) * progress
    # <<<


def step_decay(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """base_lr times gamma once per `step_size` steps completed (torch's StepLR)."""
    _check(step)
    if step_size < 1:
        raise ValueError(f"step_size must be >= 1, got {step_size}")
    # >>> TODO: how many whole step_size periods have passed, and gamma to that power
    return base_lr * gamma ** (step // step_size)
    # <<<
