"""Tests for the distillation_contrastive kata.

Oracles: torch.nn.functional.kl_div(log_target=True, reduction="batchmean") and
F.cross_entropy for kd_loss; F.normalize and F.cross_entropy (both directions) for info_nce;
the closed-form gradient T * (softmax(s/T) - softmax(t/T)) / N of the distillation term; and
torch.autograd through the oracles. Oracles run in float64 on CPU; inputs are float32, drawn
on CPU from seeded generators, then moved to the device under test. When a loss is wrong, the
tests compare it with the classic wrong losses and name the one it matches.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close

N, C, D = 6, 5, 4  # batch, classes, embedding dim: all different, so no axis mix-up hides


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def randint(high, *shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=g)


def cpu64(*ts):
    """float64 CPU copies; they keep the autograd graph, so the oracles can be differentiated."""
    return [t.cpu().double() for t in ts]


def check(actual, expected, what, suspects=()):
    """assert_close, and on failure name the classic mistake that `actual` matches, if any.
    suspects: (description, wrong value) pairs."""
    assert isinstance(actual, torch.Tensor) and actual.dim() == 0, (
        f"{what}: expected a 0-d tensor (a scalar loss), got "
        f"{tuple(actual.shape) if isinstance(actual, torch.Tensor) else type(actual).__name__}")
    assert_close(actual, expected, what=what, suspects=suspects)


# ---------------------------------------------------------------------------------- kd_loss


def oracle_kd(s, t, T, alpha, labels):
    """The torch formula, in float64 on CPU."""
    s, t = cpu64(s, t)
    labels = labels.cpu()
    kl = F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1), log_target=True,
                  reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s, labels)


def kd_suspects(s, t, T, alpha, labels):
    s, t = cpu64(s, t)
    labels = labels.cpu()
    ls, lt = F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1)
    kl = F.kl_div(ls, lt, log_target=True, reduction="batchmean")
    ce = F.cross_entropy(s, labels)
    reverse = F.kl_div(lt, ls, log_target=True, reduction="batchmean")
    mean_kl = kl / s.shape[1]  # reduction="mean": the total divided by N * C
    hot_kl = F.kl_div(F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), log_target=True,
                      reduction="batchmean")
    return [
        ("the loss without the T**2 factor on the KL term",
         alpha * kl + (1 - alpha) * ce),
        ("the loss with T instead of T**2 on the KL term",
         alpha * T * kl + (1 - alpha) * ce),
        ("KL(student || teacher): the KL is weighted by the TEACHER's probabilities, "
         "sum p_t * (log p_t - log p_s)", alpha * T**2 * reverse + (1 - alpha) * ce),
        ("a KL averaged over N * C (reduction='mean'): 'batchmean' sums over classes and "
         "divides by N only", alpha * T**2 * mean_kl + (1 - alpha) * ce),
        ("a KL of the unsoftened distributions: divide both logits by T",
         alpha * T**2 * hot_kl + (1 - alpha) * ce),
        ("a cross-entropy on the softened student logits s / T: the hard-label term uses T = 1",
         alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s / T, labels)),
        ("alpha on the wrong term: alpha weights the distillation (KL) term",
         (1 - alpha) * T**2 * kl + alpha * ce),
    ]


def kd_inputs(seed, device, n=N, c=C, scale=2.0):
    s = randn(n, c, seed=seed, scale=scale)
    t = randn(n, c, seed=seed + 1, scale=scale)
    labels = randint(c, n, seed=seed + 2)
    return s.to(device), t.to(device), labels.to(device)


@pytest.mark.parametrize("T,alpha", [(2.0, 0.7), (4.0, 0.5), (0.5, 0.9), (3.0, 0.25)])
def test_kd_loss_matches_torch_formula(kata, device, T, alpha):
    s, t, labels = kd_inputs(0, device)
    check(kata.kd_loss(s, t, T, alpha, labels), oracle_kd(s, t, T, alpha, labels),
          f"kd_loss (N={N}, C={C}, T={T}, alpha={alpha})", kd_suspects(s, t, T, alpha, labels))


def test_kd_loss_alpha_one_is_pure_distillation(kata, device):
    s, t, labels = kd_inputs(10, device)
    T = 3.0
    check(kata.kd_loss(s, t, T, 1.0, labels), oracle_kd(s, t, T, 1.0, labels),
          "kd_loss with alpha=1: T**2 * KL(teacher_T || student_T), batchmean",
          kd_suspects(s, t, T, 1.0, labels))
    other = labels.roll(1)  # the labels carry no weight at alpha = 1
    assert_close(kata.kd_loss(s, t, T, 1.0, other), kata.kd_loss(s, t, T, 1.0, labels),
                 what="kd_loss with alpha=1 must not depend on the labels")


def test_kd_loss_alpha_zero_is_cross_entropy(kata, device):
    s, t, labels = kd_inputs(20, device)
    expected = F.cross_entropy(*cpu64(s), labels.cpu())
    check(kata.kd_loss(s, t, 2.0, 0.0, labels), expected,
          "kd_loss with alpha=0: the mean cross-entropy of the RAW student logits and labels",
          kd_suspects(s, t, 2.0, 0.0, labels))


def test_kd_loss_is_zero_when_student_copies_teacher(kata, device):
    s, _, labels = kd_inputs(30, device)
    loss = kata.kd_loss(s, s.clone(), 5.0, 1.0, labels)
    assert_close(loss, torch.zeros((), dtype=torch.float64),
                 what="kd_loss(s, s, T=5, alpha=1): KL of a distribution to itself is 0",
                 atol=1e-5)  # float32 log-softmax differences, times T**2 = 25


def test_kd_loss_is_stable_for_huge_logits(kata, device):
    s, t, labels = kd_inputs(40, device, scale=1e4)
    for T in (1.0, 4.0):
        loss = kata.kd_loss(s, t, T, 0.5, labels)
        assert torch.isfinite(loss), (
            f"kd_loss is {float(loss)} for logits ~1e4 (T={T}): use log_softmax, not "
            "log(softmax(...)), and write the KL as p_t * (log p_t - log p_s)")
        # Relative tolerance only: the loss is ~1e4 * T**2 and float32 resolves 1e-3 of it.
        assert_close(loss, oracle_kd(s, t, T, 0.5, labels), what=f"kd_loss, logits ~1e4, T={T}",
                     rtol=1e-5, atol=1e-2)


def test_kd_loss_student_gradient_matches_closed_form(kata, device):
    # d/ds [T^2 * KL_batchmean] = T * (softmax(s/T) - softmax(t/T)) / N.
    s, t, labels = kd_inputs(50, device)
    s.requires_grad_(True)
    T = 3.0
    (grad,) = torch.autograd.grad(kata.kd_loss(s, t, T, 1.0, labels), [s])
    s64, t64 = (x.detach() for x in cpu64(s, t))
    expected = T * (torch.softmax(s64 / T, dim=1) - torch.softmax(t64 / T, dim=1)) / N
    assert_close(grad, expected, what="d(kd_loss)/d(student_logits) at alpha=1: "
                                      "T * (p_s - p_t) / N")


@pytest.mark.parametrize("T,alpha", [(2.0, 0.6), (0.7, 0.3)])
def test_kd_loss_gradient_matches_autograd_of_torch(kata, device, T, alpha):
    s, t, labels = kd_inputs(60, device)
    s.requires_grad_(True)
    (grad,) = torch.autograd.grad(kata.kd_loss(s, t, T, alpha, labels), [s])
    s64 = s.detach().cpu().double().requires_grad_(True)
    (expected,) = torch.autograd.grad(oracle_kd(s64, t, T, alpha, labels), [s64])
    assert_close(grad, expected, what=f"d(kd_loss)/d(student_logits) (T={T}, alpha={alpha})")


def test_kd_loss_sends_no_gradient_to_the_teacher(kata, device):
    s, t, labels = kd_inputs(70, device)
    s.requires_grad_(True)
    t.requires_grad_(True)
    kata.kd_loss(s, t, 2.0, 0.5, labels).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
    assert t.grad is None or not t.grad.any(), (
        "kd_loss sent a gradient into teacher_logits: the teacher is a fixed target, detach it")


def test_kd_loss_keeps_dtype(kata, device):
    s, t, labels = kd_inputs(80, device)
    loss = kata.kd_loss(s, t, 2.0, 0.5, labels)
    assert loss.dtype == torch.float32 and loss.device.type == device.type
    if device.type == "cpu":  # MPS has no float64
        s64, t64 = (x.detach() for x in cpu64(s, t))
        loss64 = kata.kd_loss(s64, t64, 2.0, 0.5, labels)
        assert loss64.dtype == torch.float64, "kd_loss must keep float64 inputs in float64"
        assert_close(loss64, oracle_kd(s64, t64, 2.0, 0.5, labels), what="kd_loss in float64")


# ---------------------------------------------------------------------------------- info_nce


def oracle_info_nce(a, b, temperature):
    a, b = cpu64(a, b)
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    target = torch.arange(a.shape[0])
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def info_nce_suspects(a, b, temperature):
    a, b = cpu64(a, b)
    target = torch.arange(a.shape[0])
    unit = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    raw = a @ b.T
    return [
        ("a loss without L2-normalised embeddings: a and b must be divided by their row norms",
         (F.cross_entropy(raw / temperature, target)
          + F.cross_entropy(raw.T / temperature, target)) / 2),
        ("the one-sided loss CE(logits, arange) only: average it with CE(logits.T, arange)",
         F.cross_entropy(unit / temperature, target)),
        ("the one-sided loss CE(logits.T, arange) only: average it with CE(logits, arange)",
         F.cross_entropy(unit.T / temperature, target)),
        ("the sum of the two directions: average them (divide by 2)",
         F.cross_entropy(unit / temperature, target)
         + F.cross_entropy(unit.T / temperature, target)),
        ("logits multiplied by the temperature: divide the similarities by it",
         (F.cross_entropy(unit * temperature, target)
          + F.cross_entropy(unit.T * temperature, target)) / 2),
    ]


def pair_inputs(seed, device, n=N, d=D, scale=1.0):
    a = randn(n, d, seed=seed, scale=scale)
    b = a + randn(n, d, seed=seed + 1, scale=0.8 * scale)  # noisy positives
    b = b * (1 + torch.arange(n, dtype=torch.float32)[:, None])  # rows of different norms
    return a.to(device), b.to(device)


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_info_nce_matches_symmetric_cross_entropy(kata, device, temperature):
    a, b = pair_inputs(100, device)
    check(kata.info_nce(a, b, temperature), oracle_info_nce(a, b, temperature),
          f"info_nce (N={N}, D={D}, temperature={temperature})",
          info_nce_suspects(a, b, temperature))


def test_info_nce_larger_batch(kata, device):
    a, b = pair_inputs(110, device, n=16, d=8)
    check(kata.info_nce(a, b, 0.1), oracle_info_nce(a, b, 0.1),
          "info_nce (N=16, D=8, temperature=0.1)", info_nce_suspects(a, b, 0.1))


def test_info_nce_is_symmetric_and_scale_invariant(kata, device):
    a, b = pair_inputs(120, device)
    loss = kata.info_nce(a, b, 0.2)
    assert_close(kata.info_nce(b, a, 0.2), loss,
                 what="info_nce(b, a) vs info_nce(a, b): the symmetric loss averages both "
                      "directions, so swapping the two views changes nothing")
    row_scales = torch.linspace(0.1, 50.0, N, device=device)[:, None]
    assert_close(kata.info_nce(a * row_scales, b * 3.0, 0.2), loss,
                 what="info_nce with every row rescaled: the embeddings are L2-normalised "
                      "inside the loss, so their norms must not matter")


def test_info_nce_of_a_single_pair_is_zero(kata, device):
    a, b = pair_inputs(130, device, n=1)
    assert_close(kata.info_nce(a, b, 0.1), torch.zeros((), dtype=torch.float64),
                 what="info_nce with N=1: the only candidate is the positive, loss 0")


def test_info_nce_of_orthonormal_pairs_is_near_zero(kata, device):
    # a = b = the identity: positives have cosine 1, negatives 0; at temperature 0.05 each
    # row's softmax puts 1 / (1 + (N-1) e^-20) on the positive.
    a = torch.eye(N, 8).to(device)  # (N, 8), orthonormal rows
    expected = torch.log1p(torch.tensor((N - 1) * torch.exp(torch.tensor(-20.0)).item(),
                                        dtype=torch.float64))
    assert_close(kata.info_nce(a, a.clone(), 0.05), expected,
                 what="info_nce of perfectly matched orthonormal pairs, temperature 0.05",
                 atol=1e-7)  # the loss is ~1e-8; float32 rounding of the logits is ~1e-7


def test_info_nce_is_stable_for_tiny_temperature_and_large_embeddings(kata, device):
    a, b = pair_inputs(140, device, scale=1e3)
    loss = kata.info_nce(a, b, 0.001)
    assert torch.isfinite(loss), (
        f"info_nce is {float(loss)} at temperature 0.001: logits reach 1000, so use "
        "log_softmax (max-shifted), not log(exp(...).sum())")
    assert_close(loss, oracle_info_nce(a, b, 0.001), what="info_nce at temperature 0.001",
                 rtol=1e-4)  # logits ~1e3 in float32 carry ~1e-4 relative error into the loss


def test_info_nce_gradients_match_autograd_of_torch(kata, device):
    a, b = pair_inputs(150, device)
    a.requires_grad_(True)
    b.requires_grad_(True)
    grads = torch.autograd.grad(kata.info_nce(a, b, 0.3), [a, b])
    a64, b64 = (t.detach().cpu().double().requires_grad_(True) for t in (a, b))
    expected = torch.autograd.grad(oracle_info_nce(a64, b64, 0.3), [a64, b64])
    for name, got, want in zip("ab", grads, expected, strict=True):
        assert_close(got, want, what=f"d(info_nce)/d{name}")


def test_info_nce_keeps_dtype(kata, device):
    a, b = pair_inputs(160, device)
    loss = kata.info_nce(a, b, 0.5)
    assert loss.dtype == torch.float32 and loss.device.type == device.type
    if device.type == "cpu":  # MPS has no float64
        a64, b64 = (x.detach() for x in cpu64(a, b))
        loss64 = kata.info_nce(a64, b64, 0.5)
        assert loss64.dtype == torch.float64, "info_nce must keep float64 inputs in float64"
        assert_close(loss64, oracle_info_nce(a64, b64, 0.5), what="info_nce in float64")


# ---------------------------------------------------------------------------------- built-ins


def test_no_builtin_losses(kata, device, monkeypatch):
    """The point of the kata is to write these: the built-in losses are switched off here."""
    forbidden = {
        "F.kl_div": (F, "kl_div"),
        "F.cross_entropy": (F, "cross_entropy"),
        "F.nll_loss": (F, "nll_loss"),
        "torch.kl_div": (torch, "kl_div"),
        "nn.KLDivLoss.forward": (nn.KLDivLoss, "forward"),
        "nn.CrossEntropyLoss.forward": (nn.CrossEntropyLoss, "forward"),
        "nn.NLLLoss.forward": (nn.NLLLoss, "forward"),
    }
    for name, (owner, attr) in forbidden.items():
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"{_name} is off limits in this kata: write the loss with "
                                 "log_softmax, sum and mean")
        monkeypatch.setattr(owner, attr, refuse)
    s, t, labels = kd_inputs(170, device)
    kata.kd_loss(s, t, 2.0, 0.5, labels)
    a, b = pair_inputs(171, device)
    kata.info_nce(a, b, 0.1)
