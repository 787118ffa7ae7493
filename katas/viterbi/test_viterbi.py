"""Tests for the viterbi kata.

Oracle: brute force over all K^T tag sequences (itertools.product, T <= 5, K <= 4) in float64
on CPU: the best path is the argmax of the explicit path scores, log Z their logsumexp, and
the tag marginals the autograd gradient of that logsumexp. Inputs are float32, drawn on CPU
from seeded generators and moved to the device under test. When a result is wrong the
message names the classic bug it matches (transposed transitions, missing start, max and
logsumexp swapped, off-by-one backtracking, overflow).
"""

import itertools

import pytest
import torch

from dojo.testing import assert_close


def make(T, K, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(T, K, generator=g) * scale
    tr = torch.randn(K, K, generator=g) * scale
    s = torch.randn(K, generator=g) * scale
    return e.to(device), tr.to(device), s.to(device)


def brute(e, tr, s):
    """(paths (N, T) int64, scores (N,) float64) over all K^T paths, on CPU."""
    e, tr, s = (x.detach().cpu().double() for x in (e, tr, s))
    T, K = e.shape
    paths = torch.tensor(list(itertools.product(range(K), repeat=T)), dtype=torch.long)
    scores = s[paths[:, 0]] + e[torch.arange(T), paths].sum(dim=1)
    if T > 1:
        scores = scores + tr[paths[:, :-1], paths[:, 1:]].sum(dim=1)
    return paths, scores


def brute_best(e, tr, s):
    paths, scores = brute(e, tr, s)
    i = int(scores.argmax())
    return paths[i], scores[i]


def brute_logz(e, tr, s):
    return torch.logsumexp(brute(e, tr, s)[1], dim=0)


def score_suspects(e, tr, s):
    """{bug: the best score that bug would give}."""
    zeros = torch.zeros_like(s)
    return {
        "the transition matrix is transposed: transitions[i, j] is FROM i TO j, so reduce over "
        "dim 0 of delta[:, None] + transitions": brute_best(e, tr.T, s)[1],
        "the start scores are missing: delta_0 = start + emissions[0]": brute_best(e, tr, zeros)[1],
        "this is log Z (logsumexp); Viterbi takes the max over previous tags":
            brute_logz(e, tr, s),
    }


def logz_suspects(e, tr, s):
    zeros = torch.zeros_like(s)
    return {
        "this is the best path score: the forward algorithm takes logsumexp, not max":
            brute_best(e, tr, s)[1],
        "the transition matrix is transposed: transitions[i, j] is FROM i TO j, so reduce over "
        "dim 0 of alpha[:, None] + transitions": brute_logz(e, tr.T, s),
        "the start scores are missing: alpha_0 = start + emissions[0]": brute_logz(e, tr, zeros),
    }


def check_scalar(actual, expected, what, suspects):
    assert actual is not None, f"{what}: got None"
    assert torch.is_tensor(actual) and actual.dim() == 0, (
        f"{what}: expected a 0-d tensor, got {actual!r}")
    try:
        assert_close(actual, expected.float(), what=what)
    except AssertionError as err:
        for bug, wrong in suspects.items():
            if not torch.isclose(wrong, expected, rtol=1e-4, atol=1e-4) and torch.isclose(
                    actual.detach().cpu().double(), wrong, rtol=1e-4, atol=1e-4):
                raise AssertionError(f"{err}\nLikely bug: {bug}") from None
        raise


def call_viterbi(kata, e, tr, s):
    out = kata.viterbi(e, tr, s)
    assert out is not None and len(out) == 2, "viterbi must return (best_path, score)"
    path, score = out
    assert torch.is_tensor(path), f"best_path must be a tensor, got {type(path).__name__}"
    assert path.dtype == torch.long, f"best_path dtype {path.dtype}, expected torch.int64"
    assert path.device.type == e.device.type, f"best_path is on {path.device}, not {e.device}"
    return path, score


SHAPES = [(1, 3), (2, 2), (3, 4), (4, 3), (5, 4), (5, 2), (4, 1)]


# ---------------------------------------------------------------------------- path_score


@pytest.mark.parametrize("T,K", [(1, 3), (4, 3), (5, 4)])
def test_path_score_matches_explicit_sum(kata, device, T, K):
    e, tr, s = make(T, K, seed=10 * T + K, device=device)
    paths, scores = brute(e, tr, s)
    for i in (0, len(paths) // 3, len(paths) - 1):
        got = kata.path_score(e, tr, s, paths[i].to(device))
        suspects = {"transitions used as [to, from]: transitions[y_{t-1}, y_t] is FROM y_{t-1}":
                    brute(e, tr.T, s)[1][i]}
        check_scalar(got, scores[i], f"path_score of path {paths[i].tolist()}", suspects)


def test_path_score_by_hand(kata, device):
    e = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 0.0]], device=device)
    tr = torch.tensor([[0.0, 10.0], [-100.0, 0.0]], device=device)  # 0 -> 1 is +10, 1 -> 0 is -100
    s = torch.tensor([0.5, 0.0], device=device)
    path = torch.tensor([0, 1, 1], device=device)
    # 0.5 (start 0) + 1 (e[0, 0]) + 10 (0 -> 1) + 2 (e[1, 1]) + 0 (1 -> 1) + 0 (e[2, 1])
    check_scalar(kata.path_score(e, tr, s, path), torch.tensor(13.5, dtype=torch.float64),
                 "path_score([0, 1, 1]) by hand",
                 {"transitions used as [to, from]": torch.tensor(-96.5, dtype=torch.float64)})


