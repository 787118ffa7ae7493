"""Tests for the regression_metrics kata.

Oracles: sklearn.metrics (mean_absolute_error, mean_squared_error, r2_score, whose
force_finite=True convention defines the constant-y case) and the closed form
1 - (1 - R^2)(n - 1)/(n - p - 1) on sklearn's R^2 for adjusted R^2.
"""

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from dojo.testing import assert_close

METRICS = ("mae", "rmse", "r2")


def _pair(seed, n, loc=10.0):
    """Targets with a large mean (so centring matters) and noisy, imperfect predictions."""
    rng = np.random.default_rng(seed)
    y = rng.normal(loc, 2.0, n)
    yhat = y + rng.normal(0.5, 1.0, n)
    return y, yhat


def _adj(y, yhat, p, *, minus=1):
    n = len(y)
    return 1.0 - (1.0 - r2_score(y, yhat)) * (n - 1) / (n - p - minus)


def _check(got, want, what, suspects):
    """assert_close on a Python float, naming the classic bug whose value `got` matches."""
    assert got is not None, f"{what}: got None; did you forget to return the result?"
    assert isinstance(got, float), f"{what} must be a Python float, got {type(got).__name__}"
    if not np.isclose(got, want, rtol=1e-9, atol=1e-12):
        for value, msg in suspects:
            if np.isclose(got, value, rtol=1e-9, atol=1e-12) and not np.isclose(
                    value, want, rtol=1e-9, atol=1e-12):
                raise AssertionError(f"{what} = {got:.6g}, expected {want:.6g}: {msg}.")
    assert_close(got, want, what=what, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- MAE and RMSE

SIZES = [(0, 7), (1, 50)]


@pytest.mark.parametrize("seed, n", SIZES)
def test_mae_matches_sklearn(kata, seed, n):
    y, yhat = _pair(seed, n)
    e = y - yhat
    _check(kata.mae(y, yhat), mean_absolute_error(y, yhat), "mae", [
        (abs(np.mean(e)), "that is |mean(e)|: take the absolute value before averaging"),
        (np.mean(e), "that is the mean signed error: take |y - yhat|"),
        (np.sum(np.abs(e)), "that is the sum of |e|: take the mean"),
        (np.sqrt(np.mean(e ** 2)), "that is the RMSE"),
    ])


@pytest.mark.parametrize("seed, n", SIZES)
def test_rmse_matches_sklearn(kata, seed, n):
    y, yhat = _pair(seed, n)
    e = y - yhat
    _check(kata.rmse(y, yhat), np.sqrt(mean_squared_error(y, yhat)), "rmse", [
        (np.sqrt(np.sum(e ** 2)), "that is the square root of the SUM of squares: take the mean"),
        (np.mean(np.abs(e)), "that is the mean absolute error: square, average, then sqrt"),
        (np.mean(e ** 2), "that is the MSE: take its square root"),
        (np.sqrt(np.abs(np.mean(e))), "square the errors before averaging"),
    ])


def test_metrics_by_hand(kata):
    y, yhat = [3.0, -1.0, 2.0, 8.0], [2.0, 1.0, 2.0, 4.0]  # errors 1, -2, 0, 4
    _check(kata.mae(y, yhat), 7.0 / 4.0, "mae by hand", [])
    _check(kata.rmse(y, yhat), np.sqrt(21.0 / 4.0), "rmse by hand", [])


def test_mae_and_rmse_of_a_perfect_prediction_are_zero(kata):
    y = np.array([1.5, -2.0, 7.0])
    _check(kata.mae(y, y.copy()), 0.0, "mae(y, y)", [])
    _check(kata.rmse(y, y.copy()), 0.0, "rmse(y, y)", [])


# ----------------------------------------------------------------------------- R^2


@pytest.mark.parametrize("seed, n", [(2, 5), (3, 40), (4, 200)])
def test_r2_matches_sklearn(kata, seed, n):
    y, yhat = _pair(seed, n)
    ss_res = np.sum((y - yhat) ** 2)
    _check(kata.r2(y, yhat), r2_score(y, yhat), "r2", [
        (1 - ss_res / np.sum(y ** 2), "SS_tot is centred on 0; centre it on mean(y)"),
        (r2_score(yhat, y), "the arguments are swapped: r2(y, yhat) centres SS_tot on the TRUE "
                            "targets y"),
        (ss_res / np.sum((y - y.mean()) ** 2), "that is SS_res / SS_tot; R^2 is 1 minus it"),
        (1 - ss_res / np.sum((yhat - yhat.mean()) ** 2), "SS_tot is computed on yhat; use y"),
    ])


def test_r2_is_not_symmetric(kata):
    y, yhat = _pair(5, 30)
    yhat = 0.3 * yhat + 7.0  # a shrunk prediction: the spread of yhat is far below that of y
    forward, backward = kata.r2(y, yhat), kata.r2(yhat, y)
    assert not np.isclose(forward, backward), (
        f"r2(y, yhat) == r2(yhat, y) == {forward:.6g}; R^2 is not symmetric: SS_tot is the "
        "spread of the first argument (the true targets)")
    _check(forward, r2_score(y, yhat), "r2(y, yhat)",
           [(r2_score(yhat, y), "the arguments are swapped")])


def test_r2_by_hand(kata):
    # y = [0, 1, 0, 1]: mean 1/2, SS_tot = 4 * 1/4 = 1. yhat misses the first by 1/2: SS_res =
    # 1/4, so R^2 = 3/4.
    _check(kata.r2([0.0, 1.0, 0.0, 1.0], [0.5, 1.0, 0.0, 1.0]), 0.75, "r2 by hand", [])


def test_r2_reference_points(kata):
    y, _ = _pair(6, 25)
    _check(kata.r2(y, y.copy()), 1.0, "r2 of a perfect prediction", [])
    _check(kata.r2(y, np.full_like(y, y.mean())), 0.0, "r2 of predicting mean(y) everywhere",
           [(1 - np.sum((y - y.mean()) ** 2) / np.sum(y ** 2),
             "SS_tot is centred on 0; centre it on mean(y)")])
    worse = kata.r2(y, y.mean() - (y - y.mean()))  # anti-correlated: worse than the mean
    assert worse is not None and worse < 0, (
        f"r2 of a prediction worse than the mean is {worse}; R^2 = 1 - SS_res / SS_tot is "
        "negative then (do not clip it at 0)")
    _check(worse, -3.0, "r2 of the prediction mirrored around the mean", [])


@pytest.mark.parametrize("yhat, expected", [([3.0, 3.0, 3.0, 3.0], 1.0),
                                            ([3.0, 3.0, 4.0, 3.0], 0.0),
                                            ([2.0, 2.0, 2.0, 2.0], 0.0)])
def test_r2_with_constant_y_follows_sklearn(kata, yhat, expected):
    y = [3.0, 3.0, 3.0, 3.0]
    with np.errstate(all="ignore"):
        got = kata.r2(y, yhat)
    assert got is not None and np.isfinite(got), (
        f"r2 with a constant y gave {got}: SS_tot = 0, so handle it before dividing (1.0 for "
        "a perfect prediction, 0.0 otherwise)")
    assert expected == r2_score(y, yhat)  # the premise: sklearn's force_finite convention
    _check(got, expected, f"r2 with constant y = 3 and yhat = {yhat} (sklearn: 1.0 if perfect, "
                          "else 0.0)", [])


# ----------------------------------------------------------------------------- adjusted R^2


@pytest.mark.parametrize("seed, n, p", [(7, 12, 3), (8, 50, 10), (9, 6, 4)])
def test_adjusted_r2_matches_the_closed_form(kata, seed, n, p):
    y, yhat = _pair(seed, n)
    _check(kata.adjusted_r2(y, yhat, p), _adj(y, yhat, p), f"adjusted_r2 (n={n}, p={p})", [
        (_adj(y, yhat, p, minus=0), "divide by n - p - 1 (the intercept uses a degree of "
                                    "freedom too), not n - p"),
        (1 - (1 - r2_score(y, yhat)) * n / (n - p - 1), "the numerator is n - 1, not n"),
        (r2_score(y, yhat), "that is the plain R^2: apply the (n - 1) / (n - p - 1) penalty"),
        (1 - (1 - r2_score(y, yhat)) * (n - p - 1) / (n - 1), "the ratio is upside down"),
    ])


def test_adjusted_r2_with_no_predictors_is_r2(kata):
    y, yhat = _pair(10, 9)
    _check(kata.adjusted_r2(y, yhat, 0), r2_score(y, yhat), "adjusted_r2 with p = 0", [])


def test_adjusted_r2_at_one_residual_degree_of_freedom(kata):
    y, yhat = _pair(11, 5)  # n - p - 1 = 1: the smallest valid case
    _check(kata.adjusted_r2(y, yhat, 3), _adj(y, yhat, 3), "adjusted_r2 (n=5, p=3)", [])


@pytest.mark.parametrize("n, p", [(5, 4), (5, 5), (3, 7)])
def test_adjusted_r2_raises_without_residual_degrees_of_freedom(kata, n, p):
    y, yhat = _pair(12, n)
    with pytest.raises(ValueError):
        kata.adjusted_r2(y, yhat, p)


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("name", METRICS + ("adjusted_r2",))
def test_metrics_return_python_floats_for_lists(kata, name):
    y, yhat = [1.0, 2.0, 4.0, 3.0], [1.5, 2.0, 3.0, 3.5]
    args = (y, yhat, 1) if name == "adjusted_r2" else (y, yhat)
    got = getattr(kata, name)(*args)
    want = {"mae": mean_absolute_error(y, yhat),
            "rmse": np.sqrt(mean_squared_error(y, yhat)),
            "r2": r2_score(y, yhat),
            "adjusted_r2": _adj(np.array(y), np.array(yhat), 1)}[name]
    _check(got, want, f"{name} on lists", [])


BAD_SHAPES = {
    "column yhat": (np.arange(4.0), np.arange(4.0).reshape(4, 1) + 1.0),
    "column y": (np.arange(4.0).reshape(4, 1), np.arange(4.0) + 1.0),
    "both 2-D": (np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(3, 2) + 1.0),
    "length-1 yhat": (np.arange(4.0), np.array([1.0])),
    "lengths differ": (np.arange(4.0), np.arange(5.0)),
}


@pytest.mark.parametrize("case", BAD_SHAPES)
@pytest.mark.parametrize("name", METRICS + ("adjusted_r2",))
def test_non_1d_or_mismatched_inputs_raise(kata, name, case):
    y, yhat = BAD_SHAPES[case]
    args = (y, yhat, 1) if name == "adjusted_r2" else (y, yhat)
    try:
        with np.errstate(all="ignore"):
            got = getattr(kata, name)(*args)
    except ValueError:
        return
    raise AssertionError(
        f"{name} with y {np.shape(y)} and yhat {np.shape(yhat)} ({case}) returned {got!r}; "
        "inputs must both be 1-D of one length, else ValueError: y (n,) - yhat (n, 1) "
        "broadcasts to (n, n), and a length-1 array broadcasts against anything")
