"""Tests for the rank_fusion kata: reciprocal rank fusion and maximal marginal relevance.

Oracles: RRF scores worked out by hand (the fractions are written out in the tests) and an
exact brute force with `fractions.Fraction`, so ties are ties; MMR against a brute-force
greedy loop below that computes every cosine pair by pair in plain Python, and against
properties (lambda = 1 is ranking by cosine similarity, lambda = 0 picks the most dissimilar
document). When a result is wrong, the message names the classic bug it matches.
"""

import math
from fractions import Fraction
from numbers import Integral

import numpy as np
import pytest

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- RRF references

RRF_BUGS = {
    "rank0": "ranks start at 0: the best document of a ranking has rank 1, 1 / (k + 1)",
    "missing0": "a ranking that does not contain the document adds 1 / (k + 0): it must add "
                "nothing",
    "k_outside": "k is added outside the reciprocal: the term is 1 / (k + rank), not "
                 "k + 1 / rank",
    "no_k": "k is ignored: the term is 1 / (k + rank), not 1 / rank",
}


def _rrf_reference(rankings, k=60, bug=None):
    """{id: exact fused score} in order of first appearance (or with the classic `bug`)."""
    ids = list(dict.fromkeys(doc for ranking in rankings for doc in ranking))
    out = {}
    for doc in ids:
        total = Fraction(0)
        for ranking in rankings:
            if doc not in ranking:
                if bug == "missing0":
                    total += Fraction(1, k)
                continue
            rank = ranking.index(doc) + (0 if bug == "rank0" else 1)
            if bug == "k_outside":
                total += k + Fraction(1, rank)
            elif bug == "no_k":
                total += Fraction(1, rank)
            else:
                total += Fraction(1, k + rank)
        out[doc] = total
    return out


def _fused_order(scores):
    return sorted(scores, key=lambda doc: -scores[doc])  # stable: ties by first appearance


def _rrf(kata, rankings, k=60):
    got = kata.reciprocal_rank_fusion(rankings, k=k)
    assert got is not None, "reciprocal_rank_fusion returned None; return the list of ids"
    assert isinstance(got, list), f"reciprocal_rank_fusion must return a list, got {got!r}"
    return got


def _check_order(got, rankings, k, what, exact_ties_in_any_order=False):
    exact = _rrf_reference(rankings, k)
    expected = _fused_order(exact)
    if got == expected:
        return
    if exact_ties_in_any_order and sorted(got) == sorted(expected) and all(
            exact[a] >= exact[b] for a, b in zip(got, got[1:], strict=False)):
        # Exactly tied sums of three or more terms can differ in the last bit when added in
        # another order; the tie rule itself is pinned by the hand-made tie test.
        return
    for bug, message in RRF_BUGS.items():
        if bug in ("rank0", "missing0", "no_k") and k == 0:
            continue
        wrong = _fused_order(_rrf_reference(rankings, k, bug))
        if wrong != expected and got == wrong:
            raise AssertionError(f"{what}: got {got}, expected {expected}. Likely bug: "
                                 f"{message}.")
    raise AssertionError(f"{what}: got {got}, expected {expected} (fused score descending, "
                         "ties in order of first appearance)")


# ----------------------------------------------------------------------------- RRF


def test_rrf_scores_by_hand(kata):
    # k = 60, rank starting at 1:
    #   a: rank 1 in list 0, rank 2 in list 2       -> 1/61 + 1/62
    #   b: rank 2 in list 0, rank 1 in list 1       -> 1/62 + 1/61
    #   c: rank 3 in list 0, rank 1 in list 2       -> 1/63 + 1/61
    #   d: rank 2 in list 1                         -> 1/62
    #   e: rank 3 in list 2                         -> 1/63
    rankings = [["a", "b", "c"], ["b", "d"], ["c", "a", "e"]]
    got = kata.rrf_scores(rankings)
    assert isinstance(got, dict), f"rrf_scores must return a dict id -> score, got {got!r}"
    expected = {"a": 1 / 61 + 1 / 62, "b": 1 / 62 + 1 / 61, "c": 1 / 63 + 1 / 61, "d": 1 / 62,
                "e": 1 / 63}
    assert list(got) == list(expected), (
        f"rrf_scores keys {list(got)}: expected every id once, in order of first appearance "
        f"{list(expected)}")
    values = np.array([got[d] for d in expected])
    want = np.array(list(expected.values()))
    if not np.allclose(values, want, rtol=1e-12):
        for bug, message in RRF_BUGS.items():
            wrong = _rrf_reference(rankings, 60, bug)
            if np.allclose(values, [float(wrong[d]) for d in expected], rtol=1e-12):
                raise AssertionError(f"rrf_scores by hand: {message}.")
    assert_close(values, want, what="rrf_scores for a, b, c, d, e (k = 60)", rtol=1e-12,
                 atol=0.0)


