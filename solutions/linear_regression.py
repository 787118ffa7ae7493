"""Linear regression from scratch (numpy only): the closed form and gradient descent.

Fit y ~ X @ w + b by least squares, two ways, and score it:

    fit_normal_equation(X, y)                 (w, b): the exact least-squares fit, closed form
    mse_grad(X, y, w, b)                      (dw, db): gradient of the MSE w.r.t. w and b
    fit_gradient_descent(X, y, lr, epochs)    (w, b) after `epochs` full-batch GD steps
    mse(y_true, y_pred)                       mean squared error, a float

Shapes and dtypes: X is (n, d) float64, y is (n,) float64 (1-D: a (n, 1) column would
broadcast against the (n,) predictions into an (n, n) matrix), w is (d,) float64, b a Python
float. dw has the shape of w, db is a float.

Conventions
-----------
- The closed form solves the least-squares problem on the design matrix with a column of ones
  appended, A = [X, 1] of shape (n, d + 1), so that theta = [w, b] minimises ||A theta - y||^2.
  Use np.linalg.lstsq (SVD), not np.linalg.solve on the normal equations A.T A theta = A.T y:
  forming A.T A squares the condition number (cond 1e7 -> 1e14, most digits lost), and a
  rank-deficient X (a duplicated feature, n < d + 1) makes A.T A singular, where lstsq still
  returns the minimum-norm solution with the best predictions.
- The gradient-descent loss is the plain mean of squared residuals, with no 1/2 in front:
      L(w, b) = mean((X @ w + b - y)^2),   r = X @ w + b - y  (prediction minus target)
      dL/dw = (2 / n) * X.T @ r            dL/db = 2 * mean(r)
- fit_gradient_descent starts from w = zeros(d), b = 0.0 and takes exactly `epochs` steps
      w <- w - lr * dw,   b <- b - lr * db
  with dw and db both computed at the current (w, b) before either is updated.
  `epochs = 0` returns the zeros.
- mse(y_true, y_pred) = mean((y_true - y_pred)^2): squared, averaged, no square root.

Pitfalls an interviewer looks for
---------------------------------
- Forgetting the intercept (no column of ones, or b never updated).
- Shapes: the weight gradient is X.T @ r, shape (d,); X @ r only runs when n == d.
- The factor: with L = mean(r^2) the gradient carries 2 / n; a sum instead of a mean makes it
  n times too large, and the 1/2-convention gradient (1 / n) is half of it.
- Updating w and then computing db from the new w (a different, sequential algorithm).
"""

import numpy as np


def fit_normal_equation(X, y):
    """Exact least-squares fit with an intercept.

    X: (n, d), y: (n,). Returns (w, b): w is (d,) float64, b a float, minimising
    ||X @ w + b - y||^2 (the minimum-norm minimiser when X is rank-deficient).
    """
    # >>> TODO: augment X so the intercept is fitted too, and solve the least-squares problem
    X = np.asarray(X, dtype=np.float64)  # (n, d)
    y = np.asarray(y, dtype=np.float64)  # (n,)
    A = np.column_stack([X, np.ones(X.shape[0])])  # (n, d + 1): the ones column carries b
    theta = np.linalg.lstsq(A, y, rcond=None)[0]  # (d + 1,); SVD, never forms A.T @ A
    return theta[:-1], float(theta[-1])
    # <<<


def mse_grad(X, y, w, b):
    """Gradient of L(w, b) = mean((X @ w + b - y)^2).

    X: (n, d), y: (n,), w: (d,), b: float. Returns (dw, db): dw is (d,) float64, db a float.
    """
    # >>> TODO: residuals (prediction minus target), then dL/dw and dL/db of the mean
    n = X.shape[0]
    r = X @ w + b - y  # (n,)
    dw = 2.0 * (X.T @ r) / n  # (d,): (d, n) @ (n,)
    db = 2.0 * float(np.mean(r))
    return dw, db
    # <<<


def fit_gradient_descent(X, y, lr, epochs):
    """Full-batch gradient descent on mean((X @ w + b - y)^2).

    Starts from w = zeros(d), b = 0.0 and takes exactly `epochs` steps of size `lr`, both
    parameters moving along the gradient at the current point. Returns (w, b): w is (d,)
    float64, b a float.
    """
    # >>> TODO: start from zeros and take exactly `epochs` simultaneous steps on w and b
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.zeros(X.shape[1])  # (d,)
    b = 0.0
    for _ in range(epochs):
        dw, db = mse_grad(X, y, w, b)  # both at the current (w, b)
        w = w - lr * dw
        b = b - lr * db
    return w, float(b)
    # <<<


def mse(y_true, y_pred):
    """Mean squared error of two (n,) arrays, a Python float."""
    # >>> TODO: the mean of the squared differences
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return float(np.mean((y_true - y_pred) ** 2))
    # <<<
