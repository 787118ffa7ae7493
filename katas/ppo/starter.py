# Your attempt at the `ppo` kata: fill in every TODO, then run
#     nox -s kata -- ppo
# Generated from solutions/ppo.py; `dojo reset ppo` archives this file and starts over.
"""PPO building blocks: generalised advantage estimation and the clipped losses (torch).

Build the three pieces of a PPO (or RLHF-PPO) update:

    gae(rewards, values, dones, gamma, lam)               (advantages, returns)
    ppo_clip_loss(logp_new, logp_old, adv, clip=0.2)      clipped surrogate loss, 0-d
    value_loss(values, returns, old_values=None, clip=None)   critic loss, 0-d

Shapes (float tensors, any float dtype and device; results stay there):
    rewards (T, *B), dones (T, *B) bool or 0/1 float, values (T + 1, *B): T steps of *B
    parallel environments (*B may be empty). advantages and returns are (T, *B).

Conventions
-----------
- values has length T + 1: values[t] = V(s_t) for t < T, and values[T] is the bootstrap value
  of the state reached after the last step (ignored where dones[T - 1] is set).
- dones[t] = the episode ended after step t. Then s_{t+1} belongs to a new episode, so both the
  bootstrap value and the recursion are cut at t:
      delta_t = rewards[t] + gamma * values[t + 1] * (1 - dones[t]) - values[t]
      A_t     = delta_t + gamma * lam * (1 - dones[t]) * A_{t+1},     A_T = 0
      returns = A + values[:T]          (the critic's targets)
  lam = 0 gives the one-step TD error, lam = 1 the discounted return minus V (Monte Carlo).
- ppo_clip_loss: ratio r = exp(logp_new - logp_old) (per sample, any matching shapes), and
      loss = -mean( min(r * A, clamp(r, 1 - clip, 1 + clip) * A) )
  i.e. the negated clipped surrogate objective, to be minimised. adv is used as given (no
  normalisation inside) and carries no gradient: only logp_new does.
- value_loss: 0.5 * mean((values - returns)^2). With old_values and clip given (PPO2-style):
  v_clip = old_values + clamp(values - old_values, -clip, clip) and
  loss = 0.5 * mean(max((values - returns)^2, (v_clip - returns)^2)).

Pitfalls an interviewer looks for
---------------------------------
- Not resetting at episode ends (both the bootstrap value and the A_{t+1} term), using values[t]
  where values[t + 1] belongs, swapping gamma and lam.
- The ratio is exp(logp_new - logp_old), not the difference of log-probabilities.
- min, not max (the objective is pessimistic), and the minus sign: it is a loss. Where the
  clipped term is the minimum, the gradient w.r.t. logp_new is exactly zero.
"""

import torch
from torch import Tensor


def gae(rewards: Tensor, values: Tensor, dones: Tensor, gamma: float,
        lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimates and returns.

    rewards (T, *B), values (T + 1, *B) with the bootstrap value last, dones (T, *B) (episode
    ended after step t). -> (advantages (T, *B), returns = advantages + values[:T]).
    """
    # TODO: one backward pass over t: the TD error delta_t (bootstrap masked by dones), then
    #       A_t = delta_t + gamma * lam * A_{t+1} (also cut at dones)
    raise NotImplementedError('TODO: one backward pass over t: the TD error delta_t (bootstrap masked by dones), then')


def ppo_clip_loss(logp_new: Tensor, logp_old: Tensor, adv: Tensor, clip: float = 0.2) -> Tensor:
    """-mean(min(r * A, clamp(r, 1 - clip, 1 + clip) * A)), r = exp(logp_new - logp_old).

    logp_new, logp_old, adv: same shape. -> 0-d tensor, differentiable w.r.t. logp_new.
    """
    # TODO: the probability ratio, the unclipped and clipped surrogates, the pessimistic
    #       one of the two, averaged and negated
    raise NotImplementedError('TODO: the probability ratio, the unclipped and clipped surrogates, the pessimistic')


def value_loss(values: Tensor, returns: Tensor, old_values: Tensor | None = None,
               clip: float | None = None) -> Tensor:
    """0.5 * mean((values - returns)^2); with old_values and clip, the PPO2 clipped version
    0.5 * mean(max((v - R)^2, (old + clamp(v - old, -clip, clip) - R)^2)). -> 0-d tensor."""
    # TODO: half the mean squared error; with clipping, the larger of the plain and the
    #       clipped squared errors
    raise NotImplementedError('TODO: half the mean squared error; with clipping, the larger of the plain and the')
