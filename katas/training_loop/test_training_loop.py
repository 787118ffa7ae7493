"""Tests for the training_loop kata: gradient accumulation, global-norm clipping and dynamic
loss scaling.

Oracles: torch.nn.utils.clip_grad_norm_ for clip_grad_norm; for train, the plain big-batch
loop (zero_grad, the loss of all the step's micro-batches concatenated, backward,
torch.nn.utils.clip_grad_norm_, opt.step) on an identical copy of the model and optimizer:
accumulated micro-batches must land on the same parameters after every step. Loss scaling is
checked with torch.amp.GradScaler and with a fake scaler that records the order of the calls.
When the parameters are wrong, a re-implementation with the classic bugs switched on (loss not
divided by accum_steps, zero_grad inside the micro-batch loop, per-tensor clipping, ...) names
the one matched.
"""

import copy
import math

import pytest
import torch
from torch import nn

from dojo.testing import assert_close

# The first Optimizer constructed in a process imports torch._dynamo lazily (seconds): pay that
# one-off cost at collection, like the torch import, rather than inside the first test.
torch.optim.SGD([torch.zeros(1, requires_grad=True)])

D_IN, HIDDEN, D_OUT, MICRO = 5, 8, 3, 4


class Net(nn.Module):
    """A small MLP whose forward returns the mean squared error of a micro-batch."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, D_OUT))

    def forward(self, x, y):
        return ((self.body(x) - y) ** 2).mean()


def micro_batches(n, seed, device, size=MICRO, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [((torch.randn(size, D_IN, generator=g) * scale).to(device),
             torch.randn(size, D_OUT, generator=g).to(device)) for _ in range(n)]


def setup(seed, device, lr=0.1, momentum=0.9):
    model = Net(seed).to(device)
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def chunks(data, k):
    return [data[i:i + k] for i in range(0, len(data), k)]


def reference(model, data, opt, accum_steps, max_grad_norm, *, divide=True,
              zero_inside=False, clip="global", stale=True):
    """The big-batch loop (the oracle, with every flag at its default), or a classic bug:
    divide=False: micro-batch losses summed, not averaged; zero_inside: zero_grad before every
    micro-batch; clip: "global", "per-tensor" or "always-scale"; stale=False: grads from
    before train are not zeroed. Returns (losses, params after every step)."""
    losses, traj = [], []
    for i, group in enumerate(chunks(data, accum_steps)):
        if stale or i > 0:
            opt.zero_grad()
        if divide and not zero_inside:
            x = torch.cat([x for x, _ in group])
            y = torch.cat([y for _, y in group])
            loss = model(x, y)  # the mean over the big batch = mean of micro-batch means
            loss.backward()
        else:
            total = 0.0
            for x, y in group:
                if zero_inside:
                    opt.zero_grad()
                micro = model(x, y) / (len(group) if divide else 1)
                micro.backward()
                total += micro.item()
            loss = torch.tensor(total / (1 if divide else len(group)))
        if max_grad_norm is not None:
            params = [p for p in model.parameters() if p.grad is not None]
            if clip == "global":
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            elif clip == "per-tensor":
                for p in params:
                    torch.nn.utils.clip_grad_norm_([p], max_grad_norm)
            else:
                norm = torch.sqrt(sum((p.grad**2).sum() for p in params))
                for p in params:
                    p.grad.mul_(max_grad_norm / (norm + 1e-6))
        opt.step()
        losses.append(loss.item())
        traj.append(params_of(model))
    return losses, traj


SUSPECTS = [
    ("micro-batch losses not divided by the number of micro-batches per step (the gradient "
     "is accum_steps times too large)", dict(divide=False)),
    ("zero_grad inside the micro-batch loop: only the last micro-batch's gradient is used; "
     "zero once per optimizer step", dict(zero_inside=True)),
    ("each tensor clipped on its own: clip the GLOBAL norm over all parameters",
     dict(clip="per-tensor")),
    ("gradients scaled by max_norm / norm even when the norm is below max_norm: the "
     "coefficient is min(1, max_norm / (norm + 1e-6))", dict(clip="always-scale")),
    ("stale gradients from before train() leaked into the first step: zero the gradients at "
     "the start of every step", dict(stale=False)),
]


def run_both(kata, device, data, accum_steps, max_grad_norm, seed, stale_grads=False,
             momentum=0.9):
    """(model, ours, theirs): train() on one copy, the reference on an identical copy."""
    model, opt = setup(seed, device, momentum=momentum)
    twin = copy.deepcopy(model)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=momentum)
    if stale_grads:  # garbage left in .grad by earlier work
        for p, q in zip(model.parameters(), twin.parameters(), strict=True):
            p.grad = torch.full_like(p, 5.0)
            q.grad = torch.full_like(q, 5.0)
    state = (copy.deepcopy(model.state_dict()), stale_grads)
    losses = kata.train(model, data, opt, accum_steps, max_grad_norm)
    want_losses, want = reference(twin, data, twin_opt, accum_steps, max_grad_norm)
    return model, losses, want_losses, want, state


def check_train(kata, device, data, accum_steps, max_grad_norm, seed, what, stale_grads=False,
                momentum=0.9):
    model, losses, want_losses, want, (init, stale) = run_both(
        kata, device, data, accum_steps, max_grad_norm, seed, stale_grads, momentum)
    n_steps = math.ceil(len(data) / accum_steps)
    assert isinstance(losses, list) and len(losses) == n_steps, (
        f"{what}: train must return a list of one loss per optimizer step ({len(data)} "
        f"micro-batches / accum_steps={accum_steps} -> {n_steps} steps), got {losses!r}")
    assert all(isinstance(v, float) for v in losses), (
        f"{what}: the losses must be Python floats (loss.item()), got {losses!r}")
    try:
        for i, (a, e) in enumerate(zip(params_of(model), want[-1], strict=True)):
            assert_close(a, e, what=f"{what}: parameter {i} after {n_steps} optimizer steps "
                                    "(big-batch oracle)")
    except AssertionError as err:
        got = params_of(model)
        for description, bug in SUSPECTS:
            twin = Net(0).to(device)
            twin.load_state_dict(init)
            if stale:
                for p in twin.parameters():
                    p.grad = torch.full_like(p, 5.0)
            opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=momentum)
            _, wrong = reference(twin, data, opt, accum_steps, max_grad_norm, **bug)
            if all(torch.allclose(a, w, rtol=1e-4, atol=1e-5)
                   for a, w in zip(got, wrong[-1], strict=True)):
                raise AssertionError(f"{err}\nYour parameters match {description}.") from None
        raise
    assert_close(torch.tensor(losses), torch.tensor(want_losses),
                 what=f"{what}: returned losses (one per step: the mean of its micro-batch "
                      "losses, unscaled)", rtol=1e-5, atol=1e-6)  # float() of float32 losses


# ----------------------------------------------------------------------------- clip_grad_norm


def grads_for(shapes, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    params = []
    for s in shapes:
        p = torch.zeros(s, device=device, requires_grad=True)
        p.grad = (torch.randn(s, generator=g) * scale).to(device)
        params.append(p)
    return params


SHAPES = [(4, 3), (7,), (2, 2, 3)]


@pytest.mark.parametrize("max_norm, scale", [(1.0, 1.0), (0.3, 2.0), (5.0, 0.5), (100.0, 1.0),
                                             (1e-5, 1e-5)],
                         ids=["clipped", "strongly-clipped", "below-max", "far-below-max",
                              "tiny-norm"])
def test_clip_grad_norm_matches_torch(kata, device, max_norm, scale):
    ours = grads_for(SHAPES, 1, device, scale)
    theirs = grads_for(SHAPES, 1, device, scale)
    total = kata.clip_grad_norm(ours, max_norm)
    want_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert total is not None, "clip_grad_norm must return the total norm (before clipping)"
    assert_close(torch.as_tensor(total).float().cpu(), want_total.cpu(),
                 what=f"total norm returned by clip_grad_norm (max_norm={max_norm})")
    per_tensor = [p.grad.norm().item() for p in grads_for(SHAPES, 1, device, scale)]
    for i, (a, e) in enumerate(zip(ours, theirs, strict=True)):
        if not torch.allclose(a.grad, e.grad, rtol=1e-4, atol=1e-6):
            if want_total < max_norm:
                raise AssertionError(
                    f"the global norm {want_total.item():.3g} is below max_norm={max_norm}, yet "
                    "the gradients changed: the coefficient is min(1, max_norm / (norm + 1e-6))")
            if per_tensor[i] > max_norm and math.isclose(a.grad.norm().item(), max_norm,
                                                         rel_tol=1e-3):
                raise AssertionError(f"gradient {i} was clipped to norm {max_norm} on its own: "
                                     "clip the GLOBAL norm (all tensors together) with one "
                                     "coefficient")
        # One coefficient keeps the relative precision of every entry; atol=0 so that at a
        # tiny norm (~3e-5) the + 1e-6 in max_norm / (norm + 1e-6) is visible.
        assert_close(a.grad, e.grad, what=f"gradient {i} after clip_grad_norm(max_norm="
                                          f"{max_norm}) (torch.nn.utils.clip_grad_norm_: "
                                          "coefficient max_norm / (norm + 1e-6))",
                     rtol=1e-5, atol=0.0)


def test_clip_grad_norm_accepts_a_generator_and_a_single_tensor(kata, device):
    model = Net(3).to(device)
    twin = copy.deepcopy(model)
    x, y = micro_batches(1, 4, device, scale=3.0)[0]
    model(x, y).backward()
    twin(x, y).backward()
    total = kata.clip_grad_norm(model.parameters(), 0.05)  # a generator: iterate it once
    want = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.05)
    assert_close(torch.as_tensor(total).float().cpu(), want.cpu(),
                 what="total norm of a model.parameters() generator")
    for i, (a, e) in enumerate(zip(model.parameters(), twin.parameters(), strict=True)):
        assert_close(a.grad, e.grad, what=f"gradient {i} clipped through a generator of params "
                                          "(make a list first: a generator is empty the second "
                                          "time round)")
    single = grads_for([(6,)], 5, device, scale=3.0)[0]
    expected = single.grad * (1.0 / (single.grad.norm() + 1e-6))
    kata.clip_grad_norm(single, 1.0)
    assert_close(single.grad, expected, what="a single tensor clipped to norm 1")


def test_clip_grad_norm_skips_params_without_grad(kata, device):
    params = grads_for(SHAPES, 6, device, scale=2.0)
    frozen = torch.zeros(3, device=device, requires_grad=True)  # .grad is None
    twin = grads_for(SHAPES, 6, device, scale=2.0)
    total = kata.clip_grad_norm([params[0], frozen, *params[1:]], 1.0)
    want = torch.nn.utils.clip_grad_norm_(twin, 1.0)
    assert frozen.grad is None, "a parameter without gradient must keep grad None"
    assert_close(torch.as_tensor(total).float().cpu(), want.cpu(),
                 what="total norm with a parameter whose grad is None")
    for i, (a, e) in enumerate(zip(params, twin, strict=True)):
        assert_close(a.grad, e.grad, what=f"gradient {i} next to a grad-less parameter")
    nothing = kata.clip_grad_norm([frozen], 1.0)
    assert float(nothing) == 0.0, f"no gradients at all: the norm is 0, got {nothing!r}"


# ----------------------------------------------------------------------------- train


@pytest.mark.parametrize("accum_steps", [1, 2, 4])
def test_accumulated_micro_batches_equal_one_big_batch(kata, device, accum_steps):
    data = micro_batches(8, 10 + accum_steps, device)
    check_train(kata, device, data, accum_steps, None, seed=20,
                what=f"train(accum_steps={accum_steps}, no clipping)")


def test_a_trailing_incomplete_group_makes_a_smaller_last_step(kata, device):
    data = micro_batches(7, 30, device)  # 3 + 3 + 1
    check_train(kata, device, data, 3, None, seed=31,
                what="train on 7 micro-batches with accum_steps=3 (steps of 3, 3 and 1)")


@pytest.mark.parametrize("max_norm", [0.05, 0.5, 1e3], ids=["tight", "moderate", "loose"])
def test_clipping_uses_the_global_norm_of_the_accumulated_gradient(kata, device, max_norm):
    data = micro_batches(6, 40, device, scale=2.0)
    check_train(kata, device, data, 3, max_norm, seed=41,
                what=f"train(accum_steps=3, max_grad_norm={max_norm})")


def test_stale_gradients_do_not_leak_into_the_first_step(kata, device):
    data = micro_batches(4, 50, device)
    check_train(kata, device, data, 2, 1.0, seed=51, stale_grads=True,
                what="train on a model whose .grad held garbage before the call")


def test_no_clipping_when_max_grad_norm_is_none(kata, device):
    data = micro_batches(4, 60, device, scale=5.0)  # big gradients, which clipping would cut
    check_train(kata, device, data, 2, None, seed=61, momentum=0.0,
                what="train(max_grad_norm=None): no clipping at all")


# ----------------------------------------------------------------------------- loss scaling


class FakeScaler:
    """A GradScaler look-alike with a fixed scale that records every call, and the gradient
    norm at unscale_ and at step time."""

    def __init__(self, scale=1024.0):
        self.scale_value = scale
        self.calls = []
        self.norm_at_step = []

    def _grads(self, opt):
        return [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]

    def scale(self, loss):
        self.calls.append("scale")
        return loss * self.scale_value

    def unscale_(self, opt):
        self.calls.append("unscale_")
        for g in self._grads(opt):
            g.div_(self.scale_value)

    def step(self, opt):
        self.calls.append("step")
        self.norm_at_step.append(torch.sqrt(sum((g**2).sum() for g in self._grads(opt))).item())
        return opt.step()

    def update(self):
        self.calls.append("update")


@pytest.mark.parametrize("max_norm", [None, 0.1], ids=["no-clip", "clip"])
def test_a_loss_scaler_is_used_in_order_scale_unscale_clip_step_update(kata, device, max_norm):
    data = micro_batches(6, 70, device, scale=2.0)
    model, opt = setup(71, device)
    twin = copy.deepcopy(model)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    scaler = FakeScaler()
    losses = kata.train(model, data, opt, 3, max_norm, scaler=scaler)
    want_losses, want = reference(twin, data, twin_opt, 3, max_norm)
    per_step = ["scale"] * 3 + ["unscale_", "step", "update"]
    assert scaler.calls == per_step * 2, (
        f"scaler calls were {scaler.calls}; expected, per optimizer step, scale() for each "
        "micro-batch, then unscale_(opt), step(opt), update() (step through the scaler, never "
        "opt.step() directly)")
    if max_norm is not None:
        for norm in scaler.norm_at_step:
            if norm < max_norm / 100:
                raise AssertionError(
                    f"the gradient norm at step time is {norm:.3g}, far below max_grad_norm="
                    f"{max_norm}: the gradients were clipped while still scaled; call "
                    "scaler.unscale_(opt) BEFORE clipping")
            assert norm <= max_norm * (1 + 1e-4), (
                f"gradient norm {norm:.4g} at step time exceeds max_grad_norm={max_norm}")
    for i, (a, e) in enumerate(zip(params_of(model), want[-1], strict=True)):
        assert_close(a, e, what=f"parameter {i} after training with a loss scaler of 1024 "
                                f"(max_grad_norm={max_norm})")
    assert_close(torch.tensor(losses), torch.tensor(want_losses),
                 what="returned losses with a scaler: the unscaled losses", rtol=1e-5,
                 atol=1e-6)  # float() of float32 losses


def test_grad_scaler_skips_the_step_after_an_overflow_and_halves_its_scale(kata, device):
    if device.type != "cpu":
        pytest.skip("torch.amp.GradScaler is exercised on CPU (the fake scaler covers devices)")
    data = micro_batches(4, 80, device)
    model, opt = setup(81, device)
    twin = copy.deepcopy(model)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    bad = (data[2][0], torch.full_like(data[2][1], 1e38))  # scaled gradients overflow to inf
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    losses = kata.train(model, [*data[:2], bad, data[3]], opt, 2, 1.0, scaler=scaler)
    _, want = reference(twin, data[:2], twin_opt, 2, 1.0)  # the second step is skipped
    assert len(losses) == 2 and math.isfinite(losses[0]) and not math.isfinite(losses[1]), (
        f"losses {losses}: expected a finite loss, then the overflowing one (inf or nan)")
    for i, (a, e) in enumerate(zip(params_of(model), want[-1], strict=True)):
        assert torch.isfinite(a).all(), (
            f"parameter {i} holds inf/NaN: the overflowing step must go through "
            "scaler.step(opt), which skips it (opt.step() applies it)")
        assert_close(a, e, what=f"parameter {i} after a normal step, then an overflowing "
                                "one (which scaler.step must skip)")
    assert scaler.get_scale() == 2.0**9, (
        f"scale {scaler.get_scale()} after one overflow; scaler.update() must run after every "
        "step (it halves the scale after an overflow): expected 512")
