# Your attempt at the `kmeans` kata: fill in every TODO, then run
#     nox -s kata -- kmeans
# Generated from solutions/kmeans.py; `dojo reset kmeans` archives this file and starts over.
"""k-means from scratch (numpy only): k-means++ seeding and Lloyd's algorithm.

Build four functions:

    sq_distances(X, C)                      (n, k) squared Euclidean distances, X (n, d), C (k, d)
    kmeans_pp_init(X, k, rng)               (k, d) initial centroids, rows of X (k-means++)
    update_centroids(X, labels, C)          (k, d) the means of the clusters (empty ones re-seeded)
    kmeans(X, k, n_iter, rng, init=None)    (centroids (k, d), labels (n,) int64, inertia float)

X is (n, d) float64 (convert with np.asarray), rng a np.random.Generator, labels int64 in
[0, k). Every returned array is float64 (labels int64); inertia is a Python float.

k-means++ (kmeans_pp_init), with exactly these calls on `rng` and no others, so that a test
holding the same seed can replay them:
- the first centre is X[rng.integers(n)] (uniform over the rows);
- each of the k - 1 next centres is X[rng.choice(n, p=d2 / d2.sum())], where d2 (n,) is the
  squared distance from each row to its nearest centre chosen so far. Rows already chosen
  have d2 = 0 and are never drawn again. X has at least k distinct rows.

Lloyd's algorithm (kmeans):
- Start from C = init (copied, never modified in place) or, if init is None, from
  kmeans_pp_init(X, k, rng): the only use of rng.
- Assign: each row goes to its nearest centre by squared distance; a tie goes to the lower
  centre index (np.argmin does this).
- Then repeat at most n_iter times: C <- update_centroids(X, labels, C), and re-assign. Stop
  early as soon as the new labels equal the previous ones (C is then a fixed point: more
  iterations would change nothing). n_iter = 0 returns the initial centroids and their labels.
- Return the final C, the labels of the rows for that C (always the nearest-centre labels of
  the returned centroids), and inertia = sum over rows of the squared distance to the centre
  of its label.

Empty clusters (update_centroids): a non-empty cluster j gets the mean of its rows. If some
clusters are empty, compute for every row the squared distance to the centre it is assigned to
(C[labels], the centres before the update), sort the rows by that distance, farthest first
(ties: lower row index first), and give the empty clusters, in increasing cluster index, the
farthest rows in that order: the first empty cluster gets the farthest row, the next the
second farthest, and so on. The labels are not changed; the next assignment sorts it out.

Pitfalls an interviewer looks for:
- k-means++ weights by the SQUARED distance D^2, not D; and D is to the NEAREST chosen centre.
- Inertia is a sum of squared distances (no sqrt), computed for the centroids and labels you
  return: computing it before the last assignment gives a value that matches neither.
- An empty cluster's mean is 0 / 0 = NaN: re-seed it instead.
- Labels are argmin of the distances (argmax picks the farthest centre); means are taken over
  the rows of a cluster (axis 0), giving one d-vector per cluster.
"""

import numpy as np


def sq_distances(X, C):
    """Squared Euclidean distances between rows: X (n, d), C (k, d) -> (n, k) float64,
    entry [i, j] = ||X[i] - C[j]||^2 (exact, never negative)."""
    # TODO: all pairwise squared distances, without a Python loop
    raise NotImplementedError('TODO: all pairwise squared distances, without a Python loop')


def kmeans_pp_init(X, k, rng):
    """k-means++ seeding: X (n, d), k >= 1, rng a np.random.Generator -> (k, d) float64.

    First centre X[rng.integers(n)], then k - 1 times X[rng.choice(n, p=d2 / d2.sum())] with d2
    the squared distance of each row to its nearest centre so far. No other use of rng.
    """
    # TODO: a uniform first centre, then k - 1 draws weighted by the distance to the
    #       nearest centre so far (exactly the rng calls in the docstring)
    raise NotImplementedError('TODO: a uniform first centre, then k - 1 draws weighted by the distance to the')


def update_centroids(X, labels, C):
    """One update step: X (n, d), labels (n,) ints in [0, k), C (k, d) the centres the labels
    were assigned to -> (k, d) float64 new centres. Row j is the mean of the rows labelled j;
    an empty cluster is re-seeded with a far row (the rule is in the module docstring)."""
    # TODO: per-cluster means; re-seed empty clusters with the rows farthest from their
    #       assigned centres (farthest first, ties to the lower row index)
    raise NotImplementedError('TODO: per-cluster means; re-seed empty clusters with the rows farthest from their')


def kmeans(X, k, n_iter, rng, init=None):
    """Lloyd's algorithm: X (n, d), k clusters, at most n_iter updates, rng for k-means++ when
    init is None, init (k, d) optional starting centres (not modified).

    Returns (centroids (k, d) float64, labels (n,) int64, inertia float), with labels the
    nearest-centre assignment of the returned centroids and inertia its sum of squared
    distances. Stops early once an update leaves the labels unchanged.
    """
    # TODO: start from init or k-means++; assign, then alternate update and assign until
    #       the labels stop changing or n_iter updates; inertia of the final assignment
    raise NotImplementedError('TODO: start from init or k-means++; assign, then alternate update and assign until')
