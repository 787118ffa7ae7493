"""Tests for the zero_sharding kata.

The kata runs for real on worlds of 2 and 4 processes (gloo on CPU, NCCL with one GPU per
rank), launched by dojo.distributed.run_world: one launch of `zero_worker` per world size
serves every test of that size (memoised). Each rank gets its own gradients at every step;
the oracle is torch.optim.Adam, single-process, stepping the same parameters with the MEAN
of the ranks' gradients. The ranks' parameters must follow it step by step, and each rank's
exp_avg / exp_avg_sq must be its slice of Adam's flattened, zero-padded states.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.distributed import rank_device, run_world, skip_reason
from dojo.testing import assert_close

WORLDS = [2, 4]
LR = 0.05
# name -> (parameter shapes, steps, eps). "model": T = 41 elements, padded to 42 (N = 2) or
# 44 (N = 4), slices that cross parameter boundaries, Adam's default eps. "tiny": T = 3 < N = 4,
# the last rank owns nothing but padding; an eps large enough to matter.
SCENARIOS = {
    "model": ([(5, 3), (3,), (4, 5), (1,), (2,)], 4, None),
    "tiny": ([(3,)], 2, 0.5),
}
NO_GRAD = ("model", 2, 3)  # at step 2 of "model", parameter 3 has grad None on every rank

# The first torch.optim.Adam of a process imports torch._dynamo (seconds): pay it at import,
# not inside the first test's time budget.
torch.optim.Adam([nn.Parameter(torch.zeros(1))])


def timeout_for(device):
    return 10 if device.type == "cpu" else 18  # a hang fails well inside pytest's 20 s


def randn(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def initial_params(name):
    return [randn(*shape, seed=100 + i) for i, shape in enumerate(SCENARIOS[name][0])]


def grad(name, step, rank, i):
    """Rank `rank`'s gradient for parameter i at `step` (None: no gradient)."""
    if (name, step, i) == NO_GRAD:
        return None
    shape = SCENARIOS[name][0][i]
    # different scales per rank, so that the mean differs visibly from any one rank's grad
    return randn(*shape, seed=10_000 * step + 100 * rank + i + 7 * len(name)) * (1 + rank)


# ------------------------------------------------------------------------------ the ranks


def zero_worker(kata, rank, world_size):
    dev = rank_device()
    out = {}
    for name, (_, steps, eps) in SCENARIOS.items():
        params = [nn.Parameter(p.to(dev)) for p in initial_params(name)]
        opt = (kata.ZeroAdam(params, None, lr=LR) if eps is None
               else kata.ZeroAdam(params, None, lr=LR, eps=eps))
        record = {"bounds": tuple(opt.shard_bounds), "exp_avg_numel": opt.exp_avg.numel(),
                  "exp_avg_sq_numel": opt.exp_avg_sq.numel(), "history": []}
        for step in range(steps):
            for i, p in enumerate(params):
                g = grad(name, step, rank, i)
                p.grad = None if g is None else g.to(dev)
            opt.step()
            record["history"].append({
                "params": [p.detach().clone() for p in params],
                "exp_avg": opt.exp_avg.clone(), "exp_avg_sq": opt.exp_avg_sq.clone(),
                "steps": opt.steps})
            opt.zero_grad()
            record["grads_after_zero_grad"] = [p.grad for p in params]
        out[name] = record
    return out


def run_ranks(kata, device, world):
    __tracebackhide__ = True
    if reason := skip_reason(device, world):
        pytest.skip(reason)
    return run_world(kata, zero_worker, world, timeout=timeout_for(device), device=device)


# ------------------------------------------------------------------------------ the oracle


def oracle(name, world, reduce="mean"):
    """torch.optim.Adam with the mean (or, for naming the bug, the sum) of the ranks'
    gradients; per step: the parameters and the flattened, padded exp_avg / exp_avg_sq."""
    shapes, steps, eps = SCENARIOS[name]
    params = [nn.Parameter(p) for p in initial_params(name)]
    adam = torch.optim.Adam(params, lr=LR, eps=1e-8 if eps is None else eps)
    total = sum(math.prod(s) for s in shapes)
    pad = world * math.ceil(total / world) - total
    history = []
    for step in range(steps):
        for i, p in enumerate(params):
            grads = [grad(name, step, r, i) for r in range(world)]
            if grads[0] is None:
                p.grad = torch.zeros_like(p)  # ZeroAdam counts a missing grad as zeros
            else:
                p.grad = torch.stack(grads).sum(0) / (world if reduce == "mean" else 1)
        adam.step()

        def flat(key):
            return F.pad(torch.cat([adam.state[p][key].reshape(-1) for p in params]), (0, pad))

        history.append({"params": [p.detach().clone() for p in params],
                        "exp_avg": flat("exp_avg"), "exp_avg_sq": flat("exp_avg_sq")})
    return history


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


