"""Tests for the kmeans kata: k-means++ seeding and Lloyd's algorithm.

Oracles: scipy.spatial.distance.cdist for the distances; a replay of the documented rng calls
and a chi-square test over many draws for k-means++; sklearn.cluster.KMeans (lloyd, n_init=1,
the same initial centroids) on well-separated blobs; a brute-force Python-loop Lloyd (with the
documented empty-cluster rule) on overlapping data; hand-built cases that force empty clusters.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- references


def _blobs(seed, k=3, n_per=30, d=2, sd=0.5, spread=10.0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, size=(k, d))
    X = np.concatenate([c + sd * rng.normal(size=(n_per, d)) for c in centres])
    return X[rng.permutation(len(X))]


def _overlapping(seed, n=80, d=2):
    """One broad cloud: Lloyd takes many iterations to settle on it."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.array([3.0, 1.0][:d] + [1.0] * (d - 2))


def _ref_pp(X, k, seed, power=2, nearest=True):
    """Replay of the documented rng calls (power=1 / nearest=False: the classic bugs)."""
    rng = np.random.default_rng(seed)
    n = len(X)
    chosen = [int(rng.integers(n))]
    dist = cdist(X, X[chosen]).min(axis=1)
    for _ in range(k - 1):
        w = dist**power
        j = int(rng.choice(n, p=w / w.sum()))
        chosen.append(j)
        new = cdist(X, X[[j]])[:, 0]
        dist = np.minimum(dist, new) if nearest else new
    return X[chosen]


def _ref_update(X, labels, C):
    """Brute force: loop over clusters; empty clusters take the farthest rows, in order."""
    k, n = len(C), len(X)
    far = [float(np.sum((X[i] - C[labels[i]]) ** 2)) for i in range(n)]
    order = sorted(range(n), key=lambda i: (-far[i], i))  # farthest first, ties: lower index
    new = np.empty_like(C, dtype=np.float64)
    taken = 0
    for j in range(k):
        members = [X[i] for i in range(n) if labels[i] == j]
        if members:
            new[j] = np.mean(members, axis=0)
        else:
            new[j] = X[order[taken]]
            taken += 1
    return new


def _ref_assign(X, C):
    labels = []
    for x in X:
        d = [float(np.sum((x - c) ** 2)) for c in C]
        labels.append(min(range(len(C)), key=lambda j: (d[j], j)))  # ties: lower index
    return np.array(labels)


def _ref_lloyd(X, C0, n_iter):
    C = np.array(C0, dtype=np.float64)
    labels = _ref_assign(X, C)
    for _ in range(n_iter):
        C = _ref_update(X, labels, C)
        new = _ref_assign(X, C)
        if np.array_equal(new, labels):
            break
        labels = new
    inertia = sum(float(np.sum((X[i] - C[labels[i]]) ** 2)) for i in range(len(X)))
    return C, labels, inertia


def _call_kmeans(kata, X, k, n_iter, rng=None, init=None):
    rng = np.random.default_rng(0) if rng is None else rng
    out = kata.kmeans(X, k, n_iter, rng, init=init)
    assert isinstance(out, tuple) and len(out) == 3, (
        f"kmeans must return a 3-tuple (centroids, labels, inertia), got {out!r}")
    C, labels, inertia = out
    assert np.shape(C) == (k, X.shape[1]), (
        f"centroids have shape {np.shape(C)}, expected (k, d) = {(k, X.shape[1])}; the mean "
        "of each cluster is taken over its rows (axis 0)")
    assert np.shape(labels) == (len(X),), f"labels have shape {np.shape(labels)}, expected (n,)"
    assert np.ndim(inertia) == 0, f"inertia must be a scalar, got shape {np.shape(inertia)}"
    assert np.all(np.isfinite(C)), (
        f"centroids contain NaN or inf:\n{C}\nan empty cluster's mean is 0 / 0: re-seed it")
    return np.asarray(C), np.asarray(labels), inertia


