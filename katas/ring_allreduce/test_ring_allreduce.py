"""Tests for the ring_allreduce kata.

The kata runs for real on worlds of 1, 2, 3 and 4 processes (gloo on CPU, NCCL with one GPU
per rank), launched by dojo.distributed.run_world: one launch of `ring_worker` per world size
serves every test of that size (memoised). Oracle: dist.all_reduce (SUM) on the same per-rank
inputs, run in the worker before the learner's function. While ring_allreduce runs, every
collective of the process group is switched off (it raises) and every point-to-point send is
counted, so the tests can check that it is a ring: 2 (N - 1) / N of the tensor per rank.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
import torch.distributed as dist

from dojo.distributed import rank_device, run_world, skip_reason
from dojo.testing import assert_close

WORLDS = [2, 4, 3, 1]  # 2 first: the first failure a learner sees is on the simplest ring

# name -> (shape, dtype, transposed view)
CASES = {
    "numel a multiple of N": ((24,), torch.float32, False),
    "uneven chunks": ((13,), torch.float32, False),
    "2-D tensor": ((5, 7), torch.float32, False),
    "3-D tensor": ((3, 2, 5), torch.float32, False),
    "int64 (exact sums)": ((11,), torch.int64, False),
    "non-contiguous view": ((6, 5), torch.float32, True),
    "fewer elements than ranks": ((3,), torch.float32, False),
    "a single element": ((1,), torch.float32, False),
    "a longer tensor": ((1000,), torch.float32, False),
}

COLLECTIVES = ("allreduce", "allreduce_coalesced", "allgather", "_allgather_base",
               "allgather_coalesced", "allgather_into_tensor_coalesced", "reduce_scatter",
               "_reduce_scatter_base", "reduce_scatter_tensor_coalesced", "broadcast", "reduce",
               "gather", "scatter", "alltoall", "alltoall_base")


def timeout_for(device):
    # A hang must fail well inside pytest's 20 s; CUDA ranks start fresh interpreters.
    return 8 if device.type == "cpu" else 18


def make_input(name, rank):
    """This rank's input for a case (on CPU): seeded by the case and the rank."""
    shape, dtype, transposed = CASES[name]
    g = torch.Generator().manual_seed(1000 * list(CASES).index(name) + rank)
    if dtype == torch.int64:
        x = torch.randint(-1000, 1000, shape, generator=g)
    else:
        x = torch.randn(shape, generator=g)
    return x.t() if transposed else x  # a (5, 6) view of a (6, 5) tensor


@contextlib.contextmanager
def point_to_point_only(sent):
    """Collectives raise; each send's element count is appended to `sent`. Patched on the
    ProcessGroup class, so dist.isend, dist.send, batch_isend_irecv and any imported alias
    all go through it."""
    pg_class = torch._C._distributed_c10d.ProcessGroup
    # the raw class attributes (pybind's method descriptors), to put back as they were
    saved = {name: vars(pg_class)[name] for name in (*COLLECTIVES, "send")
             if name in vars(pg_class)}
    original_send = pg_class.send

    def forbidden(name):
        def refuse(*args, **kwargs):
            raise AssertionError(f"a collective ({name}) was called inside ring_allreduce: "
                                 "build it from point-to-point send/recv only")
        return refuse

    def send(self, tensors, *args, **kwargs):
        sent.append(sum(t.numel() for t in tensors))
        return original_send(self, tensors, *args, **kwargs)

    try:
        for name in saved:
            setattr(pg_class, name, send if name == "send" else forbidden(name))
        yield
    finally:
        for name, method in saved.items():
            setattr(pg_class, name, method)


# ------------------------------------------------------------------------------ the ranks


def ring_worker(kata, rank, world_size):
    dev = rank_device()
    out = {}
    for name in CASES:
        x = make_input(name, rank).to(dev)
        expected = x.clone()
        dist.all_reduce(expected)  # the oracle, before collectives are switched off
        sent = []
        with point_to_point_only(sent):
            result = kata.ring_allreduce(x)
        out[name] = {"x": x, "expected": expected, "result": result, "is_x": result is x,
                     "sent": sum(sent), "messages": len(sent)}
    return out


