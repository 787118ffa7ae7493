"""Tests for the knn kata: pairwise squared distances, neighbour search, vote and mean.

Oracles: scipy.spatial.distance.cdist(metric="sqeuclidean") for the distances; a brute-force
loop (exact distances on integer points, ties sorted by index) for the neighbours and the
vote where ties abound; sklearn's KNeighborsClassifier / KNeighborsRegressor
(algorithm="brute") on continuous random data, where distance ties do not occur.
"""

import ast
import inspect
import textwrap
from collections import Counter

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from dojo.testing import assert_close

LABELS = np.array([3, 7, 9])  # not 0..C-1: argmax over bincount would return the wrong label


# ----------------------------------------------------------------------------- references


def _continuous(seed, n=60, m=25, d=4, labels=LABELS):
    """Gaussian blobs, one per label, so votes are informative; no exact distance ties."""
    rng = np.random.default_rng(seed)
    y = rng.choice(labels, size=n)
    centres = {c: rng.normal(scale=2.0, size=d) for c in labels}
    X = np.stack([centres[c] for c in y]) + rng.normal(size=(n, d))
    X_test = rng.normal(scale=2.0, size=(m, d))
    return X, y, X_test


def _integer_grid(seed, n=80, m=30, d=2, labels=LABELS):
    """Integer points in [-2, 2]^d: distances are exact in float64 and ties are everywhere."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
    X_test = rng.integers(-2, 3, size=(m, d)).astype(np.float64)
    return X, rng.choice(labels, size=n), X_test


def _brute_neighbours(X_train, x, k):
    """The k nearest by a loop: sort the (distance, index) pairs."""
    pairs = sorted((sum((a - b) ** 2 for a, b in zip(row, x, strict=False)), i)
                   for i, row in enumerate(X_train))
    return [i for _, i in pairs[:k]]


def _brute_predict(X_train, y_train, X_test, k):
    out = []
    for x in X_test:
        counts = Counter(y_train[i] for i in _brute_neighbours(X_train, x, k))
        top = max(counts.values())
        out.append(min(c for c, v in counts.items() if v == top))
    return np.array(out)


def _neighbours(kata, X_train, X_test, k):
    nn = kata.k_nearest(X_train, X_test, k)
    assert nn is not None, "k_nearest returned None; return the (m, k) index array"
    nn = np.asarray(nn)
    assert nn.shape == (len(X_test), k), (
        f"k_nearest returned shape {nn.shape}, expected (m, k) = {(len(X_test), k)}: one row "
        "per test point, exactly k training indices (not k + 1, not k - 1)"
    )
    assert nn.dtype.kind in "iu", f"k_nearest must return integer indices, got {nn.dtype}"
    return nn


# ----------------------------------------------------------------------------- pairwise_sq_dists


@pytest.mark.parametrize("seed, m, n, d", [(0, 7, 11, 3), (1, 20, 5, 9), (2, 1, 4, 1)])
def test_pairwise_sq_dists_matches_cdist_sqeuclidean_with_rows_from_a(kata, seed, m, n, d):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(m, d)), rng.normal(scale=3.0, size=(n, d)) + 1.0
    D = kata.pairwise_sq_dists(A, B)
    assert D is not None, "pairwise_sq_dists returned None"
    D = np.asarray(D)
    assert D.shape == (m, n), (
        f"pairwise_sq_dists(A {A.shape}, B {B.shape}) has shape {D.shape}, expected (m, n) = "
        f"{(m, n)}: rows index A, columns index B"
        + (" (A and B are swapped)" if D.shape == (n, m) else "")
    )
    want = cdist(A, B, metric="sqeuclidean")
    if np.allclose(D, np.sqrt(want), rtol=1e-9, atol=1e-9):
        raise AssertionError("pairwise_sq_dists returned Euclidean distances: do not take sqrt")
    assert_close(D, want, what="pairwise_sq_dists(A, B) against cdist(sqeuclidean)",
                 rtol=1e-9, atol=1e-9)


def test_pairwise_sq_dists_accepts_lists(kata):
    D = kata.pairwise_sq_dists([[0.0, 0.0], [1.0, 2.0]], [[3.0, 4.0]])
    assert_close(D, np.array([[25.0], [8.0]]), what="pairwise_sq_dists of nested lists")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_sq_dists_is_never_negative_for_identical_points_far_from_the_origin(kata, seed):
    # ||a||^2 - 2 a.a + ||a||^2 with ||a||^2 ~ 3e6 cancels to about +-1e-9, not to 0.
    A = np.random.default_rng(seed).normal(size=(40, 3)) + 1e3
    D = np.asarray(kata.pairwise_sq_dists(A, A))
    assert D.shape == (40, 40), f"pairwise_sq_dists(A, A) has shape {D.shape}, expected (40, 40)"
    assert np.all(D >= 0), (
        f"pairwise_sq_dists has negative entries (min {D.min():.3g}): the expansion "
        "||a||^2 - 2 a.b + ||b||^2 cancels to tiny negatives; clip at 0 (np.maximum(D, 0))"
    )
    assert_close(np.diag(D), np.zeros(40), what="distance of each point to itself", atol=1e-6)
    assert_close(D, cdist(A, A, metric="sqeuclidean"), what="pairwise_sq_dists(A, A) off the "
                 "diagonal", rtol=1e-6, atol=1e-6)


def _loops_in(func):
    """Names of the Python loop constructs in func's source (comprehensions included)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    loops = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp,
             ast.GeneratorExp)
    found = {type(node).__name__ for node in ast.walk(tree) if isinstance(node, loops)}
    found |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
              and node.id in ("vectorize", "map", "apply_along_axis", "fromiter")}
    found |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
              and node.attr in ("vectorize", "apply_along_axis", "fromiter")}
    return sorted(found)


