"""LoRA: a low-rank adapter around a frozen nn.Linear, with merge and unmerge (torch).

Build `LoRALinear(base, r, alpha, dropout=0.0)`, an nn.Module that wraps an nn.Linear
(in_features -> out_features) and adds a trainable rank-r update to its weight:

    y = base(x) + dropout(x) @ A^T @ B^T * scale,    scale = alpha / r

Shapes and conventions (those of PEFT's lora.Linear):
- x (..., in) -> y (..., out), on the device and in the dtype of the base layer.
- A (r, in) and B (out, r) are nn.Parameters named `A` and `B`, created on the base weight's
  device and dtype. A is initialised like an nn.Linear weight, uniform in
  [-1/sqrt(in), 1/sqrt(in)] (nn.init.kaiming_uniform_(A, a=sqrt(5))); B is ZEROS, so that at
  initialisation the layer computes exactly base(x).
- `scale` (a float attribute) is alpha / r. `dropout` (an nn.Dropout(p)) acts on the input of
  the LoRA branch only; the base path never sees it.
- The base layer (`self.base`, the very module passed in) is frozen: its weight and bias have
  requires_grad = False, so only A and B train.
- merge(): fold the update into the base weight in place, W <- W + scale * B @ A, and from
  then on forward is just base(x) (the branch must not be added a second time).
  unmerge(): W <- W - scale * B @ A, back to the adapter form. The attribute `merged` (bool)
  says which form the layer is in; merge() on a merged layer and unmerge() on an unmerged one
  do nothing, so that the update is never folded in twice. In eval mode (or with dropout 0)
  merged and unmerged layers compute the same y.

Pitfalls an interviewer looks for:
- scale = alpha / r, not r / alpha; forget it in merge() and the merged layer differs.
- B random (and A zeros, or both random) changes the model at initialisation; both zero
  gives no gradient to either.
- The frozen base: requires_grad_(False) on its parameters; only A and B are trainable.
- x @ A^T @ B^T is (..., in) -> (..., r) -> (..., out): never materialise the (out, in)
  product B @ A in forward, that is what the low rank saves.
"""

import math

import torch
from torch import Tensor, nn


class LoRALinear(nn.Module):
    """base(x) + dropout(x) @ A^T @ B^T * (alpha / r), base frozen, A (r, in), B (out, r)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base = base
        # >>> TODO: freeze the base; A (r, in) like a Linear weight, B (out, r) such that the
        # >>>       layer is unchanged at init; scale; dropout; a `merged` flag
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight  # (out, in)
        self.A = nn.Parameter(torch.empty(r, base.in_features, device=w.device, dtype=w.dtype))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # U(-1/sqrt(in), 1/sqrt(in))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, device=w.device, dtype=w.dtype))
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)
        self.merged = False
        # <<<

    def forward(self, x: Tensor) -> Tensor:
        """x (..., in) -> (..., out)."""
        # >>> TODO: base output, plus the low-rank branch unless it is merged into the weight
        out = self.base(x)
        if self.merged:
            return out  # the update already lives in base.weight
        return out + self.dropout(x) @ self.A.T @ self.B.T * self.scale  # (..., r) -> (..., out)
        # <<<

    def delta_weight(self) -> Tensor:
        """The (out, in) update scale * B @ A that merge() adds to the base weight."""
        # >>> TODO: the low-rank product, scaled
        return self.scale * (self.B @ self.A)  # (out, r) @ (r, in) -> (out, in)
        # <<<

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into base.weight (once): W <- W + scale * B @ A."""
        # >>> TODO: add the scaled low-rank update to the base weight in place, unless merged
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True
        # <<<

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo merge(): W <- W - scale * B @ A (only if merged)."""
        # >>> TODO: subtract the update again, unless not merged
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False
        # <<<
