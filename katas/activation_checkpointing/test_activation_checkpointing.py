"""Tests for the activation_checkpointing kata.

Oracles: the plain forward and backward of the same layers (gradients of the input and of
every parameter must be equal), torch.utils.checkpoint.checkpoint_sequential for the segment
layout, and torch.autograd.graph.saved_tensors_hooks to count what autograd keeps during the
forward. Inputs are float32, seeded on CPU, then moved to the device under test.
"""

import copy

import pytest
import torch
from torch import nn

from dojo.testing import assert_close


def make_layers(device, n=6, width=8, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(n):
        layers += [nn.Linear(width, width), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return [layer.to(device) for layer in layers]


def make_input(device, batch=5, width=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, width, generator=g).to(device).requires_grad_(True)


def plain_forward(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def count_saved(fn):
    """How many tensors autograd saves for backward while fn runs, and fn's result."""
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return len(saved), out


def grads_of(layers, x, forward, seed=123):
    torch.manual_seed(seed)
    out = forward(layers, x)
    (out * torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)).sum().backward()
    return out.detach(), x.grad.detach(), [p.grad.detach() for layer in layers
                                           for p in layer.parameters()]


def compare(kata, device, segments, n=6, dropout=0.0):
    layers = make_layers(device, n=n, dropout=dropout)
    twin = copy.deepcopy(layers)
    x, x2 = make_input(device), make_input(device)
    want = grads_of(twin, x2, plain_forward)
    got = grads_of(layers, x, lambda ls, h: kata.checkpoint_sequential(ls, segments, h))
    return got, want


@pytest.mark.parametrize("segments", [1, 2, 3, 4, 12])
def test_checkpointed_gradients_equal_the_plain_ones(kata, device, segments):
    (out, gx, gp), (out_ref, gx_ref, gp_ref) = compare(kata, device, segments)
    assert_close(out, out_ref, what=f"output with {segments} segments")
    assert_close(gx, gx_ref, what=f"input gradient with {segments} segments")
    for i, (a, b) in enumerate(zip(gp, gp_ref, strict=True)):
        assert_close(a, b, what=f"gradient of parameter {i} with {segments} segments")


def test_uneven_segments_put_the_remainder_in_the_last_one(kata, device):
    # 7 layers in 3 segments: [0:2], [2:4] checkpointed, [4:7] plain (torch's layout).
    layers = make_layers(device, n=7)[:7]
    x = make_input(device)
    n_saved, out = count_saved(lambda: kata.checkpoint_sequential(layers, 3, x))
    n_last, _ = count_saved(lambda: plain_forward(layers[4:], make_input(device)))
    assert n_saved == 2 + n_last, (
        f"checkpoint_sequential(7 layers, 3 segments) saved {n_saved} tensors; expected "
        f"2 segment inputs + {n_last} for the plain last segment layers[4:7]: segments hold "
        "len // segments = 2 layers and the last takes the remainder"
    )
    ref = torch.utils.checkpoint.checkpoint_sequential(
        nn.Sequential(*layers), 3, x, use_reentrant=False)
    assert_close(out, ref, what="output of 7 layers in 3 segments")


@pytest.mark.parametrize("segments", [2, 3, 6])
def test_only_segment_inputs_and_the_last_segment_are_saved(kata, device, segments):
    layers = make_layers(device, n=6)
    n_plain, _ = count_saved(lambda: plain_forward(layers, make_input(device)))
    size = len(layers) // segments
    n_last, _ = count_saved(
        lambda: plain_forward(layers[size * (segments - 1):], make_input(device)))
    n_ckpt, _ = count_saved(lambda: kata.checkpoint_sequential(layers, segments,
                                                               make_input(device)))
    expected = (segments - 1) + n_last
    assert n_ckpt == expected, (
        f"with {segments} segments autograd saved {n_ckpt} tensors (plain forward: {n_plain}); "
        f"expected {segments - 1} segment inputs + {n_last} for the last segment = {expected}. "
        + ("More means the checkpointed forward built a graph: run it under torch.no_grad()."
           if n_ckpt > expected else "")
    )


def test_checkpoint_function_saves_only_its_inputs(kata, device):
    w = torch.randn(8, 8).to(device).requires_grad_(True)
    x = make_input(device)
    n_saved, out = count_saved(lambda: kata.CheckpointFunction.apply(
        lambda a, b: torch.tanh(a @ b).relu() * 2, x, w))
    assert n_saved == 2, (
        f"CheckpointFunction saved {n_saved} tensors for a segment with 2 inputs; it must save "
        "exactly its inputs and run the segment under torch.no_grad()"
    )
    assert out.requires_grad, "the checkpointed output must require grad when an input does"


def test_gradients_flow_to_each_input_and_none_to_inputs_without_grad(kata, device):
    g = torch.Generator().manual_seed(5)
    a = torch.randn(4, 3, generator=g).to(device).requires_grad_(True)
    b = torch.randn(3, 6, generator=g).to(device)  # no grad
    c = torch.randn(6, generator=g).to(device).requires_grad_(True)

    def fn(a, b, c):
        return torch.sigmoid(a @ b - c) * c

    out = kata.checkpoint(fn, a, b, c)
    weights = torch.arange(24.0, device=device).view(4, 6) / 10
    (out * weights).sum().backward()
    a2, c2 = a.detach().clone().requires_grad_(True), c.detach().clone().requires_grad_(True)
    (fn(a2, b, c2) * weights).sum().backward()
    assert_close(a.grad, a2.grad, what="gradient of the first input")
    assert_close(c.grad, c2.grad, what="gradient of the third input")
    assert b.grad is None, "an input that does not require grad must get no gradient"


def test_parameters_used_inside_the_segment_get_their_gradients(kata, device):
    lin = nn.Linear(8, 8).to(device)
    twin = copy.deepcopy(lin)
    x = make_input(device)
    kata.checkpoint(lambda h: torch.tanh(lin(h)), x).pow(2).sum().backward()
    torch.tanh(twin(x.detach().clone().requires_grad_(True))).pow(2).sum().backward()
    assert lin.weight.grad is not None, (
        "the Linear inside the checkpoint got no gradient: backpropagate grad_out through the "
        "recomputed graph with torch.autograd.backward"
    )
    assert_close(lin.weight.grad, twin.weight.grad, what="weight gradient inside the segment")
    assert_close(lin.bias.grad, twin.bias.grad, what="bias gradient inside the segment")


def test_dropout_draws_the_same_mask_when_recomputed(kata, device):
    (out, gx, gp), (out_ref, gx_ref, gp_ref) = compare(kata, device, 3, dropout=0.5)
    assert_close(out, out_ref, what="output with dropout")
    try:
        assert_close(gx, gx_ref, what="input gradient with dropout")
        for i, (a, b) in enumerate(zip(gp, gp_ref, strict=True)):
            assert_close(a, b, what=f"gradient of parameter {i} with dropout")
    except AssertionError as err:
        raise AssertionError(
            f"{err}\nThe recomputation drew different dropout masks: record the RNG state in "
            "forward and restore it before recomputing in backward."
        ) from None


def test_backward_leaves_the_callers_rng_untouched(kata, device):
    layers = make_layers(device, n=6, dropout=0.3)
    x = make_input(device)
    torch.manual_seed(7)
    out = plain_forward(copy.deepcopy(layers), x.detach().clone().requires_grad_(True))
    out.sum().backward()
    expected = torch.rand(4)
    torch.manual_seed(7)
    kata.checkpoint_sequential(layers, 3, x).sum().backward()
    got = torch.rand(4)
    assert torch.equal(got, expected), (
        "after backward the global RNG is not where the forward left it: restore the recorded "
        "state inside torch.random.fork_rng (given: fork_rng) so the caller's RNG is untouched"
    )


@pytest.mark.no_todo  # the range check is given
@pytest.mark.parametrize("segments", [0, 13])
def test_segments_out_of_range_raise(kata, device, segments):
    with pytest.raises(ValueError):
        kata.checkpoint_sequential(make_layers(device, n=6), segments, make_input(device))
