"""Tests for the lr_schedules kata.

Oracles: torch.optim.lr_scheduler driven step by step on a dummy SGD optimizer (the lr read
before each optimizer step is the lr of that step): LinearLR for the warmup, CosineAnnealingLR
and LinearLR for the decays (chained with SequentialLR at step `warmup`), StepLR for
step_decay; plus values computed by hand (midpoints, ends, after `total`). When a schedule is
wrong, the tests also compare it with the classic wrong schedules (warmup off by one, decay
counted from step 0, cosine without the min_lr offset, ...) and name the one it matches.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR, StepLR

from dojo.testing import assert_close

# The first optimizer a process builds imports torch._dynamo (seconds on a busy machine): pay
# that once here, at collection, rather than inside whichever test happens to run first.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def drive(make_scheduler, n_steps, base_lr):
    """The lr torch uses at steps 0 .. n_steps - 1."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(lrs)


def torch_warmup_then(decay, warmup, base_lr, n_steps):
    """LinearLR warmup (1/W -> 1 over W - 1 scheduler steps) followed by `decay`."""
    if warmup == 0:
        return drive(decay, n_steps, base_lr)
    if warmup == 1:  # LinearLR cannot ramp over 0 steps; a 1-step warmup is just base_lr
        def make(opt):
            return SequentialLR(opt, [LinearLR(opt, 1.0, 1.0, 1), decay(opt)], [1])
    else:
        def make(opt):
            return SequentialLR(opt, [LinearLR(opt, 1.0 / warmup, 1.0, warmup - 1), decay(opt)],
                                [warmup])
    return drive(make, n_steps, base_lr)


def ours(fn, steps, *args):
    out = []
    for s in steps:
        v = fn(s, *args)
        assert v is not None, f"{fn.__name__}({s}, ...) returned None"
        out.append(v)
    return np.array(out, dtype=np.float64)


def cosine_variants(warmup, total, base, lo):
    def cos_from(start, span, offset=True):
        def f(s):
            if s < warmup:
                return base * (s + 1) / warmup
            p = min(1.0, (s - start) / span)
            return (lo if offset else 0.0) + 0.5 * ((base - lo) if offset else base) * (
                1 + math.cos(math.pi * p))
        return f

    def off_by_one(s):
        if s < warmup:
            return base * s / warmup
        return cos_from(warmup, total - warmup)(s)

    def unclamped(s):
        if s < warmup:
            return base * (s + 1) / warmup
        return lo + 0.5 * (base - lo) * (1 + math.cos(math.pi * (s - warmup) / (total - warmup)))

    return [
        ("a warmup of base_lr * step / warmup: lr 0 at step 0 is a wasted step; use "
         "(step + 1) / warmup", off_by_one),
        ("a cosine whose clock starts at step 0: count the progress from the end of warmup, "
         "(step - warmup) / (total - warmup)", cos_from(0, total)),
        ("a cosine over (step - warmup) / total: the decay lasts total - warmup steps",
         cos_from(warmup, total)),
        ("a cosine without the min_lr offset: min_lr + (base_lr - min_lr) * (1 + cos) / 2",
         cos_from(warmup, total - warmup, offset=False)),
        ("a cosine that rises again after `total`: clamp the progress at 1", unclamped),
    ]


def linear_variants(warmup, total, base, lo):
    def line(start, span, warm_plus=1):
        def f(s):
            if s < warmup:
                return base * (s + warm_plus) / warmup
            return base + (lo - base) * min(1.0, (s - start) / span)
        return f

    def unclamped(s):
        if s < warmup:
            return base * (s + 1) / warmup
        return base + (lo - base) * (s - warmup) / (total - warmup)

    return [
        ("a warmup of base_lr * step / warmup: lr 0 at step 0 is a wasted step; use "
         "(step + 1) / warmup", line(warmup, total - warmup, warm_plus=0)),
        ("a linear decay whose clock starts at step 0: count from the end of warmup",
         line(0, total)),
        ("a linear decay over (step - warmup) / total: it lasts total - warmup steps",
         line(warmup, total)),
        ("a linear decay that goes on below min_lr after `total`: clamp the progress at 1",
         unclamped),
    ]


