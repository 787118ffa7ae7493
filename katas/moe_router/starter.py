# Your attempt at the `moe_router` kata: fill in every TODO, then run
#     nox -s kata -- moe_router
# Generated from solutions/moe_router.py; `dojo reset moe_router` archives this file and starts over.
"""Mixture-of-experts routing: top-k gating, expert capacity, load-balancing loss (torch).

Build the sparse MoE feed-forward block of Switch Transformer / Mixtral:

    top_k_gating(logits, k)                     (weights, indices) of each token's k experts
    expert_capacity(n_tokens, n_experts, k, capacity_factor)   slots per expert, an int
    capacity_mask(indices, n_experts, capacity) (N, k) bool: which assignments fit
    load_balancing_loss(router_probs, indices)  Switch auxiliary loss, a 0-d tensor
    MoELayer(d, n_experts, k, capacity_factor)  nn.Module: route, dispatch, combine

Shapes: logits and router_probs (N, E) float (N tokens, E experts); weights (N, k) float and
indices (N, k) int64; MoELayer takes x (..., d) and returns (y (..., d), aux_loss 0-d).
Results keep the dtype and device of the inputs.

Conventions
-----------
- Gating (Mixtral): indices are the k largest logits of each token, in descending order
  (torch.topk), and weights = softmax over those k logits only. That equals the full softmax's
  top-k probabilities renormalised to sum to 1; each row of weights sums to 1 (k = 1 gives 1.0).
- Capacity: capacity = ceil(capacity_factor * N * k / E) assignments per expert. Each expert
  takes its assignments in token order (token 0 first); once it has `capacity` of them, later
  assignments to it are dropped. A dropped assignment contributes zero (the remaining weights
  are NOT renormalised), so a token whose k choices are all dropped outputs zeros.
  capacity_factor=None means no limit.
- Load-balancing loss (Switch): loss = E * sum_i f_i * P_i, where
      f_i = (number of the N*k assignments in `indices` that go to expert i) / (N * k)
            (counts over all k choices, before capacity; f sums to 1; for k = 1 it is Switch's
             fraction of tokens; HF's Mixtral loss is k times this),
      P_i = mean over the N tokens of router_probs[:, i] (the full softmax).
  f is a count and carries no gradient; the gradient flows through P. Perfectly balanced
  routing gives loss 1.
- MoELayer.forward(x): router logits = self.router(x) (bias-free nn.Linear(d, E)); gates from
  top_k_gating; y[n] = sum over kept j of weights[n, j] * experts[indices[n, j]](x[n]); aux_loss
  = load_balancing_loss(softmax(logits), indices). Tokens are all positions of x flattened.

Pitfalls an interviewer looks for
---------------------------------
- Top-k of the full softmax without renormalising: the weights then sum to less than 1.
- Capacity overflow must be dropped (and in token order), not silently processed.
- The loss needs the factor E (so balanced routing costs 1 whatever E), and f must be counted
  from the routing decisions, not taken from the probabilities (that gives E * sum P_i^2).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def top_k_gating(logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """logits (N, E) -> (weights (N, k) summing to 1 per row, indices (N, k) int64), the k
    largest logits of each row in descending order, weights = softmax over those k logits."""
    # TODO: the k largest logits per token, and a softmax over just those
    raise NotImplementedError('TODO: the k largest logits per token, and a softmax over just those')


def expert_capacity(n_tokens: int, n_experts: int, k: int, capacity_factor: float) -> int:
    """ceil(capacity_factor * n_tokens * k / n_experts): the assignments each expert accepts."""
    # TODO: the fair share of the N * k assignments, times the factor, rounded up
    raise NotImplementedError('TODO: the fair share of the N * k assignments, times the factor, rounded up')


def capacity_mask(indices: Tensor, n_experts: int, capacity: int) -> Tensor:
    """indices (N, k) int64 -> (N, k) bool, True where the assignment fits: it is among the
    first `capacity` assignments to its expert, counted in token order."""
    # TODO: the position of each assignment in its expert's queue (token order) < capacity
    raise NotImplementedError("TODO: the position of each assignment in its expert's queue (token order) < capacity")


def load_balancing_loss(router_probs: Tensor, indices: Tensor) -> Tensor:
    """Switch loss E * sum_i f_i * P_i. router_probs (N, E) full softmax; indices (N, k) (or
    (N,)) chosen experts. f_i: fraction of the N*k assignments to i; P_i: mean prob of i."""
    # TODO: f from the counts of the assignments, P from the mean probabilities, times E
    raise NotImplementedError('TODO: f from the counts of the assignments, P from the mean probabilities, times E')


class MoELayer(nn.Module):
    """Sparse MoE block: a bias-free linear router over n_experts two-layer GELU MLPs
    (d -> 2d -> d); each token goes to its top-k experts, up to each expert's capacity."""

    def __init__(self, d: int, n_experts: int, k: int, capacity_factor: float | None = 1.25):
        super().__init__()
        if not 1 <= k <= n_experts:
            raise ValueError(f"need 1 <= k <= n_experts, got k={k}, n_experts={n_experts}")
        self.d, self.n_experts, self.k, self.capacity_factor = d, n_experts, k, capacity_factor
        self.router = nn.Linear(d, n_experts, bias=False)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
            for _ in range(n_experts))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (..., d) -> (y (..., d), aux_loss 0-d). Dropped assignments contribute zero."""
        # TODO: flatten the tokens; route (gates, capacity mask, aux loss); run each expert
        #       on its kept tokens and add its weighted output back in place
        raise NotImplementedError('TODO: flatten the tokens; route (gates, capacity mask, aux loss); run each expert')
