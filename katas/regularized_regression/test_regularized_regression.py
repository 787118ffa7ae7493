"""Tests for the regularized_regression kata.

Oracles: sklearn.linear_model.Ridge, Lasso and ElasticNet (same objective scalings, tol tiny,
max_iter large) for the solutions; numpy.linalg.lstsq for alpha = 0; hand-computed
one-feature cases; the lasso's subgradient (KKT) conditions where the problem has more
features than samples; and, for the path of coordinate descent itself (n_iter = 1, 2), a
brute-force sweep that recomputes the full residual before every coordinate. When a value is
wrong, the failure message names the classic bug it matches.
"""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from dojo.testing import assert_close

SWEEPS = 60  # ample: these problems converge to 1e-14 in under 30 sweeps


# ----------------------------------------------------------------------------- data


def _data(seed, n=40, d=5, noise=0.5):
    """Correlated features with non-zero means and unequal scales, a sparse truth, and a
    large intercept: centring, scaling and intercept bugs all change the answer."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if d > 1:
        X[:, 1] += 0.6 * X[:, 0]  # correlated columns: coordinate descent needs several sweeps
    X = X * rng.uniform(0.5, 3.0, size=d) + rng.normal(0.0, 2.0, size=d)
    w_true = np.zeros(d)
    w_true[: max(1, d // 2)] = rng.normal(0.0, 2.0, size=max(1, d // 2))
    y = X @ w_true + 5.0 + rng.normal(0.0, noise, size=n)
    return X, y


def _oracle(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's convergence chatter
        m = model.fit(X, y)
    return np.append(m.coef_, m.intercept_)


def _lasso(alpha):
    return Lasso(alpha=alpha, tol=1e-14, max_iter=200_000)


def _enet(alpha, l1_ratio):
    return ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=200_000)


def _wb(out, name, d):
    assert out is not None and len(out) == 2, f"{name} must return (w, b), got {out!r}"
    w, b = out
    w = np.asarray(w)
    assert w.shape == (d,), f"{name}: w has shape {w.shape}, expected (d,) = ({d},)"
    assert w.dtype == np.float64, f"{name}: w must be float64, got {w.dtype}"
    assert np.ndim(b) == 0, f"{name}: b must be a scalar, got shape {np.shape(b)}"
    return np.append(w, float(b))


def _named_bug(got, want, suspects, what, rtol=1e-7, atol=1e-9):
    """assert_close, naming the first suspect that `got` matches and `want` does not."""
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        for value, hint in suspects:
            if not np.allclose(value, want, rtol=rtol, atol=atol) and np.allclose(
                    got, value, rtol=rtol, atol=atol):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(got, want, what=what + " (w..., b)", rtol=rtol, atol=atol)


def _ridge_penalising_b(X, y, alpha):
    A = np.column_stack([X, np.ones(len(y))])
    wb = np.linalg.solve(A.T @ A + alpha * np.eye(A.shape[1]), A.T @ y)
    return wb


# ----------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("seed, n, d, alpha", [(0, 40, 5, 3.0), (1, 25, 8, 0.7),
                                               (2, 6, 10, 2.0), (3, 60, 1, 10.0)])
def test_ridge_matches_sklearn(kata, seed, n, d, alpha):
    X, y = _data(seed, n=n, d=d)
    got = _wb(kata.ridge(X, y, alpha), "ridge", d)
    want = _oracle(Ridge(alpha=alpha), X, y)
    suspects = [
        (_ridge_penalising_b(X, y, alpha), "the intercept is penalised: centre X and y, "
                                           "solve for w alone, then b = mean(y) - mean(X) @ w"),
        (_oracle(Ridge(alpha=n * alpha), X, y), "alpha is n times too large: ridge has no 1/n"),
        (_oracle(Ridge(alpha=alpha / n), X, y), "alpha is n times too small: ridge has no 1/n"),
        (_oracle(Ridge(alpha=2 * alpha), X, y), "alpha is doubled: the normal equations are "
                                                "(Xc^T Xc + alpha I) w = Xc^T yc"),
        (_oracle(Ridge(alpha=1e-12), X, y), "alpha is ignored"),
    ]
    _named_bug(got, want, suspects, f"ridge(alpha={alpha}) on n={n}, d={d}")


def test_ridge_with_alpha_zero_is_least_squares_with_intercept(kata):
    X, y = _data(4, n=30, d=4)
    A = np.column_stack([X, np.ones(30)])
    want = np.linalg.lstsq(A, y, rcond=None)[0]
    assert_close(_wb(kata.ridge(X, y, 0.0), "ridge", 4), want,
                 what="ridge(alpha=0) vs ordinary least squares with an intercept (w..., b)",
                 rtol=1e-8, atol=1e-9)


def test_ridge_one_feature_by_hand(kata):
    # x = [0, 1, 2, 3] centres to [-1.5, -0.5, 0.5, 1.5] (squared norm 5); y = [1, 3, 2, 6]
    # centres to [-2, 0, -1, 3] (mean 3); xc . yc = 7. w = 7 / (5 + alpha) = 0.7 for
    # alpha = 5, b = 3 - 1.5 * 0.7 = 1.95.
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([1.0, 3.0, 2.0, 6.0])
    _named_bug(_wb(kata.ridge(X, y, 5.0), "ridge", 1), np.array([0.7, 1.95]),
               [(_ridge_penalising_b(X, y, 5.0), "the intercept is penalised: centre first")],
               "ridge(alpha=5) on the one-feature example")


def test_ridge_does_not_shrink_the_intercept(kata):
    # A huge alpha sends w to 0; the unpenalised intercept goes to mean(y), not to 0.
    X, y = _data(5, n=30, d=3)
    got = _wb(kata.ridge(X, y, 1e10), "ridge", 3)
    assert abs(got[-1] - y.mean()) < 1e-3 * abs(y.mean()), (
        f"with alpha = 1e10 the intercept is {got[-1]:.4g}, expected mean(y) = {y.mean():.4g}: "
        "the intercept must not be penalised")
    assert np.all(np.abs(got[:-1]) < 1e-6), f"with alpha = 1e10, w = {got[:-1]} should be ~0"


# ----------------------------------------------------------------------------- soft threshold


def test_soft_threshold_matches_its_closed_form(kata):
    x = np.array([-3.0, -1.5, -1.0, -0.4, 0.0, 0.4, 1.0, 1.5, 3.0])
    got = np.asarray(kata.soft_threshold(x, 1.0), dtype=np.float64)
    want = np.array([-2.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0])
    suspects = [
        (np.sign(x) * (np.abs(x) - 1.0), "no max(0, .): inside [-lam, lam] the result is 0, "
                                         "it must not change sign"),
        (np.maximum(x - 1.0, 0.0), "the negative side is lost: use sign(x) * max(|x| - lam, 0)"),
        (-want, "the sign is flipped: the result keeps the sign of x"),
        (x - np.sign(x) * 1.0, "no max(0, .): values inside [-lam, lam] must become 0"),
    ]
    _named_bug(got, want, suspects, "soft_threshold(x, lam=1)", rtol=0, atol=1e-15)


def test_soft_threshold_keeps_the_shape_and_handles_scalars(kata):
    x = np.random.default_rng(6).normal(0.0, 2.0, size=(4, 3))
    got = kata.soft_threshold(x, 0.7)
    assert np.shape(got) == (4, 3), f"soft_threshold changed the shape to {np.shape(got)}"
    assert_close(got, np.sign(x) * np.maximum(np.abs(x) - 0.7, 0.0),
                 what="soft_threshold on a (4, 3) array, lam=0.7")
    assert_close(kata.soft_threshold(-2.5, 0.5), -2.0, what="soft_threshold(-2.5, 0.5)")
    assert_close(kata.soft_threshold(0.3, 0.5), 0.0, what="soft_threshold(0.3, 0.5)")
    assert_close(kata.soft_threshold(x, 0.0), x, what="soft_threshold(x, 0) (the identity)")


# ----------------------------------------------------------------------------- lasso


def _lasso_suspects(X, y, alpha):
    n = len(y)
    return [
        (_oracle(_lasso(alpha / n), X, y), "alpha is n times too small: with the 1/(2n) "
                                           "scaling the threshold on the raw sums is n * alpha"),
        (_oracle(_lasso(alpha * n), X, y), "alpha is n times too large"),
        (_oracle(_lasso(alpha / 2), X, y), "the threshold is half what it should be: "
                                           "soft_threshold(rho_j, n * alpha)"),
        (_oracle(_lasso(2 * alpha), X, y), "the threshold is twice what it should be: "
                                           "soft_threshold(rho_j, n * alpha)"),
    ]


@pytest.mark.parametrize("seed, n, d, alpha", [(7, 40, 5, 0.3), (8, 50, 6, 1.0),
                                               (9, 30, 3, 0.05)])
def test_lasso_matches_sklearn(kata, seed, n, d, alpha):
    X, y = _data(seed, n=n, d=d)
    got = _wb(kata.lasso_cd(X, y, alpha, SWEEPS), "lasso_cd", d)
    want = _oracle(_lasso(alpha), X, y)
    _named_bug(got, want, _lasso_suspects(X, y, alpha),
               f"lasso_cd(alpha={alpha}) after {SWEEPS} sweeps vs sklearn Lasso")


def test_lasso_sets_exact_zeros_where_sklearn_does(kata):
    X, y = _data(10, n=50, d=8)
    got = _wb(kata.lasso_cd(X, y, 0.8, SWEEPS), "lasso_cd", 8)
    want = _oracle(_lasso(0.8), X, y)
    assert np.any(want[:-1] == 0) and np.any(want[:-1] != 0)  # the premise: a sparse solution
    assert np.array_equal(got[:-1] == 0, want[:-1] == 0), (
        f"lasso_cd zeros at {np.flatnonzero(got[:-1] == 0)}, sklearn at "
        f"{np.flatnonzero(want[:-1] == 0)}: the soft threshold must give EXACT zeros")


def test_lasso_one_feature_by_hand(kata):
    # Centred: xc . yc = 7, ||xc||^2 = 5, n = 4. w = S(7, n alpha) / 5 = S(7, 2) / 5 = 1 for
    # alpha = 0.5; b = 3 - 1.5 * 1 = 1.5. Thresholding by alpha instead gives 6.5 / 5 = 1.3.
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([1.0, 3.0, 2.0, 6.0])
    _named_bug(_wb(kata.lasso_cd(X, y, 0.5, 3), "lasso_cd", 1), np.array([1.0, 1.5]),
               [(np.array([1.3, 3 - 1.5 * 1.3]), "the threshold is alpha, but on the raw sums "
                                                 "(1/(2n) scaling) it is n * alpha"),
                (np.array([1.4, 3 - 1.5 * 1.4]), "alpha is ignored (this is least squares)"),
                (np.array([5 / 7, 3 - 1.5 * 5 / 7]), "the update is not divided by z_j = "
                                                     "||Xc[:, j]||^2"),],
               "lasso_cd(alpha=0.5) on the one-feature example")


def test_lasso_one_unit_norm_feature_by_hand(kata):
    # x = [0, 1, 1, 0] centres to [-.5, .5, .5, -.5] (squared norm exactly 1); y = [0, 2, 3, 1]
    # centres to [-1.5, .5, 1.5, -.5]; xc . yc = 2. w = S(2, 4 * 0.25) / 1 = 1, b = 1.5 - 0.5.
    X, y = np.array([[0.0], [1.0], [1.0], [0.0]]), np.array([0.0, 2.0, 3.0, 1.0])
    _named_bug(_wb(kata.lasso_cd(X, y, 0.25, 2), "lasso_cd", 1), np.array([1.0, 1.0]),
               [(np.array([1.75, 1.5 - 0.5 * 1.75]), "the threshold is alpha, but on the raw "
                                                     "sums it is n * alpha")],
               "lasso_cd(alpha=0.25) on a unit-norm feature")


def test_lasso_with_a_large_alpha_gives_zero_weights_and_the_mean(kata):
    X, y = _data(11, n=30, d=4)
    Xc = X - X.mean(axis=0)
    alpha_max = np.max(np.abs(Xc.T @ (y - y.mean()))) / len(y)  # smallest alpha with w = 0
    got = _wb(kata.lasso_cd(X, y, 1.01 * alpha_max, 5), "lasso_cd", 4)
    assert np.all(got[:-1] == 0.0), (
        f"for alpha above max|Xc^T yc| / n every weight must be exactly 0, got {got[:-1]}")
    assert_close(got[-1], y.mean(), what="the intercept when w = 0 (mean(y))")
    got = _wb(kata.lasso_cd(X, y, 0.9 * alpha_max, SWEEPS), "lasso_cd", 4)
    assert np.any(got[:-1] != 0.0), (
        "for alpha just below max|Xc^T yc| / n a weight must be non-zero: is the threshold "
        "n * alpha on the raw sums?")


def test_lasso_satisfies_the_kkt_conditions_with_more_features_than_samples(kata):
    X, y = _data(12, n=12, d=20)
    alpha = 1.0
    w, b = kata.lasso_cd(X, y, alpha, 150)  # converged to ~1e-12 after 100 sweeps
    w = np.asarray(w)
    grad = X.T @ (y - X @ w - b) / len(y)  # (d,): minus the gradient of the smooth part
    assert_close(b, np.mean(y - X @ w), what="lasso_cd intercept (mean of y - X w)", atol=1e-9)
    nz = w != 0
    assert nz.any() and not nz.all()  # the premise: a sparse solution
    assert_close(grad[nz], alpha * np.sign(w[nz]), what="X_j^T r / n on the non-zero weights "
                 "(it must equal alpha * sign(w_j) at the lasso optimum)", rtol=0, atol=1e-6)
    assert np.all(np.abs(grad[~nz]) <= alpha + 1e-6), (
        f"|X_j^T r / n| exceeds alpha = {alpha} at a zero weight: max "
        f"{np.abs(grad[~nz]).max():.4g}; w is not the lasso optimum")


# ----------------------------------------------------------------------------- the descent itself


def _ref_sweeps(X, y, alpha, l1_ratio, n_iter, order=None, jacobi=False):
    """Brute force: before every coordinate, recompute the partial residual from scratch."""
    n, d = X.shape
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    z = (Xc**2).sum(axis=0)
    w = np.zeros(d)
    for _ in range(n_iter):
        base = w.copy()
        for j in range(d) if order is None else order:
            v = base if jacobi else w
            partial = yc - Xc @ v + Xc[:, j] * v[j]  # residual without coordinate j
            rho = Xc[:, j] @ partial
            w[j] = np.sign(rho) * max(abs(rho) - n * alpha * l1_ratio, 0.0) / (
                z[j] + n * alpha * (1 - l1_ratio))
    return np.append(w, y.mean() - X.mean(axis=0) @ w)


@pytest.mark.parametrize("n_iter", [1, 2])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
def test_coordinate_descent_sweeps_the_coordinates_in_order(kata, n_iter, l1_ratio):
    X, y = _data(13, n=30, d=5)
    alpha = 0.2
    if l1_ratio == 1.0:
        got = _wb(kata.lasso_cd(X, y, alpha, n_iter), "lasso_cd", 5)
    else:
        got = _wb(kata.elastic_net_cd(X, y, alpha, l1_ratio, n_iter), "elastic_net_cd", 5)
    want = _ref_sweeps(X, y, alpha, l1_ratio, n_iter)
    suspects = [
        (_ref_sweeps(X, y, alpha, l1_ratio, n_iter, jacobi=True),
         "every coordinate was updated from the residual at the start of the sweep (a stale "
         "residual): update r right after each w_j"),
        (_ref_sweeps(X, y, alpha, l1_ratio, n_iter, order=range(4, -1, -1)),
         "the coordinates were swept in reverse: use j = 0, 1, ..., d-1"),
        (_ref_sweeps(X, y, alpha, l1_ratio, n_iter + 1), "one sweep too many"),
        (_ref_sweeps(X, y, alpha, l1_ratio, n_iter - 1), "one sweep too few"),
    ]
    _named_bug(got, want, suspects,
               f"(w, b) after exactly {n_iter} cyclic sweep(s) from w = 0, l1_ratio={l1_ratio}")


def test_zero_sweeps_return_zero_weights_and_the_mean(kata):
    X, y = _data(14, n=20, d=3)
    for name, out in (("lasso_cd", kata.lasso_cd(X, y, 0.1, 0)),
                      ("elastic_net_cd", kata.elastic_net_cd(X, y, 0.1, 0.5, 0))):
        assert_close(_wb(out, name, 3), np.append(np.zeros(3), y.mean()),
                     what=f"{name} with n_iter=0 (w = 0, b = mean(y))")


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_a_constant_feature_gets_weight_zero_without_nan(kata, l1_ratio):
    X, y = _data(15, n=30, d=4)
    X[:, 2] = 7.0  # constant: its centred column is all zeros
    with np.errstate(all="ignore"):
        got = _wb(kata.elastic_net_cd(X, y, 0.2, l1_ratio, SWEEPS), "elastic_net_cd", 4)
    assert np.all(np.isfinite(got)), (
        f"(w, b) = {got}: a constant feature has z_j = 0 after centring; skip it (w_j = 0) "
        "instead of dividing 0 by 0")
    assert got[2] == 0.0, f"the constant feature got weight {got[2]}, expected 0"
    want = _oracle(_enet(0.2, l1_ratio), X, y)
    assert_close(got, want, what="elastic_net_cd with a constant feature vs sklearn",
                 rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------------------- elastic net


@pytest.mark.parametrize("seed, alpha, l1_ratio", [(16, 0.3, 0.2), (17, 0.5, 0.5),
                                                    (18, 0.1, 0.9)])
def test_elastic_net_matches_sklearn(kata, seed, alpha, l1_ratio):
    X, y = _data(seed, n=40, d=6)
    got = _wb(kata.elastic_net_cd(X, y, alpha, l1_ratio, SWEEPS), "elastic_net_cd", 6)
    want = _oracle(_enet(alpha, l1_ratio), X, y)
    n = len(y)
    suspects = [
        (_oracle(_enet(alpha, 1 - l1_ratio), X, y),
         "l1_ratio is applied to the wrong term: alpha * l1_ratio multiplies ||w||_1"),
        (_oracle(_enet(alpha / n, l1_ratio), X, y),
         "alpha is n times too small: on the raw sums the penalties are n * alpha * ..."),
        (_oracle(_enet(alpha, 1.0), X, y), "the L2 term is missing: divide by "
                                           "z_j + n * alpha * (1 - l1_ratio)"),
        (_oracle(Ridge(alpha=n * alpha * (1 - l1_ratio)), X, y), "the L1 term is missing"),
    ]
    _named_bug(got, want, suspects,
               f"elastic_net_cd(alpha={alpha}, l1_ratio={l1_ratio}) vs sklearn ElasticNet")


def test_elastic_net_one_feature_by_hand(kata):
    # xc . yc = 7, ||xc||^2 = 5, n = 4, alpha = 1, l1_ratio = 0.8:
    # w = S(7, 4 * 0.8) / (5 + 4 * 0.2) = 3.8 / 5.8 = 19/29, b = 3 - 1.5 w.
    # l1_ratio on the wrong term would give S(7, 0.8) / (5 + 3.2) = 31/41.
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([1.0, 3.0, 2.0, 6.0])
    w = 19 / 29
    _named_bug(_wb(kata.elastic_net_cd(X, y, 1.0, 0.8, 3), "elastic_net_cd", 1),
               np.array([w, 3 - 1.5 * w]),
               [(np.array([31 / 41, 3 - 1.5 * 31 / 41]), "l1_ratio is applied to the wrong "
                                                         "term")],
               "elastic_net_cd(alpha=1, l1_ratio=0.8) on the one-feature example")


def test_elastic_net_ends_are_lasso_and_ridge(kata):
    X, y = _data(19, n=35, d=4)
    n, alpha = len(y), 0.4
    assert_close(_wb(kata.elastic_net_cd(X, y, alpha, 1.0, SWEEPS), "elastic_net_cd", 4),
                 _oracle(_lasso(alpha), X, y), what="elastic_net_cd with l1_ratio=1 (the lasso)",
                 rtol=1e-7, atol=1e-9)
    # l1_ratio = 0: 1/(2n)||.||^2 + (alpha/2)||w||^2 is ridge with penalty n * alpha.
    assert_close(_wb(kata.elastic_net_cd(X, y, alpha, 0.0, SWEEPS), "elastic_net_cd", 4),
                 _oracle(Ridge(alpha=n * alpha), X, y),
                 what="elastic_net_cd with l1_ratio=0 (ridge with alpha' = n * alpha)",
                 rtol=1e-7, atol=1e-9)
