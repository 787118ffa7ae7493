"""k-fold cross-validation from scratch (numpy only): plain, shuffled and stratified folds.

Build three functions:

    kfold_indices(n, k, shuffle=False, rng=None)  [(train_idx, test_idx)] * k, as sklearn KFold
    stratified_kfold_indices(y, k, rng=None)      the same, each class spread evenly over folds
    cross_val_score(fit, score, X, y, k)          (k,) float64: one score per fold

A helper `_split(fold_of, k)` (the folds, given the fold number of each sample) is stubbed for
you to fill in and share; using it is optional.

Every fold is a pair `(train_idx, test_idx)` of int arrays, both sorted ascending; the test
folds partition 0..n-1 (every index is tested exactly once) and train_idx is the rest.

Conventions
-----------
- kfold_indices: fold sizes are n // k or n // k + 1, the FIRST n % k folds being the larger
  ones (sklearn's KFold). Unshuffled, fold i tests a contiguous block, in order: n = 10, k = 3
  tests [0..3], [4..6], [7..9]. With shuffle=True, cut `rng.permutation(n)` into the same
  blocks instead of `np.arange(n)` (and sort each). rng is a np.random.Generator, a seed or
  None (`np.random.default_rng(rng)` takes all three); unshuffled folds ignore it.
- stratified_kfold_indices: y is (n,) labels of any sortable dtype. In every fold each class c
  has floor(n_c / k) or ceil(n_c / k) test members (n_c: its count), and the fold sizes follow
  kfold_indices (n // k or n // k + 1, the first n % k larger). Which members of a class go
  to which fold is random (rng). A class with fewer than k members is allowed (sklearn only
  warns): it is then absent from some test folds.
- Both raise ValueError unless 2 <= k <= n.
- cross_val_score uses the unshuffled kfold_indices(len(X), k). For fold i it calls
  `model = fit(X[train], y[train])` and records `score(model, X[test], y[test])`; it returns
  the k scores in fold order as a float64 array (not their mean).

Pitfalls an interviewer looks for
---------------------------------
- n = 10, k = 3 with folds of n // k = 3 drops sample 9; putting the extra samples in the last
  fold gives sizes (3, 3, 4) instead of (4, 3, 3).
- Train and test must not overlap: fitting on the test fold leaks it into the score.
- Stratification must cover every class, the rare ones included: deal out the class-sorted
  samples to the folds in turn, 0, 1, ..., k-1, 0, 1, ...; a class's members then land in
  consecutive folds, which keeps both the per-class counts and the fold sizes within one.
"""

import numpy as np


def _split(fold_of, k):
    """Folds from an assignment: fold_of is (n,) ints in 0..k-1, the fold testing each sample.

    Returns [(train_idx, test_idx) for fold 0..k-1], sorted int arrays.
    """
    # >>> TODO: fold i tests the samples assigned to it and trains on all the others
    return [(np.flatnonzero(fold_of != i), np.flatnonzero(fold_of == i)) for i in range(k)]
    # <<<


def kfold_indices(n, k, shuffle=False, rng=None):
    """k folds of range(n): a list of k (train_idx, test_idx) pairs of sorted int arrays.

    Fold sizes n // k or n // k + 1, the first n % k larger; contiguous unless shuffle, which
    cuts np.random.default_rng(rng).permutation(n) instead. Raises ValueError unless
    2 <= k <= n.
    """
    # >>> TODO: validate k, size the folds (who gets the remainder?), cut the index order
    # >>>       into contiguous blocks and turn the blocks into (train, test) pairs
    if k < 2 or k > n:
        raise ValueError(f"need 2 <= k <= n, got k={k}, n={n}")
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1  # the first n % k folds take the remainder
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.repeat(np.arange(k), sizes)  # the j-th sample of `order` -> its block
    return _split(fold_of, k)
    # <<<


def stratified_kfold_indices(y, k, rng=None):
    """k folds of range(len(y)) with every class spread evenly: a list of (train_idx, test_idx).

    y: (n,) labels. Per fold, class c has floor(n_c / k) or ceil(n_c / k) test members; fold
    sizes as kfold_indices. rng: Generator, seed or None. Raises ValueError unless 2 <= k <= n.
    """
    # >>> TODO: validate k, group the samples by class in a random order within each class,
    # >>>       then deal them out to the folds in turn
    y = np.asarray(y)
    n = len(y)
    if k < 2 or k > n:
        raise ValueError(f"need 2 <= k <= n, got k={k}, n={n}")
    perm = np.random.default_rng(rng).permutation(n)  # random order within each class ...
    order = perm[np.argsort(y[perm], kind="stable")]  # ... once grouped by class
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % k  # deal 0, 1, ..., k-1, 0, 1, ...
    return _split(fold_of, k)
    # <<<


def cross_val_score(fit, score, X, y, k):
    """Score of a model fitted on each training split, on its test fold: (k,) float64.

    fit(X_train, y_train) -> model; score(model, X_test, y_test) -> float. Folds from the
    unshuffled kfold_indices(len(X), k), scores in fold order.
    """
    # >>> TODO: fit on each fold's training rows, score on its test rows, keep every score
    X, y = np.asarray(X), np.asarray(y)
    scores = [score(fit(X[train], y[train]), X[test], y[test])
              for train, test in kfold_indices(len(X), k)]
    return np.asarray(scores, dtype=np.float64)  # (k,)
    # <<<
