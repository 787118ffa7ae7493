"""Tests for the moe_router kata.

Oracles: the full torch.softmax with its top-k renormalised (gating); math.ceil (capacity); a
per-assignment loop with per-expert counters (capacity mask); the Switch loss computed by hand
on small examples and by a plain loop over experts on random ones; and, for MoELayer, a dense
loop over tokens and their chosen experts (token n, choice j: add weight * expert(x[n]) if the
expert still has room), whose autograd gradients are the oracle for the layer's gradients.
Inputs are float32, drawn on CPU from seeded generators, then moved to the device. Failure
messages name the classic bug a wrong value matches.
"""

import math

import pytest
import torch

from dojo.testing import assert_close

D, E = 6, 4


def randn(*shape, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(device)


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


# ---------------------------------------------------------------------------- oracles


def oracle_gates(logits, k, renormalise=True):
    probs = torch.softmax(logits, dim=-1)
    p, idx = probs.topk(k, dim=-1)
    return (p / p.sum(dim=-1, keepdim=True) if renormalise else p), idx


def oracle_keep(indices, n_experts, capacity, order="token"):
    """Loop over assignments (token-major; or all first choices first, 'slot') with counters."""
    idx = indices.cpu().tolist()
    keep = [[False] * len(row) for row in idx]
    used = [0] * n_experts
    if order == "token":
        order_ = [(n, j) for n in range(len(idx)) for j in range(len(idx[n]))]
    else:
        order_ = [(n, j) for j in range(len(idx[0])) for n in range(len(idx))]
    for n, j in order_:
        e = idx[n][j]
        if capacity is None or used[e] < capacity:
            keep[n][j] = True
        used[e] += 1
    return torch.tensor(keep, device=indices.device)


def oracle_loss(probs, indices):
    n_experts = probs.shape[1]
    flat = indices.reshape(-1).cpu().tolist()
    total = 0.0
    for i in range(n_experts):
        f_i = sum(1 for e in flat if e == i) / len(flat)
        total = total + f_i * probs[:, i].mean()
    return n_experts * total


def dense_moe(layer, x, k, capacity_factor, renormalise=True, order="token", cap_round=math.ceil):
    """Token by token, choice by choice: y[n] += w[n, j] * expert_{idx[n, j]}(x[n])."""
    tokens = x.reshape(-1, x.shape[-1])
    N = tokens.shape[0]
    logits = tokens @ layer.router.weight.T
    w, idx = oracle_gates(logits, k, renormalise)
    cap = None if capacity_factor is None else cap_round(capacity_factor * N * k / E)
    keep = oracle_keep(idx, E, cap, order)
    dense = [expert(tokens) for expert in layer.experts]  # every expert on every token
    idx_, keep_ = idx.cpu().tolist(), keep.cpu().tolist()
    rows = []
    for n in range(N):
        y_n = torch.zeros_like(tokens[n])
        for j in range(k):
            if keep_[n][j]:
                y_n = y_n + w[n, j] * dense[idx_[n][j]][n]
        rows.append(y_n)
    aux = oracle_loss(torch.softmax(logits, dim=-1), idx)
    return torch.stack(rows).reshape(x.shape), aux, keep


def make_layer(kata, k, capacity_factor, seed, device):
    layer = kata.MoELayer(D, E, k, capacity_factor)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
        layer.router.weight.mul_(3.0)  # well separated gates
    return layer.to(device)


def call_layer(layer, x):
    out = layer(x)
    assert isinstance(out, tuple) and len(out) == 2, "MoELayer.forward must return (y, aux_loss)"
    return out


# ---------------------------------------------------------------------------- top_k_gating


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_gating_matches_renormalised_softmax(kata, device, k):
    logits = randn(7, 5, seed=k, device=device, scale=2.0)
    weights, indices = kata.top_k_gating(logits, k)
    exp_w, exp_idx = oracle_gates(logits, k)
    assert indices.dtype == torch.long, f"indices dtype {indices.dtype}, expected int64"
    assert torch.equal(indices.cpu(), exp_idx.cpu()), (
        f"indices {indices.cpu().tolist()}, expected the top-{k} experts in descending order "
        f"{exp_idx.cpu().tolist()}")
    check(weights, exp_w, f"top_k_gating weights (k={k})", [
        ("the full softmax's top-k without renormalising: the k weights must sum to 1",
         oracle_gates(logits, k, renormalise=False)[0]),
        ("a softmax over all experts' logits in place of the top-k ones",
         torch.softmax(logits, dim=-1)[:, :k])])


def test_top_k_gating_weights_sum_to_one(kata, device):
    logits = randn(5, 8, seed=11, device=device, scale=3.0)
    for k in (1, 2, 4):
        weights, _ = kata.top_k_gating(logits, k)
        assert_close(weights.sum(dim=-1), torch.ones(5, device=device),
                     what=f"row sums of the k={k} gate weights (not renormalised?)")
    w1, _ = kata.top_k_gating(logits, 1)
    assert_close(w1, torch.ones(5, 1, device=device), what="k=1 weights (one expert: 1.0)")


# ---------------------------------------------------------------------------- capacity


@pytest.mark.parametrize("n,e,k,cf,expected", [(10, 4, 2, 1.25, 7), (8, 4, 1, 1.0, 2),
                                                 (6, 3, 2, 1.0, 4), (5, 4, 1, 2.0, 3),
                                                 (12, 8, 2, 0.5, 2)])
def test_expert_capacity_by_hand(kata, n, e, k, cf, expected):
    got = kata.expert_capacity(n, e, k, cf)
    assert isinstance(got, int), f"expert_capacity must return an int, got {type(got).__name__}"
    assert got == expected, (
        f"expert_capacity(N={n}, E={e}, k={k}, factor={cf}) = {got}, expected "
        f"ceil({cf} * {n} * {k} / {e}) = {expected}")


def test_capacity_mask_by_hand(kata, device):
    indices = torch.tensor([[0, 1], [0, 2], [0, 1], [1, 0]], device=device)
    got = kata.capacity_mask(indices, 3, 2)
    expected = [[True, True], [True, True], [False, True], [False, False]]
    # expert 0 gets tokens 0, 1 (kept), 2, 3 (dropped); expert 1 gets 0, 2 (kept), 3 (dropped)
    assert got.dtype == torch.bool, f"capacity_mask dtype {got.dtype}, expected bool"
    assert got.cpu().tolist() == expected, (
        f"capacity_mask = {got.cpu().tolist()}, expected {expected}: each expert keeps its "
        "first 2 assignments in token order" + (
            " (you gave all first choices priority over second choices)"
            if got.cpu().tolist() == [[True, True], [True, True], [False, False], [True, False]]
            else ""))
    assert not kata.capacity_mask(indices, 3, 0).any(), "capacity 0 keeps nothing"
    assert kata.capacity_mask(indices, 3, 4).all(), "capacity 4 keeps everything here"
    assert kata.capacity_mask(indices, 3, 3).cpu().tolist() == [[True] * 2] * 3 + [[True, False]]


@pytest.mark.parametrize("k,capacity", [(1, 3), (2, 4), (3, 5)])
def test_capacity_mask_matches_loop(kata, device, k, capacity):
    logits = randn(16, E, seed=20 + k, device=device)
    _, indices = oracle_gates(logits, k)
    got = kata.capacity_mask(indices, E, capacity)
    expected = oracle_keep(indices, E, capacity)
    assert torch.equal(got.cpu(), expected.cpu()), (
        f"capacity_mask (k={k}, capacity={capacity}) differs from a loop over the assignments "
        "in token order with a counter per expert")


# ---------------------------------------------------------------------------- load balancing


def test_load_balancing_loss_by_hand_top1(kata, device):
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], device=device)
    indices = torch.tensor([[0], [0], [1], [0]], device=device)
    # f = [3/4, 1/4], P = [0.65, 0.35]: 2 * (0.75 * 0.65 + 0.25 * 0.35) = 1.15
    check(kata.load_balancing_loss(probs, indices), torch.tensor(1.15),
          "Switch loss, top-1 hand example", [
              ("the loss without the factor n_experts", torch.tensor(0.575)),
              ("f taken from the probabilities (E * sum P_i^2): f must count the routing "
               "decisions", torch.tensor(2 * (0.65**2 + 0.35**2)))])
    assert_close(kata.load_balancing_loss(probs, indices[:, 0]), torch.tensor(1.15),
                 what="Switch loss with (N,) indices")


