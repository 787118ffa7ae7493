# Your attempt at the `normalization` kata: fill in every TODO, then run
#     nox -s kata -- normalization
# Generated from solutions/normalization.py; `dojo reset normalization` archives this file and starts over.
"""LayerNorm, RMSNorm and BatchNorm1d with running statistics, from scratch (torch).

Build, in torch, on whatever device the inputs live on:

    layer_norm(x, weight=None, bias=None, eps=1e-5)
        (x - mean) / sqrt(var + eps) * weight + bias, statistics per sample over the trailing
        dims. weight and bias have the normalised shape x.shape[-k:] (k = weight.dim(),
        usually k = 1: weight (D,)); with weight None the last dim is normalised (k = 1) and
        the scale/shift is skipped (bias None: no shift).
    rms_norm(x, weight=None, eps=None)
        x / sqrt(mean(x^2) + eps) * weight over the same trailing dims; no mean subtracted,
        no bias. eps=None means torch.finfo(x.dtype).eps, as in torch.nn.RMSNorm.
    BatchNorm1d(num_features, eps=1e-5, momentum=0.1)       an nn.Module
        input (N, C) or (N, C, L): statistics per channel C over every other dim (N, and L).
        Attributes (the names of torch.nn.BatchNorm1d): parameters `weight` (C,) = 1 and
        `bias` (C,) = 0; buffers `running_mean` (C,) = 0 and `running_var` (C,) = 1.
        - train mode (module.train(), the default): normalise with the batch mean and the
          BIASED batch variance (divide by n = N * L), then update
              running_mean = (1 - momentum) * running_mean + momentum * batch_mean
              running_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased
          (torch's convention: the UNBIASED variance, n / (n - 1) times the biased one, goes
          into running_var). Gradients flow through the batch statistics.
        - eval mode (module.eval()): normalise with running_mean / running_var, update nothing.

All results keep x's dtype and device. Variances in the normalisation are biased (divide by
n), eps is added to the variance INSIDE the square root.

Not allowed (the tests switch them off): F.layer_norm, F.rms_norm, F.batch_norm,
F.group_norm, F.instance_norm, torch.layer_norm, torch.batch_norm and the forward of
nn.LayerNorm, nn.RMSNorm, nn.BatchNorm1d. Use mean, var / var_mean, sqrt / rsqrt.

Pitfalls an interviewer looks for:
- LayerNorm normalises each sample over its features, never over the batch dim; BatchNorm
  normalises each channel over the batch (and length) dims.
- The unbiased variance (torch.var's default) in the normalisation; the biased one in
  running_var. torch does the opposite of each.
- sqrt(var) + eps instead of sqrt(var + eps).
- Eval mode must use the running statistics; momentum weighs the NEW batch (m = 0.1 keeps
  90% of the old running value), which is the opposite of an optimizer's momentum.
"""

import torch
from torch import Tensor, nn


def layer_norm(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise x over its trailing weight.dim() dims (the last dim if weight is None)."""
    # TODO: biased mean and variance over the trailing dims, normalise, scale and shift
    raise NotImplementedError('TODO: biased mean and variance over the trailing dims, normalise, scale and shift')


def rms_norm(x: Tensor, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the trailing weight.dim() dims (last if None)."""
    # TODO: root mean square over the trailing dims (eps defaults to float eps), scale
    raise NotImplementedError('TODO: root mean square over the trailing dims (eps defaults to float eps), scale')


class BatchNorm1d(nn.Module):
    """Batch normalisation over (N, C) or (N, C, L) inputs, per channel C."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        # TODO: parameters weight (ones) and bias (zeros); buffers running_mean (zeros)
        #       and running_var (ones), all (num_features,)
        raise NotImplementedError('TODO: parameters weight (ones) and bias (zeros); buffers running_mean (zeros)')

    def forward(self, x: Tensor) -> Tensor:
        """(N, C) or (N, C, L) -> same shape. Train: batch stats + update; eval: running stats."""
        # TODO: train: biased batch stats per channel, update the running stats with the
        #       unbiased variance; eval: the running stats; then normalise, scale, shift
        raise NotImplementedError('TODO: train: biased batch stats per channel, update the running stats with the')
