# Your attempt at the `gradient_boosting` kata: fill in every TODO, then run
#     nox -s kata -- gradient_boosting
# Generated from solutions/gradient_boosting.py; `dojo reset gradient_boosting` archives this file and starts over.
"""Gradient boosting for regression (squared loss) with small regression trees, numpy only.

Build a greedy regression tree and the boosting loop on top of it:

    best_split(X, y)                  (feature, threshold) minimising the children's SSE, or None
    RegressionTree(max_depth)         .fit(X, y) -> self, .predict(X) -> (n,) float64
    GradientBoostingRegressor(n_estimators, lr, max_depth)
                                      .fit(X, y) -> self, .predict(X) -> (n,) float64

Shapes and dtypes: X is (n, d) float64, y is (n,) float64. Predictions are (n,) float64.

The tree
--------
A split (feature j, threshold t) sends rows with x[j] <= t left and the rest right. The
candidate thresholds of feature j are the midpoints between consecutive sorted DISTINCT
values of X[:, j]. best_split returns the candidate with the smallest
    SSE(left) + SSE(right),   SSE(S) = sum_{i in S} (y_i - mean_S(y))^2
(ties: lowest feature, then lowest threshold), or None when no candidate has a strictly
smaller SSE than the node itself (constant y, identical rows, fewer than 2 samples).
A node becomes a leaf when it is at depth max_depth (the root is depth 0), has fewer than 2
samples, or best_split returns None. Every node stores the mean of its y, which a leaf
predicts. `Node` (given) holds a node; `RegressionTree.root_` is the root after fit.

Boosting (squared loss L = (y - F)^2 / 2, whose negative gradient is the residual y - F)
--------
    F_0 = mean(y)                               (stored as f0_, a float)
    for m = 1 .. n_estimators:
        r   = y - F                             (residuals of the current model)
        h_m = RegressionTree(max_depth).fit(X, r)
        F   = F + lr * h_m(X)
    predict(x) = f0_ + lr * sum_m h_m(x)
`trees_` holds the fitted trees, in order. With lr = 0 or n_estimators = 0 every prediction is
mean(y). This matches sklearn's GradientBoostingRegressor(loss="squared_error",
subsample=1.0) when no two splits tie.

Pitfalls an interviewer looks for
---------------------------------
- Start from F_0 = mean(y), not 0, and fit each tree to the CURRENT residuals y - F (not to y,
  not to F - y), updating F after every tree.
- lr scales every tree at fit time AND at predict time: exactly once each.
- Thresholds between distinct values only; compare x <= t on the same side in fit and predict.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Node(NamedTuple):
    """A tree node: a leaf when left is None, else rows with x[feature] <= threshold go left."""

    value: float  # mean of the targets that reached this node
    feature: int = -1
    threshold: float = 0.0
    left: Node | None = None
    right: Node | None = None


def best_split(X, y):
    """The (feature, threshold) with the smallest SSE(left) + SSE(right), or None.

    X: (n, d), y: (n,). Thresholds are midpoints between consecutive distinct values; ties
    go to the lowest feature, then the lowest threshold. None when no split strictly lowers
    the node's SSE. Returns (int, float) or None.
    """
    # TODO: for each feature, sort and score every split between distinct values at once;
    #       keep the best that strictly beats not splitting
    raise NotImplementedError('TODO: for each feature, sort and score every split between distinct values at once;')


class RegressionTree:
    """A greedy regression tree: SSE splits, mean leaves, at most max_depth levels of splits."""

    def __init__(self, max_depth):
        self.max_depth = max_depth

    def fit(self, X, y):
        """Grow the tree on X (n, d), y (n,); sets root_. -> self."""
        self.root_ = self._grow(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                0)
        return self

    def _grow(self, X, y, depth):
        """The Node for the samples (X, y) at this depth (root: depth 0)."""
        # TODO: a leaf (the mean) at max_depth, under 2 samples or with no useful split;
        #       otherwise split and grow both children one level deeper
        raise NotImplementedError('TODO: a leaf (the mean) at max_depth, under 2 samples or with no useful split;')

    def predict(self, X):
        """(m, d) -> (m,) float64: the value of the leaf each row falls into."""
        # TODO: walk each row from the root to its leaf
        raise NotImplementedError('TODO: walk each row from the root to its leaf')


class GradientBoostingRegressor:
    """Least-squares gradient boosting of RegressionTree(max_depth), shrunk by lr."""

    def __init__(self, n_estimators, lr, max_depth):
        self.n_estimators = n_estimators
        self.lr = lr
        self.max_depth = max_depth

    def fit(self, X, y):
        """Boost n_estimators trees on X (n, d), y (n,); sets f0_ and trees_. -> self."""
        # TODO: start from the mean; each round fit a tree to the residuals and step
        #       the model by lr times its predictions
        raise NotImplementedError('TODO: start from the mean; each round fit a tree to the residuals and step')

    def predict(self, X):
        """(m, d) -> (m,) float64: f0_ + lr * sum of the trees' predictions."""
        # TODO: the initial constant plus every tree's shrunk prediction
        raise NotImplementedError("TODO: the initial constant plus every tree's shrunk prediction")