def test_load_balancing_loss_by_hand_top2(kata, device):
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.5, 0.3]], device=device)
    indices = torch.tensor([[0, 1], [1, 2], [1, 0]], device=device)
    # counts [2, 3, 1] of N*k = 6; P = [1.0, 1.3, 0.7] / 3: 3 * (2*1.0 + 3*1.3 + 1*0.7) / 18 = 1.1
    check(kata.load_balancing_loss(probs, indices), torch.tensor(1.1),
          "Switch loss, top-2 hand example", [
              ("f divided by N instead of N * k: f is the fraction of the N*k assignments",
               torch.tensor(2.2)),
              ("f counted from the first choice only: count all k choices",
               torch.tensor(3 * (1 * 1.0 + 2 * 1.3) / 9))])


def test_load_balancing_loss_is_one_when_balanced(kata, device):
    probs = torch.full((8, 4), 0.25, device=device)
    indices = torch.arange(8, device=device).remainder(4)[:, None]
    assert_close(kata.load_balancing_loss(probs, indices), torch.tensor(1.0),
                 what="Switch loss for perfectly balanced routing (must be 1: is the factor "
                      "n_experts there?)")


@pytest.mark.parametrize("k", [1, 2])
def test_load_balancing_loss_matches_loop_and_gradient(kata, device, k):
    logits = randn(10, 5, seed=30 + k, device=device, scale=2.0).requires_grad_(True)
    probs = torch.softmax(logits, dim=-1)
    _, indices = probs.topk(k, dim=-1)
    got = kata.load_balancing_loss(probs, indices)
    expected = oracle_loss(probs, indices)
    check(got, expected.detach(), f"load_balancing_loss (k={k})")
    (g,) = torch.autograd.grad(got, logits, retain_graph=True)
    (g_exp,) = torch.autograd.grad(expected, logits)
    assert_close(g, g_exp, what=f"d loss / d logits (k={k}): the gradient flows through P "
                                "only; f counts decisions and must carry no gradient")


