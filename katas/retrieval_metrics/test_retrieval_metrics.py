"""Tests for the retrieval_metrics kata: recall@k, precision@k, MRR, nDCG@k and AP.

Oracles: sklearn.metrics.ndcg_score and average_precision_score on y_true / y_score arrays
built from a full ranking (y_score falls with the rank), sklearn's
label_ranking_average_precision_score (which is MRR when each query has one relevant
document), brute force over 0/1 hit matrices for recall and precision, and hand-computed
examples. When a value is wrong, the failure message names the classic bug it matches
(recall over k, precision over the number retrieved, 0-based ranks, log2(i) discounts, IDCG
from the retrieved documents only, AP over the hits retrieved, ...).
"""

import math

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    label_ranking_average_precision_score,
    ndcg_score,
)

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- helpers


def _check(actual, expected, what, suspects=None):
    """assert_close on a Python float, naming the classic bug whose value `actual` matches."""
    assert actual is not None, f"{what}: got None; did you forget to return the metric?"
    assert isinstance(actual, float), (
        f"{what}: expected a Python float, got {type(actual).__name__}; wrap it in float(...)")
    if not math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12):
        for hint, value in (suspects or {}).items():
            if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12) and math.isclose(
                    actual, value, rel_tol=1e-9, abs_tol=1e-12):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(actual, expected, what=what, rtol=1e-9, atol=1e-12)


def _random_case(seed, n_docs=40, n_ranked=25, n_relevant=8):
    """A universe of int ids, a ranking of some of them, and relevant docs both in and out."""
    rng = np.random.default_rng(seed)
    ranked = rng.permutation(n_docs)[:n_ranked].tolist()
    relevant = set(rng.choice(n_docs, size=n_relevant, replace=False).tolist())
    return relevant, ranked


def _hit_vector(relevant, ranked):
    return np.array([doc in relevant for doc in ranked], dtype=float)


def _full_ranking_scores(ranked):
    """y_score for sklearn: strictly decreasing with the rank (no ties)."""
    return np.arange(len(ranked), 0, -1, dtype=float)


def _ap_suspects(relevant, ranked):
    hits = _hit_vector(relevant, ranked)
    prec = np.cumsum(hits) / np.arange(1, hits.size + 1)
    s = float(np.sum(prec * hits))
    out = {}
    if hits.sum():
        out["AP divided by the number of relevant documents retrieved; divide by the number "
            "of relevant documents, |relevant|"] = s / hits.sum()
    out["AP averages precision@i over every rank, not only the ranks of relevant hits"] = (
        float(np.sum(prec)) / len(relevant))
    off_by_one = np.cumsum(hits) / np.arange(2, hits.size + 2)  # hits so far / (i + 1)
    out["precision@i divides by i + 1; ranks start at 1, so precision@i = hits so far / i"] = (
        float(np.sum(off_by_one * hits)) / len(relevant))
    return out


# ----------------------------------------------------------------------------- hand-made

# ranked: d3 d1 d7 d2 d9; relevant: d1 (rank 2), d2 (rank 4) and d5 (never retrieved).
RANKED = ["d3", "d1", "d7", "d2", "d9"]
RELEVANT = {"d1", "d2", "d5"}


@pytest.mark.parametrize("k, expected", [(1, 0.0), (2, 1 / 3), (3, 1 / 3), (4, 2 / 3),
                                         (5, 2 / 3), (10, 2 / 3)])
def test_recall_at_k_divides_by_the_number_of_relevant_documents(kata, k, expected):
    hits = round(expected * 3)
    _check(kata.recall_at_k(RELEVANT, RANKED, k), expected, f"recall@{k} by hand", {
        "recall divides by k; it divides by the number of relevant documents": hits / k,
        "recall divides by the number retrieved": hits / min(k, len(RANKED)),
    })


@pytest.mark.parametrize("k, expected", [(1, 0.0), (2, 1 / 2), (3, 1 / 3), (4, 2 / 4),
                                         (5, 2 / 5), (8, 2 / 8), (10, 2 / 10)])
def test_precision_at_k_divides_by_k_even_past_the_end_of_the_ranking(kata, k, expected):
    hits = round(expected * k)
    _check(kata.precision_at_k(RELEVANT, RANKED, k), expected, f"precision@{k} by hand", {
        f"precision@{k} divides by the {len(RANKED)} documents retrieved; it divides by k "
        "(the missing slots are misses)": hits / min(k, len(RANKED)),
        "precision divides by the number of relevant documents (that is recall)": hits / 3,
    })