def _check_inertia(inertia, X, C, labels, expected, what):
    """Compare, naming the sqrt-distance and stale-assignment bugs when they match."""
    diffs = X - C[labels]
    sqrt_version = float(np.sqrt((diffs**2).sum(axis=1)).sum())
    if not np.isclose(inertia, expected, rtol=1e-9) and np.isclose(inertia, sqrt_version,
                                                                    rtol=1e-9):
        raise AssertionError(f"{what}: inertia = {inertia:.6g} is the sum of distances; it is "
                             "the sum of SQUARED distances (no sqrt)")
    assert_close(inertia, expected, what=what, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- sq_distances


@pytest.mark.parametrize("n, k, d", [(7, 3, 4), (5, 5, 2), (9, 1, 3)])
def test_sq_distances_match_scipy_cdist(kata, n, k, d):
    rng = np.random.default_rng(n * 100 + k * 10 + d)
    X, C = rng.normal(size=(n, d)), rng.normal(size=(k, d))
    D = kata.sq_distances(X, C)
    assert D is not None and np.shape(D) == (n, k), (
        f"sq_distances(X (n, d), C (k, d)) has shape {np.shape(D)}, expected (n, k) = {(n, k)}")
    expected = cdist(X, C, "sqeuclidean")
    if np.allclose(D, np.sqrt(expected)) and not np.allclose(D, expected):
        raise AssertionError("sq_distances returned Euclidean distances; square them (no sqrt)")
    assert_close(D, expected, what="sq_distances", rtol=1e-12, atol=1e-12)


def test_sq_distances_are_exact_far_from_the_origin(kata):
    # ||x||^2 - 2 x.c + ||c||^2 cancels catastrophically at 1e6 from the origin (errors ~1e-4,
    # negative "squared distances"); differences first, then squares, is exact enough.
    rng = np.random.default_rng(3)
    X = 1e6 + rng.normal(size=(6, 3))
    C = 1e6 + rng.normal(size=(4, 3))
    D = kata.sq_distances(X, C)
    assert np.all(np.asarray(D) >= 0), "sq_distances gave a negative squared distance"
    assert_close(D, cdist(X - 1e6, C - 1e6, "sqeuclidean"),
                 what="sq_distances at 1e6 from the origin (subtract, then square: the "
                      "expanded form ||x||^2 - 2x.c + ||c||^2 cancels)", rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- kmeans++


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_pp_first_centre_is_x_at_rng_integers_n(kata, seed):
    X = _blobs(seed)
    C = kata.kmeans_pp_init(X, 1, np.random.default_rng(seed))
    expected = X[[np.random.default_rng(seed).integers(len(X))]]
    assert_close(C, expected, what="kmeans_pp_init(X, 1, rng): the single centre is "
                                   "X[rng.integers(n)]", rtol=0, atol=0)


@pytest.mark.parametrize("seed, k, d", [(0, 3, 2), (1, 5, 3), (2, 4, 1), (3, 6, 2)])
def test_kmeans_pp_replays_the_documented_rng_calls(kata, seed, k, d):
    X = _blobs(seed, k=3, d=d, sd=2.0)
    C = kata.kmeans_pp_init(X, k, np.random.default_rng(seed))
    assert C is not None and np.shape(C) == (k, d), (
        f"kmeans_pp_init returned shape {np.shape(C)}, expected (k, d) = {(k, d)}")
    expected = _ref_pp(X, k, seed)
    if not np.array_equal(C, expected):
        for alt, bug in [
            (_ref_pp(X, k, seed, power=1), "the draw is weighted by D; k-means++ weights by "
                                           "D^2, the SQUARED distance"),
            (_ref_pp(X, k, seed, nearest=False), "d2 is the distance to the LATEST centre; it "
                                                 "must be to the NEAREST centre chosen so far "
                                                 "(np.minimum of the old and new distances)"),
        ]:
            if np.array_equal(C, alt):
                raise AssertionError(f"kmeans_pp_init: {bug}")
    assert_close(C, expected, what=f"kmeans_pp_init(k={k}) vs a replay of rng.integers(n) then "
                                   "rng.choice(n, p=d2 / d2.sum()) with the same seed "
                                   "(no other rng calls)", rtol=0, atol=0)


def test_kmeans_pp_with_k_equal_n_picks_every_row_once(kata):
    # Rows already chosen have d2 = 0, so they are never drawn twice; the last draw is forced.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [5.0, 5.0], [-2.0, 1.0]])
    C = np.asarray(kata.kmeans_pp_init(X, 5, np.random.default_rng(11)))
    rows = [int(np.flatnonzero((X == c).all(axis=1))[0]) if (X == c).all(axis=1).any() else -1
            for c in C]
    assert -1 not in rows, f"kmeans_pp_init returned centres that are not rows of X:\n{C}"
    assert sorted(rows) == list(range(5)), (
        f"kmeans_pp_init(X, n) picked rows {rows}: every row exactly once is expected (a "
        "chosen row has d2 = 0, so it cannot be drawn again)")


def test_kmeans_pp_second_centre_is_drawn_proportionally_to_d_squared(kata):
    # Four points on a line; over many draws the (first, second) pairs follow
    # P = 1/n * d2[first, second] / sum(d2[first]). D-weighting is far off (chi2 in the 1000s).
    X = np.array([[0.0], [1.0], [3.0], [10.0]])
    n, draws = len(X), 2500
    rng = np.random.default_rng(2024)
    counts = np.zeros((n, n))
    for _ in range(draws):
        C = np.asarray(kata.kmeans_pp_init(X, 2, rng))
        first, second = (int(np.argmin(np.abs(X[:, 0] - c))) for c in C[:, 0])
        counts[first, second] += 1
    d2 = cdist(X, X, "sqeuclidean")
    probs = d2 / d2.sum(axis=1, keepdims=True) / n  # (first, second)
    off = ~np.eye(n, dtype=bool)
    assert counts[~off].sum() == 0, "kmeans_pp_init drew the same row twice"
    chi2, p = stats.chisquare(counts[off], probs[off] * draws)
    d1 = np.sqrt(d2)
    chi2_d, _ = stats.chisquare(counts[off], (d1 / d1.sum(axis=1, keepdims=True) / n)[off] * draws)
    hint = " (it fits D-weighting: square the distances)" if chi2_d < chi2 else ""
    assert p > 1e-3, (
        f"(first, second) centre counts do not follow 1/n * D^2 / sum(D^2): chi2 = {chi2:.1f}, "
        f"p = {p:.2g}{hint}\ncounts:\n{counts}\nexpected:\n{probs * draws}")


# ----------------------------------------------------------------------------- update_centroids


def test_update_centroids_are_the_cluster_means(kata):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(23, 3))
    labels = np.concatenate([np.arange(4), rng.integers(0, 4, size=19)])  # no empty cluster
    C = rng.normal(size=(4, 3))
    new = kata.update_centroids(X, labels, C)
    assert new is not None and np.shape(new) == (4, 3), (
        f"update_centroids returned shape {np.shape(new)}, expected (k, d) = (4, 3): average "
        "each cluster's rows over axis 0")
    assert_close(new, _ref_update(X, labels, C), what="update_centroids (mean of each cluster)",
                 rtol=1e-12, atol=1e-12)


# Rows 0-2 belong to centre 0 at the origin: row 0 (-3, 0) is the farthest (d^2 = 9), though
# row 2 (0, 2) is the farthest in the +x+y direction. Centres 2 and 3 are far away: empty.
EMPTY_X = np.array([[-3.0, 0.0], [1.0, 0.0], [0.0, 2.0], [10.0, 10.0], [11.0, 10.0]])
EMPTY_C = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, -100.0], [-100.0, 100.0]])
EMPTY_LABELS = np.array([0, 0, 0, 1, 1])