# ---------------------------------------------------------------------------- viterbi


@pytest.mark.parametrize("T,K", SHAPES)
def test_viterbi_matches_brute_force(kata, device, T, K):
    e, tr, s = make(T, K, seed=100 + 10 * T + K, device=device)
    best, best_score = brute_best(e, tr, s)
    paths, scores = brute(e, tr, s)
    if K ** T > 1:
        gap = best_score - scores.topk(2).values[1]
        assert gap > 1e-3, "test premise: the best path is unique"
    path, score = call_viterbi(kata, e, tr, s)
    check_scalar(score, best_score, f"viterbi score (T={T}, K={K})", score_suspects(e, tr, s))
    assert path.shape == (T,), (
        f"best_path has shape {tuple(path.shape)}, expected ({T},): one tag per position"
        " (off-by-one in the backtracking?)")
    got = path.cpu()
    if not torch.equal(got, best):
        msg = f"viterbi path {got.tolist()}, expected {best.tolist()} (T={T}, K={K})"
        if T > 1 and (torch.equal(got[1:], best[:-1]) or torch.equal(got[:-1], best[1:])):
            msg += "; it is shifted by one: the back-pointer at t gives the tag at t - 1"
        elif torch.equal(got, brute_best(e, tr.T, s)[0]):
            msg += "; that is the best path for the transposed transition matrix"
        else:
            msg += "; its brute-force score is " + str(
                float(scores[(paths == got).all(dim=1)].squeeze()))
        raise AssertionError(msg)


def test_viterbi_path_scores_its_score(kata, device):
    e, tr, s = make(5, 4, seed=7, device=device)
    path, score = call_viterbi(kata, e, tr, s)
    _, scores = brute(e, tr, s)
    paths = brute(e, tr, s)[0]
    own = scores[(paths == path.cpu()).all(dim=1)].squeeze()
    assert_close(score, own.float(), what="viterbi score vs the score of the path it returned "
                                          "(the path and the score must belong together)")


def test_viterbi_by_hand_respects_transition_direction(kata, device):
    # Only the transitions matter: 0 -> 1 earns +3, 1 -> 0 costs -3.
    e = torch.zeros(2, 2, device=device)
    tr = torch.tensor([[0.0, 3.0], [-3.0, 0.0]], device=device)
    s = torch.zeros(2, device=device)
    path, score = call_viterbi(kata, e, tr, s)
    assert path.cpu().tolist() == [0, 1], (
        f"best path {path.cpu().tolist()}, expected [0, 1] (0 -> 1 scores +3)" + (
            ": transitions[i, j] is the score FROM i TO j; you used the transpose"
            if path.cpu().tolist() == [1, 0] else ""))
    assert_close(score, torch.tensor(3.0), what="viterbi score of the hand example")


