"""Tests for the optimizers kata: SGD (momentum, Nesterov), RMSprop, Adam and AdamW.

Oracle: torch.optim.SGD / RMSprop / Adam / AdamW, step by step: the same initial parameters
(several tensors of different shapes) and the same sequence of gradients go to the learner's
optimizer and to torch's, and the parameters are compared after EVERY step. Param groups,
an lr changed between steps, parameters that only get a gradient later (state per
parameter) and closures are covered too. When a trajectory is wrong, a small float64
re-implementation with the classic bugs switched on (no bias correction, eps inside the sqrt,
coupled vs decoupled decay, EMA momentum, Nesterov ignored, ...) names the one it matches.
"""

import math

import numpy as np
import pytest
import torch

from dojo.testing import assert_close

SHAPES = [(4, 3), (5,), (2, 3, 2)]
TORCH = {"SGD": torch.optim.SGD, "RMSprop": torch.optim.RMSprop, "Adam": torch.optim.Adam,
         "AdamW": torch.optim.AdamW}

# The first Optimizer constructed in a process imports torch._dynamo lazily (seconds): pay that
# one-off cost at collection, like the torch import, rather than inside the first test.
torch.optim.SGD([torch.zeros(1, requires_grad=True)])


def randn_list(shapes, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(s, generator=g) * scale).to(device) for s in shapes]


def grad_sequence(steps, seed, device, shapes=SHAPES, scale=1.0):
    """steps lists of gradients, one per parameter: float32, drawn on CPU, moved to device."""
    return [randn_list(shapes, seed * 1000 + t, device, scale) for t in range(steps)]


def build(opt_cls, params, groups, hp):
    """opt_cls over params; groups: None (one group) or [{"params": [indices], **hp}]."""
    if groups is None:
        return opt_cls(params, **hp)
    spec = [{**g, "params": [params[i] for i in g["params"]]} for g in groups]
    return opt_cls(spec, **hp)


def trajectory(opt_cls, init, grads, hp, groups=None, lr_at=None):
    """Parameters after every step. grads[t][i] is None for a parameter without gradient at
    step t. lr_at: {step: lr} sets every group's lr before that step (a scheduler)."""
    params = [p.clone().requires_grad_(True) for p in init]
    opt = build(opt_cls, params, groups, hp)
    out = []
    for t, gs in enumerate(grads):
        if lr_at and t in lr_at:
            for group in opt.param_groups:
                group["lr"] = lr_at[t]
        for p, g in zip(params, gs, strict=True):
            p.grad = None if g is None else g.clone()
        ret = opt.step()
        assert ret is None, f"step() without a closure must return None, got {ret!r}"
        out.append([p.detach().clone() for p in params])
    return out


# ----------------------------------------------------------------------------- bug variants