def check_schedule(got, expected, steps, what, variants=()):
    try:
        assert_close(got, expected, what=what)
    except AssertionError as err:
        for description, f in variants:
            if np.allclose(got, [f(s) for s in steps], rtol=1e-9, atol=1e-12):
                raise AssertionError(f"{err}\nYour schedule matches {description}.") from None
        raise


# ------------------------------------------------------------------------- linear_warmup


def test_linear_warmup_starts_above_zero_and_ends_at_base_lr(kata):
    got = ours(kata.linear_warmup, range(5), 5, 0.02)
    check_schedule(got, [0.004, 0.008, 0.012, 0.016, 0.02], range(5),
                   "linear_warmup(step, warmup=5, base_lr=0.02) for steps 0..4: "
                   "base_lr * (step + 1) / warmup",
                   [("a warmup of base_lr * step / warmup: lr 0 at step 0 is wasted",
                     lambda s: 0.02 * s / 5)])
    torch_lrs = torch_warmup_then(lambda o: StepLR(o, 10**6), 5, 0.02, 5)
    assert_close(got, torch_lrs, what="linear_warmup vs. torch's LinearLR(1/5, 1, 4)")


# ------------------------------------------------------------------------- warmup_cosine


@pytest.mark.parametrize("warmup,total,base,lo", [
    (5, 25, 0.1, 0.0), (4, 12, 0.5, 0.05), (10, 50, 3e-4, 3e-5), (1, 9, 1.0, 0.1)])
def test_warmup_cosine_matches_torch(kata, warmup, total, base, lo):
    steps = range(total + 1)
    got = ours(kata.warmup_cosine, steps, warmup, total, base, lo)
    expected = torch_warmup_then(lambda o: CosineAnnealingLR(o, T_max=total - warmup,
                                                             eta_min=lo), warmup, base, total + 1)
    check_schedule(got, expected, steps,
                   f"warmup_cosine(step, warmup={warmup}, total={total}, base_lr={base}, "
                   f"min_lr={lo}) for steps 0..{total} vs. LinearLR + CosineAnnealingLR",
                   cosine_variants(warmup, total, base, lo))


def test_warmup_cosine_without_warmup(kata):
    steps = range(21)
    got = ours(kata.warmup_cosine, steps, 0, 20, 0.3, 0.01)
    expected = drive(lambda o: CosineAnnealingLR(o, T_max=20, eta_min=0.01), 21, 0.3)
    check_schedule(got, expected, steps, "warmup_cosine with warmup=0: a plain cosine from "
                                         "base_lr at step 0", cosine_variants(0, 20, 0.3, 0.01))


def test_warmup_cosine_hand_values(kata):
    # warmup 10, total 110: the cosine runs over 100 steps, its midpoint is step 60.
    f, base, lo = kata.warmup_cosine, 2.0, 0.2
    cases = {0: 0.2, 4: 1.0, 9: 2.0, 10: 2.0, 35: lo + 0.5 * (base - lo) * (1 + math.cos(
        math.pi / 4)), 60: 1.1, 110: 0.2}
    for step, want in cases.items():
        got = f(step, 10, 110, base, lo)
        check_schedule(np.array([got]), np.array([want]), [step],
                       f"warmup_cosine({step}, warmup=10, total=110, base_lr=2.0, min_lr=0.2)",
                       cosine_variants(10, 110, base, lo))


def test_warmup_cosine_ends_at_min_lr_and_stays_there(kata):
    for step in (40, 41, 45, 80, 1000):
        got = kata.warmup_cosine(step, 8, 40, 0.7, 0.07)
        assert got is not None and abs(got - 0.07) < 1e-12, (
            f"warmup_cosine({step}, warmup=8, total=40, base_lr=0.7, min_lr=0.07) = {got}; "
            "from step `total` on the lr must be min_lr exactly (clamp the progress at 1 so "
            "the cosine does not rise again)")


