"""Tests for the gradient_boosting kata.

Oracles: a brute-force split search (every feature and midpoint, the SSE of each child computed
directly); scikit-learn's DecisionTreeRegressor for the tree and GradientBoostingRegressor
(squared loss, no subsampling) for the boosting; two boosting rounds worked out by hand; and
properties (training MSE never increases, lr = 0 predicts the mean). sklearn's trees use the
same greedy SSE split, but break exact ties at random: where two splits of a node tie (two
features cutting off the same points, common in small nodes) predictions on NEW points may
differ, so those are compared only on data checked to be tie-free.
"""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.tree import DecisionTreeRegressor

from dojo.testing import assert_close

TOL = {"rtol": 1e-9, "atol": 1e-9}


# ----------------------------------------------------------------------------- references


def _sse(v):
    return float(((v - v.mean()) ** 2).sum()) if len(v) else 0.0


def _candidates(X, y):
    """(sse, feature, threshold) of every split, in tie order (feature, then threshold).
    Each child's SSE is computed directly as sum((y - mean)^2) over its rows."""
    out = []
    for j in range(X.shape[1]):
        u = np.unique(X[:, j])
        t = (u[:-1] + u[1:]) / 2  # (T,)
        left = X[:, j] <= t[:, None]  # (T, n)
        sse = 0.0
        for side in (left, ~left):
            mean = (side @ y) / side.sum(axis=1)  # (T,)
            sse = sse + (side * (y - mean[:, None]) ** 2).sum(axis=1)
        out += [(float(e), j, float(tt)) for e, tt in zip(sse, t, strict=True)]
    return out


def _tree_margin(X, y, depth):
    """The smallest gap between the best and the second-best split over the nodes of the tree
    grown on (X, y): > 0 means no node has a tie, so every implementation grows the same tree."""
    cands = sorted(_candidates(X, y), key=lambda c: c[0]) if depth > 0 else []
    if not cands or cands[0][0] >= _sse(y) - 1e-12:
        return np.inf
    _, j, t = cands[0]
    left = X[:, j] <= t
    gap = cands[1][0] - cands[0][0] if len(cands) > 1 else np.inf
    return min(gap, _tree_margin(X[left], y[left], depth - 1),
               _tree_margin(X[~left], y[~left], depth - 1))


def _sk_tree(X, r, depth):
    return DecisionTreeRegressor(max_depth=depth, random_state=0).fit(X, r)


def _ref_boost(X, y, M, lr, depth, Xs, bug=None):
    """Boosting with sklearn trees, optionally with a classic bug; predictions at each of Xs."""
    f0 = 0.0 if bug == "f0" else y.mean()
    F = np.full(len(y), f0)
    trees = []
    for _ in range(M):
        target = {"fit_y": y, "sign": F - y}.get(bug, y - F)
        tree = _sk_tree(X, target, depth)
        trees.append(tree)
        if bug != "no_update":
            F = F + (1.0 if bug == "lr_fit" else lr) * tree.predict(X)
    scale = {"lr_predict": 1.0, "lr_twice": lr * lr}.get(bug, lr)
    return [f0 + scale * sum((t.predict(Z) for t in trees), np.zeros(len(Z))) for Z in Xs]


BUGS = {
    "f0": "F0 is 0: start from the mean of y",
    "fit_y": "every tree is fit to y: fit each tree to the residuals y - F",
    "sign": "the residuals have the wrong sign: r = y - F",
    "no_update": "F is not updated after each tree: every tree sees the residuals of F0",
    "lr_predict": "predict ignores lr: predict = f0 + lr * sum of the trees",
    "lr_twice": "lr is applied twice at predict time (lr * lr)",
    "lr_fit": "fit updates F without lr: F += lr * tree(X)",
}