def variant(kind, init, grads, hp, groups=None, lr_at=None, *, bias_correction=True,
            eps_inside=False, decay="default", ema_momentum=False, nesterov=None,
            global_step=False, decay_after=False):
    """A float64 re-implementation of the four update rules with classic bugs switchable; used
    only to name the bug a wrong trajectory matches. decay: "default" (the optimizer's own),
    "l2", "decoupled" or "none"."""
    defaults = {"SGD": dict(lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0),
                "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8),
                "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
                "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)}[kind]
    ps = [p.detach().cpu().double().numpy().copy() for p in init]
    group_of = [{**defaults, **hp} for _ in ps]
    for g in groups or ():
        for i in g["params"]:
            group_of[i] = {**defaults, **hp, **{k: v for k, v in g.items() if k != "params"}}
    if decay == "default":
        decay = {"SGD": "l2", "Adam": "l2", "AdamW": "decoupled"}.get(kind, "none")
    state = [{} for _ in ps]
    out, global_t = [], 0
    for t, gs in enumerate(grads):
        global_t += 1
        if lr_at and t in lr_at:
            for h in group_of:
                h["lr"] = lr_at[t]
        for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
            if g is None:
                continue
            h, s = group_of[i], state[i]
            g = g.detach().cpu().double().numpy()
            lr, wd = h["lr"], h.get("weight_decay", 0.0)
            if decay == "l2":
                g = g + wd * p
            elif decay == "decoupled" and not decay_after:
                p *= 1 - lr * wd
            if kind == "SGD":
                mu = h["momentum"]
                if mu:
                    b = s["b"] = g.copy() if "b" not in s else (
                        mu * s["b"] + ((1 - mu) if ema_momentum else 1.0) * g)
                    nest = h["nesterov"] if nesterov is None else nesterov
                    g = g + mu * b if nest else b
                p -= lr * g
            elif kind == "RMSprop":
                s["v"] = h["alpha"] * s.get("v", 0.0) + (1 - h["alpha"]) * g * g
                denom = np.sqrt(s["v"] + h["eps"]) if eps_inside else np.sqrt(s["v"]) + h["eps"]
                p -= lr * g / denom
            else:
                b1, b2 = h["betas"]
                s["t"] = s.get("t", 0) + 1
                n = global_t if global_step else s["t"]
                s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
                m, v = s["m"], s["v"]
                if bias_correction:
                    m, v = m / (1 - b1**n), v / (1 - b2**n)
                denom = np.sqrt(v + h["eps"]) if eps_inside else np.sqrt(v) + h["eps"]
                p -= lr * m / denom
            if decay == "decoupled" and decay_after:
                p *= 1 - lr * wd
        out.append([p.copy() for p in ps])
    return out


def suspects_for(kind, hp):
    """(description, variant keyword arguments) of the classic bugs for this optimizer."""
    if kind == "SGD":
        return [
            ("momentum as an average, b = momentum b + (1 - momentum) g: torch's buffer is "
             "the plain sum momentum b + g", dict(ema_momentum=True)),
            ("plain momentum: nesterov=True must step with g + momentum * b",
             dict(nesterov=False)),
            ("Nesterov applied although nesterov=False", dict(nesterov=True)),
            ("SGD without weight decay: add weight_decay * p to the gradient",
             dict(decay="none")),
            ("a decoupled decay: SGD's weight_decay is L2, added to the gradient before the "
             "momentum", dict(decay="decoupled")),
        ]
    if kind == "RMSprop":
        return [
            ("eps inside the square root: the denominator is sqrt(v) + eps",
             dict(eps_inside=True)),
        ]
    out = [
        ("Adam without bias correction: divide m by 1 - b1^t and v by 1 - b2^t",
         dict(bias_correction=False)),
        ("eps inside the square root: the denominator is sqrt(v_hat) + eps",
         dict(eps_inside=True)),
        ("one step counter for the whole optimizer: t counts the steps of EACH parameter "
         "(self.state[p])", dict(global_step=True)),
    ]
    if kind == "Adam":
        out += [("AdamW's decoupled decay: Adam's weight_decay is L2, added to the gradient "
                 "(it goes through m and v)", dict(decay="decoupled")),
                ("Adam without weight decay: add weight_decay * p to the gradient",
                 dict(decay="none"))]
    else:
        out += [("Adam's L2 decay: AdamW shrinks p by lr * weight_decay directly, and keeps "
                 "the decay out of m and v", dict(decay="l2")),
                ("AdamW without weight decay: p <- p * (1 - lr * weight_decay)",
                 dict(decay="none")),
                ("the decay applied after the Adam update: torch shrinks p first",
                 dict(decay_after=True))]
    return out


def compare(kind, ours, theirs, what, init, grads, hp, groups=None, lr_at=None):
    """Assert ours == theirs after every step; on failure name the classic bug matched."""
    for t, (a_step, e_step) in enumerate(zip(ours, theirs, strict=True)):
        for i, (a, e) in enumerate(zip(a_step, e_step, strict=True)):
            assert a.device == e.device and a.dtype == e.dtype, (
                f"{what}: parameter {i} moved to {a.device}/{a.dtype}; update it in place")
            try:
                assert_close(a, e, what=f"{what}: parameter {i} {tuple(e.shape)} after step "
                                        f"{t + 1}")
            except AssertionError as err:
                best = None  # the closest classic bug within tolerance
                for description, bug in suspects_for(kind, hp):
                    wrong = variant(kind, init, grads, hp, groups, lr_at, **bug)
                    gap = max(float(np.max(np.abs(x.detach().cpu().double().numpy() - w)
                                           / (1e-6 + 1e-4 * np.abs(w))))
                              for step_a, step_w in zip(ours[: t + 1], wrong[: t + 1],
                                                        strict=False)
                              for x, w in zip(step_a, step_w, strict=True))
                    if gap <= 1 and (best is None or gap < best[0]):
                        best = (gap, description)
                if best is not None:
                    raise AssertionError(f"{err}\nYour trajectory matches {best[1]}.") from None
                raise


def check_kind(kata, kind, device, hp, steps=6, seed=0, groups=None, lr_at=None, grads=None,
               scale=1.0, what=None):
    init = randn_list(SHAPES, seed, device)
    if grads is None:
        grads = grad_sequence(steps, seed + 1, device, scale=scale)
    ours = trajectory(getattr(kata, kind), init, grads, hp, groups, lr_at)
    theirs = trajectory(TORCH[kind], init, grads, hp, groups, lr_at)
    compare(kind, ours, theirs, what or f"{kind}({hp})", init, grads, hp, groups, lr_at)


# ----------------------------------------------------------------------------- SGD


@pytest.mark.parametrize("hp", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.3),
    dict(lr=0.05, momentum=0.7, weight_decay=0.2),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
], ids=["plain", "momentum", "nesterov", "weight-decay", "momentum-decay", "nesterov-decay"])
def test_sgd_matches_torch_step_by_step(kata, device, hp):
    check_kind(kata, "SGD", device, hp, seed=10)