def test_warmup_cosine_decay_is_monotone(kata):
    lrs = ours(kata.warmup_cosine, range(60), 6, 50, 1.0, 0.0)
    assert np.all(np.diff(lrs[:6]) > 0), f"the warmup lrs must increase, got {lrs[:6]}"
    assert np.all(np.diff(lrs[5:]) <= 1e-15), (
        f"from the last warmup step on the lr must never increase, got {lrs[5:]}")
    assert lrs[5] == lrs[6] == 1.0, (
        f"the last warmup step and the first decay step both use base_lr, got {lrs[5:7]}")


def test_warmup_cosine_returns_a_python_float(kata):
    for step in (0, 7, 30):
        got = kata.warmup_cosine(step, 5, 20, 0.1)
        assert type(got) is float, (
            f"warmup_cosine({step}, ...) returned {type(got).__name__}; return a Python float")


# -------------------------------------------------------------- linear_warmup_linear_decay


@pytest.mark.parametrize("warmup,total,base,lo", [
    (5, 25, 0.1, 0.0), (4, 12, 0.5, 0.05), (1, 7, 1.0, 0.25), (0, 10, 0.2, 0.02)])
def test_linear_warmup_linear_decay_matches_torch(kata, warmup, total, base, lo):
    steps = range(total + 4)
    got = ours(kata.linear_warmup_linear_decay, steps, warmup, total, base, lo)
    expected = torch_warmup_then(lambda o: LinearLR(o, 1.0, lo / base, total - warmup), warmup,
                                 base, total + 4)
    check_schedule(got, expected, steps,
                   f"linear_warmup_linear_decay(step, warmup={warmup}, total={total}, "
                   f"base_lr={base}, min_lr={lo}) for steps 0..{total + 3} vs. LinearLR x 2",
                   linear_variants(warmup, total, base, lo))


def test_linear_warmup_linear_decay_hand_values(kata):
    f = kata.linear_warmup_linear_decay
    cases = {0: 0.25, 3: 1.0, 4: 1.0, 7: 0.625, 10: 0.25, 12: 0.25, 100: 0.25}
    for step, want in cases.items():
        got = f(step, 4, 10, 1.0, 0.25)
        check_schedule(np.array([got]), np.array([want]), [step],
                       f"linear_warmup_linear_decay({step}, warmup=4, total=10, base_lr=1.0, "
                       "min_lr=0.25)", linear_variants(4, 10, 1.0, 0.25))


# ------------------------------------------------------------------------- step_decay


@pytest.mark.parametrize("step_size,gamma", [(3, 0.5), (1, 0.9), (10, 0.1), (4, 2.0)])
def test_step_decay_matches_torch_steplr(kata, step_size, gamma):
    steps = range(25)
    got = ours(kata.step_decay, steps, 0.3, step_size, gamma)
    expected = drive(lambda o: StepLR(o, step_size=step_size, gamma=gamma), 25, 0.3)
    check_schedule(got, expected, steps,
                   f"step_decay(step, base_lr=0.3, step_size={step_size}, gamma={gamma}) vs. "
                   "StepLR", [("a decay one step early: the first decay is AT step == "
                               "step_size, after step_size full steps",
                               lambda s: 0.3 * gamma ** ((s + 1) // step_size))])


def test_step_decay_default_gamma_and_boundaries(kata):
    f = kata.step_decay
    for step, want in ((0, 1.0), (29, 1.0), (30, 0.1), (59, 0.1), (60, 0.01), (95, 0.001)):
        got = f(step, 1.0, 30)
        assert got is not None and math.isclose(got, want, rel_tol=1e-12), (
            f"step_decay({step}, base_lr=1.0, step_size=30) = {got}, expected {want}: "
            "gamma defaults to 0.1 and applies once per completed step_size steps")
