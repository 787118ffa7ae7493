"""Tests for the mixed_precision kata.

Oracle: torch.amp.GradScaler("cpu") driven through the same sequence of losses and overflows,
on CPU copies of the same parameters. Its scale, growth tracker, unscaled gradients, skipped
steps and parameters after each step are what DynamicLossScaler must reproduce. The learner's
scaler runs on the device under test, in float32.
"""

import math

import pytest
import torch

from dojo.testing import assert_close


def make_params(device, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(4, 3, generator=g)
    b = torch.randn(3, generator=g)
    return [torch.nn.Parameter(w.clone().to(device)), torch.nn.Parameter(b.clone().to(device))]


def make_batch(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(5, 4, generator=g), torch.randn(5, 3, generator=g)


def loss_of(params, x, y):
    w, b = params
    return ((x @ w + b - y) ** 2).mean()


def oracle(**kwargs):
    return torch.amp.GradScaler("cpu", **kwargs)


def scale_of(scaler):
    return scaler.get_scale()


def test_scale_multiplies_the_loss_by_the_current_scale(kata, device):
    scaler = kata.DynamicLossScaler(init_scale=1024.0)
    loss = torch.tensor(0.75, device=device)
    out = scaler.scale(loss)
    assert isinstance(out, torch.Tensor), "scale(loss) must return a tensor to call backward on"
    assert_close(out, torch.tensor(768.0), what="scale(0.75) with scale 1024")


def test_unscale_divides_every_gradient_by_the_scale(kata, device):
    params = make_params(device)
    ref = make_params("cpu")
    opt = torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    ref_opt = torch.optim.SGD([{"params": ref[:1]}, {"params": ref[1:]}], lr=0.1)
    mine, theirs = kata.DynamicLossScaler(init_scale=256.0), oracle(init_scale=256.0)
    x, y = make_batch(0)
    mine.scale(loss_of(params, x.to(device), y.to(device))).backward()
    theirs.scale(loss_of(ref, x, y)).backward()
    assert_close(params[0].grad, ref[0].grad, what="scaled gradient before unscale_")
    found = mine.unscale_(opt)
    theirs.unscale_(ref_opt)
    assert found is False or found == 0, f"unscale_ found an overflow in finite grads: {found!r}"
    for i, (p, r) in enumerate(zip(params, ref, strict=True)):
        try:
            assert_close(p.grad, r.grad, what=f"unscaled grad of parameter {i}")
        except AssertionError as err:
            if torch.allclose(p.grad.cpu(), r.grad * 256.0 ** 2, rtol=1e-4):
                raise AssertionError(f"{err}\nThe grads were multiplied by the scale, "
                                     "not divided by it.") from None
            raise


def test_parameters_without_gradients_are_skipped(kata, device):
    params = make_params(device)
    frozen = torch.nn.Parameter(torch.ones(2, device=device))
    opt = torch.optim.SGD(params + [frozen], lr=0.1)
    scaler = kata.DynamicLossScaler(init_scale=8.0)
    x, y = make_batch(0)
    scaler.scale(loss_of(params, x.to(device), y.to(device))).backward()
    assert frozen.grad is None
    assert not scaler.unscale_(opt), "a parameter with grad None is not an overflow"


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("where", [0, 1])
def test_unscale_reports_inf_and_nan_in_any_param_group(kata, device, bad, where):
    params = make_params(device)
    opt = torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    scaler = kata.DynamicLossScaler(init_scale=64.0)
    x, y = make_batch(1)
    scaler.scale(loss_of(params, x.to(device), y.to(device))).backward()
    params[where].grad.view(-1)[-1] = bad
    assert scaler.unscale_(opt), (
        f"a gradient of parameter {where} holds {bad}, but unscale_ reported no overflow: "
        "check every gradient of every param group for inf and NaN"
    )


def test_unscaling_twice_in_one_iteration_is_an_error(kata, device):
    params = make_params(device)
    opt = torch.optim.SGD(params, lr=0.1)
    scaler = kata.DynamicLossScaler(init_scale=4.0)
    x, y = make_batch(2)
    scaler.scale(loss_of(params, x.to(device), y.to(device))).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError):
        scaler.unscale_(opt)


def run_training(kata, device, overflow_steps, n_steps, clip, **kwargs):
    """Train the same parameters with DynamicLossScaler (device) and GradScaler (cpu),
    injecting an inf gradient at the given steps; return what both saw at each step."""
    params, ref = make_params(device), make_params("cpu")
    opt, ref_opt = torch.optim.SGD(params, lr=0.05), torch.optim.SGD(ref, lr=0.05)
    mine, theirs = kata.DynamicLossScaler(**kwargs), oracle(**kwargs)
    seen = []
    for step in range(n_steps):
        x, y = make_batch(step)
        for ps, o, s, xx, yy in ((params, opt, mine, x.to(device), y.to(device)),
                                 (ref, ref_opt, theirs, x, y)):
            o.zero_grad()
            s.scale(loss_of(ps, xx, yy)).backward()
            if step in overflow_steps:
                ps[1].grad[0] = math.inf
            if clip:
                s.unscale_(o)
                torch.nn.utils.clip_grad_norm_(ps, 1.0)
        stepped = mine.step(opt)
        theirs.step(ref_opt)
        mine.update()
        theirs.update()
        seen.append((step, stepped, mine.get_scale(), scale_of(theirs),
                     [p.detach().cpu().clone() for p in params], [r.detach().clone() for r in ref]))
    return seen


@pytest.mark.parametrize("clip", [False, True], ids=["step-unscales", "unscale-then-clip"])
def test_training_matches_grad_scaler_step_by_step(kata, device, clip):
    overflow = {2, 3, 9}
    seen = run_training(kata, device, overflow, 12, clip, init_scale=2.0**10, growth_factor=2.0,
                        backoff_factor=0.5, growth_interval=3)
    for step, stepped, s_mine, s_ref, p_mine, p_ref in seen:
        assert bool(stepped) == (step not in overflow), (
            f"step {step}: step() returned {stepped!r}; it must skip optimizer.step() exactly "
            "when a gradient overflowed, and return whether it stepped"
        )
        assert s_mine == s_ref, f"step {step}: scale {s_mine}, GradScaler has {s_ref}"
        for i, (a, b) in enumerate(zip(p_mine, p_ref, strict=True)):
            try:
                assert_close(a, b, what=f"parameter {i} after step {step}")
            except AssertionError as err:
                hint = ("\nAfter unscale_ for clipping, step() must not unscale again." if clip
                        else "\nstep() must unscale the gradients before optimizer.step().")
                raise AssertionError(f"{err}{hint}") from None


def test_overflow_skips_the_step_and_leaves_parameters_untouched(kata, device):
    params = make_params(device)
    before = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=0.5)
    scaler = kata.DynamicLossScaler(init_scale=16.0)
    x, y = make_batch(3)
    scaler.scale(loss_of(params, x.to(device), y.to(device))).backward()
    params[0].grad[0, 0] = math.nan
    assert scaler.step(opt) is False, "step() on a NaN gradient must return False"
    for i, (p, b) in enumerate(zip(params, before, strict=True)):
        assert torch.equal(p.detach(), b), f"parameter {i} changed on an overflowing step"


