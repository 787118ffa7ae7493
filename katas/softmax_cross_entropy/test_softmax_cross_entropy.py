"""Tests for the softmax_cross_entropy kata.

Oracles: torch.nn.functional.log_softmax and torch.nn.functional.cross_entropy (reduction
"mean", the same ignore_index and label_smoothing), evaluated in float64 on CPU, and their
autograd gradients. Inputs are float32, drawn on CPU from seeded generators and then moved to
the device under test. When a loss is wrong, the tests also compare it with the classic wrong
answers (mean over every position, smoothing over C - 1 classes, ...) and name the one it
matches.
"""

import pytest
import torch
import torch.nn.functional as F

from dojo.testing import assert_close, forbid_builtins


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def targets(shape, n_classes, seed, ignore_index=None, p_ignore=0.3):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, n_classes, shape, generator=g)
    if ignore_index is not None:
        drop = torch.rand(shape, generator=g) < p_ignore
        drop.view(-1)[0] = True  # at least one ignored position ...
        drop.view(-1)[1] = False  # ... and at least one that counts
        t = torch.where(drop, torch.full_like(t, ignore_index), t)
    return t


def oracle_ce(logits, target, ignore_index=-100, label_smoothing=0.0):
    return F.cross_entropy(logits.double().cpu(), target.cpu(), ignore_index=ignore_index,
                           label_smoothing=label_smoothing)


def suspects(logits, target, ignore_index, eps):
    """Classic wrong losses, each as (description, value), all in float64 on CPU."""
    logp = F.log_softmax(logits.double().cpu(), dim=1)
    t = target.cpu()
    keep = t != ignore_index
    C = logp.shape[1]
    onehot = F.one_hot(t * keep, C).movedim(-1, 1).double()  # (N, C, *extra)
    nll = -(onehot * logp).sum(1)
    smooth = -logp.mean(1)
    right = (1 - eps) * nll + eps * smooth
    out = [
        ("the mean over ALL positions: divide by the number of non-ignored targets",
         torch.where(keep, right, 0.0).sum() / keep.numel()),
        ("a loss that does not skip ignored positions in the smoothing term",
         (torch.where(keep, (1 - eps) * nll, 0.0) + eps * smooth).sum() / keep.sum()),
        ("smoothing added on top of the full nll: mix (1 - eps) * nll + eps * smooth",
         torch.where(keep, nll + eps * smooth, 0.0).sum() / keep.sum()),
        ("smoothing spread as eps / (C - 1) over the other classes: torch puts eps / C on "
         "every class, the target included",
         torch.where(keep, -(((1 - eps) * onehot + eps / (C - 1) * (1 - onehot)) * logp).sum(1),
                     0.0).sum() / keep.sum()),
        ("the loss without label smoothing", torch.where(keep, nll, 0.0).sum() / keep.sum()),
        ("the SUM over positions, not the mean", torch.where(keep, right, 0.0).sum()),
    ]
    if logp.dim() > 2:
        lp_last = F.log_softmax(logits.double().cpu(), dim=-1)
        out.append(("a softmax over the last dim: the class dim is dim 1",
                    -(lp_last * onehot).sum(1)[keep].mean()))
    return out


def check_ce(kata, logits, target, ignore_index=-100, label_smoothing=0.0, what="cross_entropy"):
    got = kata.cross_entropy(logits, target, ignore_index=ignore_index,
                             label_smoothing=label_smoothing)
    assert isinstance(got, torch.Tensor) and got.dim() == 0, (
        f"{what}: cross_entropy must return a 0-d tensor (the mean), got "
        f"{got.shape if isinstance(got, torch.Tensor) else type(got).__name__}")
    expected = oracle_ce(logits, target, ignore_index, label_smoothing)
    try:
        assert_close(got, expected.float(), what=what)
    except AssertionError as err:
        for description, wrong in suspects(logits, target, ignore_index, label_smoothing):
            if torch.allclose(got.detach().double().cpu(), wrong, rtol=1e-4, atol=1e-5):
                raise AssertionError(f"{err}\nYour loss matches {description}.") from None
        raise
    return got


# --------------------------------------------------------------------------- log_softmax