def test_update_centroids_reseeds_an_empty_cluster_with_the_farthest_row(kata):
    with np.errstate(divide="raise", invalid="raise"):
        try:
            new = kata.update_centroids(EMPTY_X, EMPTY_LABELS, EMPTY_C[:3])
        except FloatingPointError as err:
            raise AssertionError(f"update_centroids divided 0 by 0 for an empty cluster ({err}): "
                                 "do not average an empty cluster, re-seed it") from None
    new = np.asarray(new)
    assert np.all(np.isfinite(new)), (
        f"update_centroids gave NaN for an empty cluster:\n{new}\nre-seed it with the row "
        "farthest from its assigned centre")
    if np.array_equal(new[2], EMPTY_X[2]):
        raise AssertionError("the empty cluster got row 2 (0, 2), not the farthest row (-3, 0): "
                             "rank rows by the SQUARED distance to their assigned centre")
    assert_close(new, np.array([[-2 / 3, 2 / 3], [10.5, 10.0], [-3.0, 0.0]]),
                 what="update_centroids with centre 2 empty (it takes row 0, the row farthest "
                      "from its assigned centre)", rtol=1e-12, atol=1e-12)


def test_update_centroids_gives_several_empty_clusters_the_farthest_rows_in_order(kata):
    new = np.asarray(kata.update_centroids(EMPTY_X, EMPTY_LABELS, EMPTY_C))
    assert_close(new, _ref_update(EMPTY_X, EMPTY_LABELS, EMPTY_C),
                 what="update_centroids with centres 2 and 3 empty (centre 2 takes the farthest "
                      "row, centre 3 the second farthest)", rtol=1e-12, atol=1e-12)
    assert_close(new[2:], EMPTY_X[[0, 2]], what="the re-seeded centres 2 and 3", rtol=0, atol=0)


