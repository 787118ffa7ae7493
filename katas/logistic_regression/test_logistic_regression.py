"""Tests for the logistic_regression kata.

Oracles: scipy.special.expit for the sigmoid, xlogy for the loss, central finite differences
for the gradient, a hand-rolled gradient-descent loop for the first few epochs of `fit`, and
scipy.optimize.minimize (L-BFGS-B) on the same mean-BCE + (l2/2)||w||^2 objective for the
optimum that `fit` must converge to.
"""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, xlogy

from dojo.testing import assert_close

EPS = 1e-12


# ----------------------------------------------------------------------------- references


def _data(seed, n=40, d=3, bias=0.8, scale=1.0):
    """Standardised features and noisy labels from a logistic model with an intercept."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d) * scale
    y = (rng.random(n) < expit(X @ w_true + bias)).astype(np.int64)
    return X, y


def _ref_loss(y, p, eps=EPS):
    p = np.clip(p, eps, 1 - eps)
    return -np.mean(xlogy(y, p) + xlogy(1 - y, 1 - p))


def _ref_grad(X, y, w, b):
    err = expit(X @ w + b) - y
    return X.T @ err / len(y), err.mean()


def _ref_fit(X, y, lr, epochs, l2, *, l2_factor=1.0, l2_on_bias=False):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        dw, db = _ref_grad(X, y, w, b)
        w, b = (
            w - lr * (dw + l2_factor * l2 * w),
            b - lr * (db + (l2_factor * l2 * b if l2_on_bias else 0.0)),
        )
    return w, b


def _objective(theta, X, y, l2, l2_on_bias=False):
    w, b = theta[:-1], theta[-1]
    reg = w @ w + (b * b if l2_on_bias else 0.0)
    dw, db = _ref_grad(X, y, w, b)
    if l2_on_bias:
        db = db + l2 * b
    return _ref_loss(y, expit(X @ w + b)) + 0.5 * l2 * reg, np.append(dw + l2 * w, db)


def _optimum(X, y, l2, l2_on_bias=False):
    res = minimize(_objective, np.zeros(X.shape[1] + 1), args=(X, y, l2, l2_on_bias),
                   jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                                                         "maxiter": 10_000})
    return res.x[:-1], res.x[-1]


def _fd_grad(X, y, w, b, h=1e-6):
    """Central differences of the mean BCE with respect to w and b."""
    def loss(w_, b_):
        return _ref_loss(y, expit(X @ w_ + b_))

    dw = np.empty_like(w)
    for j in range(len(w)):
        e = np.zeros_like(w)
        e[j] = h
        dw[j] = (loss(w + e, b) - loss(w - e, b)) / (2 * h)
    db = (loss(w, b + h) - loss(w, b - h)) / (2 * h)
    return dw, db


def _check_grad(actual, expected, *, what, n):
    """Compare a gradient, naming the classic bug when the error has a recognisable shape."""
    if actual is None:
        raise AssertionError(f"{what}: got None; did you forget to return (dw, db)?")
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{what}: shape {actual.shape}, expected {expected.shape}. dw has the shape of w, "
            "(d,): it is X.T @ (p - y) / n, with X.T of shape (d, n) and p - y of shape (n,)."
        )
    suspects = [
        (expected * n, "is n times too large: the loss is a mean, so divide the gradient by n"),
        (expected / n, "is n times too small: divide by n once, not twice"),
        (-expected, "has the wrong sign: the error term is p - y (prediction minus target)"),
        (-expected * n, "has the wrong sign and is n times too large: use (p - y) and divide "
                        "by n"),
        (np.zeros_like(expected), "is zero: every parameter, the bias included, needs its "
                                  "gradient (db = mean(p - y))"),
    ]
    for candidate, message in suspects:
        if np.allclose(actual, candidate, rtol=1e-5, atol=1e-8) and not np.allclose(
            candidate, expected, rtol=1e-5, atol=1e-8
        ):
            raise AssertionError(f"{what} {message}.")
    assert_close(actual, expected, what=what, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- sigmoid


def test_sigmoid_matches_expit_elementwise_and_keeps_the_shape(kata):
    z = np.random.default_rng(0).normal(scale=8.0, size=(5, 7))
    s = kata.sigmoid(z)
    assert np.asarray(s).dtype == np.float64, f"sigmoid must return float64, got {s.dtype}"
    assert_close(s, expit(z), what="sigmoid(z)")


def test_sigmoid_does_not_overflow_or_give_nan_for_huge_inputs(kata):
    z = np.array([-1000.0, -800.0, -745.0, -40.0, -1e-3, 0.0, 1e-3, 40.0, 745.0, 800.0, 1000.0])
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            s = kata.sigmoid(z)
    except (FloatingPointError, OverflowError) as err:
        raise AssertionError(
            f"sigmoid overflowed for |z| ~ 1e3 ({err}). 1 / (1 + exp(-z)) computes exp(1000) "
            "when z = -1000: exponentiate only -|z| and pick the formula by the sign of z."
        ) from None
    assert np.all(np.isfinite(s)), (
        f"sigmoid gave NaN or inf: {s}. exp(z) / (1 + exp(z)) is inf / inf for z = 1000; "
        "use 1 / (1 + exp(-z)) for z >= 0."
    )
    assert_close(s, expit(z), what="sigmoid at |z| up to 1000")


def test_sigmoid_keeps_relative_precision_in_the_negative_tail(kata):
    z = np.array([-40.0, -100.0, -700.0])
    s = kata.sigmoid(z)
    assert np.all(np.asarray(s) > 0), (
        f"sigmoid({z}) = {s}: these are tiny but positive. 1 - sigmoid(-z) cancels to 0; "
        "compute exp(z) / (1 + exp(z)) for negative z."
    )
    assert_close(s, expit(z), what="sigmoid in the negative tail", rtol=1e-12, atol=0.0)


# ----------------------------------------------------------------------------- bce_loss


@pytest.mark.parametrize("seed, n", [(1, 13), (2, 64)])
def test_bce_loss_is_the_mean_over_samples(kata, seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    p = rng.uniform(0.02, 0.98, size=n)
    loss = kata.bce_loss(y, p)
    expected = _ref_loss(y, p)
    assert loss is not None, "bce_loss returned None; did you forget to return the loss?"
    assert np.ndim(loss) == 0, f"bce_loss must return a scalar, got shape {np.shape(loss)}"
    if np.isclose(loss, n * expected, rtol=1e-9):
        raise AssertionError(f"bce_loss is {loss:.6g}, n = {n} times too large: average over "
                             "samples (np.mean), do not sum.")
    if np.isclose(loss, -expected, rtol=1e-9):
        raise AssertionError(f"bce_loss is {loss:.6g}, negative: the loss is MINUS the mean "
                             "log-likelihood.")
    assert_close(loss, expected, what="bce_loss")


def test_bce_loss_of_a_coin_flip_is_log_2(kata):
    loss = kata.bce_loss(np.array([1, 0, 1, 1, 0]), np.full(5, 0.5))
    assert_close(loss, np.log(2.0), what="bce_loss(y, 0.5)")


def test_bce_loss_clips_p_so_confident_mistakes_cost_minus_log_eps(kata):
    y = np.array([1.0, 0.0])
    p = np.array([0.0, 1.0])  # certain and wrong, on both sides
    with np.errstate(all="ignore"):
        loss = kata.bce_loss(y, p)
    assert np.isfinite(loss), (
        f"bce_loss(y=[1, 0], p=[0, 1]) = {loss}: clip p to [eps, 1 - eps] (eps = 1e-12), on "
        "both sides, before taking logs."
    )
    assert_close(loss, _ref_loss(y, p), what="bce_loss of certain mistakes (~ -log(1e-12))")


def test_bce_loss_of_certain_correct_predictions_is_zero_not_nan(kata):
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([1.0, 0.0, 1.0])
    with np.errstate(all="ignore"):
        loss = kata.bce_loss(y, p)
    assert np.isfinite(loss), (
        f"bce_loss(y, p=y) = {loss}: 0 * log(0) is NaN in numpy. Clip p to [eps, 1 - eps] "
        "before the logs."
    )
    assert_close(loss, 0.0, what="bce_loss of certain correct predictions", atol=1e-10)


def test_bce_loss_uses_the_eps_argument(kata):
    with np.errstate(all="ignore"):
        loss = kata.bce_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0]), eps=1e-3)
    assert_close(loss, _ref_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0]), eps=1e-3),
                 what="bce_loss with eps=1e-3 (clip to [eps, 1 - eps] with the eps passed in)")


# ----------------------------------------------------------------------------- bce_grad


GRAD_CASES = [(3, 60, 4), (4, 9, 13), (5, 25, 1)]  # (seed, n, d): n > d, n < d, d = 1


def _bce_grad(kata, X, y, w, b):
    """Call kata.bce_grad, turning a matmul shape error into a hint about the transpose."""
    try:
        out = kata.bce_grad(X, y, w, b)
    except ValueError as err:
        raise AssertionError(
            f"bce_grad raised ValueError for X of shape {X.shape} ({err}). With X (n, d) and "
            "p - y of shape (n,), the weight gradient is X.T @ (p - y) / n."
        ) from err
    assert isinstance(out, tuple) and len(out) == 2, (
        f"bce_grad must return a tuple (dw, db), got {out!r}"
    )
    return out


def _grad_case(seed, n, d):
    X, y = _data(seed, n=n, d=d)
    rng = np.random.default_rng(seed + 100)
    return X, y, rng.normal(size=d), 1.5


@pytest.mark.parametrize("seed, n, d", GRAD_CASES)
def test_bce_grad_dw_matches_finite_differences(kata, seed, n, d):
    X, y, w, b = _grad_case(seed, n, d)
    dw, _ = _bce_grad(kata, X, y, w, b)
    _check_grad(dw, _fd_grad(X, y, w, b)[0], what="bce_grad dw", n=n)


@pytest.mark.parametrize("seed, n, d", GRAD_CASES)
def test_bce_grad_db_matches_finite_differences(kata, seed, n, d):
    X, y, w, b = _grad_case(seed, n, d)
    _, db = _bce_grad(kata, X, y, w, b)
    assert db is not None and np.ndim(db) == 0, f"db must be a scalar, got {db!r}"
    _check_grad(db, _fd_grad(X, y, w, b)[1], what="bce_grad db", n=n)


def test_bce_grad_at_zero_weights_has_the_closed_form(kata):
    # With w = 0 and b = 0 every p is 1/2: dw = X.T @ (1/2 - y) / n, db = 1/2 - mean(y).
    X, y = _data(6, n=31, d=5)
    dw, db = _bce_grad(kata, X, y, np.zeros(5), 0.0)
    _check_grad(dw, X.T @ (0.5 - y) / 31, what="bce_grad dw at w = 0", n=31)
    _check_grad(db, 0.5 - y.mean(), what="bce_grad db at w = 0", n=31)


# ----------------------------------------------------------------------------- fit


def test_fit_with_zero_epochs_returns_the_zero_initialisation(kata):
    X, y = _data(7, n=20, d=3)
    w, b = kata.fit(X, y, lr=0.5, epochs=0, l2=0.1)
    assert_close(w, np.zeros(3), what="w after 0 epochs (start from zeros, take no step)")
    assert_close(b, 0.0, what="b after 0 epochs")


@pytest.mark.parametrize("epochs", [1, 2, 3, 7])
def test_fit_follows_the_gradient_descent_trajectory(kata, epochs):
    X, y = _data(8, n=30, d=3, bias=1.5)
    lr, l2 = 0.3, 0.5
    w, b = kata.fit(X, y, lr=lr, epochs=epochs, l2=l2)
    assert w is not None and np.shape(w) == (3,), f"fit must return w of shape (d,), got {w!r}"
    assert np.asarray(w).dtype == np.float64, "fit must return w as float64"
    assert np.ndim(b) == 0, f"fit must return b as a scalar, got {b!r}"
    got = np.append(w, b)
    suspects = [
        ({"epochs": epochs - 1}, "it took one step too few: loop exactly `epochs` times"),
        ({"epochs": epochs + 1}, "it took one step too many: loop exactly `epochs` times"),
        ({"lr": 1.0}, "it ignores lr: each step is lr * gradient"),
        ({"l2_on_bias": True}, "it penalises the bias: l2 * w goes into dw only, not into db"),
        ({"l2_factor": 0.5}, "its L2 term is half what it should be: the gradient of "
                             "(l2/2) * ||w||^2 is l2 * w"),
        ({"l2_factor": 2.0}, "its L2 term is twice what it should be: the gradient of "
                             "(l2/2) * ||w||^2 is l2 * w, not 2 * l2 * w"),
        ({"l2_factor": -1.0}, "its L2 term has the wrong sign: add l2 * w to dw"),
        ({"l2_factor": 0.0}, "it ignores l2: add l2 * w to dw"),
    ]
    want = np.append(*_ref_fit(X, y, lr, epochs, l2))
    if not np.allclose(got, want, rtol=1e-7, atol=1e-9):
        for change, message in suspects:
            args = {"lr": lr, "epochs": epochs, "l2": l2} | change
            extra = {k: args.pop(k) for k in ("l2_factor", "l2_on_bias") if k in args}
            alt = np.append(*_ref_fit(X, y, **args, **extra))
            if np.allclose(got, alt, rtol=1e-7, atol=1e-9):
                raise AssertionError(f"fit after {epochs} epoch(s): {message}.")
    assert_close(got, want, what=f"(w, b) after {epochs} epoch(s) with lr={lr}, l2={l2} (each "
                                 "step: w -= lr * (dw + l2 * w), b -= lr * db, both from the "
                                 "gradient at the current point)")


@pytest.mark.parametrize("seed, l2", [(9, 0.0), (10, 0.1), (11, 1.0)])
def test_fit_converges_to_the_minimiser_of_mean_bce_plus_half_l2_norm(kata, seed, l2):
    X, y = _data(seed, n=200, d=3, bias=-1.0)
    w, b = kata.fit(X, y, lr=1.0, epochs=400, l2=l2)
    got = np.append(w, b)
    want = np.append(*_optimum(X, y, l2))
    if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
        if l2 > 0 and np.allclose(got, np.append(*_optimum(X, y, l2, l2_on_bias=True)),
                                  rtol=1e-5, atol=1e-6):
            raise AssertionError("fit converged to the optimum with the bias penalised: "
                                 "leave b out of the L2 term.")
        for factor, name in [(2.0, "twice"), (0.5, "half")]:
            if l2 > 0 and np.allclose(got, np.append(*_optimum(X, y, factor * l2)),
                                      rtol=1e-5, atol=1e-6):
                raise AssertionError(f"fit converged to the optimum for {name} the l2 given: "
                                     "the gradient of (l2/2) * ||w||^2 is l2 * w.")
    assert_close(got, want, what=f"(w, b) after convergence with l2={l2} (scipy L-BFGS optimum)",
                 rtol=1e-5, atol=1e-6)


def test_fit_accepts_float_and_integer_labels_alike(kata):
    X, y = _data(12, n=25, d=2)
    w_int, b_int = kata.fit(X, y, lr=0.5, epochs=4, l2=0.2)
    w_flt, b_flt = kata.fit(X, y.astype(np.float64), lr=0.5, epochs=4, l2=0.2)
    assert_close(np.append(w_int, b_int), np.append(w_flt, b_flt),
                 what="fit with int labels vs float labels")


# ----------------------------------------------------------------------------- prediction


def test_predict_proba_is_the_sigmoid_of_the_logits_with_bias(kata):
    rng = np.random.default_rng(13)
    X, w, b = rng.normal(size=(17, 4)), rng.normal(size=4), -1.3
    p = kata.predict_proba(X, w, b)
    assert_close(p, expit(X @ w + b), what="predict_proba (sigmoid(X @ w + b), bias included)")


def test_predict_proba_is_stable_for_huge_logits(kata):
    X = np.array([[-500.0], [500.0], [0.0]])
    with np.errstate(over="raise", invalid="raise", under="ignore"):
        try:
            p = kata.predict_proba(X, np.array([2.0]), 0.0)
        except FloatingPointError as err:
            raise AssertionError(f"predict_proba overflowed for logits of +-1000 ({err}): "
                                 "use your stable sigmoid.") from None
    assert_close(p, expit(X[:, 0] * 2.0), what="predict_proba at logits -1000, 1000, 0")


def test_predict_thresholds_at_one_half_and_ties_go_to_class_one(kata):
    X = np.array([[-2.0], [0.4], [3.0], [0.501], [0.499], [0.5]])
    labels = kata.predict(X, np.array([1.0]), -0.5)  # logits X - 0.5: exactly 0 on the last row
    assert labels is not None and np.asarray(labels).dtype.kind in "iu", (
        f"predict must return integer labels, got {labels!r}"
    )
    assert_close(labels, np.array([0, 0, 1, 1, 0, 1]), what="predict labels (1 where p >= 0.5)")