def shard_size(name, world):
    return math.ceil(sum(math.prod(s) for s in SCENARIOS[name][0]) / world)


# ------------------------------------------------------------------------------ tests

world_param = pytest.mark.parametrize("world", WORLDS, ids=lambda n: f"world{n}")
scenario_param = pytest.mark.parametrize("name", list(SCENARIOS))


@world_param
@scenario_param
def test_each_rank_owns_one_nth_of_the_padded_flat_vector(kata, device, world, name):
    ranks = run_ranks(kata, device, world)
    size = shard_size(name, world)
    for rank, r in enumerate(ranks):
        rec = r[name]
        assert rec["bounds"] == (rank * size, (rank + 1) * size), (
            f"rank {rank} of {world} ({name}): shard_bounds is {rec['bounds']}, expected "
            f"{(rank * size, (rank + 1) * size)}: pad the flat vector to P = "
            f"{world * size} elements (a multiple of N), then rank r owns "
            "[r * P/N, (r + 1) * P/N)")
        for key in ("exp_avg_numel", "exp_avg_sq_numel"):
            assert rec[key] == size, (
                f"rank {rank} of {world} ({name}): {key.removesuffix('_numel')} has "
                f"{rec[key]} elements, expected {size} = ceil(T / N): each rank keeps the "
                "Adam states of its own slice only")


@world_param
@scenario_param
def test_parameters_follow_torch_adam_with_the_mean_gradient(kata, device, world, name):
    ranks = run_ranks(kata, device, world)
    expected = oracle(name, world)
    for step, want in enumerate(expected):
        previous = (initial_params(name) if step == 0 else expected[step - 1]["params"])
        for rank, r in enumerate(ranks):
            got = r[name]["history"][step]["params"]
            for i, (p, w) in enumerate(zip(got, want["params"], strict=True)):
                note = " (this step it had grad None: zeros)" if (name, step, i) == NO_GRAD \
                    else ""
                check(p, w, f"rank {rank} of {world} ({name}): parameter {i} after step "
                            f"{step + 1}{note}",
                      [("the parameter before this step: it was not updated on this rank; "
                        "all-gather the updated slices and copy them into every parameter",
                        previous[i])])


@world_param
@scenario_param
def test_states_are_this_ranks_slice_of_torch_adams_states(kata, device, world, name):
    ranks = run_ranks(kata, device, world)
    for step, want in enumerate(oracle(name, world)):
        for rank, r in enumerate(ranks):
            rec = r[name]["history"][step]
            lo, hi = r[name]["bounds"]
            for key, power in (("exp_avg", 1), ("exp_avg_sq", 2)):
                check(rec[key], want[key][lo:hi],
                      f"rank {rank} of {world} ({name}): {key} after step {step + 1}, the "
                      f"slice [{lo}, {hi}) of torch.optim.Adam's flattened {key}",
                      [(f"Adam states of gradients SUMMED over ranks (x{world ** power}): "
                        "average them (divide by the world size)",
                        want[key][lo:hi] * world ** power)])


@world_param
def test_one_step_counter_counts_the_steps(kata, device, world):
    ranks = run_ranks(kata, device, world)
    for rank, r in enumerate(ranks):
        for name, rec in r.items():
            counts = [h["steps"] for h in rec["history"]]
            assert counts == list(range(1, len(counts) + 1)), (
                f"rank {rank} of {world} ({name}): `steps` after each step is {counts}; "
                "increment it once per step() (Adam's bias correction uses it)")


@world_param
def test_every_rank_ends_each_step_with_the_same_parameters(kata, device, world):
    ranks = run_ranks(kata, device, world)
    for name in SCENARIOS:
        for step, h0 in enumerate(ranks[0][name]["history"]):
            for rank, r in enumerate(ranks[1:], start=1):
                for i, (a, b) in enumerate(zip(r[name]["history"][step]["params"],
                                               h0["params"], strict=True)):
                    assert torch.equal(a, b), (
                        f"({name}) after step {step + 1}, parameter {i} differs between rank "
                        f"0 and rank {rank}: the replicas drift apart. Every rank must end "
                        "the step with the all-gathered parameters")


@world_param
def test_zero_grad_sets_the_gradients_to_none(kata, device, world):
    ranks = run_ranks(kata, device, world)
    for rank, r in enumerate(ranks):
        for name, rec in r.items():
            assert all(g is None for g in rec["grads_after_zero_grad"]), (
                f"rank {rank} ({name}): after zero_grad() every p.grad must be None")
