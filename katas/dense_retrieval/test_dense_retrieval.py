"""Tests for the dense_retrieval kata: normalize and batched cosine top-k.

Oracles: sklearn.preprocessing.normalize for the rows, and brute force for the search:
sklearn.metrics.pairwise.cosine_similarity for the full (q, n) score matrix, ranked with a
stable np.argsort of the whole of it (ties to the lower index). Corpus norms span orders of
magnitude, so a dot-product ranking differs from the cosine one. When a ranking is wrong the
failure message names the classic bug it matches (unnormalised corpus, ascending order, the
argpartition output left unsorted, a dropped last batch, ...).
"""

import tracemalloc

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import normalize as sk_normalize

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- data


def _embeddings(seed, rows, d, spread=2.0):
    """Gaussian directions with log-normal norms: lengths differ by orders of magnitude."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, d))
    return X * rng.lognormal(0.0, spread, size=(rows, 1))


def _brute_force(queries, corpus, k):
    S = cosine_similarity(queries, corpus)  # (q, n)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]  # full sort: the oracle
    return order, np.take_along_axis(S, order, axis=1)


def _search(kata, queries, corpus, k, **kw):
    out = kata.cosine_top_k(queries, corpus, k, **kw)
    assert isinstance(out, tuple) and len(out) == 2, (
        f"cosine_top_k must return a tuple (indices, scores), got {type(out).__name__}")
    idx, sc = (np.asarray(a) for a in out)
    q = np.shape(queries)[0]
    assert idx.shape == (q, k) and sc.shape == (q, k), (
        f"cosine_top_k returned shapes {idx.shape} and {sc.shape}, expected ({q}, {k}) for "
        "both")
    assert idx.dtype == np.int64, f"indices must be int64, got {idx.dtype}"
    assert sc.dtype == np.float64, f"scores must be float64, got {sc.dtype}"
    return idx, sc


def _diagnose(idx, queries, corpus, k, batch_size):
    """Name the classic bug that the wrong indices `idx` match, or return ''."""
    S = cosine_similarity(queries, corpus)
    want = np.argsort(-S, axis=1, kind="stable")[:, :k]
    dots = np.asarray(queries) @ np.asarray(corpus).T
    if np.array_equal(idx, np.argsort(-dots, axis=1, kind="stable")[:, :k]):
        return ("this is the dot-product ranking: normalise the corpus rows too, or long "
                "documents win whatever their direction")
    if np.array_equal(idx, np.argsort(S, axis=1, kind="stable")[:, :k]):
        return ("these are the k LEAST similar documents: argpartition puts the smallest "
                "first, so partition -scores (or take the last k of the scores)")
    same_sets = all(set(a) == set(b) for a, b in zip(idx.tolist(), want.tolist(), strict=True))
    if same_sets:
        ascending = np.take_along_axis(S, idx, axis=1)
        if k > 1 and np.all(np.diff(ascending, axis=1) >= 0):
            return "the right k documents, sorted ascending: best first means descending"
        return ("the right k documents in the wrong order: argpartition leaves the k it "
                "selects unordered, so sort those k by score, descending")
    bad = np.flatnonzero(np.any(idx != want, axis=1))
    q = len(queries)
    last = q - q % batch_size if q % batch_size else q - batch_size
    if batch_size < q and bad.size and bad.min() >= last:
        return (f"only the rows of the last, partial batch (from row {last}) are wrong: does "
                "the batch loop drop it?")
    return f"the wrong documents for queries {bad[:5].tolist()}"


def _check(kata, queries, corpus, k, batch_size=1024):
    idx, sc = _search(kata, queries, corpus, k, batch_size=batch_size)
    want_idx, want_sc = _brute_force(queries, corpus, k)
    if not np.array_equal(idx, want_idx):
        raise AssertionError(
            f"cosine_top_k(k={k}, batch_size={batch_size}) indices differ from the full-sort "
            f"ranking: {_diagnose(idx, queries, corpus, k, batch_size)}")
    what = f"cosine_top_k scores (k={k}, batch_size={batch_size})"
    qn = np.linalg.norm(queries, axis=1, keepdims=True)
    if not np.allclose(sc, want_sc, rtol=1e-9, atol=1e-12) and np.allclose(
            sc, want_sc * qn, rtol=1e-9, atol=1e-12):
        what += (" [likely bug: the scores are scaled by the query norms: normalise the "
                 "queries too (the ranking survives, the cosines do not)]")
    assert_close(sc, want_sc, what=what, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- normalize


def test_normalize_matches_sklearn_unit_rows(kata):
    E = _embeddings(0, 30, 7, spread=3.0)  # norms from ~1e-4 to ~1e4
    out = kata.normalize(E)
    assert out is not None, "normalize returned None"
    assert np.asarray(out).dtype == np.float64, f"normalize must return float64, got {out.dtype}"
    assert_close(out, sk_normalize(E), what="normalize(E) (each row divided by its L2 norm)")
    assert_close(np.linalg.norm(out, axis=1), np.ones(30), what="row norms after normalize")


def test_normalize_leaves_zero_rows_zero_without_nan_or_warning(kata):
    E = np.array([[3.0, 4.0], [0.0, 0.0], [0.3, -0.4], [0.0, 0.0]])
    with np.errstate(all="raise"):
        try:
            out = kata.normalize(E)
        except FloatingPointError as err:
            raise AssertionError(
                f"normalize divided 0 by 0 on an all-zero row ({err}): divide only where the "
                "norm is positive (np.divide(..., where=norm > 0) or a guarded norm)") from None
    assert_close(out, [[0.6, 0.8], [0.0, 0.0], [0.6, -0.8], [0.0, 0.0]],
                 what="normalize with zero rows (a zero row stays zero)")


def test_normalize_accepts_integers_and_leaves_its_input_untouched(kata):
    E = np.array([[0, 5], [-2, 0], [1, 1]])
    out = kata.normalize(E)
    assert_close(out, [[0.0, 1.0], [-1.0, 0.0], [2**-0.5, 2**-0.5]],
                 what="normalize of an integer matrix (as float64)")
    F = _embeddings(1, 4, 3)
    copy = F.copy()
    kata.normalize(F)
    assert np.array_equal(F, copy), "normalize modified its input in place; return a new array"


# ----------------------------------------------------------------------------- top-k


@pytest.mark.parametrize("seed, q, n, d, k", [
    (2, 9, 50, 8, 5),
    (3, 16, 200, 4, 17),   # d small: dot-product and cosine rankings differ a lot
    (4, 5, 30, 64, 1),     # k = 1: the nearest neighbour only
    (20, 6, 1000, 16, 1),  # k = 1 in a larger corpus (the kth of argpartition is k - 1)
    (5, 3, 12, 6, 12),     # k = n: the whole corpus, ranked
])
def test_top_k_matches_a_full_sort_of_the_cosine_matrix(kata, seed, q, n, d, k):
    queries = _embeddings(seed, q, d)
    corpus = _embeddings(seed + 100, n, d)
    _check(kata, queries, corpus, k)


def test_scores_are_cosines_even_for_long_query_vectors(kata):
    queries = _embeddings(6, 6, 5) * 1e3  # long queries: a dot product would exceed 1
    corpus = _embeddings(7, 40, 5)
    _, sc = _search(kata, queries, corpus, 10)
    assert np.all(np.abs(sc) <= 1.0 + 1e-12), (
        f"scores up to {np.abs(sc).max():.3g}: a cosine lies in [-1, 1]; normalise the queries "
        "and the corpus")
    _check(kata, queries, corpus, 10)


def test_each_row_is_sorted_best_first(kata):
    # A large k: numpy's argpartition can leave a small top-k in order by luck, not this one.
    queries, corpus = _embeddings(8, 8, 6), _embeddings(9, 2000, 6)
    _, sc = _search(kata, queries, corpus, 400)
    assert np.all(np.diff(sc, axis=1) <= 0), (
        "scores are not in descending order along each row: np.argpartition leaves the k it "
        "selects unordered, so sort them (best first)")
    _check(kata, queries, corpus, 400)


@pytest.mark.parametrize("batch_size", [1, 4, 7, 10, 11, 64])
def test_every_batch_size_gives_the_same_answer_last_partial_batch_included(kata, batch_size):
    queries, corpus = _embeddings(10, 10, 5), _embeddings(11, 60, 5)  # 10 = 2*4 + 2 = 7 + 3
    _check(kata, queries, corpus, 6, batch_size=batch_size)


def test_scores_one_batch_at_a_time(kata):
    # 3000 queries x 2000 documents: the full score matrix alone is 48 MB of float64; a block
    # of 100 rows is 1.6 MB. tracemalloc sees numpy's buffers.
    queries, corpus = _embeddings(12, 3000, 4), _embeddings(13, 2000, 4)
    full_mb = 3000 * 2000 * 8 / 2**20
    tracemalloc.start()
    try:
        idx, _ = kata.cosine_top_k(queries, corpus, 5, batch_size=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / 2**20 < full_mb / 4, (
        f"cosine_top_k peaked at {peak / 2**20:.1f} MB with batch_size=100, the (q, n) score "
        f"matrix is {full_mb:.0f} MB: score batch_size queries at a time, not all at once")
    want, _ = _brute_force(queries[::500], corpus, 5)
    assert np.array_equal(np.asarray(idx)[::500], want), "wrong indices on the large input"


def test_only_the_k_selected_scores_are_sorted(kata, monkeypatch):
    queries, corpus = _embeddings(14, 8, 5), _embeddings(15, 500, 5)
    k, sorted_lengths = 7, []

    def spy(name):
        original = getattr(np, name)

        def wrapped(a, *args, **kwargs):
            keys = np.asarray(a)
            axis = kwargs.get("axis", args[0] if args else -1)
            if name == "lexsort":
                sorted_lengths.append(keys.shape[-1] if axis == -1 else keys.shape[1:][axis])
            elif axis is not None and keys.ndim:
                sorted_lengths.append(keys.shape[axis])
            else:
                sorted_lengths.append(keys.size)
            return original(a, *args, **kwargs)
        return wrapped

    for name in ("argsort", "sort", "lexsort"):
        monkeypatch.setattr(np, name, spy(name))
    _search(kata, queries, corpus, k)
    monkeypatch.undo()
    assert max(sorted_lengths, default=0) <= k, (
        f"a sort over {max(sorted_lengths)} scores per query: select the top k with "
        f"np.argpartition (O(n)) and sort only those k = {k}")
    _check(kata, queries, corpus, k)


def test_equal_scores_are_ordered_by_lower_index(kata):
    # Scaled copies of the axes: after normalisation every cosine is exact, and the ties are
    # exact ties. The query (0.6, 0.8, 0): docs on axis 1 score 0.8, on axis 0 score 0.6.
    axis = [0, 1, 2, 1, 0, 1, 2, 0, 1]
    scale = [1.0, 2.0, 0.5, 3.0, 7.0, 0.25, 1.5, 0.1, 9.0]
    corpus = np.zeros((9, 3))
    corpus[np.arange(9), axis] = scale
    idx, sc = _search(kata, np.array([[0.6, 0.8, 0.0]]), corpus, 7)
    assert_close(sc[0], [0.8] * 4 + [0.6] * 3, what="tied scores for the query (0.6, 0.8, 0)")
    assert idx[0].tolist() == [1, 3, 5, 8, 0, 4, 7], (
        f"query (0.6, 0.8, 0): got indices {idx[0].tolist()}, expected [1, 3, 5, 8, 0, 4, 7]: "
        "equal scores go to the lower corpus index first (sort by (-score, index))")
    idx, sc = _search(kata, np.array([[0.0, -5.0, 2.0]]), corpus, 6)
    # (0, -5, 2) prefers axis 2 (cos 2/sqrt(29)), then axis 0 (cos 0), then axis 1 (cos
    # -5/sqrt(29)): the sixth place is a tie among the axis-1 docs, and any of them may fill it.
    c = 2 / 29**0.5
    assert idx[0, :5].tolist() == [2, 6, 0, 4, 7] and idx[0, 5] in (1, 3, 5, 8), (
        f"query (0, -5, 2): got indices {idx[0].tolist()}, expected [2, 6, 0, 4, 7] then one "
        "of the tied 1, 3, 5, 8: equal scores go to the lower corpus index first")
    assert_close(sc[0], [c, c, 0.0, 0.0, 0.0, -2.5 * c], what="tied scores for (0, -5, 2)")


def test_zero_vectors_score_zero_instead_of_nan(kata):
    corpus = _embeddings(16, 8, 4)
    corpus[[2, 5]] = 0.0
    queries = np.vstack([np.zeros(4), _embeddings(17, 2, 4)])
    with np.errstate(divide="ignore", invalid="ignore"):
        idx, sc = _search(kata, queries, corpus, 8)
    assert np.all(np.isfinite(sc)), (
        "NaN scores with zero vectors in the queries or the corpus: a zero row must stay zero "
        "when normalised, so its cosine with anything is 0")
    assert_close(sc[0], np.zeros(8), what="scores of an all-zero query")
    assert sorted(idx[0].tolist()) == list(range(8)), (
        f"an all-zero query with k = n must return every document once, got {idx[0].tolist()}")
    for row in (1, 2):
        got = dict(zip(idx[row].tolist(), sc[row].tolist(), strict=True))
        assert got[2] == 0.0 and got[5] == 0.0, (
            f"query {row}: zero corpus rows must score exactly 0, got {got[2]!r}, {got[5]!r}")
    _check(kata, queries[1:], corpus, 8)


@pytest.mark.parametrize("k", [0, -1, 13])
def test_k_outside_one_to_n_raises(kata, k):
    queries, corpus = _embeddings(18, 3, 4), _embeddings(19, 12, 4)
    with pytest.raises(ValueError):
        kata.cosine_top_k(queries, corpus, k)