def test_update_centroids_breaks_farthest_ties_by_the_lower_row_index(kata):
    # Rows 1, 2 and 3 are all at d^2 = 4 from centre 0; row 0 sits on it. Two empty clusters
    # take rows 1 and 2, in that order.
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, -2.0], [-2.0, 0.0], [9.0, 9.0]])
    C = np.array([[0.0, 0.0], [9.0, 9.0], [50.0, 50.0], [-50.0, 50.0]])
    labels = np.array([0, 0, 0, 0, 1])
    new = np.asarray(kata.update_centroids(X, labels, C))
    assert_close(new[2:], X[[1, 2]], what="re-seeded centres with tied distances (ties go to "
                                          "the lower row index, farthest first)", rtol=0, atol=0)


# ----------------------------------------------------------------------------- kmeans


@pytest.mark.parametrize("seed, k, d", [(0, 3, 2), (1, 4, 3), (2, 5, 2)])
def test_kmeans_matches_sklearn_lloyd_from_the_same_init(kata, seed, k, d):
    from sklearn.cluster import KMeans

    X = _blobs(seed, k=k, d=d, sd=1.5, spread=6.0)
    init = _ref_pp(X, k, seed + 10)
    C, labels, inertia = _call_kmeans(kata, X, k, 300, init=init)
    km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", max_iter=300,
                tol=0.0).fit(X)
    mismatched = int(np.sum(labels != km.labels_))
    assert mismatched == 0, (
        f"{mismatched} labels differ from sklearn's KMeans from the same init; each row goes "
        "to its NEAREST centre (argmin of the squared distances)")
    assert_close(C, km.cluster_centers_, what="centroids vs sklearn KMeans (lloyd)",
                 rtol=1e-9, atol=1e-9)
    _check_inertia(inertia, X, km.cluster_centers_, km.labels_, km.inertia_,
                   "inertia vs sklearn KMeans")


@pytest.mark.parametrize("n_iter", [0, 1, 2, 3, 4, 100])
def test_kmeans_follows_brute_force_lloyd_for_n_iter_updates(kata, n_iter):
    X = _overlapping(7)
    init = X[[0, 1, 2, 3]]
    exp_C, exp_labels, exp_inertia = _ref_lloyd(X, init, n_iter)
    assert not np.array_equal(_ref_lloyd(X, init, 4)[1], _ref_lloyd(X, init, 5)[1])  # premise
    C, labels, inertia = _call_kmeans(kata, X, 4, n_iter, init=init)
    what = f"after n_iter={n_iter} updates (assign, then n_iter times: update, assign)"
    if n_iter > 0 and not np.allclose(C, exp_C):
        for m in (n_iter - 1, n_iter + 1):
            if np.allclose(C, _ref_lloyd(X, init, m)[0]):
                raise AssertionError(f"kmeans made {m} updates for n_iter={n_iter}: do exactly "
                                     "n_iter updates (fewer only if the labels stop changing)")
    assert_close(C, exp_C, what=f"centroids {what}", rtol=1e-12, atol=1e-12)
    assert_close(labels, exp_labels, what=f"labels {what}")
    _check_inertia(inertia, X, exp_C, exp_labels, exp_inertia, f"inertia {what}")