def test_reciprocal_rank_uses_one_based_ranks(kata):
    _check(kata.reciprocal_rank(RELEVANT, RANKED), 0.5, "reciprocal rank, first hit at rank 2",
           {"0-based rank: the first relevant document is at rank 2, so RR = 1/2": 1.0,
            "RR of the last relevant hit, not the first": 0.25})
    _check(kata.reciprocal_rank({"d3"}, RANKED), 1.0, "reciprocal rank, hit at rank 1")
    _check(kata.reciprocal_rank({"d9", "d7"}, RANKED), 1 / 3, "reciprocal rank, hit at rank 3")
    _check(kata.reciprocal_rank({"d5"}, RANKED), 0.0, "reciprocal rank with no relevant hit")


def test_mrr_averages_over_every_query_counting_misses_as_zero(kata):
    relevant_lists = [{"d1"}, {"d3", "d9"}, {"nope"}, ["d7", "d2"]]
    ranked_lists = [RANKED, RANKED, RANKED, RANKED]
    expected = (1 / 2 + 1 + 0 + 1 / 3) / 4
    _check(kata.mrr(relevant_lists, ranked_lists), expected, "MRR over 4 queries", {
        "a query with no relevant hit was skipped; it counts as 0 in the mean":
            (1 / 2 + 1 + 1 / 3) / 3,
        "the reciprocal ranks were summed, not averaged": 1 / 2 + 1 + 0 + 1 / 3,
    })
    _check(kata.mrr([{"d7"}], [RANKED]), 1 / 3, "MRR of a single query")


def test_ndcg_at_k_by_hand_with_linear_gains(kata):
    rel = {"a": 3, "b": 2, "c": 3, "d": 0, "e": 1}
    ranked = ["b", "a", "x", "e"]  # "x" is unknown: gain 0; "c" (gain 3) is never retrieved
    dcg = 2 + 3 / math.log2(3)
    idcg = 3 + 3 / math.log2(3) + 2 / 2  # from all the gains: 3, 3, 2
    _check(kata.ndcg_at_k(rel, ranked, 3), dcg / idcg, "nDCG@3 by hand", {
        "IDCG sorts only the retrieved gains; it must use every gain in relevances, so a "
        "missed relevant document lowers the score": dcg / (3 + 2 / math.log2(3)),
        "the gain is 2^rel - 1; use the linear gain rel (as sklearn's ndcg_score)":
            (3 + 7 / math.log2(3)) / (7 + 7 / math.log2(3) + 3 / 2),
        "the discount is log2(i + 2); rank i = 1 has discount log2(2) = 1":
            (2 / math.log2(3) + 3 / 2) / (3 / math.log2(3) + 3 / 2 + 2 / math.log2(5)),
        "IDCG is not cut at k: the ideal DCG takes the best k gains only":
            dcg / (idcg + 1 / math.log2(5)),
    })


def test_dcg_discounts_rank_i_by_log2_of_i_plus_one(kata):
    _check(kata.dcg([3, 2, 0, 1]), 3 + 2 / math.log2(3) + 1 / math.log2(5), "dcg([3, 2, 0, 1])",
           {"the first rank is discounted: rank i = 1 has log2(i + 1) = 1":
                3 / math.log2(3) + 2 / 2 + 1 / math.log2(6)})
    _check(kata.dcg([5.0]), 5.0, "dcg of a single gain (rank 1 is not discounted)")
    _check(kata.dcg([]), 0.0, "dcg of an empty list")


def test_average_precision_by_hand_divides_by_all_relevant_documents(kata):
    # hits at ranks 2 and 4: precision@2 = 1/2, precision@4 = 2/4; d5 is never retrieved.
    _check(kata.average_precision(RELEVANT, RANKED), (1 / 2 + 2 / 4) / 3, "AP by hand",
           _ap_suspects(RELEVANT, RANKED))
    _check(kata.average_precision({"d3", "d1"}, RANKED), 1.0, "AP with the relevant on top")


# ----------------------------------------------------------------------------- oracles


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 10, 25, 30])
def test_recall_and_precision_match_brute_force(kata, seed, k):
    relevant, ranked = _random_case(seed)
    hits = _hit_vector(relevant, ranked)[:k].sum()
    _check(kata.recall_at_k(relevant, ranked, k), hits / len(relevant),
           f"recall@{k} (seed {seed})",
           {"recall divides by k; it divides by the number of relevant documents": hits / k})
    _check(kata.precision_at_k(relevant, ranked, k), hits / k, f"precision@{k} (seed {seed})",
           {"precision divides by the number retrieved; it divides by k":
                hits / min(k, len(ranked))})


