# Your attempt at the `decision_tree` kata: fill in every TODO, then run
#     nox -s kata -- decision_tree
# Generated from solutions/decision_tree.py; `dojo reset decision_tree` archives this file and starts over.
"""A CART-style decision-tree classifier from scratch (numpy only).

Build the impurities, the exhaustive split search, and a recursive tree:

    gini(y)                       1 - sum_k p_k^2, a float
    entropy(y)                    -sum_k p_k log2(p_k) in bits (base 2), a float
    best_split(X, y, criterion)   (feature, threshold, gain) of the best single split
    DecisionTree(max_depth, min_samples_split, criterion="gini")
        .fit(X, y) -> self        grows the tree
        .predict(X) -> (m,)       the label of the leaf each row falls into

Shapes and dtypes: X is (n, d) float64, y is (n,) integer class labels, any integers (not
necessarily 0..K-1, possibly negative). p_k is the fraction of the samples with label k;
classes absent from y do not count (0 log 0 = 0). Impurities of an empty y are 0.0.
`criterion` is "gini" or "entropy"; anything else raises ValueError.

Splits
------
- Candidates: for every feature j, the midpoints (a + b) / 2 between consecutive *distinct*
  sorted values a < b of X[:, j]. A sample goes left when x[j] <= threshold, else right.
- gain = impurity(parent) - (n_left / n) * impurity(left) - (n_right / n) * impurity(right).
- best_split returns the candidate with the largest gain. Gains within GAIN_TOL of the largest
  are ties (floating-point rounding must not decide), broken by the lowest feature index, then
  the lowest threshold. If no gain exceeds GAIN_TOL (a pure node, constant features, XOR-like
  data, a single sample), it returns (None, None, 0.0). Otherwise (int, float, float).

The tree
--------
- The root has depth 0; its children depth 1. max_depth=0 is a single leaf, max_depth=1 a
  stump; max_depth=None means no depth limit.
- A node becomes a leaf when its depth equals max_depth, when it holds fewer than
  min_samples_split samples, when it is pure, or when best_split finds no positive gain.
  Otherwise it splits at best_split(X_node, y_node, criterion) and recurses on both sides.
- A leaf predicts the majority label of its training samples; a tie goes to the smallest
  label. predict returns an array of the same dtype as the y given to fit.

Pitfalls an interviewer looks for
---------------------------------
- The children's impurities are weighted by their sizes; a plain average favours splits that
  chop off a single sample.
- Thresholds are midpoints, not data values: a threshold at a data point moves the boundary and
  changes the predictions for points in between. And x <= threshold goes left, not x < t.
- Entropy is in bits: log2, not the natural log.
- A split that gains nothing must not be made (compare the gain with zero, up to GAIN_TOL);
  and count depth so that max_depth=0 is one leaf.
"""

from dataclasses import dataclass

import numpy as np

GAIN_TOL = 1e-12  # a gain must exceed this to count as positive; gains this close are ties


@dataclass
class Node:
    """A tree node: a leaf when `feature` is None (it predicts `label`); otherwise rows with
    x[feature] <= threshold go to `left`, the others to `right`."""

    label: object = None
    feature: int | None = None
    threshold: float | None = None
    left: "Node | None" = None
    right: "Node | None" = None


def _impurity(counts, criterion):
    """Impurity from class counts. counts: (..., K) with positive totals -> (...,) float64."""
    # TODO: class proportions along the last axis, then gini or entropy (bits) of them
    raise NotImplementedError('TODO: class proportions along the last axis, then gini or entropy (bits) of them')


def gini(y):
    """Gini impurity 1 - sum_k p_k^2 of labels y (n,). Returns a Python float; 0.0 if empty."""
    # TODO: count each label present in y, then 1 - sum of squared proportions
    raise NotImplementedError('TODO: count each label present in y, then 1 - sum of squared proportions')


def entropy(y):
    """Shannon entropy -sum_k p_k log2 p_k of labels y (n,), in bits. A Python float; 0.0 if
    empty."""
    # TODO: count each label present in y, then the entropy of the proportions in bits
    raise NotImplementedError('TODO: count each label present in y, then the entropy of the proportions in bits')


def best_split(X, y, criterion):
    """Exhaustive search for the best split of (X (n, d), y (n,)) under `criterion`.

    Returns (feature, threshold, gain): the split x[feature] <= threshold (left) with the
    largest impurity decrease, ties to the lowest feature then the lowest threshold; or
    (None, None, 0.0) when no split gains more than GAIN_TOL.
    """
    # TODO: for each feature, sort and scan every cut between distinct values, scoring it
    #       by parent impurity minus size-weighted child impurities; keep the best
    raise NotImplementedError('TODO: for each feature, sort and scan every cut between distinct values, scoring it')


class DecisionTree:
    """A classification tree grown greedily with best_split; see the module docstring."""

    def __init__(self, max_depth, min_samples_split, criterion="gini"):
        self.max_depth = max_depth  # None: unlimited; 0: the root is a leaf
        self.min_samples_split = min_samples_split
        self.criterion = criterion
        self.root = None

    def fit(self, X, y):
        """Grow the tree on X (n, d), y (n,) from the root at depth 0. Returns self."""
        # TODO: grow the tree recursively from the root at depth 0, then return self
        raise NotImplementedError('TODO: grow the tree recursively from the root at depth 0, then return self')

    def _grow(self, X, y, depth):
        """The subtree for the samples (X, y) reaching a node at `depth`. Returns a Node."""
        # TODO: a leaf with the majority label (ties: smallest) if a stopping rule holds
        #       or no split gains anything; else split and recurse one level deeper
        raise NotImplementedError('TODO: a leaf with the majority label (ties: smallest) if a stopping rule holds')

    def predict(self, X):
        """Labels (m,) for the rows of X (m, d): walk from the root to a leaf, left when
        x[feature] <= threshold."""
        # TODO: route each row down to its leaf and collect the leaf labels
        raise NotImplementedError('TODO: route each row down to its leaf and collect the leaf labels')
