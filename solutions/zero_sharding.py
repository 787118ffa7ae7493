"""ZeRO stage 1: Adam whose optimizer states are sharded over the ranks.

Data parallelism keeps a full replica of the model on every rank; plain Adam then also keeps
two full-size state tensors (exp_avg, exp_avg_sq) per rank. ZeRO-1 (Rajbhandari et al., 2020)
shards them: each of the N ranks owns 1/N of the parameters' Adam states and updates only
that 1/N of the parameters, then the ranks exchange the updated pieces.

    ZeroAdam(params, shard=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        params: an iterable of tensors (nn.Parameters), the same shapes and values on every
                rank (a replicated model); float32, on the process group's device.
        shard:  the process group the states are sharded over (None: the default group);
                rank = dist.get_rank(shard), N = dist.get_world_size(shard).
    .step()       one Adam step with the gradient averaged over the ranks
    .zero_grad()  sets every p.grad to None

Layout: the parameters, flattened in order and concatenated, form a flat vector of T
elements, zero-padded to P = N * ceil(T / N). Rank r owns the slice
[r * P / N, (r + 1) * P / N) of it: `shard_bounds` = (start, stop), the slice may cross
parameter boundaries, and the padding lies in the last rank's slice. Its states are the
attributes `exp_avg` and `exp_avg_sq`, tensors of P / N elements (nothing full-size), and
`steps` counts the steps taken (one counter: every element has seen the same steps).

step(), on every rank (they all call it, as collectives require):
1. flatten the local gradients (a parameter with grad None counts as zeros) and pad: (P,);
2. reduce-scatter with SUM (dist.reduce_scatter_tensor): this rank receives its slice of the
   summed gradient, and divides it by N: the MEAN over ranks is the data-parallel gradient
   (gloo has no ReduceOp.AVG, hence SUM then / N);
3. Adam on the slice, exactly as torch.optim.Adam (no weight decay, no amsgrad):
       t += 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
       p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
4. all-gather the updated slices (dist.all_gather_into_tensor) into the flat vector, and copy
   it back into every parameter, so that all ranks hold the same parameters again.
After N ranks each step with local gradients g_r, the parameters equal those of one
torch.optim.Adam stepping with mean_r(g_r), and the shards of exp_avg / exp_avg_sq are
slices of its flattened states.

torch.distributed has no MPS backend (gloo takes CPU tensors, NCCL CUDA ones): this kata runs
on cpu (gloo) and cuda (NCCL, one GPU per rank).

Pitfalls an interviewer looks for:
- Summing the gradients instead of averaging them. Adam barely notices a scaled gradient
  (m / sqrt(v) cancels the scale), which is what makes the bug survive a loss curve; its
  states do not.
- Shard boundaries: pad T up to a multiple of N first, or the slices are off by one and the
  last one is short.
- One step counter, incremented once per step (not per parameter, not per rank).
- Forgetting the all-gather: each rank then only updates its own slice and the replicas
  drift apart.
"""

import math

import torch
import torch.distributed as dist
from torch import Tensor


class ZeroAdam:
    """Adam with exp_avg / exp_avg_sq sharded over the ranks of `shard` (ZeRO-1)."""

    def __init__(self, params, shard=None, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.group = shard
        self.lr, self.betas, self.eps = lr, betas, eps
        self.rank, self.world = dist.get_rank(shard), dist.get_world_size(shard)
        self.numel = sum(p.numel() for p in self.params)  # T
        # >>> TODO: size of this rank's slice of the padded flat vector, its bounds, zero
        # >>>       states of that size, and the step counter
        self.shard_size = math.ceil(self.numel / self.world)  # P / N
        start = self.rank * self.shard_size
        self.shard_bounds = (start, start + self.shard_size)
        p0 = self.params[0]
        self.exp_avg = torch.zeros(self.shard_size, dtype=p0.dtype, device=p0.device)
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)
        self.steps = 0
        # <<<

    def _flat(self, tensors) -> Tensor:
        """Concatenate flattened tensors and zero-pad to P = N * shard_size: (P,)."""
        # >>> TODO: flatten each tensor, concatenate in order, zero-pad at the end
        flat = torch.cat([t.reshape(-1) for t in tensors])  # (T,)
        return torch.nn.functional.pad(flat, (0, self.world * self.shard_size - self.numel))
        # <<<

    @torch.no_grad()
    def step(self) -> None:
        # >>> TODO: flat padded grads; reduce-scatter and average; Adam on this rank's slice;
        # >>>       all-gather the slices and copy them back into the parameters
        grads = self._flat([torch.zeros_like(p) if p.grad is None else p.grad
                            for p in self.params])  # (P,)
        g = torch.empty_like(self.exp_avg)  # (P / N,)
        dist.reduce_scatter_tensor(g, grads, op=dist.ReduceOp.SUM, group=self.group)
        g /= self.world  # the mean gradient over ranks

        start, stop = self.shard_bounds
        flat = self._flat(self.params)  # (P,)
        p = flat[start:stop]  # a view: updated in place below

        b1, b2 = self.betas
        self.steps += 1
        self.exp_avg.mul_(b1).add_(g, alpha=1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat = self.exp_avg / (1 - b1 ** self.steps)
        v_hat = self.exp_avg_sq / (1 - b2 ** self.steps)
        p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)

        dist.all_gather_into_tensor(flat, p.clone(), group=self.group)
        offset = 0
        for param in self.params:
            param.copy_(flat[offset:offset + param.numel()].view_as(param))
            offset += param.numel()
        # <<<

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