def test_pairwise_sq_dists_is_vectorised_and_right_on_large_inputs(kata):
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(2000, 8)), rng.normal(size=(600, 8))
    assert_close(kata.pairwise_sq_dists(A, B), cdist(A, B, metric="sqeuclidean"),
                 what="pairwise_sq_dists on (2000, 8) x (600, 8)", rtol=1e-9, atol=1e-9)
    loops = _loops_in(kata.pairwise_sq_dists)
    assert not loops, (
        f"pairwise_sq_dists uses Python loops ({', '.join(loops)}): compute it with one matrix "
        "product and broadcast row norms, ||a||^2 - 2 A @ B.T + ||b||^2"
    )


# ----------------------------------------------------------------------------- k_nearest


@pytest.mark.parametrize("seed, k", [(4, 1), (5, 3), (6, 8), (7, 80)])
def test_k_nearest_sorts_by_distance_then_by_training_index(kata, seed, k):
    X, _, X_test = _integer_grid(seed)
    nn = _neighbours(kata, X, X_test, k)
    want = np.array([_brute_neighbours(X, x, k) for x in X_test])
    if not np.array_equal(nn, want) and np.array_equal(np.sort(nn, axis=1), np.sort(want, axis=1)):
        raise AssertionError(
            "k_nearest found the right neighbours in the wrong order: sort by distance, "
            "nearest first, ties by increasing training index"
        )
    if not np.array_equal(nn, want):
        bad = int(np.flatnonzero((nn != want).any(axis=1))[0])
        raise AssertionError(
            f"k_nearest row {bad} is {nn[bad].tolist()}, expected {want[bad].tolist()}. On "
            "integer points many distances tie: a tie goes to the lower training index "
            "(np.argsort(..., kind='stable'); the default sort and np.argpartition scramble "
            "ties)"
        )


def test_k_nearest_measures_distance_to_the_training_points_not_between_test_points(kata):
    X_train = np.array([[0.0], [10.0], [20.0], [30.0]])
    X_test = np.array([[29.0], [1.0], [18.0]])
    nn = _neighbours(kata, X_train, X_test, 2)
    assert_close(nn, np.array([[3, 2], [0, 1], [2, 1]]),
                 what="k_nearest on a line (row i: the 2 training indices nearest X_test[i])")


@pytest.mark.parametrize("k", [0, -1, 6])
def test_k_nearest_rejects_k_outside_one_to_n(kata, k):
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(ValueError):
        kata.k_nearest(X, X[:2], k)


def test_k_nearest_accepts_k_equal_to_n(kata):
    X = np.arange(10.0).reshape(5, 2)
    nn = _neighbours(kata, X, X[[4]], 5)
    assert_close(nn, np.array([[4, 3, 2, 1, 0]]), what="k_nearest with k = n")


# ----------------------------------------------------------------------------- knn_predict


@pytest.mark.parametrize("seed, k", [(8, 1), (9, 4), (10, 7), (11, 15)])
def test_knn_predict_matches_sklearn_on_continuous_data(kata, seed, k):
    X, y, X_test = _continuous(seed)
    pred = kata.knn_predict(X, y, X_test, k)
    assert pred is not None, "knn_predict returned None"
    pred = np.asarray(pred)
    want = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X, y).predict(X_test)
    assert pred.shape == want.shape, f"knn_predict shape {pred.shape}, expected {want.shape}"
    if not set(np.unique(pred)) <= set(LABELS):
        raise AssertionError(
            f"knn_predict returned labels {np.unique(pred).tolist()} but the labels are "
            f"{LABELS.tolist()}: map the winning code back to its label (labels[argmax])"
        )
    assert_close(pred, want, what=f"knn_predict with k={k} (sklearn KNeighborsClassifier)")


@pytest.mark.parametrize("seed, k", [(12, 2), (13, 4), (14, 6), (15, 9)])
def test_knn_predict_matches_brute_force_when_distances_and_votes_tie(kata, seed, k):
    X, y, X_test = _integer_grid(seed)
    pred = np.asarray(kata.knn_predict(X, y, X_test, k))
    want = _brute_predict(X, y, X_test, k)
    assert_close(pred, want, what=f"knn_predict with k={k} on integer points (distance ties "
                 "to the lower index, vote ties to the smallest label)")