@pytest.mark.parametrize("seed", [3, 4])
def test_mrr_matches_sklearn_label_ranking_ap_with_one_relevant_per_query(kata, seed):
    # With exactly one relevant document per query, LRAP is the mean reciprocal rank.
    rng = np.random.default_rng(seed)
    n_queries, n_docs = 12, 15
    y_true = np.zeros((n_queries, n_docs), dtype=int)
    y_true[np.arange(n_queries), rng.integers(0, n_docs, n_queries)] = 1
    y_score = rng.normal(size=(n_queries, n_docs))
    ranked_lists = [np.argsort(-row, kind="stable").tolist() for row in y_score]
    relevant_lists = [set(np.flatnonzero(row).tolist()) for row in y_true]
    expected = label_ranking_average_precision_score(y_true, y_score)
    _check(kata.mrr(relevant_lists, ranked_lists), expected, f"MRR (seed {seed})", {
        "a query with no relevant hit was skipped": expected,  # never: all queries have a hit
        "the reciprocal ranks were summed, not averaged": expected * n_queries,
    })


@pytest.mark.parametrize("seed", [5, 6, 7])
@pytest.mark.parametrize("k", [1, 2, 5, 12, 30])
def test_ndcg_at_k_matches_sklearn_on_a_full_ranking(kata, seed, k):
    rng = np.random.default_rng(seed)
    n_docs = 30
    gains = rng.choice([0, 0, 0, 1, 1, 2, 3], size=n_docs)  # mostly irrelevant, graded
    names = [f"doc{j}" for j in range(n_docs)]
    relevances = {name: int(g) for name, g in zip(names, gains, strict=True) if g > 0}
    ranked = [names[j] for j in rng.permutation(n_docs)]
    y_true = np.array([[relevances.get(doc, 0) for doc in ranked]])
    expected = float(ndcg_score(y_true, _full_ranking_scores(ranked)[None], k=k))
    top = y_true[0, :k]
    disc = np.log2(np.arange(2, top.size + 2))
    ideal = np.sort(y_true[0])[::-1][:k]
    retrieved_idcg = np.sum(np.sort(top)[::-1] / disc)
    suspects = {
        "IDCG sorts only the retrieved top-k gains; it must use every gain in relevances":
            float(np.sum(top / disc) / retrieved_idcg) if retrieved_idcg else 0.0,
        "the gain is 2^rel - 1; use the linear gain rel (as sklearn's ndcg_score)":
            float(np.sum((2.0**top - 1) / disc) / np.sum((2.0**ideal - 1) / disc)),
    }
    _check(kata.ndcg_at_k(relevances, ranked, k), expected, f"nDCG@{k} (seed {seed})",
           suspects)


@pytest.mark.parametrize("seed", [8, 9, 10, 11])
def test_average_precision_matches_sklearn_on_a_full_ranking(kata, seed):
    rng = np.random.default_rng(seed)
    n_docs = 30
    ranked = rng.permutation(n_docs).tolist()
    relevant = set(rng.choice(n_docs, size=int(rng.integers(1, 10)), replace=False).tolist())
    y_true = _hit_vector(relevant, ranked)
    expected = float(average_precision_score(y_true, _full_ranking_scores(ranked)))
    _check(kata.average_precision(relevant, ranked), expected, f"AP (seed {seed})",
           _ap_suspects(relevant, ranked))


@pytest.mark.parametrize("seed", [12, 13])
def test_average_precision_counts_relevant_documents_never_retrieved(kata, seed):
    # Only the first 15 of 30 documents are retrieved; sklearn sees the full ranking, in
    # which the unretrieved relevant documents come last and add (almost) nothing.
    relevant, ranked = _random_case(seed, n_docs=30, n_ranked=15, n_relevant=8)
    missed = [d for d in relevant if d not in ranked]
    assert missed  # the premise
    ap = kata.average_precision(relevant, ranked)
    hits = _hit_vector(relevant, ranked)
    expected = float(np.sum(np.cumsum(hits) / np.arange(1, 16) * hits)) / len(relevant)
    _check(ap, expected, f"AP with {len(missed)} relevant documents never retrieved",
           _ap_suspects(relevant, ranked))
    full = ranked + [d for d in range(30) if d not in ranked]
    sk = float(average_precision_score(_hit_vector(relevant, full), _full_ranking_scores(full)))
    assert ap <= sk + 1e-12, f"AP of the truncated ranking ({ap:.4f}) exceeds the full one"