def test_sgd_first_momentum_step_is_a_plain_gradient_step(kata, device):
    # torch starts the buffer at the first gradient: step 1 is p - lr g, whatever momentum is.
    init = randn_list(SHAPES, 20, device)
    grads = grad_sequence(1, 21, device)
    ours = trajectory(kata.SGD, init, grads, dict(lr=0.1, momentum=0.9))[0]
    for i, (p, p0, g) in enumerate(zip(ours, init, grads[0], strict=True)):
        if torch.allclose(p, p0 - 0.1 * 0.1 * g, atol=1e-6):
            raise AssertionError("the first momentum step moved p by lr * (1 - momentum) * g: "
                                 "the buffer is momentum * b + g, and it starts at g")
        assert_close(p, p0 - 0.1 * g, what=f"SGD(momentum=0.9) parameter {i} after step 1 "
                                           "(buffer = first gradient, so p - lr g)")


# ----------------------------------------------------------------------------- RMSprop


@pytest.mark.parametrize("hp, scale", [
    (dict(lr=0.01), 1.0),
    (dict(lr=0.02, alpha=0.9), 1.0),
    (dict(lr=0.01, alpha=0.8, eps=0.1), 0.05),  # eps comparable to sqrt(v): placement matters
], ids=["default-alpha", "alpha-0.9", "large-eps"])
def test_rmsprop_matches_torch_step_by_step(kata, device, hp, scale):
    check_kind(kata, "RMSprop", device, hp, seed=30, scale=scale)


# ----------------------------------------------------------------------------- Adam(W)


@pytest.mark.parametrize("hp, scale", [
    (dict(lr=0.01), 1.0),
    (dict(lr=0.02, betas=(0.8, 0.95)), 1.0),
    (dict(lr=0.01, eps=1e-2), 0.01),  # eps comparable to sqrt(v_hat): placement matters
    (dict(lr=0.05, weight_decay=0.5), 1.0),
], ids=["lr", "betas", "large-eps", "weight-decay"])
def test_adam_matches_torch_step_by_step(kata, device, hp, scale):
    check_kind(kata, "Adam", device, hp, seed=40, steps=8, scale=scale)


@pytest.mark.parametrize("hp, scale", [
    (dict(lr=0.01), 1.0),
    (dict(lr=0.1, weight_decay=0.5), 1.0),
    (dict(lr=0.05, betas=(0.7, 0.9), eps=1e-2, weight_decay=0.3), 0.01),
], ids=["default-decay", "strong-decay", "large-eps"])
def test_adamw_matches_torch_step_by_step(kata, device, hp, scale):
    check_kind(kata, "AdamW", device, hp, seed=50, steps=8, scale=scale)


@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
def test_adam_first_step_moves_every_weight_by_about_lr(kata, device, kind):
    # With bias correction m_hat = g and v_hat = g^2 after one step: |delta p| = lr |g| / (|g| +
    # eps) ~ lr. Without it the step is lr (1 - b1) / sqrt(1 - b2) = 3.16 lr.
    lr = 1e-2
    init = randn_list(SHAPES, 60, device)
    grads = grad_sequence(1, 61, device)
    ours = trajectory(getattr(kata, kind), init, grads, dict(lr=lr, weight_decay=0.0))[0]
    for i, (p, p0, g) in enumerate(zip(ours, init, grads[0], strict=True)):
        step = (p0 - p).abs()
        if torch.allclose(step, torch.full_like(step, lr * 0.1 / math.sqrt(0.001)), rtol=1e-3):
            raise AssertionError(f"{kind}'s first step moved every weight by 3.16 lr: no bias "
                                 "correction (divide m by 1 - b1^t and v by 1 - b2^t)")
        assert_close(p0 - p, lr * torch.sign(g) * g.abs() / (g.abs() + 1e-8),
                     what=f"{kind} first step of parameter {i} (lr * sign(g))")


