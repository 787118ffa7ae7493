# Your attempt at the `tensor_parallel` kata: fill in every TODO, then run
#     nox -s kata -- tensor_parallel
# Generated from solutions/tensor_parallel.py; `dojo reset tensor_parallel` archives this file and starts over.
"""Megatron-style tensor parallelism: column- and row-parallel linear layers and a parallel MLP,
over torch.distributed.

Split one MLP  y = fc2(gelu(fc1(x)))  across the N ranks of the default process group, so that
each rank holds 1/N of each weight and the ranks together compute exactly what the single
process computes: the same output on every rank, and the same gradients (a shard's gradient is
the matching slice of the full gradient; the input's gradient is the full one).

    CopyToParallel      "f": identity forward, all-reduce (sum) backward
    ReduceFromParallel  "g": all-reduce (sum) forward, identity backward
        torch.autograd.Function subclasses; copy_to_parallel(x) / reduce_from_parallel(x)
        (given) apply them.
    ColumnParallelLinear(linear, rank, world_size)
        shards nn.Linear(in, out) by OUTPUT features: this rank keeps rows
        [rank * out/N, (rank + 1) * out/N) of the (out, in) weight and the same slice of the
        bias, as nn.Parameters `weight` (out/N, in) and `bias` (out/N,).
        forward: x (..., in), the same on every rank -> (..., out/N), this rank's slice of
        linear(x): f(x), then the local matmul. No gather.
    RowParallelLinear(linear, rank, world_size)
        shards nn.Linear(in, out) by INPUT features: this rank keeps columns
        [rank * in/N, (rank + 1) * in/N) of the weight, `weight` (out, in/N), and the FULL bias
        `bias` (out,), identical on every rank.
        forward: x_shard (..., in/N), this rank's slice of the input -> (..., out), the full
        linear(x) on every rank: g(local matmul), then + bias.
    ParallelMLP(fc1, fc2, rank, world_size)
        fc1 column-parallel, exact (erf) GELU, fc2 row-parallel: x (..., in) -> (..., out).
        Attributes `fc1` (ColumnParallelLinear) and `fc2` (RowParallelLinear). One f and one
        g per MLP: the column layer's output feeds the row layer directly, no communication.

The constructors copy their shards (clone): the full nn.Linear may be dropped or changed
afterwards. in (row) and out (column) must be divisible by world_size, else ValueError.
`rank` and `world_size` are those of the default process group, which the caller has
initialised (gloo on CPU, NCCL on CUDA with one GPU per rank). torch.distributed has no MPS
backend (gloo takes CPU tensors, NCCL CUDA ones), so this kata runs on cpu and cuda only.

Pitfalls an interviewer looks for:
- Column-parallel splits nn.Linear's weight along dim 0: its weight is (out, in), rows are
  output features. Row-parallel splits dim 1.
- The row-parallel bias is added AFTER the all-reduce, once: added to each partial sum it is
  counted N times.
- f and g are conjugate: f all-reduces only in backward (each rank's input gradient is
  partial, from its shard), g only in forward (every rank then holds the full output, whose
  gradient is already complete). All-reducing in both directions multiplies by N.
- dist.all_reduce works in place: reduce a clone, never autograd's input or grad_output.
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


class CopyToParallel(torch.autograd.Function):
    """f: the input enters the parallel region. Identity forward, all-reduce backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        # TODO: what does every rank need in forward?
        raise NotImplementedError('TODO: what does every rank need in forward?')

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        # TODO: each rank holds a partial input gradient
        raise NotImplementedError('TODO: each rank holds a partial input gradient')


class ReduceFromParallel(torch.autograd.Function):
    """g: partial results leave the parallel region. All-reduce forward, identity backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        # TODO: each rank holds a partial sum of the output
        raise NotImplementedError('TODO: each rank holds a partial sum of the output')

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        # TODO: every rank already holds the full output's gradient
        raise NotImplementedError("TODO: every rank already holds the full output's gradient")


def copy_to_parallel(x: Tensor) -> Tensor:
    """f(x): identity forward, all-reduce backward."""
    return CopyToParallel.apply(x)


def reduce_from_parallel(x: Tensor) -> Tensor:
    """g(x): all-reduce forward, identity backward."""
    return ReduceFromParallel.apply(x)


def _check_divisible(n: int, world_size: int, what: str) -> int:
    if n % world_size:
        raise ValueError(f"{what}={n} is not divisible by world_size={world_size}")
    return n // world_size


class ColumnParallelLinear(nn.Module):
    """This rank's output features of a linear layer: (..., in) -> (..., out / world_size)."""

    def __init__(self, linear: nn.Linear, rank: int, world_size: int):
        super().__init__()
        # TODO: keep this rank's block of output features (weight rows, bias entries)
        raise NotImplementedError("TODO: keep this rank's block of output features (weight rows, bias entries)")

    def forward(self, x: Tensor) -> Tensor:
        # TODO: enter the parallel region, then the local linear
        raise NotImplementedError('TODO: enter the parallel region, then the local linear')


class RowParallelLinear(nn.Module):
    """This rank's input features of a linear layer: (..., in / world_size) -> (..., out)."""

    def __init__(self, linear: nn.Linear, rank: int, world_size: int):
        super().__init__()
        # TODO: keep this rank's block of input features (weight columns) and the full bias
        raise NotImplementedError("TODO: keep this rank's block of input features (weight columns) and the full bias")

    def forward(self, x: Tensor) -> Tensor:
        # TODO: local partial product, sum over the ranks, bias once
        raise NotImplementedError('TODO: local partial product, sum over the ranks, bias once')


class ParallelMLP(nn.Module):
    """fc2(gelu(fc1(x))) with fc1 column-parallel and fc2 row-parallel."""

    def __init__(self, fc1: nn.Linear, fc2: nn.Linear, rank: int, world_size: int):
        super().__init__()
        self.fc1 = ColumnParallelLinear(fc1, rank, world_size)
        self.fc2 = RowParallelLinear(fc2, rank, world_size)

    def forward(self, x: Tensor) -> Tensor:
        # TODO: column layer, activation, row layer
        raise NotImplementedError('TODO: column layer, activation, row layer')
