# Your attempt at the `ring_allreduce` kata: fill in every TODO, then run
#     nox -s kata -- ring_allreduce
# Generated from solutions/ring_allreduce.py; `dojo reset ring_allreduce` archives this file and starts over.
"""Ring all-reduce from point-to-point messages: reduce-scatter, then all-gather.

Implement `ring_allreduce(tensor)`: the SUM of `tensor` over all the ranks of the default
process group, written into `tensor` in place on every rank (as dist.all_reduce does), which
is also returned. Only point-to-point operations are allowed: dist.send / dist.recv /
dist.isend / dist.irecv (or dist.batch_isend_irecv). No collective (all_reduce, all_gather,
reduce_scatter, broadcast, ...): the tests switch them off.

    send_recv(send, recv, dst, src)   send `send` to rank dst while receiving `recv` from
                                      rank src, without deadlocking when every rank does it
    ring_allreduce(tensor)            tensor of any shape (contiguous or not), any dtype that
                                      adds (float, int), on the process group's device
                                      -> tensor (the same object), now the sum over ranks

The ring, for N ranks, rank r (right = r + 1, left = r - 1, mod N): flatten the tensor and cut
it into N chunks with tensor_split (their sizes differ by at most one element when numel is
not a multiple of N; some are empty when numel < N).
1. reduce-scatter, N - 1 steps: at step s, send chunk (r - s) % N to the right, receive chunk
   (r - s - 1) % N from the left and ADD it to your own copy of that chunk. Afterwards rank r
   holds the complete sum of chunk (r + 1) % N.
2. all-gather, N - 1 steps: at step s, send chunk (r + 1 - s) % N to the right, receive chunk
   (r - s) % N from the left and REPLACE yours with it.
Each rank sends 2 (N - 1) / N of the tensor in all, whatever N: that is why rings are used.
A world of one rank returns the tensor as it is.

torch.distributed has no MPS backend (gloo takes CPU tensors, NCCL CUDA ones): this kata runs
on cpu (gloo) and cuda (NCCL, one GPU per rank).

Pitfalls an interviewer looks for:
- A blocking dist.send on every rank at once deadlocks: each waits for a receiver that is
  itself stuck sending. Post the send with isend, then recv, then wait for the send.
- The chunk indices rotate with the step; off by one and the sums land in the wrong chunks.
  Check N = 4, not only N = 2 (where left and right are the same rank).
- Reduce-scatter accumulates (+=) what it receives; all-gather overwrites.
"""

import torch
import torch.distributed as dist
from torch import Tensor


def send_recv(send: Tensor, recv: Tensor, dst: int, src: int) -> None:
    """Send `send` to rank dst and receive into `recv` (contiguous) from rank src, together."""
    # TODO: post the send without blocking, receive, then wait for the send
    raise NotImplementedError('TODO: post the send without blocking, receive, then wait for the send')


def ring_allreduce(tensor: Tensor) -> Tensor:
    """Sum `tensor` over the ranks in place with a ring of point-to-point messages; returns
    `tensor`."""
    rank, world = dist.get_rank(), dist.get_world_size()
    # TODO: flatten and chunk; reduce-scatter (accumulate) N - 1 steps, then all-gather
    #       (overwrite) N - 1 steps; copy the result back into `tensor`
    raise NotImplementedError('TODO: flatten and chunk; reduce-scatter (accumulate) N - 1 steps, then all-gather')
