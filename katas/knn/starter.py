# Your attempt at the `knn` kata: fill in every TODO, then run
#     nox -s kata -- knn
# Generated from solutions/knn.py; `dojo reset knn` archives this file and starts over.
"""k-nearest neighbours from scratch (numpy only): distances, classification and regression.

Build four functions:

    pairwise_sq_dists(A, B)                   (m, n) squared Euclidean distances, no Python loop
    k_nearest(X_train, X_test, k)             (m, k) int indices of each test point's neighbours
    knn_predict(X_train, y_train, X_test, k)  (m,) majority label of the k nearest
    knn_regress(X_train, y_train, X_test, k)  (m,) (or (m, t)) mean target of the k nearest

Shapes and dtypes: A is (m, d), B is (n, d), X_train is (n, d), X_test is (m, d), all float64
(cast with np.asarray). y_train is (n,): any labels for knn_predict (ints such as [3, 7, 9],
not necessarily 0..C-1, or even strings), floats for knn_regress ((n, t) targets give (m, t)).
knn_predict returns labels of y_train's dtype; knn_regress returns float64.

Conventions
-----------
- pairwise_sq_dists(A, B)[i, j] = ||A[i] - B[j]||^2, computed without any Python loop (no
  `for`, `while` or comprehension) from ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2: one matrix
  product A @ B.T plus broadcast row norms. Round-off makes that expansion slightly negative
  for (nearly) identical points far from the origin: clip at 0, so every entry is >= 0.
- k_nearest orders each test point's training points by squared distance, and breaks a
  distance tie by the lower training index (a stable sort); row i lists the k nearest, nearest
  first. 1 <= k <= n, else raise ValueError.
- knn_predict: the most frequent label among the k nearest; a tie between labels goes to the
  smallest label (in np.unique's ascending order).
- knn_regress: the plain (unweighted) mean of the k nearest targets.

Pitfalls an interviewer looks for
---------------------------------
- No clip: sqrt of a -1e-9 "distance" is NaN. The (m, n) orientation: rows are A (the test
  points), columns B (the training points).
- np.argmax(np.bincount(labels)) assumes labels 0..C-1; map labels to codes (np.unique with
  return_inverse=True) and back. argmax returns the first maximum: the smallest tied label.
- np.argsort's default and np.argpartition do not keep ties in index order; use
  kind="stable". Take exactly k neighbours, and average over the neighbour axis, not the
  test-point axis.
"""

import numpy as np


def pairwise_sq_dists(A, B):
    """Squared Euclidean distances between the rows of A (m, d) and B (n, d), no Python loop.

    Returns an (m, n) float64 array D with D[i, j] = ||A[i] - B[j]||^2 >= 0.
    """
    # TODO: expand ||a - b||^2 into norms and a dot product; mind the round-off near 0
    raise NotImplementedError('TODO: expand ||a - b||^2 into norms and a dot product; mind the round-off near 0')


def k_nearest(X_train, X_test, k):
    """Indices of the k nearest training points for each test point.

    X_train: (n, d), X_test: (m, d), 1 <= k <= n. Returns an (m, k) int array: row i holds
    training indices by increasing distance to X_test[i], distance ties by increasing index.
    Raises ValueError if k is not in [1, n].
    """
    # TODO: validate k, then sort each test point's distances (ties in index order)
    raise NotImplementedError("TODO: validate k, then sort each test point's distances (ties in index order)")


def knn_predict(X_train, y_train, X_test, k):
    """Majority vote of the k nearest training labels; a tied vote goes to the smallest label.

    X_train: (n, d), y_train: (n,) labels of any sortable dtype, X_test: (m, d).
    Returns (m,) labels with y_train's dtype.
    """
    # TODO: count the votes per label (labels need not be 0..C-1) and take the winner
    raise NotImplementedError('TODO: count the votes per label (labels need not be 0..C-1) and take the winner')


def knn_regress(X_train, y_train, X_test, k):
    """Mean target of the k nearest training points.

    X_train: (n, d), y_train: (n,) or (n, t) floats, X_test: (m, d).
    Returns (m,) (or (m, t)) float64.
    """
    # TODO: average the targets of the k nearest neighbours
    raise NotImplementedError('TODO: average the targets of the k nearest neighbours')
