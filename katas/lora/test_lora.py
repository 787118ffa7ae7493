"""Tests for the lora kata.

Oracle: the closed form written out in the tests, in float64 on CPU:
    y = x @ W^T + b + (x @ A^T @ B^T) * alpha / r,   merged W' = W + (alpha / r) * B @ A,
with the layer's own A and B (B set to random values where the test needs a non-zero update),
gradients via torch.autograd through that closed form, and torch's F.dropout under the same
seed for the dropout path. Inputs are float32, drawn on CPU from seeded generators, then moved
to the device under test. When a result is wrong, the tests compare it with the classic wrong
answers (scale r / alpha, no scale, dropout on the base path, ...) and name the one it matches.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close

IN, OUT, R, ALPHA = 7, 5, 3, 12.0  # scale alpha / r = 4 (r / alpha = 0.25): a mix-up shows


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def make_base(seed, n_in=IN, n_out=OUT, bias=True):
    base = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        base.weight.copy_(randn(n_out, n_in, seed=seed) / math.sqrt(n_in))
        if bias:
            base.bias.copy_(randn(n_out, seed=seed + 1))
    return base


def make_lora(kata, seed, device, r=R, alpha=ALPHA, dropout=0.0, random_b=True, **base_kw):
    """A LoRALinear on `device` around a seeded nn.Linear; B randomised unless random_b=False
    (at init B is zero, which would hide every mistake in the branch)."""
    base = make_base(seed, **base_kw).to(device)
    layer = kata.LoRALinear(base, r, alpha, dropout)
    if random_b:
        with torch.no_grad():
            layer.B.copy_(randn(*layer.B.shape, seed=seed + 2))
    return layer


def snapshot(layer):
    """(W, b, A, B) as float64 CPU tensors, taken before any merge."""
    b = layer.base.bias
    return (layer.base.weight.detach().cpu().double().clone(),
            None if b is None else b.detach().cpu().double().clone(),
            layer.A.detach().cpu().double().clone(), layer.B.detach().cpu().double().clone())


def oracle_forward(params, x, scale, x_branch=None):
    """x @ W^T + b + x_branch @ A^T @ B^T * scale in float64 on CPU."""
    W, b, A, B = params
    x = x.detach().cpu().double()
    xb = x if x_branch is None else x_branch.detach().cpu().double()
    y = x @ W.T + xb @ A.T @ B.T * scale
    return y if b is None else y + b


def forward_suspects(params, x, r, alpha):
    W, b, A, B = params
    return [
        ("a branch scaled by r / alpha: the scale is alpha / r",
         lambda: oracle_forward(params, x, r / alpha)),
        ("a branch with no scale: multiply it by alpha / r",
         lambda: oracle_forward(params, x, 1.0)),
        ("a branch scaled by alpha: the scale is alpha / r",
         lambda: oracle_forward(params, x, alpha)),
        ("the base output alone: the LoRA branch x @ A^T @ B^T * scale is missing",
         lambda: oracle_forward(params, x, 0.0)),
        ("the branch added twice (a merged layer that still adds x @ A^T @ B^T)",
         lambda: oracle_forward(params, x, 2 * alpha / r)),
    ]


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


# ---------------------------------------------------------------------------------- init


def test_init_leaves_the_base_output_unchanged(kata, device):
    torch.manual_seed(0)
    layer = make_lora(kata, seed=0, device=device, random_b=False)
    x = randn(4, IN, seed=1).to(device)
    expected = make_base(0)(x.cpu()).detach()
    assert tuple(layer.B.shape) == (OUT, R) and tuple(layer.A.shape) == (R, IN), (
        f"A is {tuple(layer.A.shape)} and B {tuple(layer.B.shape)}; expected A (r, in) = "
        f"{(R, IN)} and B (out, r) = {(OUT, R)}")
    assert not layer.B.detach().any(), (
        "B must start at zero, so that the adapted layer equals the base layer at init "
        "(a random B changes the pretrained model before any training)")
    assert_close(layer(x), expected, what="LoRALinear(x) at init: exactly base(x)")


def test_A_is_initialised_like_a_linear_weight(kata, device):
    torch.manual_seed(1)
    n_in, r = 64, 16  # 1024 draws: the largest |A| lies within 1% of the bound
    layer = kata.LoRALinear(make_base(2, n_in=n_in).to(device), r, 8.0)
    A = layer.A.detach().cpu().double()
    bound = 1 / math.sqrt(n_in)
    assert A.abs().max() <= bound * (1 + 1e-6) and A.abs().max() >= 0.97 * bound, (
        f"max |A| is {float(A.abs().max()):.4f}; A must be uniform in [-1/sqrt(in), "
        f"1/sqrt(in)] = +-{bound:.4f}, as kaiming_uniform_(A, a=sqrt(5)) or nn.Linear's init")
    assert abs(float(A.mean())) < 0.1 * bound and float(A.std()) > 0.5 * bound, (
        "A must be random and centred (uniform in +-1/sqrt(in)); with A = 0 as well as B = 0 "
        "no gradient ever reaches either")


def test_params_follow_the_base_device_and_dtype(kata, device):
    layer = make_lora(kata, seed=3, device=device)
    for name in ("A", "B"):
        p = getattr(layer, name)
        assert isinstance(p, nn.Parameter), f"{name} must be an nn.Parameter"
        assert p.device.type == device.type and p.dtype == torch.float32, (
            f"{name} is {p.dtype} on {p.device}; create it on the base weight's device/dtype")
    if device.type == "cpu":  # MPS has no float64
        base = make_base(4).double()
        layer64 = kata.LoRALinear(base, R, ALPHA)
        assert layer64.A.dtype == torch.float64 and layer64.B.dtype == torch.float64, (
            "A and B must take the base weight's dtype (float64 here)")
        with torch.no_grad():
            layer64.B.copy_(randn(OUT, R, seed=5).double())
        x = randn(3, IN, seed=6).double()
        assert_close(layer64(x), oracle_forward(snapshot(layer64), x, ALPHA / R),
                     what="LoRALinear forward in float64")


# ---------------------------------------------------------------------------------- forward


@pytest.mark.parametrize("r,alpha", [(R, ALPHA), (2, 2.0), (4, 1.0)])
def test_forward_matches_closed_form(kata, device, r, alpha):
    layer = make_lora(kata, seed=10, device=device, r=r, alpha=alpha)
    params = snapshot(layer)
    x = randn(2, 3, IN, seed=11).to(device)  # leading dims (2, 3)
    check(layer(x), oracle_forward(params, x, alpha / r),
          f"LoRALinear (r={r}, alpha={alpha}) on x (2, 3, in): x W^T + b + x A^T B^T alpha/r",
          forward_suspects(params, x, r, alpha))
    assert layer.scale == pytest.approx(alpha / r), (
        f"scale is {layer.scale}, expected alpha / r = {alpha / r}")


def test_forward_without_base_bias(kata, device):
    layer = make_lora(kata, seed=15, device=device, bias=False)
    params = snapshot(layer)
    x = randn(4, IN, seed=16).to(device)
    check(layer(x), oracle_forward(params, x, ALPHA / R),
          "LoRALinear around a bias-free nn.Linear", forward_suspects(params, x, R, ALPHA))


def test_dropout_acts_on_the_branch_input_only(kata, device):
    p = 0.5
    layer = make_lora(kata, seed=20, device=device, dropout=p)
    params = snapshot(layer)
    x = randn(6, IN, seed=21).to(device)
    layer.train()
    torch.manual_seed(22)
    got = layer(x)
    torch.manual_seed(22)
    dropped = F.dropout(x, p, training=True)  # the same mask under the same seed
    check(got, oracle_forward(params, x, ALPHA / R, x_branch=dropped),
          "LoRALinear in train mode with dropout=0.5: base(x) + dropout(x) @ A^T @ B^T * scale",
          [("dropout applied to the base path too: base(x) must see the clean x",
            lambda: oracle_forward(params, dropped, ALPHA / R)),
           ("no dropout at all in train mode: the branch input is dropout(x)",
            lambda: oracle_forward(params, x, ALPHA / R))])
    layer.eval()
    assert_close(layer(x), oracle_forward(params, x, ALPHA / R),
                 what="LoRALinear in eval mode with dropout=0.5 (dropout is the identity)")


# ---------------------------------------------------------------------------------- training


def test_only_A_and_B_are_trainable(kata, device):
    layer = make_lora(kata, seed=30, device=device)
    trainable = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
    assert trainable == ["A", "B"], (
        f"trainable parameters: {trainable}; freeze the base layer (requires_grad_(False) on "
        "its weight and bias) so that only A and B train")
    x = randn(4, IN, seed=31).to(device)
    layer(x).pow(2).sum().backward()
    assert layer.base.weight.grad is None and layer.base.bias.grad is None, (
        "the base layer received gradients: it must be frozen")


def test_gradients_of_A_and_B_match_closed_form(kata, device):
    layer = make_lora(kata, seed=40, device=device)
    x = randn(2, 4, IN, seed=41).to(device)
    w = randn(2, 4, OUT, seed=42).to(device)
    (layer(x) * w).sum().backward()
    W, b, A, B = snapshot(layer)
    A.requires_grad_(True)
    B.requires_grad_(True)
    loss = (oracle_forward((W, b, A, B), x, ALPHA / R) * w.cpu().double()).sum()
    gA, gB = torch.autograd.grad(loss, [A, B])
    assert_close(layer.A.grad, gA, what="dL/dA: scale * B^T @ (dL/dy)^T @ x")
    assert_close(layer.B.grad, gB, what="dL/dB: scale * (dL/dy)^T @ (x @ A^T)")


def test_B_gets_a_gradient_at_init(kata, device):
    torch.manual_seed(45)
    layer = make_lora(kata, seed=45, device=device, random_b=False)
    x = randn(4, IN, seed=46).to(device)
    (layer(x) * randn(4, OUT, seed=47).to(device)).sum().backward()
    assert layer.B.grad is not None and layer.B.grad.abs().sum() > 0, (
        "B got no gradient at init: A must be random (only B starts at zero)")
    assert_close(layer.A.grad, torch.zeros(R, IN),
                 what="dL/dA at init (B = 0, so A's gradient is zero at the first step)")


# ---------------------------------------------------------------------------------- merge


def test_merge_folds_the_scaled_update_into_the_weight(kata, device):
    layer = make_lora(kata, seed=50, device=device)
    W, b, A, B = params = snapshot(layer)
    x = randn(5, IN, seed=51).to(device)
    unmerged = layer(x).detach()
    assert_close(layer.delta_weight(), ALPHA / R * B @ A, what="delta_weight(): scale * B @ A")
    layer.merge()
    assert layer.merged, "merge() must set merged = True"
    expected_W = W + ALPHA / R * B @ A
    check(layer.base.weight, expected_W, "base.weight after merge(): W + (alpha / r) * B @ A",
          [("W + B @ A: the update in merge() must be scaled by alpha / r",
            lambda: W + B @ A),
           ("W + (r / alpha) * B @ A: the scale is alpha / r", lambda: W + R / ALPHA * B @ A),
           ("W - (alpha / r) * B @ A: merge() adds the update", lambda: W - ALPHA / R * B @ A)])
    merged = layer(x)
    check(merged, unmerged.cpu().double(),
          "forward after merge() (must equal the unmerged forward)",
          forward_suspects(params, x, R, ALPHA))


def test_merge_twice_folds_once(kata, device):
    layer = make_lora(kata, seed=60, device=device)
    W, _, A, B = snapshot(layer)
    layer.merge()
    layer.merge()
    assert_close(layer.base.weight, W + ALPHA / R * B @ A,
                 what="base.weight after merge() twice: the update is folded in only once")


def test_unmerge_restores_the_base_weight(kata, device):
    layer = make_lora(kata, seed=70, device=device)
    W, _, _, _ = params = snapshot(layer)
    x = randn(5, IN, seed=71).to(device)
    layer.unmerge()  # not merged: nothing to undo
    assert_close(layer.base.weight, W, what="base.weight after unmerge() on an unmerged layer "
                                            "(must not change)")
    assert not layer.merged
    layer.merge()
    layer.unmerge()
    assert not layer.merged, "unmerge() must set merged = False"
    assert_close(layer.base.weight, W, what="base.weight after merge() then unmerge()")
    check(layer(x), oracle_forward(params, x, ALPHA / R),
          "forward after merge() then unmerge() (the branch is back)",
          forward_suspects(params, x, R, ALPHA))
    layer.unmerge()
    assert_close(layer.base.weight, W, what="base.weight after a second unmerge() (no-op)")


def test_merge_cycle_after_training_step(kata, device):
    # A and B change between merges: merge/unmerge must use their current values.
    layer = make_lora(kata, seed=80, device=device)
    x = randn(4, IN, seed=81).to(device)
    layer.merge()
    layer.unmerge()
    with torch.no_grad():
        layer.A.mul_(-2.0)
        layer.B.add_(1.0)
    params = snapshot(layer)
    layer.merge()
    assert_close(layer(x), oracle_forward(params, x, ALPHA / R),
                 what="merged forward after A and B changed since the last merge")
