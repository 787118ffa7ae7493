"""Discrete AdaBoost with decision stumps, from scratch (numpy only).

Build a weighted decision-stump search and the classic (discrete, two-class) AdaBoost on it:

    fit_stump(X, y, w)            the Stump with the smallest WEIGHTED error on (X, y, w)
    Stump.predict(X)              (n,) int64 labels in {-1, 1}
    AdaBoost(n_estimators)        .fit(X, y) -> self, .decision_function(X), .predict(X)

Shapes and dtypes: X is (n, d) float64, y is (n,) with labels in {-1, 1} (ints or floats),
w is (n,) non-negative sample weights (not necessarily summing to 1). Labels come back as
int64 in {-1, 1}, scores and weights as float64.

The stump
---------
`Stump(feature, threshold, polarity, error)` (a NamedTuple, given) predicts
    h(x) = polarity   where x[feature] >  threshold
    h(x) = -polarity  where x[feature] <= threshold
fit_stump tries every feature j, every threshold at a midpoint between consecutive sorted
DISTINCT values of X[:, j] (a constant feature has none), and both polarities +1 and -1.
Its error is the weighted error rate
    error = sum(w[h(X) != y]) / sum(w)
Ties go to the lowest feature, then the lowest threshold, then polarity +1. (At least one
feature must take two distinct values.)

AdaBoost
--------
Start from uniform weights w_i = 1/n. For m = 1 .. n_estimators:
    h_m     = fit_stump(X, y, w),   e_m = its weighted error
    alpha_m = 0.5 * ln((1 - e_m) / e_m),  with e_m clipped below at EPS = 1e-10
    w_i    <- w_i * exp(-alpha_m * y_i * h_m(x_i)),  then renormalise w to sum to 1
If e_m == 0 (a perfect stump) keep it (alpha ~ 11.5 from the clip) and stop: later rounds
would only repeat it. e_m never exceeds 1/2 (both polarities are tried); at e_m = 1/2 the
stump is a coin flip and gets alpha = 0.
After fit: `stumps_` (list of Stump, one per round run), `alphas_` ((M,) float64) and
`weights_` ((n,) float64, the weights after the last update, summing to 1).
decision_function(X) = sum_m alpha_m h_m(X); predict(X) is +1 where it is >= 0 (a tie goes
to +1) and -1 elsewhere. sklearn's SAMME uses alpha = ln((1 - e) / e), twice this one: the
same predictions.

Pitfalls an interviewer looks for
---------------------------------
- The stump minimises the WEIGHTED error; with uniform counts every round picks the same
  stump. Weights move mass onto the points the ensemble gets wrong.
- alpha = 0.5 * ln((1 - e) / e) with the natural log; the update is exp(-alpha y h): a
  mistake (y h = -1) gains weight. Renormalise after every update.
- Predict with the sign of the alpha-WEIGHTED vote, not a majority of the stumps.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EPS = 1e-10  # lower clip of a stump's error, so a perfect stump gets a finite alpha


class Stump(NamedTuple):
    """A decision stump on one feature: polarity where x[feature] > threshold, else -polarity."""

    feature: int
    threshold: float
    polarity: int  # +1 or -1
    error: float  # weighted error rate on the data it was fit on

    def predict(self, X):
        """(n, d) -> (n,) int64 labels in {-1, 1}."""
        # >>> TODO: polarity above the threshold, -polarity at or below it
        above = np.asarray(X, dtype=np.float64)[:, self.feature] > self.threshold  # (n,)
        return np.where(above, self.polarity, -self.polarity).astype(np.int64)
        # <<<


def fit_stump(X, y, w):
    """The stump with the smallest weighted error sum(w[h != y]) / sum(w).

    X: (n, d), y: (n,) in {-1, 1}, w: (n,) >= 0. Thresholds are midpoints between sorted
    distinct values; ties go to the lowest feature, then threshold, then polarity +1.
    Returns a Stump(feature, threshold, polarity, error) with Python int/float fields.
    """
    # >>> TODO: for each feature, score every midpoint threshold and both polarities at once;
    # >>>       keep the first strict minimum of the weighted error
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    w = np.asarray(w, dtype=np.float64)
    best = None
    for j in range(X.shape[1]):
        u = np.unique(X[:, j])  # sorted distinct values
        t = (u[:-1] + u[1:]) / 2  # (T,) midpoints
        miss = np.where(X[:, j] > t[:, None], 1, -1) != y  # (T, n) mistakes of polarity +1
        err = np.stack([miss @ w, ~miss @ w], axis=1) / w.sum()  # (T, 2): polarity +1, -1
        if err.size == 0:
            continue  # constant feature: no threshold
        k = int(np.argmin(err))  # first minimum, row-major: lowest threshold, then +1
        if best is None or err.flat[k] < best.error:
            best = Stump(j, float(t[k // 2]), 1 if k % 2 == 0 else -1, float(err.flat[k]))
    return best
    # <<<


class AdaBoost:
    """Discrete AdaBoost on decision stumps, labels in {-1, 1}."""

    def __init__(self, n_estimators):
        self.n_estimators = n_estimators

    def fit(self, X, y):
        """Run up to n_estimators boosting rounds; sets stumps_, alphas_, weights_. -> self."""
        # >>> TODO: start from uniform weights; each round fit a weighted stump, compute its
        # >>>       alpha, reweight and renormalise; stop after a perfect stump
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        n = X.shape[0]
        w = np.full(n, 1.0 / n)  # (n,)
        self.stumps_, alphas = [], []
        for _ in range(self.n_estimators):
            stump = fit_stump(X, y, w)
            e = max(stump.error, EPS)  # e <= 1/2 always: both polarities are tried
            alpha = 0.5 * np.log((1 - e) / e)
            self.stumps_.append(stump)
            alphas.append(alpha)
            w = w * np.exp(-alpha * y * stump.predict(X))  # mistakes (y h = -1) grow
            w = w / w.sum()
            if stump.error == 0:
                break  # perfect stump: the weights no longer change, later rounds repeat it
        self.alphas_ = np.array(alphas, dtype=np.float64)  # (M,)
        self.weights_ = w
        return self
        # <<<

    def decision_function(self, X):
        """(n, d) -> (n,) float64 scores sum_m alpha_m h_m(X)."""
        # >>> TODO: the alpha-weighted sum of the stumps' votes
        X = np.asarray(X, dtype=np.float64)
        score = np.zeros(X.shape[0])
        for alpha, stump in zip(self.alphas_, self.stumps_, strict=True):
            score += alpha * stump.predict(X)
        return score
        # <<<

    def predict(self, X):
        """(n, d) -> (n,) int64 labels: +1 where the score is >= 0, else -1."""
        # >>> TODO: the sign of the weighted vote (a tie goes to +1)
        return np.where(self.decision_function(X) >= 0, 1, -1).astype(np.int64)
        # <<<
