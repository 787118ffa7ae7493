# Your attempt at the `adaboost` kata: fill in every TODO, then run
#     nox -s kata -- adaboost
# Generated from solutions/adaboost.py; `dojo reset adaboost` archives this file and starts over.
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
        # TODO: polarity above the threshold, -polarity at or below it
        raise NotImplementedError('TODO: polarity above the threshold, -polarity at or below it')


def fit_stump(X, y, w):
    """The stump with the smallest weighted error sum(w[h != y]) / sum(w).

    X: (n, d), y: (n,) in {-1, 1}, w: (n,) >= 0. Thresholds are midpoints between sorted
    distinct values; ties go to the lowest feature, then threshold, then polarity +1.
    Returns a Stump(feature, threshold, polarity, error) with Python int/float fields.
    """
    # TODO: for each feature, score every midpoint threshold and both polarities at once;
    #       keep the first strict minimum of the weighted error
    raise NotImplementedError('TODO: for each feature, score every midpoint threshold and both polarities at once;')


class AdaBoost:
    """Discrete AdaBoost on decision stumps, labels in {-1, 1}."""

    def __init__(self, n_estimators):
        self.n_estimators = n_estimators

    def fit(self, X, y):
        """Run up to n_estimators boosting rounds; sets stumps_, alphas_, weights_. -> self."""
        # TODO: start from uniform weights; each round fit a weighted stump, compute its
        #       alpha, reweight and renormalise; stop after a perfect stump
        raise NotImplementedError('TODO: start from uniform weights; each round fit a weighted stump, compute its')

    def decision_function(self, X):
        """(n, d) -> (n,) float64 scores sum_m alpha_m h_m(X)."""
        # TODO: the alpha-weighted sum of the stumps' votes
        raise NotImplementedError("TODO: the alpha-weighted sum of the stumps' votes")

    def predict(self, X):
        """(n, d) -> (n,) int64 labels: +1 where the score is >= 0, else -1."""
        # TODO: the sign of the weighted vote (a tie goes to +1)
        raise NotImplementedError('TODO: the sign of the weighted vote (a tie goes to +1)')