# ----------------------------------------------------------------------------- edge cases


def test_ndcg_uses_all_gains_for_idcg_and_is_zero_when_nothing_is_relevant(kata):
    ranked = [1, 2, 3]
    # The single relevant document (gain 1, IDCG = 1) is not retrieved: nDCG = 0, not NaN.
    _check(kata.ndcg_at_k({9: 1}, ranked, 3), 0.0,
           "nDCG@3 when the only relevant document is missed",
           {"IDCG from the retrieved documents only is 0 here; IDCG uses every gain": 1.0})
    # IDCG = 1 exactly: the document retrieved at rank 1 scores 1, at rank 2 1 / log2(3).
    _check(kata.ndcg_at_k({1: 1}, ranked, 2), 1.0, "nDCG@2 with a gain-1 hit at rank 1")
    _check(kata.ndcg_at_k({2: 1, 7: 0}, ranked, 3), 1 / math.log2(3),
           "nDCG@3 with a gain-1 hit at rank 2")
    for rel in ({}, {5: 0, 1: 0}):
        _check(kata.ndcg_at_k(rel, ranked, 2), 0.0,
               f"nDCG@2 with relevances {rel} (IDCG = 0 gives 0.0, not NaN or an error)")


def test_ndcg_treats_unknown_documents_as_gain_zero_and_handles_short_rankings(kata):
    rel = {"a": 2, "b": 1}
    _check(kata.ndcg_at_k(rel, ["z", "a"], 5), (2 / math.log2(3)) / (2 + 1 / math.log2(3)),
           "nDCG@5 of ['z', 'a'] ('z' is unknown: gain 0; only 2 documents retrieved)",
           {"an unknown document should have gain 0":
                (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))})
    _check(kata.ndcg_at_k(rel, ["a", "b"], 10), 1.0, "nDCG@10 of the ideal ranking")
    _check(kata.ndcg_at_k(rel, [], 3), 0.0, "nDCG@3 of an empty ranking")


def test_no_relevant_documents_gives_zero(kata):
    for name in ("recall_at_k", "precision_at_k"):
        _check(getattr(kata, name)(set(), RANKED, 3), 0.0, f"{name} with nothing relevant")
    _check(kata.average_precision([], RANKED), 0.0, "AP with nothing relevant")
    _check(kata.reciprocal_rank(set(), RANKED), 0.0, "reciprocal rank with nothing relevant")
    _check(kata.mrr([set(), set()], [RANKED, []]), 0.0, "MRR with nothing relevant")


def test_empty_ranking_gives_zero(kata):
    _check(kata.recall_at_k(RELEVANT, [], 5), 0.0, "recall@5 of an empty ranking")
    _check(kata.precision_at_k(RELEVANT, [], 5), 0.0, "precision@5 of an empty ranking")
    _check(kata.average_precision(RELEVANT, []), 0.0, "AP of an empty ranking")


def test_duplicate_relevant_ids_count_once_and_any_hashable_id_works(kata):
    relevant = ["d1", "d1", "d2", "d5", "d2"]  # 3 distinct relevant documents
    _check(kata.recall_at_k(relevant, RANKED, 4), 2 / 3, "recall@4 with duplicate relevant ids",
           {"duplicates in `relevant` were counted: use set(relevant)": 2 / 5})
    _check(kata.average_precision(relevant, RANKED), 1 / 3, "AP with duplicate relevant ids",
           {"duplicates in `relevant` were counted: use set(relevant)": 1 / 5})
    ranked = [(0, 1), (2, 3), (4, 5)]  # tuples as ids
    _check(kata.precision_at_k({(2, 3)}, ranked, 2), 0.5, "precision@2 with tuple ids")
    _check(kata.recall_at_k({(2, 3)}, np.array([7, 2, 3]), 1), 0.0,
           "recall@1 with a numpy ranking")


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one_raises(kata, k):
    cases = (("recall_at_k", (RELEVANT, RANKED)), ("precision_at_k", (RELEVANT, RANKED)),
             ("ndcg_at_k", ({"d1": 1}, RANKED)))
    for name, args in cases:
        with pytest.raises(ValueError):
            getattr(kata, name)(*args, k)


def test_mrr_rejects_mismatched_or_empty_query_lists(kata):
    with pytest.raises(ValueError):
        kata.mrr([{"d1"}, {"d2"}], [RANKED])
    with pytest.raises(ValueError):
        kata.mrr([{"d1"}], [RANKED, RANKED])
    with pytest.raises(ValueError):
        kata.mrr([], [])
