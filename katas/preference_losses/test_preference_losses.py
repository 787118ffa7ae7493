"""Tests for the preference_losses kata.

Oracles: the closed forms in float64 numpy, with log sigmoid(z) = -logaddexp(0, -z) (exact
for margins of any size) for the Bradley-Terry and DPO losses, and their closed-form
gradients d loss / d r_c = -sigmoid(-z) / N, d loss / d pi_c = -beta * sigmoid(-z) / N
(scipy.special.expit); F.cross_entropy(reduction="none", ignore_index=-100) for the token
log-probs of sequence_logprob, and torch.autograd through it for its gradient. Inputs are
float32, drawn on CPU from seeded generators, then moved to the device under test. When a
result is wrong, the tests compare it with the classic wrong answers and name the one it
matches.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import expit

from dojo.testing import assert_close

N = 8


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def np64(t):
    return t.detach().cpu().double().numpy()


def neg_log_sigmoid(z):
    """-log sigmoid(z) = log(1 + e^-z), exact in float64 for any z."""
    return np.logaddexp(0.0, -z)


def check(actual, expected, what, suspects=(), **tol):
    """assert_close, and on failure name the classic mistake that `actual` matches, if any.
    suspects: (description, wrong value or a callable returning it) pairs."""
    try:
        assert_close(actual, expected, what=what, **tol)
    except AssertionError as err:
        for description, wrong in suspects:
            try:
                assert_close(actual, wrong() if callable(wrong) else wrong, what=description,
                             **tol)
            except AssertionError:
                continue
            raise AssertionError(f"{err}\nYour result matches {description}.") from None
        raise


def assert_scalar(loss, what):
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, (
        f"{what}: expected a 0-d tensor (the mean over pairs), got "
        f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__}")


# ---------------------------------------------------------------------------- Bradley-Terry


def bt_suspects(d):
    return [
        ("the margin with its sign flipped: the loss is -log sigmoid(r_chosen - r_rejected)",
         neg_log_sigmoid(-d).mean()),
        ("a sum over pairs: average over the N pairs", neg_log_sigmoid(d).sum()),
        ("+log sigmoid: the loss is MINUS the mean log-likelihood", -neg_log_sigmoid(d).mean()),
    ]


def bt_inputs(seed, device, n=N, scale=2.0):
    return randn(n, seed=seed, scale=scale).to(device), randn(n, seed=seed + 1,
                                                              scale=scale).to(device)


@pytest.mark.parametrize("seed", [0, 1])
def test_bradley_terry_matches_closed_form(kata, device, seed):
    rc, rr = bt_inputs(seed, device)
    d = np64(rc) - np64(rr)
    loss = kata.bradley_terry_loss(rc, rr)
    assert_scalar(loss, "bradley_terry_loss")
    check(loss, neg_log_sigmoid(d).mean(), "bradley_terry_loss: -mean log sigmoid(r_c - r_r)",
          bt_suspects(d))


def test_bradley_terry_of_equal_rewards_is_log_two(kata, device):
    r = randn(N, seed=5).to(device)
    assert_close(kata.bradley_terry_loss(r, r.clone()), np.log(2.0),
                 what="bradley_terry_loss with r_chosen == r_rejected: -log(1/2) = log 2")


def test_bradley_terry_is_finite_for_huge_margins(kata, device):
    rc = torch.tensor([300.0, -300.0, 5e3, -5e3, 1e4, -1e4, 0.0, 20.0]).to(device)
    rr = torch.zeros(8).to(device)
    loss = kata.bradley_terry_loss(rc, rr)
    assert torch.isfinite(loss), (
        f"bradley_terry_loss is {float(loss)} for margins of +-1e4: log(sigmoid(z)) gives "
        "log(0) = -inf once sigmoid(z) underflows; use F.logsigmoid")
    d = np64(rc) - np64(rr)
    check(loss, neg_log_sigmoid(d).mean(), "bradley_terry_loss with margins up to +-1e4",
          bt_suspects(d))
    (g,) = torch.autograd.grad(kata.bradley_terry_loss(rc.requires_grad_(True), rr), [rc])
    assert torch.isfinite(g).all(), "the gradient is NaN/inf for huge margins"


def test_bradley_terry_gradients_match_closed_form(kata, device):
    rc, rr = (t.requires_grad_(True) for t in bt_inputs(10, device))
    gc, gr = torch.autograd.grad(kata.bradley_terry_loss(rc, rr), [rc, rr])
    w = expit(-(np64(rc) - np64(rr))) / N
    assert_close(gc, -w, what="d loss / d r_chosen = -sigmoid(-(r_c - r_r)) / N")
    assert_close(gr, w, what="d loss / d r_rejected = +sigmoid(-(r_c - r_r)) / N")


# ---------------------------------------------------------------------------- DPO


def dpo_margin(pc, pr, rc, rr, beta):
    return beta * ((np64(pc) - np64(rc)) - (np64(pr) - np64(rr)))


def dpo_suspects(pc, pr, rc, rr, beta):
    pc, pr, rc, rr = map(np64, (pc, pr, rc, rr))
    z = beta * ((pc - rc) - (pr - rr))
    return [
        ("a DPO loss without beta: z = beta * (...)",
         neg_log_sigmoid(z / beta).mean()),
        ("the margin with its sign flipped: z = (pi_c - ref_c) - (pi_r - ref_r)",
         neg_log_sigmoid(-z).mean()),
        ("a loss that ignores the reference model: subtract ref_c and ref_r",
         neg_log_sigmoid(beta * (pc - pr)).mean()),
        ("the reference log-probs added instead of subtracted: log-ratios are pi - ref",
         neg_log_sigmoid(beta * ((pc + rc) - (pr + rr))).mean()),
        ("a sum over pairs: average over the N pairs", neg_log_sigmoid(z).sum()),
        ("beta dividing the margin instead of multiplying it",
         neg_log_sigmoid(z / beta**2).mean()),
    ]


def dpo_inputs(seed, device, n=N):
    # Summed log-probs of answers: negative, tens of nats, reference close to the policy.
    pc = -20.0 + randn(n, seed=seed, scale=5.0)
    pr = -20.0 + randn(n, seed=seed + 1, scale=5.0)
    rc = pc + randn(n, seed=seed + 2, scale=2.0)
    rr = pr + randn(n, seed=seed + 3, scale=2.0)
    return [t.to(device) for t in (pc, pr, rc, rr)]


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_matches_closed_form(kata, device, beta):
    args = dpo_inputs(20, device)
    loss = kata.dpo_loss(*args, beta)
    assert_scalar(loss, "dpo_loss")
    check(loss, neg_log_sigmoid(dpo_margin(*args, beta)).mean(),
          f"dpo_loss (beta={beta}): -mean log sigmoid(beta((pi_c - ref_c) - (pi_r - ref_r)))",
          dpo_suspects(*args, beta))


def test_dpo_policy_equal_to_reference_gives_log_two(kata, device):
    pc, pr, _, _ = dpo_inputs(25, device)
    for beta in (0.1, 3.0):
        assert_close(kata.dpo_loss(pc, pr, pc.clone(), pr.clone(), beta), np.log(2.0),
                     what=f"dpo_loss with policy == reference (beta={beta}): z = 0, log 2")


def test_dpo_is_bradley_terry_on_implicit_rewards(kata, device):
    pc, pr, rc, rr = dpo_inputs(30, device)
    beta = 0.3
    assert_close(kata.dpo_loss(pc, pr, rc, rr, beta),
                 kata.bradley_terry_loss(beta * (pc - rc), beta * (pr - rr)),
                 what="dpo_loss vs bradley_terry_loss on the implicit rewards beta (pi - ref)")


def test_dpo_is_finite_for_huge_margins(kata, device):
    pc = torch.tensor([0.0, -5e3, -1.0, -2e4, -10.0, -3.0, -8e3, 0.0]).to(device)
    pr = torch.tensor([-5e3, 0.0, -2e4, -1.0, -3.0, -10.0, 0.0, -8e3]).to(device)
    ref = torch.full((8,), -50.0).to(device)
    beta = 0.5
    loss = kata.dpo_loss(pc, pr, ref, ref.clone(), beta)
    assert torch.isfinite(loss), (
        f"dpo_loss is {float(loss)} for margins of +-1e4: use F.logsigmoid, not "
        "log(sigmoid(z))")
    z = dpo_margin(pc, pr, ref, ref, beta)
    check(loss, neg_log_sigmoid(z).mean(), "dpo_loss with margins up to +-1e4",
          dpo_suspects(pc, pr, ref, ref, beta))


def test_dpo_gradients_match_closed_form(kata, device):
    pc, pr, rc, rr = dpo_inputs(40, device)
    pc.requires_grad_(True)
    pr.requires_grad_(True)
    beta = 0.7
    gc, gr = torch.autograd.grad(kata.dpo_loss(pc, pr, rc, rr, beta), [pc, pr])
    w = beta * expit(-dpo_margin(pc, pr, rc, rr, beta)) / N
    assert_close(gc, -w, what="d dpo_loss / d pi_c = -beta * sigmoid(-z) / N")
    assert_close(gr, w, what="d dpo_loss / d pi_r = +beta * sigmoid(-z) / N")


# ---------------------------------------------------------------------------- sequence_logprob

B, T, V = 3, 6, 7  # all different: a sum or gather along the wrong dim changes the shape


def seq_inputs(seed, device, b=B, t=T, v=V, scale=2.0):
    logits = randn(b, t, v, seed=seed, scale=scale)
    g = torch.Generator().manual_seed(seed + 1)
    labels = torch.randint(0, v, (b, t), generator=g)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    start = torch.randint(0, 2, (b,), generator=g)  # a masked-out "prompt" token or not
    pos = torch.arange(t)
    mask = (pos >= start[:, None]) & (pos < (start + lengths).clamp(max=t)[:, None])
    mask[0] = True  # one full row
    return logits.to(device), labels.to(device), mask.to(device)


def token_logprobs(logits, labels):
    """(B, T) log p(label) in float64 on CPU, from F.cross_entropy; -100 labels give 0."""
    l64 = logits.cpu().double()
    return -F.cross_entropy(l64.transpose(1, 2), labels.cpu(), reduction="none",
                            ignore_index=-100)


def oracle_seq(logits, labels, mask):
    keep = mask.cpu().bool()
    return token_logprobs(logits, torch.where(keep, labels.cpu(), -100)).sum(dim=1)


def seq_suspects(logits, labels, mask):
    keep = mask.cpu().bool()
    tok = token_logprobs(logits, torch.where(keep, labels.cpu(), -100)).detach()
    all_tok = token_logprobs(logits, labels.cpu().clamp(min=0)).detach()
    l64 = logits.detach().cpu().double()
    out = [
        ("a MEAN over the masked tokens: a sequence's log-prob is their SUM",
         lambda: tok.sum(1) / keep.sum(1).clamp(min=1)),
        ("a sum over every position: the mask was ignored", lambda: all_tok.sum(1)),
        ("a sum of raw logits at the labels: take log_softmax over the vocabulary first",
         lambda: torch.where(keep, l64.gather(-1, labels.cpu().clamp(min=0)[..., None])[..., 0],
                             0.0).sum(1)),
        ("a sum of probabilities: use log_softmax, not softmax",
         lambda: torch.where(keep, tok.exp(), 0.0).sum(1)),
    ]
    if logits.shape[1] > 1:
        shifted = token_logprobs(logits[:, :-1], torch.where(keep, labels.cpu(),
                                                             -100)[:, 1:]).detach()
        out.append(("logits shifted by one against the labels: here they are already "
                    "aligned (logits[:, t] predicts labels[:, t])", lambda: shifted.sum(1)))
    return out


def check_seq(kata, logits, labels, mask, what):
    got = kata.sequence_logprob(logits, labels, mask)
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (logits.shape[0],), (
        f"{what}: expected shape (B,) = ({logits.shape[0]},), got "
        f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    check(got, oracle_seq(logits, labels, mask).detach(), what,
          seq_suspects(logits, labels, mask))
    return got


@pytest.mark.parametrize("seed", [50, 51])
def test_sequence_logprob_matches_masked_cross_entropy(kata, device, seed):
    check_seq(kata, *seq_inputs(seed, device),
              f"sequence_logprob (B={B}, T={T}, V={V}): sum of masked token log-probs")


@pytest.mark.parametrize("dtype", [torch.bool, torch.long, torch.float32])
def test_sequence_logprob_accepts_any_mask_dtype(kata, device, dtype):
    logits, labels, mask = seq_inputs(60, device)
    check_seq(kata, logits, labels, mask.to(dtype),
              f"sequence_logprob with a {dtype} mask of 0/1")


def test_sequence_logprob_ignores_labels_and_logits_under_the_mask(kata, device):
    logits, labels, mask = seq_inputs(70, device)
    labels = torch.where(mask, labels, -100)  # HF's ignore index where mask is 0
    logits = torch.where(mask[..., None], logits, torch.full_like(logits, 1e4))
    got = check_seq(kata, logits, labels, mask,
                    "sequence_logprob with labels -100 and logits 1e4 at the masked positions")
    assert torch.isfinite(got).all()


def test_sequence_logprob_of_a_fully_masked_row_is_zero(kata, device):
    logits, labels, mask = seq_inputs(80, device)
    mask[1] = False
    got = check_seq(kata, logits, labels, mask, "sequence_logprob with row 1 fully masked")
    assert float(got[1]) == 0.0, f"a fully masked sequence has log-prob 0, got {float(got[1])}"


def test_sequence_logprob_single_token(kata, device):
    logits, labels, mask = seq_inputs(90, device, b=1, t=1)
    mask[:] = True
    check_seq(kata, logits, labels, mask, "sequence_logprob with B = T = 1")


def test_sequence_logprob_is_stable_for_huge_logits(kata, device):
    logits, labels, mask = seq_inputs(100, device, scale=1e4)
    got = kata.sequence_logprob(logits, labels, mask)
    assert torch.isfinite(got).all(), (
        "sequence_logprob gives NaN/inf for logits ~1e4: use log_softmax, not "
        "log(softmax(...))")
    assert_close(got, oracle_seq(logits, labels, mask), what="sequence_logprob, logits ~1e4",
                 rtol=1e-5, atol=1e-2)  # values ~1e5: float32 resolves ~1e-2 of them


def test_sequence_logprob_gradient_matches_autograd(kata, device):
    logits, labels, mask = seq_inputs(110, device)
    logits.requires_grad_(True)
    w = randn(B, seed=111).to(device)
    (g,) = torch.autograd.grad((kata.sequence_logprob(logits, labels, mask) * w).sum(),
                               [logits])
    l64 = logits.detach().cpu().double().requires_grad_(True)
    (expected,) = torch.autograd.grad((oracle_seq(l64, labels, mask) * w.cpu().double()).sum(),
                                      [l64])
    assert_close(g, expected, what="d(sum_b w_b * sequence_logprob_b) / d logits")


def test_keeps_dtype(kata, device):
    logits, labels, mask = seq_inputs(120, device)
    assert kata.sequence_logprob(logits, labels, mask).dtype == torch.float32
    if device.type == "cpu":  # MPS has no float64
        got = kata.sequence_logprob(logits.double(), labels, mask)
        assert got.dtype == torch.float64, "sequence_logprob must keep float64 in float64"
        args = [t.double() for t in dpo_inputs(121, device)]
        assert kata.dpo_loss(*args, 0.1).dtype == torch.float64, (
            "dpo_loss must keep float64 inputs in float64")
        assert kata.bradley_terry_loss(args[0], args[1]).dtype == torch.float64


def test_no_builtin_cross_entropy(kata, device, monkeypatch):
    """sequence_logprob is log_softmax + gather; the losses are logsigmoid: the built-in
    cross-entropies are switched off here."""
    forbidden = {
        "F.cross_entropy": (F, "cross_entropy"),
        "F.nll_loss": (F, "nll_loss"),
        "F.binary_cross_entropy_with_logits": (F, "binary_cross_entropy_with_logits"),
    }
    for name, (owner, attr) in forbidden.items():
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"{_name} is off limits in this kata: use log_softmax + "
                                 "gather and F.logsigmoid")
        monkeypatch.setattr(owner, attr, refuse)
    kata.sequence_logprob(*seq_inputs(130, device))
    kata.dpo_loss(*dpo_inputs(131, device), 0.1)
    kata.bradley_terry_loss(*bt_inputs(132, device))