def test_rrf_order_by_hand(kata):
    # Same rankings as above: a and b tie exactly (1/61 + 1/62), a appears first; c is
    # 1/63 + 1/61 < 1/61 + 1/62; then d (1/62) and e (1/63).
    rankings = [["a", "b", "c"], ["b", "d"], ["c", "a", "e"]]
    _check_order(_rrf(kata, rankings), rankings, 60, "reciprocal_rank_fusion by hand")
    assert _rrf(kata, rankings) == ["a", "b", "c", "d", "e"]


def test_rrf_documents_missing_from_a_ranking_get_nothing_from_it(kata):
    # b: 1/62 + 1/61 (in both lists) beats a and c (1/61 each). Giving the absent ones
    # 1/(k + 0) = 1/60 would put a and c first.
    rankings = [["a", "b"], ["b", "c"]]
    _check_order(_rrf(kata, rankings), rankings, 60, "rrf with documents missing from a list")
    scores = kata.rrf_scores(rankings)
    assert_close(scores["a"], 1 / 61, what="rrf_scores['a'] (only in the first list, rank 1)")


def test_rrf_uses_k_inside_the_reciprocal(kata):
    # a: rank 1 in one list; b: rank 4 in two lists.
    #   k = 1:  a = 1/2 = 0.5,     b = 2/5 = 0.4        -> a first
    #   k = 60: a = 1/61 ~ 0.0164, b = 2/64 ~ 0.031    -> b first
    rankings = [["a", "x1", "x2", "b"], ["y1", "y2", "y3", "b"]]
    for k, first in ((1, "a"), (60, "b")):
        got = _rrf(kata, rankings, k=k)
        _check_order(got, rankings, k, f"reciprocal_rank_fusion with k = {k}")
        assert got[0] == first
    assert_close(kata.rrf_scores(rankings, k=1)["b"], 2 / 5,
                 what="rrf_scores(k=1)['b'] (rank 4 twice: 2 / (1 + 4))")


def test_rrf_ties_keep_the_order_of_first_appearance(kata):
    for rankings, expected in (
        ([["p", "q"], ["q", "p"]], ["p", "q"]),
        ([["q", "p"], ["p", "q"]], ["q", "p"]),
        ([["a"], ["b"], ["c"]], ["a", "b", "c"]),
        ([["z", "m"], ["y"], ["x", "n"]], ["z", "y", "x", "m", "n"]),
    ):
        got = _rrf(kata, rankings)
        assert got == expected, (
            f"reciprocal_rank_fusion({rankings}) = {got}, expected {expected}: equal fused "
            "scores keep the order in which the ids first appear (a stable sort)")


def test_rrf_with_k_zero(kata):
    # k = 0 is plain 1 / rank: a = 1/2 + 1/4, b = 1 + 1/2, c = 1, d = 1/3.
    rankings = [["b", "a"], ["c", "b", "d", "a"]]
    assert_close(np.array(list(kata.rrf_scores(rankings, k=0).values())),
                 np.array([1.5, 0.75, 1.0, 1 / 3]), what="rrf_scores with k = 0 (b, a, c, d)")
    assert _rrf(kata, rankings, k=0) == ["b", "c", "a", "d"]


def test_rrf_of_no_rankings_is_empty(kata):
    assert _rrf(kata, []) == [], "reciprocal_rank_fusion([]) should be []"
    assert _rrf(kata, [[], []]) == [], "reciprocal_rank_fusion([[], []]) should be []"
    assert _rrf(kata, [[], [7]]) == [7], "an empty ranking contributes nothing"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rrf_matches_exact_brute_force_on_random_rankings(kata, seed):
    rng = np.random.default_rng(seed)
    pool = [int(i) for i in rng.permutation(30)]  # integer ids, not 0..n in order
    rankings = [[pool[j] for j in rng.choice(30, size=rng.integers(1, 15), replace=False)]
                for _ in range(int(rng.integers(2, 6)))]
    k = [60, 1, 10, 3][seed]
    got = _rrf(kata, rankings, k=k)
    assert sorted(got) == sorted(set(sum(rankings, []))), (
        f"reciprocal_rank_fusion must return every id exactly once, got {got}")
    _check_order(got, rankings, k, f"reciprocal_rank_fusion on random rankings (seed {seed}, "
                                   f"k = {k})", exact_ties_in_any_order=True)
    scores = kata.rrf_scores(rankings, k=k)
    exact = _rrf_reference(rankings, k)
    assert_close(np.array([scores[d] for d in exact]), np.array([float(v) for v in
                                                                 exact.values()]),
                 what=f"rrf_scores on random rankings (seed {seed})", rtol=1e-12, atol=0.0)