def scale_trace(scaler, flags):
    trace = []
    for found in flags:
        scaler.update(found)
        trace.append(scaler.get_scale())
    return trace


def oracle_trace(flags, **kwargs):
    """GradScaler's scale after each update, when the gradients overflow per `flags`."""
    s = oracle(**kwargs)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.0)
    trace = []
    for found in flags:
        s.scale(torch.ones(()))  # GradScaler creates its scale tensor lazily
        p.grad = torch.full((1,), math.inf if found else 1.0)
        s.unscale_(opt)
        s.update()
        trace.append(s.get_scale())
    return trace


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scale_decisions_match_grad_scaler_on_random_overflow_sequences(kata, seed):
    g = torch.Generator().manual_seed(seed)
    flags = (torch.rand(60, generator=g) < 0.2).tolist()
    kwargs = dict(init_scale=2.0**12, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    mine = scale_trace(kata.DynamicLossScaler(**kwargs), flags)
    ref = oracle_trace(flags, **kwargs)
    for i, (a, b) in enumerate(zip(mine, ref, strict=True)):
        assert a == b, (
            f"after update {i} (overflow flags so far {[int(f) for f in flags[:i + 1]]}) the "
            f"scale is {a}, GradScaler has {b}"
        )


def test_scale_grows_after_exactly_growth_interval_clean_steps(kata):
    scaler = kata.DynamicLossScaler(init_scale=8.0, growth_factor=2.0, growth_interval=3)
    trace = scale_trace(scaler, [False] * 7)
    assert trace == [8.0, 8.0, 16.0, 16.0, 16.0, 32.0, 32.0], (
        f"scale after 7 clean steps with growth_interval=3: {trace}; it must double after the "
        "3rd and 6th clean step (an off-by-one grows it after 2 or 4)"
    )
    assert scaler.growth_tracker == 1, f"growth_tracker {scaler.growth_tracker}, expected 1"


def test_overflow_backs_off_and_restarts_the_count(kata):
    scaler = kata.DynamicLossScaler(init_scale=64.0, growth_factor=2.0, backoff_factor=0.5,
                                    growth_interval=3)
    trace = scale_trace(scaler, [False, False, True, False, False, False])
    assert trace[2] == 32.0, f"an overflow must halve the scale: 64 -> {trace[2]}"
    assert trace == [64.0, 64.0, 32.0, 32.0, 32.0, 64.0], (
        f"scale trace {trace}: after an overflow the count of clean steps restarts from 0, "
        "so the scale grows only after 3 new clean steps"
    )
    assert scaler.growth_tracker == 0


def test_scale_never_grows_to_inf_in_float32(kata):
    scaler = kata.DynamicLossScaler(init_scale=2.0**126, growth_factor=2.0, growth_interval=1)
    trace = scale_trace(scaler, [False] * 3)
    ref = oracle_trace([False] * 3, init_scale=2.0**126, growth_factor=2.0, growth_interval=1)
    assert trace == ref == [2.0**127] * 3, (
        f"scale trace {trace}, GradScaler {ref}: 2**128 overflows float32, so the scale "
        "must stay at 2**127"
    )


def test_update_without_flag_uses_what_unscale_found(kata, device):
    params = make_params(device)
    opt = torch.optim.SGD(params, lr=0.1)
    scaler = kata.DynamicLossScaler(init_scale=32.0, growth_interval=1)
    x, y = make_batch(4)
    scaler.scale(loss_of(params, x.to(device), y.to(device))).backward()
    params[0].grad[1, 1] = math.inf
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 16.0, (
        f"scale {scaler.get_scale()} after an overflowing step and update(): expected 16 "
        "(update() must back off using what unscale_ found)"
    )
    opt.zero_grad()
    scaler.scale(loss_of(params, x.to(device), y.to(device))).backward()
    assert scaler.step(opt) is True, "the next clean iteration must step (unscale_ again)"
    scaler.update()
    assert scaler.get_scale() == 32.0


def test_scale_may_grow_to_exactly_the_float32_maximum(kata):
    top = 3.4028234663852886e38  # the largest finite float32
    scaler = kata.DynamicLossScaler(init_scale=top / 2, growth_factor=2.0, growth_interval=1)
    trace = scale_trace(scaler, [False])
    ref = oracle_trace([False], init_scale=top / 2, growth_factor=2.0, growth_interval=1)
    assert trace == ref == [top], (
        f"scale {trace}, GradScaler {ref}: the largest finite float32 is still finite, so the "
        "scale grows to it"
    )
