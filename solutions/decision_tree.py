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
    # >>> TODO: class proportions along the last axis, then gini or entropy (bits) of them
    p = counts / counts.sum(axis=-1, keepdims=True)  # (..., K)
    if criterion == "gini":
        return 1.0 - np.sum(p**2, axis=-1)
    if criterion == "entropy":
        # 0 log 0 = 0: log2(1) = 0 stands in where a class is absent.
        return -np.sum(p * np.log2(np.where(p > 0, p, 1.0)), axis=-1)
    raise ValueError(f"criterion must be 'gini' or 'entropy', got {criterion!r}")
    # <<<


def gini(y):
    """Gini impurity 1 - sum_k p_k^2 of labels y (n,). Returns a Python float; 0.0 if empty."""
    # >>> TODO: count each label present in y, then 1 - sum of squared proportions
    y = np.asarray(y)
    if y.size == 0:
        return 0.0
    _, counts = np.unique(y, return_counts=True)  # (K,): only the labels present
    return float(_impurity(counts, "gini"))
    # <<<


def entropy(y):
    """Shannon entropy -sum_k p_k log2 p_k of labels y (n,), in bits. A Python float; 0.0 if
    empty."""
    # >>> TODO: count each label present in y, then the entropy of the proportions in bits
    y = np.asarray(y)
    if y.size == 0:
        return 0.0
    _, counts = np.unique(y, return_counts=True)
    return float(_impurity(counts, "entropy"))
    # <<<


def best_split(X, y, criterion):
    """Exhaustive search for the best split of (X (n, d), y (n,)) under `criterion`.

    Returns (feature, threshold, gain): the split x[feature] <= threshold (left) with the
    largest impurity decrease, ties to the lowest feature then the lowest threshold; or
    (None, None, 0.0) when no split gains more than GAIN_TOL.
    """
    # >>> TODO: for each feature, sort and scan every cut between distinct values, scoring it
    # >>>       by parent impurity minus size-weighted child impurities; keep the best
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    classes, y_idx = np.unique(y, return_inverse=True)
    onehot = np.eye(len(classes))[y_idx]  # (n, K)
    total = onehot.sum(axis=0)  # (K,)
    parent = _impurity(total, criterion)
    n_left = np.arange(1, n)  # (n-1,): cut i leaves the first i + 1 sorted rows on the left

    gains = np.empty((d, n - 1))  # (d, n-1), -inf where no cut is allowed
    thresholds = np.empty((d, n - 1))
    for j in range(d):
        order = np.argsort(X[:, j], kind="stable")
        xs = X[order, j]  # (n,) sorted values
        left = np.cumsum(onehot[order], axis=0)[:-1]  # (n-1, K) class counts left of each cut
        right = total - left
        # size-weighted, not a plain average of the two children
        imp_left, imp_right = _impurity(left, criterion), _impurity(right, criterion)  # (n-1,)
        child = (n_left * imp_left + (n - n_left) * imp_right) / n
        distinct = xs[:-1] < xs[1:]  # a cut between equal values is no cut
        gains[j] = np.where(distinct, parent - child, -np.inf)
        thresholds[j] = (xs[:-1] + xs[1:]) / 2  # midpoints

    best = gains.max(initial=-np.inf)
    if best <= GAIN_TOL:
        return None, None, 0.0
    # Row-major order = lowest feature first, then (sorted) lowest threshold.
    j, i = np.argwhere(gains >= best - GAIN_TOL)[0]
    return int(j), float(thresholds[j, i]), float(gains[j, i])
    # <<<


class DecisionTree:
    """A classification tree grown greedily with best_split; see the module docstring."""

    def __init__(self, max_depth, min_samples_split, criterion="gini"):
        self.max_depth = max_depth  # None: unlimited; 0: the root is a leaf
        self.min_samples_split = min_samples_split
        self.criterion = criterion
        self.root = None

    def fit(self, X, y):
        """Grow the tree on X (n, d), y (n,) from the root at depth 0. Returns self."""
        # >>> TODO: grow the tree recursively from the root at depth 0, then return self
        self.root = self._grow(np.asarray(X, dtype=np.float64), np.asarray(y), depth=0)
        return self
        # <<<

    def _grow(self, X, y, depth):
        """The subtree for the samples (X, y) reaching a node at `depth`. Returns a Node."""
        # >>> TODO: a leaf with the majority label (ties: smallest) if a stopping rule holds
        # >>>       or no split gains anything; else split and recurse one level deeper
        labels, counts = np.unique(y, return_counts=True)  # labels sorted ascending
        node = Node(label=labels[np.argmax(counts)])  # argmax takes the first max: smallest
        if self.max_depth is not None and depth >= self.max_depth:
            return node
        if len(y) < self.min_samples_split:
            return node
        # A pure node has no split with positive gain, so best_split also stops it.
        feature, threshold, _ = best_split(X, y, self.criterion)
        if feature is None:
            return node
        go_left = X[:, feature] <= threshold
        node.feature, node.threshold = feature, threshold
        node.left = self._grow(X[go_left], y[go_left], depth + 1)
        node.right = self._grow(X[~go_left], y[~go_left], depth + 1)
        return node
        # <<<

    def predict(self, X):
        """Labels (m,) for the rows of X (m, d): walk from the root to a leaf, left when
        x[feature] <= threshold."""
        # >>> TODO: route each row down to its leaf and collect the leaf labels
        X = np.asarray(X, dtype=np.float64)
        out = []
        for x in X:
            node = self.root
            while node.feature is not None:
                node = node.left if x[node.feature] <= node.threshold else node.right
            out.append(node.label)
        return np.array(out, dtype=self.root.label.dtype)
        # <<<
