# Your attempt at the `speculative_decoding` kata: fill in every TODO, then run
#     nox -s kata -- speculative_decoding
# Generated from solutions/speculative_decoding.py; `dojo reset speculative_decoding` archives this file and starts over.
"""Speculative decoding: one verify step of speculative sampling (torch).

A cheap draft model has proposed gamma tokens; the big target model has scored them all in one
forward pass. Decide which draft tokens to keep so that the emitted tokens follow the TARGET
model's distribution exactly (Leviathan et al. 2023, Chen et al. 2023):

    speculative_step(target_probs, draft_probs, draft_tokens, rng) -> emitted tokens

Shapes (probabilities are float32 or float64 rows that sum to 1; all on one device):
    draft_tokens (gamma,)        int64, the draft's proposals x_1 .. x_gamma
    draft_probs  (gamma, V)      q_i = the draft's distribution that x_i was drawn from
    target_probs (gamma + 1, V)  p_i = the target's distribution at position i, given the
                                 prefix and x_1 .. x_(i-1); the extra last row is for the bonus
                                 token
    returns      (n + 1,)        int64 on the same device: the n accepted draft tokens
                                 x_1 .. x_n followed by ONE more token, 0 <= n <= gamma

The rule, position by position (i = 0, 1, ..., gamma - 1, 0-based):
- accept x_i with probability min(1, p_i(x_i) / q_i(x_i)): draw u ~ U[0, 1) and accept iff
  u < p_i(x_i) / q_i(x_i) (q_i(x_i) > 0, since x_i was drawn from q_i);
- at the FIRST rejection, stop: emit a token drawn from the residual
  norm(max(0, p_i - q_i)) = max(0, p_i - q_i) / sum(max(0, p_i - q_i)) and return. Nothing
  after a rejection is looked at;
- if all gamma are accepted, emit a bonus token drawn from p_gamma (the last target row).
gamma = 0 is allowed: the step just draws one token from target_probs[0].

Randomness: rng is a torch.Generator on the tensors' device. Draw the uniforms with
torch.rand(..., generator=rng, device=..., dtype=...) (all gamma at once, or one by one: the
tests check distributions, not exact draws) and draw categorical tokens with the given
sample_categorical(probs, rng), which expects a NORMALISED probability vector. The same seed
must reproduce the same output. Shapes that do not fit together raise ValueError.

Pitfalls an interviewer looks for:
- The ratio is p / q (target over draft), capped at 1; q / p keeps the draft's distribution.
- The residual is max(0, p - q), not max(0, q - p), and must be normalised: it puts mass
  where the target wants MORE than the draft gave, exactly what rejection took away.
- On full acceptance there is one more (bonus) token from the extra target row: gamma + 1
  tokens for one target forward pass.
- Accepted tokens are a PREFIX: after the first rejection the remaining drafts are discarded,
  even those that would pass the test.
"""

import torch
from torch import Tensor


def sample_categorical(probs: Tensor, rng: torch.Generator) -> Tensor:
    """One token from a normalised probability vector probs (V,), by inverse CDF: returns a
    (1,) int64 tensor on probs' device. (Given: you do not need to change it.)"""
    u = torch.rand(1, generator=rng, device=probs.device, dtype=probs.dtype)
    idx = torch.searchsorted(probs.cumsum(-1), u, right=True)  # first index with cdf > u
    return idx.clamp(max=probs.shape[-1] - 1)  # guard against a cdf that rounds below 1


def speculative_step(target_probs: Tensor, draft_probs: Tensor, draft_tokens: Tensor,
                     rng: torch.Generator) -> Tensor:
    """Verify gamma draft tokens against the target; returns the emitted tokens (n + 1,) int64:
    the accepted prefix of draft_tokens, then one resampled (or bonus) token."""
    # TODO: check shapes; accept each draft token with prob min(1, p/q) while they pass;
    #       at the first rejection draw from the normalised residual max(0, p - q),
    #       else draw a bonus token from the last target row
    raise NotImplementedError('TODO: check shapes; accept each draft token with prob min(1, p/q) while they pass;')