@pytest.mark.parametrize("dim", [-1, 0, 1, 2])
def test_log_softmax_matches_torch_along_the_given_dim(kata, device, dim):
    x = randn(3, 4, 5, seed=0, scale=3.0)
    got = kata.log_softmax(x.to(device), dim=dim)
    assert_close(got, F.log_softmax(x.double(), dim=dim).float(),
                 what=f"log_softmax(x, dim={dim}) of a (3, 4, 5) tensor")
    assert got.dtype == torch.float32 and got.device.type == device.type, (
        f"log_softmax must keep x's dtype and device, got {got.dtype} on {got.device}")


def test_log_softmax_default_dim_is_last(kata, device):
    x = randn(4, 6, seed=1)
    assert_close(kata.log_softmax(x.to(device)), F.log_softmax(x.double(), dim=-1).float(),
                 what="log_softmax(x) with the default dim (-1)")


def test_log_softmax_is_stable_for_huge_logits(kata, device):
    x = randn(5, 7, seed=2, scale=1e3)
    x[1] = 1e4  # equal huge logits: log(1/7) each, not inf - inf
    x[2] = -1e4  # exp underflows to 0 everywhere unless the max is subtracted: log(0) = -inf
    x[3, 0] = 3e3  # one dominant logit: log p = 0 there, about -3e3 elsewhere
    assert_close(kata.log_softmax(x.to(device), dim=-1), F.log_softmax(x.double(), -1).float(),
                 what="log_softmax of logits ~1e3-1e4: subtract the max along dim before exp "
                      "(exp(1000) overflows float32)")


def test_log_softmax_gradient_matches_torch(kata, device):
    x = randn(4, 6, seed=3, scale=2.0).to(device).requires_grad_(True)
    w = randn(4, 6, seed=4).to(device)
    (g,) = torch.autograd.grad((kata.log_softmax(x, dim=1) * w).sum(), x)
    (e,) = torch.autograd.grad((F.log_softmax(x, dim=1) * w).sum(), x)
    assert_close(g, e, what="d/dx of sum(w * log_softmax(x)): the gradient must flow through "
                            "x - m - log(sum(exp(x - m)))")


# --------------------------------------------------------------------------- cross_entropy


@pytest.mark.parametrize("N,C", [(8, 5), (3, 10), (1, 2)])
def test_cross_entropy_matches_torch(kata, device, N, C):
    logits = randn(N, C, seed=10 + N, scale=2.0)
    target = targets((N,), C, seed=20 + N)
    check_ce(kata, logits.to(device), target.to(device),
             what=f"cross_entropy of ({N}, {C}) logits")


def test_cross_entropy_with_extra_dims_uses_class_dim_1(kata, device):
    N, C, d1, d2 = 2, 4, 3, 5  # C != d2 so that the last dim cannot pass for the class dim
    logits = randn(N, C, d1, d2, seed=30, scale=2.0)
    target = targets((N, d1, d2), C, seed=31, ignore_index=-100)
    check_ce(kata, logits.to(device), target.to(device),
             what="cross_entropy of (2, 4, 3, 5) logits with (2, 3, 5) targets (class dim 1)")
    check_ce(kata, logits.to(device), target.to(device), label_smoothing=0.2,
             what="cross_entropy of (2, 4, 3, 5) logits, label_smoothing=0.2")


def test_cross_entropy_is_stable_for_huge_logits(kata, device):
    logits = randn(6, 5, seed=40, scale=1e3)
    logits[0] = 2e3  # all equal: loss log(5)
    target = targets((6,), 5, seed=41)
    check_ce(kata, logits.to(device), target.to(device),
             what="cross_entropy of logits ~1e3 (subtract the max before exp)")
    check_ce(kata, logits.to(device), target.to(device), label_smoothing=0.1,
             what="cross_entropy of logits ~1e3 with label_smoothing=0.1")


def test_cross_entropy_averages_over_non_ignored_targets_only(kata, device):
    logits = randn(10, 4, seed=50)
    target = targets((10,), 4, seed=51, ignore_index=-100, p_ignore=0.4)
    check_ce(kata, logits.to(device), target.to(device),
             what="cross_entropy with some targets = -100 (the default ignore_index)")


@pytest.mark.parametrize("ignore_index", [2, 7])
def test_cross_entropy_custom_ignore_index(kata, device, ignore_index):
    # 2 is a real class here: those positions are skipped all the same; 7 is out of range.
    logits = randn(12, 5, seed=60)
    target = targets((12,), 5, seed=61, ignore_index=ignore_index, p_ignore=0.3)
    if ignore_index == 2:
        target[3] = 2
    check_ce(kata, logits.to(device), target.to(device), ignore_index=ignore_index,
             what=f"cross_entropy with ignore_index={ignore_index}")
    check_ce(kata, logits.to(device), target.to(device), ignore_index=ignore_index,
             label_smoothing=0.25,
             what=f"cross_entropy with ignore_index={ignore_index} and label_smoothing=0.25")