def test_adam_weight_decay_is_l2_and_adamw_is_decoupled(kata, device):
    # Same hyperparameters, same gradients: the two must differ exactly as torch's do.
    hp = dict(lr=0.1, weight_decay=0.4)
    check_kind(kata, "Adam", device, hp, seed=70, steps=5, what="Adam(weight_decay=0.4): L2")
    check_kind(kata, "AdamW", device, hp, seed=70, steps=5,
               what="AdamW(weight_decay=0.4): decoupled")


# ----------------------------------------------------------------------------- all of them

ALL = [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
       ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-3)),
       ("Adam", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.2)),
       ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.2))]
ALL_IDS = [k for k, _ in ALL]


@pytest.mark.parametrize("kind, hp", ALL, ids=ALL_IDS)
def test_each_param_group_uses_its_own_hyperparameters(kata, device, kind, hp):
    extra = {"SGD": dict(lr=0.2, momentum=0.5, nesterov=False, weight_decay=0.0),
             "RMSprop": dict(lr=0.05, alpha=0.5, eps=0.5),
             "Adam": dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.0),
             "AdamW": dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.5)}[kind]
    groups = [{"params": [0, 2]}, {"params": [1], **extra}]
    check_kind(kata, kind, device, hp, seed=80, groups=groups,
               what=f"{kind} with two param groups (the second overrides {sorted(extra)}): "
                    "read the hyperparameters from each group")


@pytest.mark.parametrize("kind, hp", ALL, ids=ALL_IDS)
def test_an_lr_changed_between_steps_takes_effect(kata, device, kind, hp):
    check_kind(kata, kind, device, hp, seed=90, steps=6, lr_at={2: 0.3, 4: 0.001},
               what=f"{kind} after group['lr'] was changed (as a scheduler does): read "
                    "group['lr'] at every step")


@pytest.mark.parametrize("kind, hp", ALL, ids=ALL_IDS)
def test_state_is_per_parameter_and_params_without_grad_are_skipped(kata, device, kind, hp):
    # Parameter 1 gets no gradient in steps 1-3: it must not move (no decay either), and its
    # first update (step 4) is ITS first step: buffer = gradient, t = 1 for the bias correction.
    grads = grad_sequence(7, 101, device)
    for t in range(3):
        grads[t][1] = None
    grads[5][2] = None  # and a gap later on
    check_kind(kata, kind, device, hp, seed=100, grads=grads,
               what=f"{kind} with a parameter that has no grad at some steps (skip it; state "
                    "and step count are per parameter)")


@pytest.mark.parametrize("kind, hp", ALL, ids=ALL_IDS)
def test_default_hyperparameters_match_torch(kata, device, kind, hp):
    init = randn_list(SHAPES, 110, device)
    grads = grad_sequence(4, 111, device)
    opt = getattr(kata, kind)([p.clone().requires_grad_(True) for p in init])
    assert isinstance(opt, torch.optim.Optimizer), f"{kind} must subclass torch.optim.Optimizer"
    ours = trajectory(getattr(kata, kind), init, grads, {})
    theirs = trajectory(TORCH[kind], init, grads, {})
    compare(kind, ours, theirs, f"{kind} with default hyperparameters", init, grads, {})


@pytest.mark.parametrize("kind, hp", ALL, ids=ALL_IDS)
def test_step_evaluates_the_closure_and_returns_its_loss(kata, device, kind, hp):
    # Real gradients from a loss: sum_i ||A_i p_i - b_i||^2 / 2, recomputed by the closure.
    targets = randn_list(SHAPES, 121, device)
    init = randn_list(SHAPES, 120, device)

    def run(opt_cls):
        params = [p.clone().requires_grad_(True) for p in init]
        opt = opt_cls(params, **hp)
        losses = []

        def closure():
            opt.zero_grad()
            loss = sum(((p - q) ** 2).sum() * (i + 1) / 2
                       for i, (p, q) in enumerate(zip(params, targets, strict=True)))
            loss.backward()
            return loss

        for _ in range(5):
            loss = opt.step(closure)
            assert loss is not None, "step(closure) must return the closure's loss"
            losses.append(loss.detach())
        return torch.stack(losses), [p.detach() for p in params]

    our_losses, ours = run(getattr(kata, kind))
    their_losses, theirs = run(TORCH[kind])
    assert_close(our_losses, their_losses, what=f"{kind}: losses returned by step(closure)")
    for i, (a, e) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(a, e, what=f"{kind}: parameter {i} after 5 closure steps")