def _data(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sin(2 * X[:, 0]) + X[:, -1] ** 2 + 0.2 * rng.normal(size=n)
    return X, y


def _fit(kata, X, y, M, lr, depth):
    model = kata.GradientBoostingRegressor(M, lr, depth)
    out = model.fit(X, y)
    assert out is model, "GradientBoostingRegressor.fit must return self"
    return model


def _predict(model, X):
    p = model.predict(X)
    assert p is not None, "predict returned None"
    p = np.asarray(p)
    assert p.shape == (len(X),) and p.dtype == np.float64, (
        f"predict must return an (n,) float64 array, got shape {p.shape}, dtype {p.dtype}")
    return p


# ----------------------------------------------------------------------------- best_split


@pytest.mark.parametrize("seed, n, d", [(0, 12, 2), (1, 30, 3), (2, 7, 1), (3, 50, 4)])
def test_best_split_minimises_the_children_sse_like_brute_force(kata, seed, n, d):
    X, y = _data(seed, n, d)
    cands = _candidates(X, y)
    sse, j, t = min(cands, key=lambda c: c[0])
    assert sorted(c[0] for c in cands)[1] - sse > 1e-9  # premise: the best split is unique
    got = kata.best_split(X, y)
    assert got is not None and len(got) == 2, (
        f"best_split must return (feature, threshold), got {got!r}")
    f, thr = int(got[0]), float(got[1])
    assert f in range(d), f"feature {f} out of range"
    left = X[:, f] <= thr
    assert_close(_sse(y[left]) + _sse(y[~left]), sse,
                 what=f"SSE(left) + SSE(right) of your split (feature {f}, threshold {thr:.4g}) "
                      "vs the brute-force minimum", rtol=1e-9, atol=1e-12)
    assert f == j, f"best_split chose feature {f}, expected {j}"
    assert_close(thr, t, what="threshold (the midpoint between consecutive distinct values)")


def test_best_split_by_hand(kata):
    # y = [0, 0, 1, 5] on x = 1..4: t = 3.5 leaves SSE 2/3 + 0, t = 2.5 0 + 8, t = 1.5 0 + 50/3.
    got = kata.best_split(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([0.0, 0.0, 1.0, 5.0]))
    assert got is not None and (int(got[0]), float(got[1])) == (0, 3.5), (
        f"best_split = {got!r}, expected (0, 3.5): minimise SSE(left) + SSE(right), not the "
        "difference of the means or the variance of a child")


def test_best_split_thresholds_are_midpoints_of_distinct_values(kata):
    X = np.array([[1.0], [1.0], [1.0], [2.0], [6.0], [6.0]])
    y = np.array([0.0, 0.0, 0.0, 0.0, 4.0, 4.0])
    got = kata.best_split(X, y)
    assert got is not None and (int(got[0]), float(got[1])) == (0, 4.0), (
        f"best_split = {got!r}, expected (0, 4.0): the threshold lies midway between the "
        "distinct sorted values 2 and 6, and never between two equal values")


def test_best_split_breaks_ties_by_lowest_feature_then_lowest_threshold(kata):
    X = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # two identical columns
    y = np.array([0.0, 1.0, 0.0])  # t = 1.5 and t = 2.5 both leave SSE 1/2
    got = kata.best_split(X, y)
    assert got is not None and (int(got[0]), float(got[1])) == (0, 1.5), (
        f"best_split = {got!r}, expected (0, 1.5): ties go to the lowest feature, then the "
        "lowest threshold")


def test_best_split_is_none_when_no_split_lowers_the_sse(kata):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6, 2))
    assert kata.best_split(X, np.full(6, 3.0)) is None, (
        "with a constant y no split lowers the SSE: best_split must return None")
    same = np.tile([[1.0, 2.0]], (5, 1))
    assert kata.best_split(same, rng.normal(size=5)) is None, (
        "identical rows have no threshold between distinct values: return None")
    assert kata.best_split(X[:1], np.array([1.0])) is None, "one sample cannot be split"


