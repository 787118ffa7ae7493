"""Tests for the ppo kata.

Oracles: small trajectories worked out by hand; a plain-Python reference in floats that, for
every step, sums (gamma * lam)^l * delta_{t+l} forward until the episode ends (a different
formulation from the backward recursion); per-sample Python loops for the two losses; and the
gradient of the clipped objective derived by hand (-r * A / n where the unclipped term is the
minimum, exactly 0 where the clipped one is), compared with autograd. Inputs are float32,
drawn on CPU from seeded generators and moved to the device. Failure messages name the
classic bug a wrong value matches.
"""

import math

import pytest
import torch

from dojo.testing import assert_close


def t(values, device):
    return torch.tensor(values, dtype=torch.float32, device=device)


def check(actual, expected, what, suspects=()):
    """assert_close; on failure, name the classic mistake `actual` matches, if any."""
    try:
        assert_close(actual, expected, what=what)
    except AssertionError as err:
        for description, wrong in suspects:
            wrong = torch.as_tensor(wrong, dtype=torch.float32)
            if torch.allclose(wrong, torch.as_tensor(expected, dtype=torch.float32).cpu(),
                              rtol=1e-5, atol=1e-6):
                continue  # this bug gives the right answer on this input
            try:
                assert_close(actual, wrong.to(actual.device), what=description)
            except Exception:
                continue
            raise AssertionError(f"{err}\nYour result matches {description}.") from None
        raise


# ---------------------------------------------------------------------------- GAE oracles