# ----------------------------------------------------------------------------- MMR references

MMR_BUGS = {
    "dot": "it uses dot products, not cosine similarity: normalise the vectors",
    "q_raw": "the query is not normalised: relevance must be cosine(q, d), or the query's "
             "norm reweights lambda",
    "sum": "redundancy sums the similarities to the selected set: use the max",
    "mean": "redundancy averages the similarities to the selected set: use the max",
    "reselect": "a selected document can be picked again: mask out the selected ones",
}


def _dot(u, v):
    return sum(a * b for a, b in zip(u, v, strict=True))


def _cos(u, v):
    return _dot(u, v) / (math.sqrt(_dot(u, u)) * math.sqrt(_dot(v, v)))


def _mmr_reference(q, docs, lambda_, top_k, bug=None):
    """Greedy MMR, one pair at a time in plain Python (or with the classic `bug`)."""
    q, docs = [float(x) for x in q], [[float(x) for x in d] for d in docs]
    sim = _dot if bug == "dot" else _cos
    if bug == "q_raw":
        rel = [_dot(q, d) / math.sqrt(_dot(d, d)) for d in docs]
    else:
        rel = [sim(q, d) for d in docs]
    agg = {"sum": sum, "mean": lambda xs: sum(xs) / len(xs)}.get(bug, max)
    selected = []
    while len(selected) < min(top_k, len(docs)):
        best, best_score = None, -math.inf
        for i, d in enumerate(docs):
            if i in selected and bug != "reselect":
                continue
            if not selected:
                score = rel[i]
            else:
                score = (lambda_ * rel[i]
                         - (1 - lambda_) * agg([sim(d, docs[s]) for s in selected]))
            if score > best_score:  # strict: ties keep the lower index
                best, best_score = i, score
        selected.append(best)
    return selected


def _mmr(kata, q, docs, lambda_, top_k):
    got = kata.mmr(np.asarray(q, dtype=np.float64), np.asarray(docs, dtype=np.float64),
                   lambda_, top_k)
    assert got is not None, "mmr returned None; return the list of selected indices"
    assert isinstance(got, list), f"mmr must return a list of indices, got {type(got).__name__}"
    assert all(isinstance(i, Integral) for i in got), f"mmr must return integer indices: {got}"
    return [int(i) for i in got]


def _check_mmr(got, q, docs, lambda_, top_k, what):
    expected = _mmr_reference(q, docs, lambda_, top_k)
    if got == expected:
        return
    if len(set(got)) < len(got):
        raise AssertionError(f"{what}: {got} selects a document twice; mask out the selected "
                             "ones")
    for bug, message in MMR_BUGS.items():
        wrong = _mmr_reference(q, docs, lambda_, top_k, bug)
        if wrong != expected and got == wrong:
            raise AssertionError(f"{what}: got {got}, expected {expected}. Likely bug: "
                                 f"{message}.")
    raise AssertionError(f"{what}: got {got}, expected {expected}")


def _vectors(seed, n=12, d=5):
    """Unnormalised documents (norms from 0.1 to 30) and a query of norm ~ 10."""
    rng = np.random.default_rng(seed)
    docs = rng.normal(size=(n, d)) * rng.uniform(0.1, 30.0, size=(n, 1))
    q = rng.normal(size=d) * 10.0
    return q, docs


# ----------------------------------------------------------------------------- MMR


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmr_with_lambda_one_is_ranking_by_cosine_similarity(kata, seed):
    q, docs = _vectors(seed)
    cos = np.array([_cos(q, d) for d in docs])
    expected = [int(i) for i in np.argsort(-cos, kind="stable")[:8]]
    got = _mmr(kata, q, docs, 1.0, 8)
    if got != expected and got == [int(i) for i in np.argsort(-(docs @ q))[:8]]:
        raise AssertionError(f"mmr(lambda=1) = {got} is the ranking by dot product; with "
                             "unnormalised vectors use cosine similarity")
    assert got == expected, (
        f"mmr(lambda=1) = {got}, expected the ranking by cosine similarity {expected}")


def test_mmr_lambda_zero_picks_the_most_dissimilar_after_the_first(kata):
    # q = x axis. d0 is the most relevant. With lambda = 0 the score is -max sim to the
    # selected set: d3 (almost -x) is furthest from d0, then d2 (the y axis, cos ~ 0.1 with
    # d0 and ~ 0.05 with d3) beats d1 (cos ~ 0.995 with d0). Norms differ wildly on purpose.
    q = [1.0, 0.0]
    docs = [[1.0, 0.1], [20.0, 4.0], [0.0, 0.5], [-30.0, 1.5]]
    got = _mmr(kata, q, docs, 0.0, 4)
    _check_mmr(got, q, docs, 0.0, 4, "mmr(lambda=0)")
    assert got == [0, 3, 2, 1]


