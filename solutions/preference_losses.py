"""Preference losses for reward models and DPO, and the sequence log-prob they need (torch).

Build:

    bradley_terry_loss(r_chosen, r_rejected)           reward-model loss       -> 0-d tensor
    dpo_loss(pi_c, pi_r, ref_c, ref_r, beta)           Direct Preference Opt.  -> 0-d tensor
    sequence_logprob(logits, labels, mask)             summed token log-probs  -> (B,)

bradley_terry_loss: r_chosen, r_rejected (N,) scalar rewards of the preferred and the rejected
answer of N pairs. Under the Bradley-Terry model P(chosen > rejected) = sigmoid(r_c - r_r):

    loss = -mean_n log sigmoid(r_chosen[n] - r_rejected[n])

dpo_loss: pi_c, pi_r (N,) summed log-probs of the chosen / rejected answers under the policy,
ref_c, ref_r (N,) the same under the frozen reference model, beta > 0:

    z = beta * ((pi_c - ref_c) - (pi_r - ref_r))       the margin of the implicit rewards
    loss = -mean_n log sigmoid(z[n])                   so d loss / d pi_c = -beta sigmoid(-z) / N

sequence_logprob: logits (B, T, V), labels (B, T) int64, mask (B, T) (bool, or 0/1 of any
dtype) -> (B,): for each sequence, the SUM over positions t with mask 1 of
log_softmax(logits[b, t])[labels[b, t]]. Here the logits are already aligned with the labels:
logits[:, t] is the prediction for labels[:, t]. (In a causal LM the logits at position t
predict token t + 1: the caller passes logits[:, :-1], input_ids[:, 1:] and mask[:, 1:].)
Where mask is 0 the label may be anything, including the ignore index -100, and the logits
may be anything: those positions contribute exactly 0.

All three keep the dtype and device of their float inputs and are differentiable.

Pitfalls an interviewer looks for:
- log(sigmoid(z)) underflows: sigmoid(-200) is 0 in float32 and its log is -inf. Use
  F.logsigmoid(z) (= -softplus(-z)), finite for margins of any size.
- The sign: the loss falls as the chosen answer's margin grows (z = chosen - rejected).
- beta scales the whole margin, and each log-prob is taken relative to the reference.
- A sequence's log-prob is a SUM over its answer tokens (the log of a product of token
  probabilities), not a mean; padding and prompt tokens are masked out.
- gather the label's log-prob along the vocabulary dim (-1) after log_softmax over it.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def bradley_terry_loss(r_chosen: Tensor, r_rejected: Tensor) -> Tensor:
    """-mean log sigmoid(r_chosen - r_rejected); (N,), (N,) -> 0-d tensor."""
    # >>> TODO: the stable log-sigmoid of the reward margin, averaged, negated
    return -F.logsigmoid(r_chosen - r_rejected).mean()
    # <<<


def dpo_loss(pi_c: Tensor, pi_r: Tensor, ref_c: Tensor, ref_r: Tensor, beta: float) -> Tensor:
    """-mean log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))); four (N,) -> 0-d tensor."""
    # >>> TODO: the beta-scaled margin of the log-ratios to the reference, then as above
    z = beta * ((pi_c - ref_c) - (pi_r - ref_r))  # (N,) implicit reward margin
    return -F.logsigmoid(z).mean()
    # <<<


def sequence_logprob(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Sum over masked-in positions of log p(label); (B, T, V), (B, T), (B, T) -> (B,)."""
    # >>> TODO: log-probs over the vocabulary, pick each label's, zero out the masked
    # >>>       positions (whatever their labels), sum over time
    keep = mask.bool()  # (B, T)
    safe = torch.where(keep, labels, 0)  # -100 would be out of range for gather
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    token = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return torch.where(keep, token, 0.0).sum(dim=-1)  # (B,)
    # <<<