@pytest.mark.parametrize("eps", [0.1, 0.3, 1.0])
def test_cross_entropy_label_smoothing_matches_torch(kata, device, eps):
    logits = randn(9, 6, seed=70, scale=2.0)
    target = targets((9,), 6, seed=71)
    check_ce(kata, logits.to(device), target.to(device), label_smoothing=eps,
             what=f"cross_entropy with label_smoothing={eps}: target distribution "
                  "(1 - eps) * one_hot + eps / C")


def test_cross_entropy_label_smoothing_with_ignored_targets(kata, device):
    logits = randn(10, 3, seed=80, scale=2.0)
    target = targets((10,), 3, seed=81, ignore_index=-100, p_ignore=0.4)
    check_ce(kata, logits.to(device), target.to(device), label_smoothing=0.2,
             what="cross_entropy with label_smoothing=0.2 and ignored targets (ignored "
                  "positions contribute neither term)")


def test_cross_entropy_all_targets_ignored_is_nan_like_torch(kata, device):
    logits = randn(4, 3, seed=90).to(device)
    target = torch.full((4,), -100).to(device)
    got = kata.cross_entropy(logits, target)
    assert isinstance(got, torch.Tensor) and torch.isnan(got).item(), (
        f"cross_entropy with every target ignored must be 0 / 0 = NaN as in torch, got {got}: "
        "divide the summed loss by the number of non-ignored targets")


def test_cross_entropy_perfect_and_uniform_predictions(kata, device):
    C = 4
    uniform = torch.zeros(3, C)
    got = kata.cross_entropy(uniform.to(device), torch.tensor([0, 1, 3]).to(device))
    assert_close(got, torch.log(torch.tensor(float(C))),
                 what="cross_entropy of all-equal logits: log(C) whatever the targets")
    confident = torch.full((2, C), -30.0)
    confident[0, 2] = confident[1, 0] = 30.0
    got = kata.cross_entropy(confident.to(device), torch.tensor([2, 0]).to(device))
    assert_close(got, oracle_ce(confident, torch.tensor([2, 0])).float(),
                 what="cross_entropy of confident, correct predictions (about 0)")


@pytest.mark.parametrize("eps", [0.0, 0.15])
def test_cross_entropy_gradient_matches_torch(kata, device, eps):
    logits = randn(6, 2, 3, seed=100, scale=2.0)
    target = targets((6, 3), 2, seed=101, ignore_index=-100)
    x = logits.to(device).requires_grad_(True)
    (g,) = torch.autograd.grad(kata.cross_entropy(x, target.to(device), label_smoothing=eps), x)
    (e,) = torch.autograd.grad(F.cross_entropy(x, target.to(device), label_smoothing=eps), x)
    assert_close(g, e, what=f"d(loss)/d(logits) of cross_entropy (label_smoothing={eps}); "
                            "ignored positions must get zero gradient")


def test_no_builtin_softmax_or_cross_entropy(kata, device, monkeypatch):
    """The point of the kata is to write these: the built-ins are switched off here."""
    forbidden = {
        "torch.softmax": (torch, "softmax"),
        "torch.nn.functional.softmax": (F, "softmax"),
        "Tensor.softmax": (torch.Tensor, "softmax"),
        "torch.log_softmax": (torch, "log_softmax"),
        "torch.nn.functional.log_softmax": (F, "log_softmax"),
        "torch.special.log_softmax": (torch.special, "log_softmax"),
        "Tensor.log_softmax": (torch.Tensor, "log_softmax"),
        "torch.logsumexp": (torch, "logsumexp"),
        "Tensor.logsumexp": (torch.Tensor, "logsumexp"),
        "torch.special.logsumexp": (torch.special, "logsumexp"),
        "torch.nn.functional.cross_entropy": (F, "cross_entropy"),
        "torch.nn.functional.nll_loss": (F, "nll_loss"),
    }
    forbid_builtins(monkeypatch, kata, forbidden, "write it with amax, exp, log, sum and gather")
    x = randn(5, 3, seed=110).to(device)
    kata.log_softmax(x, dim=-1)
    kata.cross_entropy(x, torch.tensor([0, 2, 1, -100, 2]).to(device), label_smoothing=0.1)
