"""Tests for the linear_regression kata.

Oracles: numpy.linalg.lstsq on [X, 1] and sklearn.linear_model.LinearRegression for the
closed form; the exact coefficients of a noise-free, ill-conditioned problem; central finite
differences for the gradient; a hand-rolled gradient-descent loop for the first few epochs;
the lstsq optimum that gradient descent must converge to; sklearn's mean_squared_error.
"""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- references


def _data(seed, n, d, bias=3.0, noise=0.5, loc=0.0):
    """Gaussian features (n != d where it matters), a large intercept and noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=loc, size=(n, d))
    w_true = rng.normal(size=d) * 2.0
    y = X @ w_true + bias + noise * rng.normal(size=n)
    return X, y


def _lstsq(X, y):
    A = np.column_stack([X, np.ones(len(X))])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    return theta[:-1], theta[-1]


def _ref_grad(X, y, w, b, factor=2.0):
    r = X @ w + b - y
    return factor * X.T @ r / len(y), factor * r.mean()


def _ref_gd(X, y, lr, epochs, factor=2.0, sequential=False):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        dw, db = _ref_grad(X, y, w, b, factor)
        w = w - lr * dw
        if sequential:  # the bug: db recomputed from the already-updated w
            db = _ref_grad(X, y, w, b, factor)[1]
        b = b - lr * db
    return w, b


def _fd_grad(X, y, w, b, h=1e-6):
    def loss(w_, b_):
        return np.mean((X @ w_ + b_ - y) ** 2)

    dw = np.empty_like(w)
    for j in range(len(w)):
        e = np.zeros_like(w)
        e[j] = h
        dw[j] = (loss(w + e, b) - loss(w - e, b)) / (2 * h)
    return dw, (loss(w, b + h) - loss(w, b - h)) / (2 * h)


def _check_wb(out, d, what):
    assert isinstance(out, tuple) and len(out) == 2, f"{what} must return (w, b), got {out!r}"
    w, b = out
    assert w is not None and np.shape(w) == (d,), (
        f"{what}: w must have shape (d,) = ({d},), got {np.shape(w)}. Slice the intercept off "
        "the end of theta = [w, b].")
    assert np.asarray(w).dtype == np.float64, f"{what}: w must be float64"
    assert b is not None and np.ndim(b) == 0, f"{what}: b must be a scalar, got {b!r}"
    return np.asarray(w), float(b)


# ----------------------------------------------------------------------------- closed form

CASES = [(0, 50, 3), (1, 20, 7), (2, 15, 1)]  # (seed, n, d): n != d throughout


@pytest.mark.parametrize("seed, n, d", CASES)
def test_normal_equation_matches_lstsq_and_sklearn(kata, seed, n, d):
    X, y = _data(seed, n, d)
    w, b = _check_wb(kata.fit_normal_equation(X, y), d, "fit_normal_equation")
    lr = LinearRegression().fit(X, y)
    assert_close(lr.coef_, _lstsq(X, y)[0], what="oracle self-check")  # the premise
    w0 = np.linalg.lstsq(X, y, rcond=None)[0]
    if np.allclose(w, w0, rtol=1e-6) and abs(b) < 1e-12:
        raise AssertionError("fit_normal_equation has no intercept: it fitted y ~ X @ w "
                             "through the origin. Append a column of ones to X.")
    assert_close(w, lr.coef_, what="fit_normal_equation w (sklearn LinearRegression coef_)",
                 rtol=1e-7, atol=1e-9)
    assert_close(b, lr.intercept_, what="fit_normal_equation b (sklearn intercept_)",
                 rtol=1e-7, atol=1e-9)


def test_normal_equation_recovers_a_noise_free_model_exactly(kata):
    X, _ = _data(3, 12, 4)
    w_true, b_true = np.array([1.5, -2.0, 0.25, 4.0]), -7.0
    w, b = _check_wb(kata.fit_normal_equation(X, X @ w_true + b_true), 4, "fit_normal_equation")
    assert_close(w, w_true, what="w on y = X @ w_true + b_true exactly", rtol=1e-9, atol=1e-10)
    assert_close(b, b_true, what="b on y = X @ w_true + b_true exactly (the intercept)",
                 rtol=1e-9, atol=1e-10)


def test_normal_equation_accepts_lists(kata):
    X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 5.0], [1.0, 1.0]]
    y = [1.0, 2.0, 0.5, 3.0, -1.0]
    w, b = _check_wb(kata.fit_normal_equation(X, y), 2, "fit_normal_equation on lists")
    lr = LinearRegression().fit(np.array(X), np.array(y))
    assert_close(np.append(w, b), np.append(lr.coef_, lr.intercept_),
                 what="fit_normal_equation on nested lists (convert with np.asarray)")


@pytest.mark.parametrize("seed", [4, 5])
def test_normal_equation_is_accurate_when_x_is_ill_conditioned(kata, seed):
    # Two features differ by 1e-6 noise: cond([X, 1]) ~ 2e6, so cond(A.T A) ~ 4e12. The data
    # are noise-free, so the exact answer is known; SVD keeps ~1e-10 of it, normal equations
    # only ~1e-3.
    rng = np.random.default_rng(seed)
    n = 40
    x1, x3 = rng.normal(size=n), rng.normal(size=n)
    X = np.column_stack([x1, x1 + 1e-6 * rng.normal(size=n), x3])
    w_true, b_true = np.array([2.0, -1.0, 0.5]), 3.0
    w, b = _check_wb(kata.fit_normal_equation(X, X @ w_true + b_true), 3, "fit_normal_equation")
    if not np.allclose(np.append(w, b), np.append(w_true, b_true), rtol=1e-6, atol=1e-6):
        raise AssertionError(
            f"fit_normal_equation on an ill-conditioned X (cond ~ 2e6) gave w = {w}, b = {b}; "
            f"the exact answer is w = {w_true}, b = {b_true}. Solving A.T A theta = A.T y squares "
            "the condition number; use np.linalg.lstsq(A, y, rcond=None).")


def test_normal_equation_handles_a_duplicated_feature(kata):
    # A duplicated column makes A.T A exactly singular; the best predictions still exist.
    X, y = _data(6, 30, 2)
    X = np.column_stack([X, X[:, 0]])
    try:
        w, b = _check_wb(kata.fit_normal_equation(X, y), 3, "fit_normal_equation")
    except np.linalg.LinAlgError as err:
        raise AssertionError(
            f"fit_normal_equation raised LinAlgError ({err}) on a rank-deficient X (a duplicated "
            "feature): A.T A is singular. np.linalg.lstsq returns the minimum-norm solution."
        ) from None
    lr = LinearRegression().fit(X, y)
    assert_close(X @ w + b, lr.predict(X), what="predictions with a duplicated feature",
                 rtol=1e-7, atol=1e-8)
    assert_close(w[0], w[2], what="weights of the two identical features (minimum norm splits "
                                  "them equally)", rtol=1e-7, atol=1e-8)


# ----------------------------------------------------------------------------- gradient

GRAD_CASES = [(7, 25, 4), (8, 6, 9), (9, 13, 1)]  # n > d, n < d, d = 1


def _mse_grad(kata, X, y, w, b):
    try:
        out = kata.mse_grad(X, y, w, b)
    except ValueError as err:
        raise AssertionError(
            f"mse_grad raised ValueError for X of shape {X.shape} ({err}): the weight gradient "
            "is X.T @ r, (d, n) @ (n,) -> (d,).") from err
    assert isinstance(out, tuple) and len(out) == 2, f"mse_grad must return (dw, db), got {out!r}"
    return out


def _check_grad(actual, expected, n, what):
    assert actual is not None, f"{what}: got None"
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == np.shape(expected), (
        f"{what}: shape {actual.shape}, expected {np.shape(expected)}: dw = 2 * X.T @ r / n has "
        "the shape of w")
    suspects = [
        (expected / 2, "is half the gradient of mean(r^2): that is the 1/2 * mean(r^2) "
                       "convention; here the factor is 2 / n"),
        (expected * n, "is n times too large: the loss is a mean, divide by n"),
        (expected * n / 2, "is the gradient of the SUM of squares / 2; divide by n, factor 2"),
        (-expected, "has the wrong sign: the residual is prediction minus target"),
        (np.zeros_like(expected), "is zero: b needs its gradient too, db = 2 * mean(r)"),
    ]
    for cand, msg in suspects:
        if np.allclose(actual, cand, rtol=1e-5, atol=1e-8) and not np.allclose(
                cand, expected, rtol=1e-5, atol=1e-8):
            raise AssertionError(f"{what} {msg}.")
    assert_close(actual, expected, what=what, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("seed, n, d", GRAD_CASES)
def test_mse_grad_matches_finite_differences(kata, seed, n, d):
    X, y = _data(seed, n, d)
    rng = np.random.default_rng(seed + 50)
    w, b = rng.normal(size=d), -0.7
    dw, db = _mse_grad(kata, X, y, w, b)
    fd_w, fd_b = _fd_grad(X, y, w, b)
    _check_grad(dw, fd_w, n, "mse_grad dw")
    assert np.ndim(db) == 0, f"mse_grad db must be a scalar, got {db!r}"
    _check_grad(db, fd_b, n, "mse_grad db")


def test_mse_grad_at_zero_is_minus_two_x_t_y_over_n(kata):
    X, y = _data(10, 17, 3)
    dw, db = _mse_grad(kata, X, y, np.zeros(3), 0.0)
    _check_grad(dw, -2.0 * X.T @ y / 17, 17, "mse_grad dw at w = 0, b = 0")
    _check_grad(db, -2.0 * y.mean(), 17, "mse_grad db at w = 0, b = 0")


# ----------------------------------------------------------------------------- gradient descent


def test_gd_with_zero_epochs_returns_zeros(kata):
    X, y = _data(11, 20, 3)
    w, b = _check_wb(kata.fit_gradient_descent(X, y, lr=0.1, epochs=0), 3,
                     "fit_gradient_descent")
    assert_close(w, np.zeros(3), what="w after 0 epochs (start from zeros, take no step)")
    assert_close(b, 0.0, what="b after 0 epochs")


@pytest.mark.parametrize("epochs", [1, 2, 3, 8])
def test_gd_follows_the_hand_rolled_trajectory(kata, epochs):
    X, y = _data(12, 30, 4, loc=1.0)  # uncentred features: w and b interact
    lr = 0.05
    w, b = _check_wb(kata.fit_gradient_descent(X, y, lr=lr, epochs=epochs), 4,
                     "fit_gradient_descent")
    got = np.append(w, b)
    want = np.append(*_ref_gd(X, y, lr, epochs))
    suspects = [
        (dict(epochs=epochs - 1), "took one step too few: loop exactly `epochs` times"),
        (dict(epochs=epochs + 1), "took one step too many: loop exactly `epochs` times"),
        (dict(factor=1.0), "used the gradient of 1/2 * mean(r^2) (factor 1 / n); the loss is "
                           "mean(r^2), so the factor is 2 / n"),
        (dict(factor=2.0 * len(y)), "summed instead of averaging: the gradient is n times too "
                                    "large"),
        (dict(lr=1.0), "ignored lr: each step is lr * gradient"),
        (dict(sequential=True), "updated w first and computed db from the new w: compute dw "
                                "and db at the same point, then update both"),
    ]
    if not np.allclose(got, want, rtol=1e-7, atol=1e-9):
        for change, message in suspects:
            args = dict(lr=lr, epochs=epochs) | change
            with np.errstate(all="ignore"):
                alt = np.append(*_ref_gd(X, y, **args))
            if np.allclose(got, alt, rtol=1e-7, atol=1e-9):
                raise AssertionError(f"fit_gradient_descent after {epochs} epoch(s) {message}.")
    assert_close(got, want, what=f"(w, b) after {epochs} GD epoch(s) with lr={lr}",
                 rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed, n, d", [(13, 200, 3), (14, 60, 8)])
def test_gd_converges_to_the_least_squares_optimum(kata, seed, n, d):
    X, y = _data(seed, n, d)
    X = (X - X.mean(axis=0)) / X.std(axis=0)  # standardised: well conditioned
    w, b = _check_wb(kata.fit_gradient_descent(X, y, lr=0.1, epochs=600), d,
                     "fit_gradient_descent")
    w_opt, b_opt = _lstsq(X, y)
    assert_close(np.append(w, b), np.append(w_opt, b_opt),
                 what="GD (w, b) after 600 epochs vs the lstsq optimum", rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- mse


@pytest.mark.parametrize("seed, n", [(15, 9), (16, 100)])
def test_mse_matches_sklearn(kata, seed, n):
    rng = np.random.default_rng(seed)
    y, yhat = rng.normal(2.0, 3.0, n), rng.normal(1.0, 3.0, n)
    got = kata.mse(y, yhat)
    assert got is not None and np.ndim(got) == 0, f"mse must return a scalar, got {got!r}"
    assert isinstance(got, float), f"mse must return a Python float, got {type(got).__name__}"
    want = mean_squared_error(y, yhat)
    d = y - yhat
    for value, msg in [(np.sqrt(want), "is the RMSE: mse has no square root"),
                       (np.mean(np.abs(d)), "is the mean ABSOLUTE error: square the differences"),
                       (np.mean(d), "is the mean difference: square before averaging"),
                       (n * want, "is the sum of squares: take the mean")]:
        if np.isclose(got, value, rtol=1e-9):
            raise AssertionError(f"mse = {got:.6g} {msg}.")
    assert_close(got, want, what="mse (sklearn mean_squared_error)")


def test_mse_by_hand(kata):
    # differences 1, -2, 3: squares 1, 4, 9, mean 14 / 3
    assert_close(kata.mse([1.0, 0.0, 5.0], [0.0, 2.0, 2.0]), 14.0 / 3.0, what="mse by hand")