def test_kmeans_labels_and_inertia_belong_to_the_returned_centroids(kata):
    # Stopped before convergence: the labels and inertia must be those of the returned C,
    # not of the centres before the last update.
    X = _overlapping(8)
    init = X[[5, 6, 7]]
    C, labels, inertia = _call_kmeans(kata, X, 3, 2, init=init)
    D = cdist(X, C, "sqeuclidean")
    stale = _ref_assign(X, _ref_lloyd(X, init, 1)[0])
    if np.array_equal(labels, stale) and not np.array_equal(labels, D.argmin(axis=1)):
        raise AssertionError("the labels are from the assignment BEFORE the last update; "
                             "re-assign after updating the centroids")
    assert_close(labels, D.argmin(axis=1), what="labels vs the nearest returned centroid")
    _check_inertia(inertia, X, C, labels, float(D.min(axis=1).sum()),
                   "inertia vs sum of squared distances to the returned centroids")


def test_kmeans_recovers_from_an_empty_cluster(kata):
    # Centre 2 starts empty; it is re-seeded with row 0, which then forms its own cluster.
    with np.errstate(divide="raise", invalid="raise"):
        try:
            C, labels, inertia = _call_kmeans(kata, EMPTY_X, 3, 10, init=EMPTY_C[:3])
        except FloatingPointError as err:
            raise AssertionError(f"kmeans divided 0 by 0 on an empty cluster ({err}): re-seed "
                                 "it instead of averaging nothing") from None
    assert_close(C, np.array([[0.5, 1.0], [10.5, 10.0], [-3.0, 0.0]]),
                 what="centroids after an empty cluster was re-seeded", rtol=1e-12, atol=1e-12)
    assert_close(labels, np.array([2, 0, 0, 1, 1]), what="labels after the re-seeding")
    _check_inertia(inertia, EMPTY_X, C, labels, 3.0, "inertia after the re-seeding")


def test_kmeans_gives_ties_to_the_lower_centre_index(kata):
    X = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [1.0, 5.0]])  # row 0 is equidistant
    C, labels, _ = _call_kmeans(kata, X, 2, 0, init=np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert_close(labels, np.array([0, 0, 1, 0]),
                 what="labels with n_iter=0 (a tie goes to the lower centre index; argmin, "
                      "not argmax)")


def test_kmeans_with_zero_iterations_returns_the_init_and_its_assignment(kata):
    X = _overlapping(9, n=30)
    init = X[[3, 4, 5]].copy()
    C, labels, inertia = _call_kmeans(kata, X, 3, 0, init=init)
    assert_close(C, init, what="centroids with n_iter=0 (the init, unchanged)", rtol=0, atol=0)
    D = cdist(X, init, "sqeuclidean")
    assert_close(labels, D.argmin(axis=1), what="labels with n_iter=0")
    _check_inertia(inertia, X, init, D.argmin(axis=1), float(D.min(axis=1).sum()),
                   "inertia with n_iter=0")


def test_kmeans_does_not_modify_init(kata):
    X = _overlapping(10, n=40)
    init = X[[0, 1, 2]].copy()
    before = init.copy()
    _call_kmeans(kata, X, 3, 5, init=init)
    assert np.array_equal(init, before), "kmeans modified the init array in place; copy it"


def test_kmeans_without_init_seeds_with_kmeans_pp_from_the_same_rng(kata):
    X = _blobs(4, k=4, sd=1.0)
    C, labels, inertia = _call_kmeans(kata, X, 4, 50, rng=np.random.default_rng(99))
    exp_C, exp_labels, exp_inertia = _ref_lloyd(X, _ref_pp(X, 4, 99), 50)
    assert_close(C, exp_C, what="centroids with init=None (seeded by "
                                "kmeans_pp_init(X, k, rng) with the rng passed in)",
                 rtol=1e-12, atol=1e-12)
    assert_close(labels, exp_labels, what="labels with init=None")
    _check_inertia(inertia, X, exp_C, exp_labels, exp_inertia, "inertia with init=None")


def test_kmeans_returns_int64_labels_float64_centroids_and_a_float_inertia(kata):
    X = _blobs(6)
    C, labels, inertia = _call_kmeans(kata, X, 3, 20, init=X[:3])
    assert np.asarray(C).dtype == np.float64, f"centroids are {np.asarray(C).dtype}, not float64"
    assert np.asarray(labels).dtype == np.int64, f"labels are {np.asarray(labels).dtype}, not int64"
    assert isinstance(inertia, float), (
        f"inertia is {type(inertia).__name__}, expected a Python float; wrap it in float(...)")