def run_ranks(kata, device, world):
    __tracebackhide__ = True
    if reason := skip_reason(device, world):
        pytest.skip(reason)
    return run_world(kata, ring_worker, world, timeout=timeout_for(device), device=device)


def diagnose(got, expected, rank, world):
    """Which chunks of the flattened result are right, and what that suggests."""
    flat_got, flat_exp = got.reshape(-1), expected.reshape(-1)
    pairs = zip(flat_got.tensor_split(world), flat_exp.tensor_split(world), strict=True)
    ok = [i for i, (a, b) in enumerate(pairs)
          if torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5)]
    owned = (rank + 1) % world
    hint = (f"rank {rank} ends the reduce-scatter owning chunk {owned}, and that chunk is wrong:"
            " look at the reduce-scatter (accumulate what you receive, chunk (rank - step) % N)"
            if owned not in ok else
            f"chunk {owned}, the one rank {rank} completes in the reduce-scatter, is right but "
            "others are not: look at the all-gather (chunk (rank + 1 - step) % N, overwrite)")
    return f"chunks right: {ok} of {list(range(world))} (tensor_split into {world}); {hint}"


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("world", WORLDS, ids=lambda n: f"world{n}")
@pytest.mark.parametrize("case", list(CASES))
def test_ring_allreduce_matches_dist_all_reduce(kata, device, world, case):
    ranks = run_ranks(kata, device, world)
    for rank, r in enumerate(ranks):
        got = r[case]["result"]
        assert got is not None, f"rank {rank}: ring_allreduce returned None; return `tensor`"
        what = f"rank {rank} of {world}: ring_allreduce on {case} {tuple(got.shape)}"
        try:
            assert_close(got, r[case]["expected"], what=what)
        except AssertionError as err:
            if got.shape != r[case]["expected"].shape or world == 1:
                raise
            raise AssertionError(f"{err}\n{diagnose(got, r[case]['expected'], rank, world)}")\
                from None


@pytest.mark.parametrize("world", WORLDS, ids=lambda n: f"world{n}")
def test_the_sum_is_written_into_the_tensor_and_returned(kata, device, world):
    ranks = run_ranks(kata, device, world)
    for rank, r in enumerate(ranks):
        for case, c in r.items():
            assert_close(c["x"], c["expected"],
                         what=f"rank {rank} of {world}: the input tensor after "
                              f"ring_allreduce ({case}); the sum goes into it, in place")
            assert c["is_x"], (f"rank {rank} of {world}: ring_allreduce({case}) returned a "
                               "new tensor; return `tensor` itself, holding the sum")


@pytest.mark.parametrize("world", [2, 4, 3], ids=lambda n: f"world{n}")
def test_each_rank_sends_2_n_minus_1_over_n_of_the_tensor(kata, device, world):
    ranks = run_ranks(kata, device, world)
    for rank, r in enumerate(ranks):
        for case, c in r.items():
            numel = math.prod(CASES[case][0])
            low = 2 * (world - 1) * (numel // world)
            high = 2 * (world - 1) * -(-numel // world)
            assert c["sent"] > 0, (
                f"rank {rank} of {world}: ring_allreduce({case}) sent nothing point to point "
                "(dist.send / dist.isend)")
            assert low <= c["sent"] <= high, (
                f"rank {rank} of {world}: ring_allreduce({case}) sent {c['sent']} elements of "
                f"a {numel}-element tensor; a ring sends 2 (N - 1) chunks of numel / N, "
                f"between {low} and {high}. Sending whole tensors is not a ring")
            # (a ring may skip the empty chunks of a tensor with fewer elements than ranks)
            n_messages = 2 * (world - 1)
            assert c["messages"] == n_messages or (numel < world and c["messages"] < n_messages), (
                f"rank {rank} of {world}: ring_allreduce({case}) sent {c['messages']} "
                f"messages; a ring sends one chunk per step: N - 1 reduce-scatter steps and "
                f"N - 1 all-gather steps, {n_messages} in all")


def test_a_world_of_one_rank_returns_the_tensor_unchanged(kata, device):
    [r] = run_ranks(kata, device, 1)
    for case, c in r.items():
        assert c["is_x"] and c["messages"] == 0, (
            f"ring_allreduce({case}) on a world of one rank must return `tensor` as it is, "
            "without messages")