# ---------------------------------------------------------------------------- MoELayer


@pytest.mark.parametrize("k,cf", [(2, None), (1, None), (2, 10.0)])
def test_moe_layer_without_drops_matches_dense_loop(kata, device, k, cf):
    layer = make_layer(kata, k, cf, seed=40 + k, device=device)
    x = randn(2, 5, D, seed=41, device=device)
    with torch.no_grad():
        y, aux = call_layer(layer, x)
        exp_y, exp_aux, _ = dense_moe(layer, x, k, cf)
        check(y, exp_y, f"MoELayer output (k={k}, no capacity limit)", [
            ("the full softmax's top-k without renormalising",
             lambda: dense_moe(layer, x, k, cf, renormalise=False)[0])])
        check(aux, exp_aux, f"MoELayer aux_loss (k={k})")


@pytest.mark.parametrize("k,cf,seed", [(2, 1.0, 50), (1, 1.0, 51), (1, 0.5, 52), (2, 1.25, 72)])
def test_moe_layer_drops_overflow_in_token_order(kata, device, k, cf, seed):
    layer = make_layer(kata, k, cf, seed=seed, device=device)
    x = randn(12, D, seed=seed + 100, device=device)
    with torch.no_grad():
        exp_y, exp_aux, keep = dense_moe(layer, x, k, cf)
        assert not keep.all(), "test premise: some assignment overflows"
        y, aux = call_layer(layer, x)
        check(y, exp_y, f"MoELayer output with capacity_factor={cf}, k={k}", [
            ("the output with no capacity limit: assignments beyond an expert's capacity must "
             "be dropped (contribute zero)", lambda: dense_moe(layer, x, k, None)[0]),
            ("the output with the capacity rounded down: use ceil",
             lambda: dense_moe(layer, x, k, cf, cap_round=math.floor)[0]),
            ("first choices given priority over second choices: drop in token order",
             lambda: dense_moe(layer, x, k, cf, order="slot")[0]),
            ("the full softmax's top-k without renormalising",
             lambda: dense_moe(layer, x, k, cf, renormalise=False)[0])])
        check(aux, exp_aux, "MoELayer aux_loss (counts all routing decisions, before capacity)")
    dropped = ~keep.any(dim=1)
    if dropped.any():
        assert (y[dropped] == 0).all(), "a token whose every choice was dropped must output 0"


def test_moe_layer_gradients_match_dense_loop(kata, device):
    layer = make_layer(kata, 2, 1.0, seed=60, device=device)
    x = randn(3, 4, D, seed=61, device=device).requires_grad_(True)
    w = randn(3, 4, D, seed=62, device=device)
    y, aux = call_layer(layer, x)
    params = [layer.router.weight, *layer.experts.parameters()]
    got = torch.autograd.grad((y * w).sum() + aux, [x, *params])
    exp_y, exp_aux, keep = dense_moe(layer, x, 2, 1.0)
    assert not keep.all(), "test premise: some assignment overflows"
    expected = torch.autograd.grad((exp_y * w).sum() + exp_aux, [x, *params])
    assert_close(got[0], expected[0], what="d loss / d x through MoELayer")
    assert_close(got[1], expected[1], what="d loss / d router.weight (the gates and the aux "
                                           "loss must both carry gradient to the router)")
    for i, (g, g_exp) in enumerate(zip(got[2:], expected[2:], strict=True)):
        assert_close(g, g_exp, what=f"d loss / d expert parameter #{i}")


def test_moe_layer_keeps_shape_dtype_device(kata, device):
    layer = make_layer(kata, 2, 1.25, seed=70, device=device)
    x = randn(2, 3, D, seed=71, device=device)
    y, aux = call_layer(layer, x)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device, (
        f"y: {tuple(y.shape)} {y.dtype} on {y.device}; expected those of x")
    assert aux.dim() == 0 and torch.isfinite(aux), "aux_loss must be a finite 0-d tensor"