def gae_forward_sum(r, v, d, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, stopping after the step that ends the episode.
    r, d: lists of T floats; v: T + 1 floats. -> (advantages, returns) lists."""
    T = len(r)
    delta = [r[u] + gamma * v[u + 1] * (1.0 - d[u]) - v[u] for u in range(T)]
    adv = []
    for s in range(T):
        acc, coef = 0.0, 1.0
        for u in range(s, T):
            acc += coef * delta[u]
            if d[u]:
                break
            coef *= gamma * lam
        adv.append(acc)
    return adv, [a + v[s] for s, a in enumerate(adv)]


def gae_variant(r, v, d, gamma, lam, *, mask_value=True, mask_rec=True, next_is_t=False):
    """The backward recursion with a classic mistake switched on."""
    adv, out = 0.0, []
    for s in reversed(range(len(r))):
        nxt = v[s] if next_is_t else v[s + 1]
        delta = r[s] + gamma * nxt * (1.0 - d[s] if mask_value else 1.0) - v[s]
        adv = delta + gamma * lam * (1.0 - d[s] if mask_rec else 1.0) * adv
        out.append(adv)
    return out[::-1]


def gae_suspects(r, v, d, gamma, lam):
    adv, _ = gae_forward_sum(r, v, d, gamma, lam)
    return [
        ("GAE that ignores dones: reset both the bootstrap value and the recursion at an "
         "episode end", gae_variant(r, v, d, gamma, lam, mask_value=False, mask_rec=False)),
        ("GAE that masks the bootstrap value but not the recursion: A_t must not see A_{t+1} "
         "across an episode end", gae_variant(r, v, d, gamma, lam, mask_rec=False)),
        ("GAE that resets the recursion but still bootstraps from the next episode's value: "
         "delta_t uses values[t + 1] * (1 - dones[t])",
         gae_variant(r, v, d, gamma, lam, mask_value=False)),
        ("delta_t = r_t + gamma * values[t] - values[t]: the next value is values[t + 1]",
         gae_variant(r, v, d, gamma, lam, next_is_t=True)),
        ("gamma and lam swapped (delta uses gamma, the recursion gamma * lam)",
         gae_forward_sum(r, v, d, lam, gamma)[0]),
        ("the recursion decays by lam only; it is gamma * lam",
         gae_variant(r, v, d, gamma, 1.0 / gamma * lam) if gamma else adv),
    ]


def random_traj(T, seed, B=()):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(T, *B, generator=g)
    v = torch.randn(T + 1, *B, generator=g)
    d = torch.rand(T, *B, generator=g) < 0.25
    return r, v, d


def call_gae(kata, r, v, d, gamma, lam):
    out = kata.gae(r, v, d, gamma, lam)
    assert isinstance(out, tuple) and len(out) == 2, "gae must return (advantages, returns)"
    return out


# ---------------------------------------------------------------------------- GAE tests


def test_gae_by_hand(kata, device):
    # gamma 0.9, lam 0.8: delta = [1 + .9*1 - .5, 0 + .9*(-.5) - 1, 2 + .9*2 + .5]
    #                           = [1.4, -1.45, 4.3]
    # A2 = 4.3, A1 = -1.45 + .72 * 4.3 = 1.646, A0 = 1.4 + .72 * 1.646 = 2.58512
    r, v = t([1.0, 0.0, 2.0], device), t([0.5, 1.0, -0.5, 2.0], device)
    d = torch.zeros(3, dtype=torch.bool, device=device)
    adv, ret = call_gae(kata, r, v, d, 0.9, 0.8)
    rl, vl, dl = [1.0, 0.0, 2.0], [0.5, 1.0, -0.5, 2.0], [0.0] * 3
    check(adv, t([2.58512, 1.646, 4.3], device), "gae advantages, hand example",
          gae_suspects(rl, vl, dl, 0.9, 0.8))
    check(ret, t([3.08512, 2.646, 3.8], device), "gae returns (= advantages + values[:T])",
          [("returns equal to the advantages: add values[:T]", [2.58512, 1.646, 4.3]),
           ("returns = advantages + values[1:]: add V(s_t), i.e. values[:T]",
            [3.64512, 1.146, 6.3])])


def test_gae_by_hand_resets_at_done(kata, device):
    # dones[1] = 1: delta1 = 0 - 1.0 = -1 (no bootstrap), A1 = -1 (no A2), A0 = 1.4 + .72 * -1
    r, v = t([1.0, 0.0, 2.0], device), t([0.5, 1.0, -0.5, 2.0], device)
    d = torch.tensor([False, True, False], device=device)
    adv, ret = call_gae(kata, r, v, d, 0.9, 0.8)
    check(adv, t([0.68, -1.0, 4.3], device), "gae advantages with an episode end after step 1",
          gae_suspects([1.0, 0.0, 2.0], [0.5, 1.0, -0.5, 2.0], [0.0, 1.0, 0.0], 0.9, 0.8))
    assert_close(ret, t([1.18, 0.0, 3.8], device), what="gae returns with an episode end")


def test_gae_last_step_done_ignores_bootstrap(kata, device):
    r, v = t([1.0, 1.0], device), t([0.0, 0.0, 100.0], device)
    d = torch.tensor([0.0, 1.0], device=device)  # float dones work too
    adv, _ = call_gae(kata, r, v, d, 0.5, 1.0)
    assert_close(adv, t([1.5, 1.0], device), what="gae when the last step ends the episode "
                                                  "(values[T] = 100 must be ignored)")


def test_gae_single_step(kata, device):
    # T = 1: delta = 2 + 0.5 * 3 - 1 = 2.5 (bootstrapped), or 2 - 1 = 1 if the episode ended
    r, v = t([2.0], device), t([1.0, 3.0], device)
    adv, ret = call_gae(kata, r, v, torch.tensor([False], device=device), 0.5, 0.9)
    assert_close(adv, t([2.5], device), what="gae advantages for a single step (T=1)")
    assert_close(ret, t([3.5], device), what="gae returns for a single step (T=1)")
    adv, _ = call_gae(kata, r, v, torch.tensor([True], device=device), 0.5, 0.9)
    assert_close(adv, t([1.0], device), what="gae advantage for a single terminal step")


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (0.8, 1.0), (0.7, 0.5)])
def test_gae_matches_forward_sum_reference(kata, device, gamma, lam):
    r, v, d = random_traj(9, seed=int(gamma * 100 + lam * 10))
    adv, ret = call_gae(kata, r.to(device), v.to(device), d.to(device), gamma, lam)
    rl, vl, dl = r.tolist(), v.tolist(), d.float().tolist()
    exp_adv, exp_ret = gae_forward_sum(rl, vl, dl, gamma, lam)
    check(adv, torch.tensor(exp_adv), f"gae advantages (gamma={gamma}, lam={lam})",
          gae_suspects(rl, vl, dl, gamma, lam))
    assert_close(ret, torch.tensor(exp_ret), what=f"gae returns (gamma={gamma}, lam={lam})")


def test_gae_lambda_limits(kata, device):
    r, v, d = random_traj(6, seed=5)
    d[:] = False
    r, v, d = r.to(device), v.to(device), d.to(device)
    adv0, _ = call_gae(kata, r, v, d, 0.9, 0.0)
    assert_close(adv0, r + 0.9 * v[1:] - v[:-1], what="gae with lam=0 (the one-step TD error)")
    adv1, ret1 = call_gae(kata, r, v, d, 0.9, 1.0)
    disc = [0.0] * 6
    acc = float(v[-1])
    for s in reversed(range(6)):
        acc = float(r[s]) + 0.9 * acc
        disc[s] = acc
    assert_close(ret1, torch.tensor(disc), what="gae returns with lam=1 (the discounted return "
                                                "bootstrapped from values[T])")


def test_gae_vectorised_over_environments(kata, device):
    r, v, d = random_traj(7, seed=6, B=(3,))  # T=7 steps of 3 environments
    adv, ret = call_gae(kata, r.to(device), v.to(device), d.to(device), 0.95, 0.9)
    assert adv.shape == (7, 3) and ret.shape == (7, 3), (
        f"advantages {tuple(adv.shape)}, returns {tuple(ret.shape)}; expected (T, B) = (7, 3)")
    for b in range(3):
        exp_adv, exp_ret = gae_forward_sum(r[:, b].tolist(), v[:, b].tolist(),
                                           d[:, b].float().tolist(), 0.95, 0.9)
        assert_close(adv[:, b], torch.tensor(exp_adv), what=f"gae advantages of environment {b}")
        assert_close(ret[:, b], torch.tensor(exp_ret), what=f"gae returns of environment {b}")


# ---------------------------------------------------------------------------- clipped loss

LOGP_OLD = [0.0, 0.0, 0.0, 0.0, 0.0]
RATIO = [0.5, 0.5, 1.5, 1.5, 1.1]
ADV = [1.0, -1.0, 1.0, -1.0, 2.0]
# min(r A, clip(r) A): [min(.5, .8), min(-.5, -.8), min(1.5, 1.2), min(-1.5, -1.2), 2.2]
#                    = [.5, -.8, 1.2, -1.5, 2.2], mean .32, loss -.32
# d loss / d logp_new = -r A / 5 where r A is the min, else 0: [-.1, 0, 0, .3, -.44]


def loop_clip_loss(logp_new, logp_old, adv, clip, reduce=min, use_exp=True):
    terms = []
    for ln, lo, a in zip(logp_new, logp_old, adv, strict=True):
        r = math.exp(ln - lo) if use_exp else ln - lo
        terms.append(reduce(r * a, min(max(r, 1 - clip), 1 + clip) * a))
    return -sum(terms) / len(terms)


def clip_suspects(ln, lo, a, clip):
    right = loop_clip_loss(ln, lo, a, clip)
    return [
        ("max instead of min: the clipped objective is the pessimistic (smaller) surrogate",
         loop_clip_loss(ln, lo, a, clip, reduce=max)),
        ("the ratio taken as logp_new - logp_old: it is exp(logp_new - logp_old)",
         loop_clip_loss(ln, lo, a, clip, use_exp=False)),
        ("the objective without the minus sign: return the negated mean (a loss)", -right),
        ("the ratio inverted: r = exp(logp_new - logp_old), not exp(logp_old - logp_new)",
         loop_clip_loss(lo, ln, a, clip)),
    ]


def test_ppo_clip_loss_by_hand(kata, device):
    ln = [math.log(r) for r in RATIO]
    logp_new = t(ln, device).requires_grad_(True)
    loss = kata.ppo_clip_loss(logp_new, t(LOGP_OLD, device), t(ADV, device), 0.2)
    check(loss, torch.tensor(-0.32), "ppo_clip_loss, hand example", [
        (d, torch.tensor(w)) for d, w in clip_suspects(ln, LOGP_OLD, ADV, 0.2)])
    (grad,) = torch.autograd.grad(loss, logp_new)
    assert_close(grad, t([-0.1, 0.0, 0.0, 0.3, -0.44], device),
                 what="d loss / d logp_new, hand example (zero where the clipped term is the "
                      "min: r=0.5 with A<0 and r=1.5 with A>0)")


@pytest.mark.parametrize("clip", [0.1, 0.2, 0.3])
def test_ppo_clip_loss_matches_loop_and_gradient(kata, device, clip):
    g = torch.Generator().manual_seed(int(clip * 10))
    lo = torch.randn(64, generator=g) - 1.0
    ln = lo + 0.4 * torch.randn(64, generator=g)  # ratios from ~0.3 to ~3
    a = torch.randn(64, generator=g)
    logp_new = ln.to(device).requires_grad_(True)
    loss = kata.ppo_clip_loss(logp_new, lo.to(device), a.to(device), clip)
    expected = loop_clip_loss(ln.tolist(), lo.tolist(), a.tolist(), clip)
    check(loss, torch.tensor(expected), f"ppo_clip_loss (clip={clip})",
          [(d, torch.tensor(w)) for d, w in clip_suspects(ln.tolist(), lo.tolist(),
                                                           a.tolist(), clip)])
    (grad,) = torch.autograd.grad(loss, logp_new)
    r = torch.exp(ln - lo)
    frozen = ((a > 0) & (r > 1 + clip)) | ((a < 0) & (r < 1 - clip))
    assert 5 < frozen.sum() < 59, "test premise: a mix of clipped and unclipped samples"
    expected_grad = torch.where(frozen, torch.zeros_like(r), -r * a / 64)
    assert_close(grad, expected_grad, what=f"d loss / d logp_new (clip={clip}): -r A / n where "
                                           "the unclipped term is the min, 0 where clipped")
    assert (grad.cpu()[frozen] == 0).all(), "clipped samples must get exactly zero gradient"


def test_ppo_clip_loss_at_equal_policies(kata, device):
    g = torch.Generator().manual_seed(3)
    lp = (torch.randn(2, 8, generator=g) - 2.0).to(device)
    a = torch.randn(2, 8, generator=g).to(device)
    logp_new = lp.clone().requires_grad_(True)
    loss = kata.ppo_clip_loss(logp_new, lp, a, 0.2)
    assert loss.dim() == 0, f"ppo_clip_loss must return a 0-d tensor, got {tuple(loss.shape)}"
    assert_close(loss, -a.mean(), what="ppo_clip_loss with logp_new == logp_old (r = 1: the "
                                       "loss is -mean(A))")
    (grad,) = torch.autograd.grad(loss, logp_new)
    assert_close(grad, -a / a.numel(), what="policy gradient at r = 1 (-A / n)")


# ---------------------------------------------------------------------------- value loss


def test_value_loss_by_hand(kata, device):
    v, ret = t([1.0, 2.0, 3.0], device), t([1.5, 2.0, 1.0], device)
    # squared errors [.25, 0, 4]: 0.5 * 4.25 / 3
    check(kata.value_loss(v, ret), torch.tensor(4.25 / 6), "value_loss", [
        ("the mean squared error without the factor 0.5", torch.tensor(4.25 / 3)),
        ("a sum instead of a mean", torch.tensor(4.25 / 2))])
    old = t([1.2, 2.5, 2.0], device)
    # v - old = [-.2, -.5, 1] -> clamp to [-.2, -.2, .2] -> v_clip = [1.0, 2.3, 2.2]
    # (v_clip - R)^2 = [.25, .09, 1.44]; max with [.25, 0, 4] = [.25, .09, 4]
    check(kata.value_loss(v, ret, old, 0.2), torch.tensor(4.34 / 6), "clipped value_loss", [
        ("the min of the two squared errors: PPO2 takes the max (pessimistic)",
         torch.tensor((0.25 + 0 + 1.44) / 6)),
        ("only the clipped squared error: take the max of clipped and unclipped",
         torch.tensor((0.25 + 0.09 + 1.44) / 6))])
    assert_close(kata.value_loss(v, ret, old), torch.tensor(4.25 / 6),
                 what="value_loss with old_values but no clip (no clipping)")


def test_value_loss_matches_loop_and_gradient(kata, device):
    g = torch.Generator().manual_seed(4)
    v, ret, old = (torch.randn(4, 5, generator=g) for _ in range(3))
    vd = v.to(device).requires_grad_(True)
    loss = kata.value_loss(vd, ret.to(device), old.to(device), 0.3)
    terms = []
    for vi, ri, oi in zip(v.flatten().tolist(), ret.flatten().tolist(), old.flatten().tolist(),
                          strict=True):
        vc = oi + min(max(vi - oi, -0.3), 0.3)
        terms.append(max((vi - ri) ** 2, (vc - ri) ** 2))
    assert_close(loss, torch.tensor(0.5 * sum(terms) / len(terms)), what="clipped value_loss")
    (grad,) = torch.autograd.grad(loss, vd)
    assert_close(kata.value_loss(v.to(device), ret.to(device)),
                 0.5 * ((v - ret) ** 2).mean(), what="unclipped value_loss")
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0, "value_loss must be differentiable"