def test_knn_predict_breaks_a_tied_vote_in_favour_of_the_smallest_label(kata):
    X_train = np.array([[0.0], [1.0], [-1.0], [2.0], [-2.0]])
    y_train = np.array([9, 3, 7, 7, 3])
    X_test = np.array([[0.0], [0.5], [-0.4]])
    # k = 2: {9, 3} -> 3, {3, 9} -> 3, {9, 7} -> 7. k = 4: {9, 3, 7, 7} -> 7 (a real majority).
    got2 = np.asarray(kata.knn_predict(X_train, y_train, X_test, 2))
    if np.array_equal(got2, [9, 9, 9]):
        raise AssertionError("knn_predict broke a tied vote by the largest label; the "
                             "smallest label wins a tie")
    assert_close(got2, np.array([3, 3, 7]), what="knn_predict with a tied vote (k=2)")
    assert_close(np.asarray(kata.knn_predict(X_train, y_train, X_test[:1], 4)), np.array([7]),
                 what="knn_predict with k=4 (two votes for 7 beat one each for 3 and 9)")


def test_knn_predict_breaks_a_distance_tie_by_the_lower_training_index(kata):
    # Rows 1 and 2 are the same point; with k = 1 the lower index (label 9) is the neighbour.
    X_train = np.array([[5.0, 5.0], [1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])
    y_train = np.array([3, 9, 3, 7])
    got = np.asarray(kata.knn_predict(X_train, y_train, np.array([[1.0, 1.0], [0.0, 0.0]]), 1))
    assert_close(got, np.array([9, 9]), what="knn_predict with k=1 and two training points at "
                 "the same distance (the lower training index wins)")


def test_knn_predict_with_k_one_on_the_training_set_returns_the_training_labels(kata):
    X, y, _ = _continuous(16, n=50)
    assert_close(np.asarray(kata.knn_predict(X, y, X, 1)), y,
                 what="knn_predict(X, y, X, k=1) (each point is its own nearest neighbour)")


def test_knn_predict_keeps_the_label_dtype_for_strings(kata):
    X, y_int, X_test = _continuous(17, labels=np.array([0, 1, 2]))
    names = np.array(["cat", "dog", "emu"])
    pred = np.asarray(kata.knn_predict(X, names[y_int], X_test, 5))
    want = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, names[y_int])
    assert pred.dtype.kind == "U", f"knn_predict must return labels of y's dtype, got {pred.dtype}"
    assert pred.tolist() == want.predict(X_test).tolist(), (
        "knn_predict with string labels differs from sklearn"
    )


# ----------------------------------------------------------------------------- knn_regress


@pytest.mark.parametrize("seed, k", [(18, 1), (19, 3), (20, 10)])
def test_knn_regress_matches_sklearn_on_continuous_data(kata, seed, k):
    X, _, X_test = _continuous(seed, n=45, m=17)
    y = np.random.default_rng(seed + 100).normal(size=45) * 3.0 + 2.0
    got = kata.knn_regress(X, y, X_test, k)
    want = KNeighborsRegressor(n_neighbors=k, algorithm="brute").fit(X, y).predict(X_test)
    assert got is not None, "knn_regress returned None"
    assert np.shape(got) == want.shape, (
        f"knn_regress returned shape {np.shape(got)}, expected (m,) = {want.shape}: average "
        "over the k neighbours (axis 1 of the (m, k) targets), not over the test points"
    )
    assert_close(got, want, what=f"knn_regress with k={k} (sklearn KNeighborsRegressor)")


def test_knn_regress_averages_each_output_column_for_two_d_targets(kata):
    X, _, X_test = _continuous(21, n=30, m=8)
    Y = np.random.default_rng(22).normal(size=(30, 3))
    want = KNeighborsRegressor(n_neighbors=4, algorithm="brute").fit(X, Y).predict(X_test)
    assert_close(kata.knn_regress(X, Y, X_test, 4), want,
                 what="knn_regress with (n, 3) targets -> (m, 3)")


def test_knn_regress_with_k_equal_to_n_is_the_global_mean(kata):
    X, _, X_test = _continuous(23, n=12, m=5)
    y = np.arange(12) ** 2  # integer targets: the mean must still be a float
    got = kata.knn_regress(X, y, X_test, 12)
    assert_close(got, np.full(5, y.mean()), what="knn_regress with k = n (every point votes)")


def test_knn_regress_uses_exactly_k_neighbours_in_distance_order(kata):
    X_train = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    y_train = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    got = kata.knn_regress(X_train, y_train, np.array([[0.9], [5.0]]), 2)
    assert_close(got, np.array([1.5, 6.0]), what="knn_regress with k=2 on a line "
                 "(mean of the 2 nearest targets; k + 1 or k - 1 neighbours give other values)")
