"""Logistic regression from scratch (numpy only).

Build binary logistic regression trained by full-batch gradient descent:

    sigmoid(z)                     elementwise 1 / (1 + exp(-z)); any shape in, same shape out
    bce_loss(y, p, eps=1e-12)      mean binary cross-entropy, a float
    bce_grad(X, y, w, b)           (dw, db): gradient of the mean BCE w.r.t. w and b
    fit(X, y, lr, epochs, l2=0.0)  (w, b) after `epochs` gradient-descent steps from zeros
    predict_proba(X, w, b)         (n,) probabilities P(y = 1 | x)
    predict(X, w, b)               (n,) int64 labels: 1 where the probability is >= 0.5

Shapes and dtypes: X is (n, d) float64, y is (n,) with values in {0, 1} (ints or floats),
w is (d,) float64, b is a float. Every returned array is float64 (labels are int64); dw has
the shape of w, db is a scalar.

Conventions:
- The loss is averaged over the n samples, never summed:
      L(w, b) = -(1/n) * sum_i [ y_i log p_i + (1 - y_i) log(1 - p_i) ],  p = sigmoid(X @ w + b)
  so its gradient is dw = X.T @ (p - y) / n and db = mean(p - y).
- bce_loss clips p to [eps, 1 - eps] with eps = 1e-12 before taking logs, so a confident
  wrong prediction costs -log(1e-12) ~= 27.63 instead of inf, and p = 0 or 1 never gives NaN.
- fit minimises J(w, b) = L(w, b) + (l2 / 2) * ||w||^2. The bias is not penalised, so one
  step is
      w <- w - lr * (dw + l2 * w)
      b <- b - lr * db
  starting from w = 0, b = 0. Exactly `epochs` steps; `epochs = 0` returns the zeros.
  w and b are updated together from the gradient at the current point.

Pitfalls an interviewer looks for:
- sigmoid must not overflow: 1 / (1 + exp(-z)) computes exp(1000) for z = -1000 (an overflow
  warning), and exp(z) / (1 + exp(z)) gives inf / inf = NaN for z = 1000. Only ever
  exponentiate a non-positive number.
- The error term is p - y (prediction minus target); y - p points uphill.
- Divide by n in both the loss and the gradient, and do not forget the bias gradient.
- The L2 gradient of (l2 / 2) * ||w||^2 is l2 * w, and the bias is left out of it.
"""

import numpy as np


def sigmoid(z):
    """Elementwise logistic function 1 / (1 + exp(-z)), stable for |z| ~ 1e3.

    z: array-like of any shape. Returns a float64 array of the same shape, with no overflow
    warning and no NaN: sigmoid(-1000) == 0.0 and sigmoid(1000) == 1.0 are fine.
    """
    # >>> TODO: a sigmoid that never overflows, whatever the sign and size of z
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # in (0, 1]: cannot overflow
    # z >= 0: 1 / (1 + exp(-z));  z < 0: exp(z) / (1 + exp(z)), the same value rewritten.
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    # <<<


def bce_loss(y, p, eps=1e-12):
    """Binary cross-entropy averaged over samples.

    y: (n,) targets in {0, 1}; p: (n,) predicted probabilities of class 1.
    p is clipped to [eps, 1 - eps] before the logs. Returns a Python float.
    """
    # >>> TODO: clip p to [eps, 1 - eps], then return the mean of -(y log p + (1 - y) log(1 - p))
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
    # <<<


def bce_grad(X, y, w, b):
    """Gradient of the mean BCE of sigmoid(X @ w + b) against y (no regularisation).

    X: (n, d), y: (n,), w: (d,), b: float. Returns (dw, db): dw is (d,) float64, db a float.
    """
    # >>> TODO: the gradient of the mean BCE: dw with the shape of w, db a float
    n = X.shape[0]
    err = sigmoid(X @ w + b) - y  # (n,): dL/dz_i times n
    dw = X.T @ err / n  # (d,)
    db = float(np.mean(err))
    return dw, db
    # <<<


def fit(X, y, lr, epochs, l2=0.0):
    """Full-batch gradient descent on J(w, b) = mean BCE + (l2 / 2) * ||w||^2.

    Starts from w = zeros(d), b = 0.0 and takes exactly `epochs` steps of size `lr`:
        w <- w - lr * (dw + l2 * w),   b <- b - lr * db
    with (dw, db) = bce_grad(X, y, w, b) at the current point. The bias is not penalised.
    Returns (w, b): w is (d,) float64, b a float.
    """
    # >>> TODO: loop `epochs` times: take the BCE gradient, add l2 * w to dw only, step both
    w = np.zeros(X.shape[1])
    b = 0.0
    for _ in range(epochs):
        dw, db = bce_grad(X, y, w, b)
        w = w - lr * (dw + l2 * w)  # d/dw of (l2/2)||w||^2 is l2 * w
        b = b - lr * db  # no penalty on the bias
    return w, float(b)
    # <<<


def predict_proba(X, w, b):
    """P(y = 1 | x) for each row of X: sigmoid(X @ w + b), shape (n,), float64."""
    # >>> TODO: the sigmoid of the logits X @ w + b
    return sigmoid(X @ w + b)
    # <<<


def predict(X, w, b):
    """Class labels: 1 where predict_proba(X, w, b) >= 0.5, else 0. Shape (n,), int64."""
    # >>> TODO: threshold the probabilities at 0.5 (a tie goes to class 1)
    return (predict_proba(X, w, b) >= 0.5).astype(np.int64)
    # <<<
