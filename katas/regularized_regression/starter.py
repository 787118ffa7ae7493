# Your attempt at the `regularized_regression` kata: fill in every TODO, then run
#     nox -s kata -- regularized_regression
# Generated from solutions/regularized_regression.py; `dojo reset regularized_regression` archives this file and starts over.
"""Regularised linear regression from scratch (numpy only): ridge in closed form, and the
lasso and the elastic net by cyclic coordinate descent.

Build four functions:

    ridge(X, y, alpha)                                -> (w, b)
    soft_threshold(x, lam)                            -> sign(x) * max(|x| - lam, 0), elementwise
    lasso_cd(X, y, alpha, n_iter)                     -> (w, b)
    elastic_net_cd(X, y, alpha, l1_ratio, n_iter)     -> (w, b)

X is (n, d) float64, y is (n,) float64; w is returned as a (d,) float64 array and b, the
intercept, as a Python float. alpha >= 0, 0 <= l1_ratio <= 1, lam >= 0.

Objectives (the scalings of sklearn's Ridge, Lasso and ElasticNet)
------------------------------------------------------------------
    ridge:        ||y - X w - b||^2 + alpha ||w||^2                       (no 1/n)
    lasso:        1/(2n) ||y - X w - b||^2 + alpha ||w||_1
    elastic net:  1/(2n) ||y - X w - b||^2 + alpha l1_ratio ||w||_1
                                             + (alpha (1 - l1_ratio) / 2) ||w||^2
The intercept b is never penalised. Minimising over b first gives b = mean(y) - mean(X) @ w,
so centre X and y, solve for w on the centred data without an intercept, then recover b.

Coordinate descent (lasso_cd, elastic_net_cd)
---------------------------------------------
Start from w = 0 and make `n_iter` full sweeps; each sweep visits the coordinates in the
cyclic order j = 0, 1, ..., d-1 and sets w_j to the exact minimiser of the objective with
every other coordinate held at its CURRENT value (so an update is used by the next
coordinate in the same sweep). With Xc, yc the centred data, r = yc - Xc w the current
residual, z_j = ||Xc[:, j]||^2 and rho_j = Xc[:, j] @ r + z_j w_j (the fit of column j to
the residual with its own contribution added back):
    w_j <- soft_threshold(rho_j, n alpha l1_ratio) / (z_j + n alpha (1 - l1_ratio))
and then r is updated for the change in w_j. A zero column (a constant feature, once
centred) keeps w_j = 0. The lasso is the elastic net with l1_ratio = 1. n_iter = 0 returns
w = 0 and b = mean(y).

Pitfalls an interviewer looks for
---------------------------------
- Penalising the intercept (appending a column of ones to X and shrinking it with the rest).
- The 1/(2n) scaling: on the unnormalised sums the threshold is n alpha, not alpha.
- soft_threshold must be 0 on [-lam, lam] and keep the sign of x outside it.
- Dividing by z_j (plus the L2 term for the elastic net), and keeping r in step with w: a
  stale residual mixes old and new coordinates.
"""

import numpy as np


def ridge(X, y, alpha):
    """Closed-form ridge: argmin ||y - X w - b||^2 + alpha ||w||^2, b unpenalised.
    X: (n, d), y: (n,). -> (w (d,) float64, b float)."""
    # TODO: centre the data, solve the penalised normal equations, recover the intercept
    raise NotImplementedError('TODO: centre the data, solve the penalised normal equations, recover the intercept')


def soft_threshold(x, lam):
    """Elementwise sign(x) * max(|x| - lam, 0): shrink towards 0 by lam, and 0 on [-lam, lam].
    x: scalar or array. -> float64 array of the shape of x."""
    # TODO: shrink |x| by lam, never past zero, and keep the sign of x
    raise NotImplementedError('TODO: shrink |x| by lam, never past zero, and keep the sign of x')


def elastic_net_cd(X, y, alpha, l1_ratio, n_iter):
    """Cyclic coordinate descent on
    1/(2n) ||y - X w - b||^2 + alpha l1_ratio ||w||_1 + (alpha (1 - l1_ratio) / 2) ||w||^2.
    X: (n, d), y: (n,); n_iter full sweeps from w = 0. -> (w (d,) float64, b float)."""
    # TODO: centre the data; sweep the coordinates in order, each set to its exact
    #       minimiser given the current residual; keep the residual up to date; recover b
    raise NotImplementedError('TODO: centre the data; sweep the coordinates in order, each set to its exact')


def lasso_cd(X, y, alpha, n_iter):
    """Cyclic coordinate descent on 1/(2n) ||y - X w - b||^2 + alpha ||w||_1.
    X: (n, d), y: (n,); n_iter full sweeps from w = 0. -> (w (d,) float64, b float)."""
    # TODO: the lasso is a special case of the elastic net
    raise NotImplementedError('TODO: the lasso is a special case of the elastic net')