def test_mmr_first_pick_is_the_most_relevant_whatever_lambda(kata):
    q, docs = _vectors(3)
    best = int(np.argmax([_cos(q, d) for d in docs]))
    for lambda_ in (0.0, 0.3, 1.0):
        got = _mmr(kata, q, docs, lambda_, 1)
        assert got == [best], (
            f"mmr(lambda={lambda_}, top_k=1) = {got}, expected [{best}]: the first pick is the "
            "document most similar to the query (nothing is selected yet to be redundant with)")


@pytest.mark.parametrize("seed, lambda_, top_k", [(4, 0.5, 6), (5, 0.3, 12), (6, 0.7, 5),
                                                  (7, 0.9, 9), (8, 0.1, 4)])
def test_mmr_matches_a_brute_force_greedy_loop(kata, seed, lambda_, top_k):
    q, docs = _vectors(seed)
    got = _mmr(kata, q, docs, lambda_, top_k)
    _check_mmr(got, q, docs, lambda_, top_k,
               f"mmr(lambda={lambda_}, top_k={top_k}) on random vectors (seed {seed})")


def test_mmr_penalises_the_max_similarity_to_the_selected_set(kata):
    # After d0 and d1 (orthogonal) are picked, d2, nearly a copy of d1, has similarities
    # (0, ~1) to them (max ~1, mean ~0.5), and d3 has (0.49, 0.49) (max 0.49, sum 0.97): the
    # max prefers d3, the sum and the mean prefer d2.
    q = [1.2, 1.0, 0.2]
    docs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 3.0, -0.05], [1.0, 1.0, -1.5]]
    got = _mmr(kata, q, docs, 0.5, 4)
    _check_mmr(got, q, docs, 0.5, 4, "mmr(lambda=0.5) with a near-copy of a selected document")
    assert got == [0, 1, 3, 2]


def test_mmr_does_not_pick_duplicates_early(kata):
    # d1, d3 and d4 are copies of v, the most relevant document; d0 and d2 are different.
    # With lambda = 0.5 a copy of the first pick d1 has redundancy 1, so d0 and d2 come before
    # the other copies, however relevant they are.
    v, w, u = [1.0, 0.2, 0.0], [0.3, 1.0, 0.0], [0.4, 0.0, 1.0]
    docs = [w, v, u, v, v]
    q = [1.0, 0.3, 0.1]
    got = _mmr(kata, q, docs, 0.5, 5)
    _check_mmr(got, q, docs, 0.5, 5, "mmr(lambda=0.5) with duplicated documents")
    assert got[0] == 1 and set(got[1:3]) == {0, 2}, (
        f"mmr = {got}: after d1, its copies d3 and d4 (cosine 1) must wait until the distinct "
        "documents d0 and d2 are picked")


@pytest.mark.parametrize("lambda_", [1.0, 0.6])
def test_mmr_never_selects_a_document_twice(kata, lambda_):
    q, docs = _vectors(9, n=6)
    got = _mmr(kata, q, docs, lambda_, 6)
    assert sorted(got) == list(range(6)), (
        f"mmr(lambda={lambda_}, top_k=n=6) = {got}: expected every document exactly once; mask "
        "out the selected documents before each argmax")
    more = _mmr(kata, q, docs, lambda_, 10)
    assert more == got, (
        f"mmr(top_k=10) on 6 documents = {more}: stop after min(top_k, n) = 6 picks, {got}")


def test_mmr_ties_go_to_the_lower_index(kata):
    # d1 and d2 have the same cosine with q (1/sqrt(2)), so do d0 and d3 (0): d3 is d0 scaled.
    q = [1.0, 0.0]
    docs = [[0.0, 1.0], [1.0, 1.0], [1.0, -1.0], [0.0, 2.0]]
    assert _mmr(kata, q, docs, 1.0, 4) == [1, 2, 0, 3], (
        "mmr(lambda=1) with tied similarities: ties go to the lower index")
    # lambda = 0.5: after d1, d2 (orthogonal to d1) beats d0 and d3 (cos 0.707 with d1); then
    # d0 and d3 tie again (same direction) and d0 goes first.
    got = _mmr(kata, q, docs, 0.5, 4)
    _check_mmr(got, q, docs, 0.5, 4, "mmr(lambda=0.5) with ties")


def test_mmr_with_top_k_zero_returns_nothing(kata):
    q, docs = _vectors(10, n=4)
    assert _mmr(kata, q, docs, 0.5, 0) == [], "mmr(top_k=0) should be []"
    assert len(_mmr(kata, q, docs, 0.5, 3)) == 3, "mmr(top_k=3) should return 3 indices"