def test_best_split_handles_unsorted_rows(kata):
    X = np.array([[4.0, 0.0], [1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    y = np.array([9.0, 0.0, 9.0, 0.0])
    got = kata.best_split(X, y)
    assert got is not None and (int(got[0]), float(got[1])) == (0, 2.5), (
        f"best_split = {got!r}, expected (0, 2.5): sort each feature (with its targets) before "
        "scanning the thresholds")


# ----------------------------------------------------------------------------- the tree


def _tree(kata, X, y, depth):
    tree = kata.RegressionTree(depth)
    assert tree.fit(X, y) is tree, "RegressionTree.fit must return self"
    return tree


# new_points: the case is tie-free (checked), so new points must agree too.
@pytest.mark.parametrize("seed, n, d, depth, new_points", [
    (5, 40, 2, 1, True), (6, 60, 3, 2, False), (7, 80, 2, 3, False), (8, 30, 1, 4, True)])
def test_tree_matches_sklearn_decision_tree_regressor(kata, seed, n, d, depth, new_points):
    X, y = _data(seed, n, d)
    sk = _sk_tree(X, y, depth)
    tree = _tree(kata, X, y, depth)
    assert_close(_predict(tree, X), sk.predict(X), what=f"RegressionTree({depth}) on the "
                 "training rows vs DecisionTreeRegressor", **TOL)
    if new_points:
        assert _tree_margin(X, y, depth) > 1e-9  # the premise: no tied split anywhere
        Xt = np.random.default_rng(seed + 100).normal(size=(100, d))
        assert_close(_predict(tree, Xt), sk.predict(Xt), what=f"RegressionTree({depth}) on new "
                     "points vs DecisionTreeRegressor", **TOL)


def test_tree_by_hand_sends_x_equal_to_the_threshold_left(kata):
    # Depth 1 on y = [0, 0, 1, 5]: split at 3.5, leaves mean(0, 0, 1) = 1/3 and 5.
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    tree = _tree(kata, X, np.array([0.0, 0.0, 1.0, 5.0]), 1)
    assert_close(_predict(tree, np.array([[3.5], [3.5000001], [-10.0], [10.0]])),
                 np.array([1 / 3, 5.0, 1 / 3, 5.0]),
                 what="RegressionTree(1) predictions (x <= 3.5 goes left, leaves are means)")
    root = tree.root_
    assert (root.feature, root.threshold) == (0, 3.5) and root.left is not None
    assert_close(root.value, 1.5, what="root_.value (the mean of every y)")


def test_tree_of_depth_zero_predicts_the_mean(kata):
    X, y = _data(9, 15, 2)
    assert_close(_predict(_tree(kata, X, y, 0), X[:4]), np.full(4, y.mean()),
                 what="RegressionTree(0) (a single leaf: the mean of y)")


def _depth(node):
    return 0 if node.left is None else 1 + max(_depth(node.left), _depth(node.right))


def test_tree_stops_at_max_depth(kata):
    X, y = _data(10, 64, 2)
    for depth in (1, 2, 3, 4):
        got = _depth(_tree(kata, X, y, depth).root_)
        assert got == _sk_tree(X, y, depth).get_depth() == depth, (
            f"RegressionTree({depth}) has {got} levels of splits; max_depth={depth} allows "
            f"exactly {depth} here (the root is depth 0, a node at depth max_depth is a leaf)")


def test_deep_tree_splits_down_to_single_samples(kata):
    # Two samples still split; one sample is a leaf. Depth 10 fits 9 distinct points exactly.
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [8.0]])
    y = np.array([3.0, -1.0, 4.0, 1.0, -5.0, 9.0, 2.0, -6.0, 5.0])
    assert_close(_predict(_tree(kata, X, y, 10), X), y,
                 what="a depth-10 tree on 9 distinct points (nodes of 2 samples still split)")


def test_tree_does_not_split_a_constant_node(kata):
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([1.0, 1.0, 1.0, 7.0, 7.0, 7.0])
    root = _tree(kata, X, y, 5).root_
    assert root.left is not None and root.left.left is None and root.right.left is None, (
        "the children of the root hold constant targets: no split lowers their SSE, so they "
        "must be leaves")
    assert_close(np.array([root.left.value, root.right.value]), np.array([1.0, 7.0]),
                 what="leaf values (means of y in each leaf)")


# ----------------------------------------------------------------------------- boosting


def test_two_rounds_by_hand(kata):
    # x = 1..4, y = [2, 3, 1, 6], lr = 1/2, depth 1.
    # F0 = 3, r = [-1, 0, -2, 3]; best split 3.5 (SSE 2 + 0), leaves -1 and 3:
    #   F1 = 3 + [-1, -1, -1, 3] / 2 = [2.5, 2.5, 2.5, 4.5], r = [-.5, .5, -1.5, 1.5]
    # best split 3.5 again (SSE 2 + 0; 1.5 gives 14/3, 2.5 gives 5), leaves -1/2 and 3/2:
    #   F2 = F1 + [-1/2, -1/2, -1/2, 3/2] / 2 = [2.25, 2.25, 2.25, 5.25]
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([2.0, 3.0, 1.0, 6.0])
    model = _fit(kata, X, y, 2, 0.5, 1)
    assert_close(model.f0_, 3.0, what="f0_ (the mean of y)")
    assert len(model.trees_) == 2, f"{len(model.trees_)} trees, expected 2"
    got = _predict(model, np.vstack([X, [[0.0], [10.0]]]))
    assert_close(got, np.array([2.25, 2.25, 2.25, 5.25, 2.25, 5.25]),
                 what="predictions after 2 rounds (training rows, then x = 0 and x = 10)")
    assert_close(_predict(model.trees_[1], X), np.array([-0.5, -0.5, -0.5, 1.5]),
                 what="the second tree (fit to the residuals y - F1)")


@pytest.mark.parametrize("seed, n, d, M, lr, depth, new_points", [
    (0, 40, 2, 8, 0.3, 2, True), (5, 40, 2, 8, 0.3, 2, True), (0, 80, 3, 6, 0.5, 2, True),
    (2, 25, 1, 5, 1.0, 1, True), (3, 60, 3, 10, 0.1, 3, False),
])
def test_matches_sklearn_gradient_boosting_regressor(kata, seed, n, d, M, lr, depth,
                                                     new_points):
    X, y = _data(seed, n, d)
    Xt = np.random.default_rng(seed + 1000).normal(size=(100, d))
    # criterion is left at its default: on unweighted data friedman_mse and squared_error
    # pick the same splits, and sklearn >= 1.9 deprecates the argument.
    sk = GradientBoostingRegressor(loss="squared_error", learning_rate=lr, max_depth=depth,
                                   n_estimators=M, subsample=1.0, random_state=0).fit(X, y)
    model = _fit(kata, X, y, M, lr, depth)
    got = _predict(model, X)
    want = sk.predict(X)
    if not np.allclose(got, want, **TOL):
        for bug, message in BUGS.items():
            if np.allclose(got, _ref_boost(X, y, M, lr, depth, [X], bug)[0], **TOL):
                raise AssertionError(f"predictions on the training rows: {message}")
    assert_close(got, want, what="predict on the training rows vs sklearn "
                 f"GradientBoostingRegressor(n_estimators={M}, learning_rate={lr}, "
                 f"max_depth={depth})", **TOL)
    if new_points:
        assert all(_tree_margin(X, r, depth) > 1e-9 for r in _residuals(X, y, M, lr, depth))
        assert_close(_predict(model, Xt), sk.predict(Xt), what="predict on new points vs "
                     "sklearn GradientBoostingRegressor", **TOL)


def _residuals(X, y, M, lr, depth):
    F = np.full(len(y), y.mean())
    for _ in range(M):
        yield y - F
        F = F + lr * _sk_tree(X, y - F, depth).predict(X)


def test_predict_is_f0_plus_lr_times_the_sum_of_the_trees(kata):
    X, y = _data(11, 40, 2)
    Xt = np.random.default_rng(12).normal(size=(30, 2))
    model = _fit(kata, X, y, 6, 0.2, 2)
    assert len(model.trees_) == 6, f"{len(model.trees_)} trees, expected n_estimators = 6"
    total = sum(_predict(t, Xt) for t in model.trees_)
    got = _predict(model, Xt)
    assert not np.allclose(got, model.f0_ + total), (
        "predict ignores lr: every tree is shrunk by lr, at predict time as in fit")
    assert not np.allclose(got, model.f0_ + 0.04 * total), "lr is applied twice in predict"
    assert_close(got, model.f0_ + 0.2 * total, what="predict = f0_ + lr * sum of trees_")


def test_training_mse_never_increases_over_rounds(kata):
    X, y = _data(13, 50, 2)
    mse = [np.mean((_predict(_fit(kata, X, y, m, 0.3, 2), X) - y) ** 2) for m in range(8)]
    assert_close(mse[0], y.var(), what="training MSE with 0 trees (the variance of y)")
    assert all(b <= a + 1e-12 for a, b in zip(mse, mse[1:], strict=False)), (
        f"training MSE over rounds {np.round(mse, 4)}: it must never increase; each tree fits "
        "the residuals y - F of the current model")
    assert mse[-1] < 0.5 * mse[0], f"training MSE {mse[0]:.3g} -> {mse[-1]:.3g}: barely moved"


def test_lr_zero_and_no_trees_predict_the_mean(kata):
    X, y = _data(14, 20, 2)
    Xt = np.random.default_rng(15).normal(size=(5, 2))
    for M, lr in ((5, 0.0), (0, 0.5)):
        model = _fit(kata, X, y, M, lr, 2)
        got = _predict(model, Xt)
        if np.allclose(got, 0.0):
            raise AssertionError(f"n_estimators={M}, lr={lr} predicts 0: F0 is the mean of y")
        assert_close(got, np.full(5, y.mean()),
                     what=f"predict with n_estimators={M}, lr={lr} (just F0 = mean(y))")


def test_first_tree_fits_the_residuals_of_the_mean(kata):
    X, y = _data(16, 40, 2)
    y = y + 10.0  # a large mean: fitting y itself, or starting from 0, shows at once
    model = _fit(kata, X, y, 1, 0.5, 2)
    assert_close(model.f0_, y.mean(), what="f0_ (the mean of y, not 0)")
    first = _predict(model.trees_[0], X)
    if np.allclose(first, _sk_tree(X, y, 2).predict(X)):
        raise AssertionError("the first tree was fit to y: fit it to the residuals y - mean(y)")
    if np.allclose(first, -_sk_tree(X, y - y.mean(), 2).predict(X)):
        raise AssertionError("the first tree was fit to mean(y) - y: the residuals are y - F")
    assert_close(first, _sk_tree(X, y - y.mean(), 2).predict(X),
                 what="the first tree's predictions (a depth-2 tree on y - mean(y))", **TOL)