def test_viterbi_single_position(kata, device):
    e = torch.tensor([[0.0, 2.0, 1.0]], device=device)
    s = torch.tensor([1.5, 0.0, 0.0], device=device)
    tr = torch.full((3, 3), 50.0, device=device)  # no transition at T = 1
    path, score = call_viterbi(kata, e, tr, s)
    assert path.cpu().tolist() == [1], f"T=1: best path {path.cpu().tolist()}, expected [1]"
    assert_close(score, torch.tensor(2.0), what="T=1 viterbi score (start + emissions[0], no "
                                                "transition)")


def test_viterbi_large_scores(kata, device):
    e, tr, s = make(5, 3, seed=8, device=device, scale=1e3)
    path, score = call_viterbi(kata, e, tr, s)
    best, best_score = brute_best(e, tr, s)
    assert torch.equal(path.cpu(), best), "viterbi path wrong for scores of size 1e3"
    assert_close(score, best_score.float(), rtol=1e-5, atol=1e-2,  # float32 sums of ~1e3
                 what="viterbi score for scores of size 1e3")


# ---------------------------------------------------------------------------- forward


@pytest.mark.parametrize("T,K", SHAPES)
def test_forward_matches_brute_force_logsumexp(kata, device, T, K):
    e, tr, s = make(T, K, seed=200 + 10 * T + K, device=device)
    got = kata.forward_logsumexp(e, tr, s)
    check_scalar(got, brute_logz(e, tr, s), f"forward_logsumexp (T={T}, K={K})",
                 logz_suspects(e, tr, s))


def test_forward_does_not_overflow(kata, device):
    e, tr, s = make(4, 3, seed=9, device=device, scale=1e3)  # exp(1e3) = inf in float32
    got = kata.forward_logsumexp(e, tr, s)
    assert torch.isfinite(got), (
        f"forward_logsumexp = {got.item()} for scores ~1e3: exp overflowed; use logsumexp "
        "(subtract the max before exp) at every step")
    assert_close(got, brute_logz(e, tr, s).float(), rtol=1e-5, atol=1e-2,  # float32, ~1e3
                 what="forward_logsumexp for scores of size 1e3")
    small = kata.forward_logsumexp(e - 2e3, tr, s)
    assert torch.isfinite(small), "forward_logsumexp underflowed to -inf for scores ~ -2e3"


def test_forward_marginals_match_brute_force(kata, device):
    e, tr, s = make(4, 3, seed=11, device=device)
    e.requires_grad_(True)
    tr.requires_grad_(True)
    got = torch.autograd.grad(kata.forward_logsumexp(e, tr, s), [e, tr])
    leaves = [x.detach().cpu().double().requires_grad_(True) for x in (e, tr)]
    expected = torch.autograd.grad(_logz_diff(leaves[0], leaves[1], s), leaves)
    assert_close(got[0], expected[0].float(), what="d logZ / d emissions (the tag marginals)")
    assert_close(got[1], expected[1].float(),
                 what="d logZ / d transitions (expected transition counts)")
    assert_close(got[0].sum(dim=1), torch.ones(4, device=device),
                 what="tag marginals per position (each row must sum to 1)")


def _logz_diff(e, tr, s):
    """Differentiable brute-force log Z (float64 CPU leaves e and tr)."""
    s = s.detach().cpu().double()
    T, K = e.shape
    paths = torch.tensor(list(itertools.product(range(K), repeat=T)), dtype=torch.long)
    scores = s[paths[:, 0]] + e[torch.arange(T), paths].sum(dim=1)
    scores = scores + tr[paths[:, :-1], paths[:, 1:]].sum(dim=1)
    return torch.logsumexp(scores, dim=0)


def test_forward_is_at_least_the_viterbi_score(kata, device):
    e, tr, s = make(5, 4, seed=12, device=device)
    logz = kata.forward_logsumexp(e, tr, s)
    _, best = call_viterbi(kata, e, tr, s)
    assert logz > best, (
        f"log Z = {logz.item():.4f} <= best path score {best.item():.4f}: log Z sums over all "
        "paths, so it exceeds the max (did you use max in the forward recursion?)")
    # One tag: a single path, so log Z is its score.
    e1, tr1, s1 = make(5, 1, seed=13, device=device)
    assert_close(kata.forward_logsumexp(e1, tr1, s1), brute_logz(e1, tr1, s1).float(),
                 what="forward_logsumexp with K=1 (a single path)")
