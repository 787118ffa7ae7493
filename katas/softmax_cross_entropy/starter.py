# Your attempt at the `softmax_cross_entropy` kata: fill in every TODO, then run
#     nox -s kata -- softmax_cross_entropy
# Generated from solutions/softmax_cross_entropy.py; `dojo reset softmax_cross_entropy` archives this file and starts over.
"""Stable log-softmax and cross-entropy with ignore_index and label smoothing (torch).

Build, in torch, on whatever device the inputs live on:

    log_softmax(x, dim=-1)          log(softmax(x)) along `dim`, same shape and dtype as x,
                                    finite for logits of size ~1e3-1e4 in float32
    cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0)
                                    mean cross-entropy loss, a 0-d tensor

Shapes (torch's convention: the class dim is dim 1):
    logits (N, C) or (N, C, d1, d2, ...) float; target (N,) or (N, d1, d2, ...) int64 class
    indices in [0, C), or ignore_index. Every position (n, d1, ...) is one prediction.

Conventions (those of torch.nn.functional.cross_entropy with reduction="mean"):
- loss_i = (1 - eps) * (-log p_i[target_i]) + eps * mean_c(-log p_i[c]), eps = label_smoothing:
  the target distribution is (1 - eps) * one_hot + eps / C on EVERY class (the true one too).
- Positions whose target == ignore_index contribute nothing (neither term), and the mean is
  over the positions that are NOT ignored. If every position is ignored the result is
  0 / 0 = NaN, as in torch. ignore_index may be any integer, even a valid class index.
- The loss is differentiable: its gradients must match torch's.

Not allowed (the tests switch them off): softmax, log_softmax and logsumexp in any form,
F.cross_entropy and F.nll_loss. Use amax, exp, log, sum, gather / indexing.

Pitfalls an interviewer looks for:
- log(softmax(x)) or exp(x) without subtracting the max: exp(1000) = inf in float32, and
  inf / inf = NaN. Use log_softmax(x) = (x - m) - log(sum(exp(x - m))), m the max along dim.
- Averaging over all N positions instead of the non-ignored ones (that shrinks the loss).
- Label smoothing spread as eps / (C - 1) over the wrong classes only, or added on top of the
  full nll instead of mixing (1 - eps) * nll + eps * smooth.
"""

import torch
from torch import Tensor


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along `dim`; same shape, dtype and device as x; stable for |x| ~ 1e4."""
    # TODO: shift by the max along dim, then subtract the log of the summed exponentials
    raise NotImplementedError('TODO: shift by the max along dim, then subtract the log of the summed exponentials')


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100,
                  label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy over the non-ignored positions, a 0-d tensor.

    logits (N, C, *extra) float, target (N, *extra) int64 (class dim 1, as in torch).
    """
    # TODO: log-probabilities over the class dim; pick the target's; mix in the smoothing
    #       term; average over the positions that are not ignored
    raise NotImplementedError("TODO: log-probabilities over the class dim; pick the target's; mix in the smoothing")
