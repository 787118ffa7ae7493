"""Tests for the tensor_parallel kata.

The kata runs for real on a world of 2 processes (gloo on CPU, NCCL on 2 GPUs), launched by
dojo.distributed.run_world: one launch of `tp_worker` serves every test (it is memoised), and
each test checks one part of what the ranks sent back. Oracle: the single-process nn.Linear /
MLP (fc1, exact GELU, fc2) built here from the same seeded full weights as the ranks, with
torch.autograd for the gradients: the ranks must reproduce its output, and their shard
gradients must be the matching slices of its full gradients.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.distributed import rank_device, run_world, skip_reason
from dojo.testing import assert_close

WORLD = 2
IN, HIDDEN, OUT = 8, 12, 6
BATCH = (3, 2)
SEED = 0
TIMEOUT = 15  # seconds for the whole world; a hang is a failure, well inside pytest's 20 s


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


# Upstream gradients enter as (y * dy).sum().backward(): y.backward(dy) would import sympy
# (torch's symbolic shapes) in every rank, a second or more on a busy machine.


def make_problem(seed):
    """Full layers with random weights AND biases (a zero bias would hide a misplaced one),
    an input, and upstream gradients for the hidden and output activations: the same on
    every rank and in the test process."""
    g = torch.Generator().manual_seed(seed)
    fc1, fc2 = nn.Linear(IN, HIDDEN), nn.Linear(HIDDEN, OUT)
    with torch.no_grad():
        for p in (*fc1.parameters(), *fc2.parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.randn(*BATCH, IN, generator=g)
    h = torch.randn(*BATCH, HIDDEN, generator=g)  # an input for the row layer on its own
    dh = torch.randn(*BATCH, HIDDEN, generator=g)  # d(loss)/d(hidden)
    dy = torch.randn(*BATCH, OUT, generator=g)  # d(loss)/d(output)
    return fc1, fc2, x, h, dh, dy


def block(rank, n):
    return slice(rank * n // WORLD, (rank + 1) * n // WORLD)


# ------------------------------------------------------------------------------ the ranks


def tp_worker(kata, rank, world_size, seed):
    """Everything the tests check, computed on this rank; tensors come back on CPU."""
    dev = rank_device()
    out = {}

    # f and g on per-rank inputs and upstream gradients
    for name, fn in (("f", kata.copy_to_parallel), ("g", kata.reduce_from_parallel)):
        x = randn(4, 3, seed=seed + 10 + rank).to(dev).requires_grad_(True)
        before = x.detach().clone()
        y = fn(x)
        changed = not torch.equal(x.detach(), before)
        (y * randn(4, 3, seed=seed + 20 + rank).to(dev)).sum().backward()
        out[name] = {"y": y.detach(), "grad": x.grad, "input_changed": changed}

    fc1, fc2, x, h, dh, dy = (t.to(dev) for t in make_problem(seed))

    col = kata.ColumnParallelLinear(fc1, rank, world_size)
    x_col = x.clone().requires_grad_(True)
    y = col(x_col)
    (y * dh[..., block(rank, HIDDEN)]).sum().backward()  # this rank's slice of d(loss)/d(hidden)
    out["column"] = {"weight": col.weight.detach(), "bias": col.bias.detach(), "y": y.detach(),
                     "x_grad": x_col.grad, "weight_grad": col.weight.grad,
                     "bias_grad": col.bias.grad, "params": len(list(col.parameters()))}

    row = kata.RowParallelLinear(fc2, rank, world_size)
    h_row = h[..., block(rank, HIDDEN)].clone().requires_grad_(True)
    y = row(h_row)
    (y * dy).sum().backward()
    out["row"] = {"weight": row.weight.detach(), "bias": row.bias.detach(), "y": y.detach(),
                  "h_grad": h_row.grad, "weight_grad": row.weight.grad,
                  "bias_grad": row.bias.grad, "params": len(list(row.parameters()))}

    mlp = kata.ParallelMLP(fc1, fc2, rank, world_size)
    x_mlp = x.clone().requires_grad_(True)
    y = mlp(x_mlp)
    (y * dy).sum().backward()
    out["mlp"] = {"y": y.detach(), "x_grad": x_mlp.grad,
                  **{f"{layer}.{p}": getattr(getattr(mlp, layer), p).grad
                     for layer in ("fc1", "fc2") for p in ("weight", "bias")}}
    return out


def run_ranks(kata, device):
    """What each rank of the world sent back (one launch, shared by the tests)."""
    __tracebackhide__ = True
    if reason := skip_reason(device, WORLD):
        pytest.skip(reason)
    return run_world(kata, tp_worker, WORLD, args=(SEED,), timeout=TIMEOUT, device=device)


# ------------------------------------------------------------------------------ the oracle


def oracle():
    """Single-process outputs and gradients (float32 on CPU, like the ranks)."""
    fc1, fc2, x, h, dh, dy = make_problem(SEED)
    ref = {}
    x1 = x.clone().requires_grad_(True)
    hid = fc1(x1)
    (hid * dh).sum().backward()
    ref["column"] = {"y": hid.detach(), "x_grad": x1.grad, "weight_grad": fc1.weight.grad,
                     "bias_grad": fc1.bias.grad, "weight": fc1.weight.detach(),
                     "bias": fc1.bias.detach()}
    fc1.zero_grad()
    h2 = h.clone().requires_grad_(True)
    y = fc2(h2)
    (y * dy).sum().backward()
    ref["row"] = {"y": y.detach(), "h_grad": h2.grad, "weight_grad": fc2.weight.grad,
                  "bias_grad": fc2.bias.grad, "weight": fc2.weight.detach(),
                  "bias": fc2.bias.detach()}
    fc2.zero_grad()
    x3 = x.clone().requires_grad_(True)
    y = fc2(F.gelu(fc1(x3)))
    (y * dy).sum().backward()
    ref["mlp"] = {"y": y.detach(), "x_grad": x3.grad,
                  **{f"{name}.{p}": getattr(layer, p).grad
                     for name, layer in (("fc1", fc1), ("fc2", fc2)) for p in ("weight", "bias")}}
    return ref


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


# ------------------------------------------------------------------------------ f and g


def test_f_is_identity_forward_and_sums_gradients_backward(kata, device):
    ranks = run_ranks(kata, device)
    grads = [randn(4, 3, seed=SEED + 20 + r) for r in range(WORLD)]
    total = sum(grads)
    for rank, r in enumerate(ranks):
        x = randn(4, 3, seed=SEED + 10 + rank)
        check(r["f"]["y"], x, f"rank {rank}: copy_to_parallel(x) forward (the identity)",
              [("an all-reduce in f's forward: f only all-reduces in backward", WORLD * x)])
        check(r["f"]["grad"], total,
              f"rank {rank}: gradient of x through copy_to_parallel (the sum over ranks)",
              [("this rank's own gradient: f's backward must all-reduce (sum) it",
                grads[rank])])


def test_g_sums_over_ranks_forward_and_passes_gradients_through(kata, device):
    ranks = run_ranks(kata, device)
    total = sum(randn(4, 3, seed=SEED + 10 + r) for r in range(WORLD))
    for rank, r in enumerate(ranks):
        own = randn(4, 3, seed=SEED + 10 + rank)
        check(r["g"]["y"], total, f"rank {rank}: reduce_from_parallel(x) forward (the sum "
              "over ranks)", [("this rank's own input: g's forward must all-reduce it", own)])
        grad = randn(4, 3, seed=SEED + 20 + rank)
        check(r["g"]["grad"], grad,
              f"rank {rank}: gradient of x through reduce_from_parallel (the identity)",
              [("a summed gradient: g's backward must not all-reduce (every rank already "
                "holds the full output's gradient)",
                sum(randn(4, 3, seed=SEED + 20 + q) for q in range(WORLD)))])


def test_g_does_not_overwrite_its_input(kata, device):
    ranks = run_ranks(kata, device)
    for rank, r in enumerate(ranks):
        assert not r["g"]["input_changed"], (
            f"rank {rank}: reduce_from_parallel changed its input in place; dist.all_reduce "
            "works in place, so reduce a clone")
        assert not r["f"]["input_changed"], f"rank {rank}: copy_to_parallel changed its input"


# ------------------------------------------------------------------------------ column


def test_column_parallel_keeps_this_ranks_block_of_output_features(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["column"]
    for rank, r in enumerate(ranks):
        c = r["column"]
        assert c["weight"].shape == (HIDDEN // WORLD, IN), (
            f"rank {rank}: ColumnParallelLinear.weight has shape {tuple(c['weight'].shape)}, "
            f"expected {(HIDDEN // WORLD, IN)}: split nn.Linear's (out, in) weight along dim 0 "
            "(output features), not dim 1")
        rows = block(rank, HIDDEN)
        check(c["weight"], ref["weight"][rows], f"rank {rank}: ColumnParallelLinear.weight",
              [("another rank's block: rank r keeps rows r*out/N to (r+1)*out/N",
                ref["weight"][block(1 - rank, HIDDEN)])])
        check(c["bias"], ref["bias"][rows], f"rank {rank}: ColumnParallelLinear.bias")
        assert c["params"] == 2, (f"rank {rank}: ColumnParallelLinear has {c['params']} "
                                  "parameters; weight and bias must be nn.Parameters")


def test_column_parallel_output_is_this_ranks_slice(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["column"]
    for rank, r in enumerate(ranks):
        check(r["column"]["y"], ref["y"][..., block(rank, HIDDEN)],
              f"rank {rank}: ColumnParallelLinear(x), the slice {block(rank, HIDDEN)} of "
              "linear(x)")


def test_column_parallel_input_gradient_is_complete_on_every_rank(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["column"]
    _, _, _, _, dh, _ = make_problem(SEED)
    for rank, r in enumerate(ranks):
        rows = block(rank, HIDDEN)
        partial = dh[..., rows] @ ref["weight"][rows]
        check(r["column"]["x_grad"], ref["x_grad"],
              f"rank {rank}: d(loss)/dx through ColumnParallelLinear",
              [("this rank's partial input gradient: f's backward must all-reduce it",
                partial),
               ("the input gradient times world_size: the gradient was all-reduced twice",
                WORLD * ref["x_grad"])])


def test_column_parallel_parameter_gradients_are_slices_of_the_full_ones(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["column"]
    for rank, r in enumerate(ranks):
        rows = block(rank, HIDDEN)
        check(r["column"]["weight_grad"], ref["weight_grad"][rows],
              f"rank {rank}: ColumnParallelLinear.weight.grad")
        check(r["column"]["bias_grad"], ref["bias_grad"][rows],
              f"rank {rank}: ColumnParallelLinear.bias.grad")


# ------------------------------------------------------------------------------ row


def test_row_parallel_keeps_this_ranks_input_columns_and_the_full_bias(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["row"]
    for rank, r in enumerate(ranks):
        w = r["row"]["weight"]
        assert w.shape == (OUT, HIDDEN // WORLD), (
            f"rank {rank}: RowParallelLinear.weight has shape {tuple(w.shape)}, expected "
            f"{(OUT, HIDDEN // WORLD)}: split nn.Linear's (out, in) weight along dim 1 (input "
            "features)")
        check(w, ref["weight"][:, block(rank, HIDDEN)], f"rank {rank}: RowParallelLinear.weight")
        check(r["row"]["bias"], ref["bias"], f"rank {rank}: RowParallelLinear.bias (the full "
              "bias, the same on every rank)")
        assert r["row"]["params"] == 2, (f"rank {rank}: RowParallelLinear has "
                                         f"{r['row']['params']} parameters; expected 2")


def test_row_parallel_output_is_the_full_linear_with_the_bias_added_once(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["row"]
    _, _, _, h, _, _ = make_problem(SEED)
    for rank, r in enumerate(ranks):
        cols = block(rank, HIDDEN)
        partial = h[..., cols] @ ref["weight"][:, cols].T
        check(r["row"]["y"], ref["y"], f"rank {rank}: RowParallelLinear(x_shard)",
              [(f"the bias counted {WORLD} times: add it after the all-reduce, not to each "
                "partial sum", ref["y"] + (WORLD - 1) * ref["bias"]),
               ("the output without its bias", ref["y"] - ref["bias"]),
               ("this rank's partial product: g's forward must all-reduce it",
                partial + ref["bias"]),
               ("this rank's partial product (no all-reduce, no bias)", partial)])


def test_row_parallel_gradients_match_the_full_layer(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["row"]
    for rank, r in enumerate(ranks):
        cols = block(rank, HIDDEN)
        check(r["row"]["h_grad"], ref["h_grad"][..., cols],
              f"rank {rank}: d(loss)/d(x_shard) through RowParallelLinear",
              [("a gradient summed over ranks: g's backward must be the identity",
                WORLD * ref["h_grad"][..., cols])])
        check(r["row"]["weight_grad"], ref["weight_grad"][:, cols],
              f"rank {rank}: RowParallelLinear.weight.grad")
        check(r["row"]["bias_grad"], ref["bias_grad"],
              f"rank {rank}: RowParallelLinear.bias.grad (the full bias gradient)")


# ------------------------------------------------------------------------------ the MLP


def test_parallel_mlp_matches_the_single_process_mlp(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["mlp"]
    for rank, r in enumerate(ranks):
        check(r["mlp"]["y"], ref["y"], f"rank {rank}: ParallelMLP(x) = fc2(gelu(fc1(x)))")


def test_parallel_mlp_gradients_match_the_single_process_mlp(kata, device):
    ranks = run_ranks(kata, device)
    ref = oracle()["mlp"]
    for rank, r in enumerate(ranks):
        m = r["mlp"]
        check(m["x_grad"], ref["x_grad"], f"rank {rank}: d(loss)/dx through ParallelMLP",
              [("the input gradient times world_size: something all-reduces in both "
                "directions", WORLD * ref["x_grad"])])
        rows = block(rank, HIDDEN)
        expected = {"fc1.weight": ref["fc1.weight"][rows], "fc1.bias": ref["fc1.bias"][rows],
                    "fc2.weight": ref["fc2.weight"][:, rows], "fc2.bias": ref["fc2.bias"]}
        for name, want in expected.items():
            check(m[name], want, f"rank {rank}: ParallelMLP {name}.grad",
                  [("the gradient times world_size: g's backward must not all-reduce",
                    WORLD * want)])


# ------------------------------------------------------------------------------ no world


@pytest.mark.parametrize("layer", ["ColumnParallelLinear", "RowParallelLinear"])
def test_features_not_divisible_by_world_size_are_refused(kata, layer):
    linear = nn.Linear(6, 6)
    with pytest.raises(ValueError):
        getattr(kata, layer)(linear, 0, 4)  # 6 features cannot be split 4 ways
    # 6 split 3 ways is fine; building a layer needs no process group
    shard = getattr(kata, layer)(linear, 2, 3)
    dim = 0 if layer == "ColumnParallelLinear" else 1
    assert_close(shard.weight, linear.weight.detach().narrow(dim, 4, 2),
                 what=f"{layer}(nn.Linear(6, 6), rank=2, world_size=3).weight")
