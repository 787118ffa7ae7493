"""Tests for the cross_validation kata: k-fold, shuffled k-fold, stratified k-fold, scores.

Oracles: sklearn.model_selection.KFold (exact equality unshuffled), StratifiedKFold (the
per-class counts per fold: its shuffling differs, so the folds themselves are not compared),
sklearn's cross_val_score with cv=KFold(k), and partition properties checked directly: each
index tested exactly once, train and test disjoint and covering 0..n-1, sorted outputs.
"""

from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.model_selection import cross_val_score as sk_cross_val_score

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- helpers


def _folds(result, n, k, what):
    """Check the returned structure and the partition properties; return [(train, test)]."""
    assert result is not None, f"{what} returned None; return a list of (train_idx, test_idx)"
    result = list(result)
    assert len(result) == k, f"{what} returned {len(result)} folds, expected k = {k}"
    folds = []
    for i, pair in enumerate(result):
        assert len(pair) == 2, f"{what}: fold {i} must be a pair (train_idx, test_idx)"
        train, test = (np.asarray(part) for part in pair)
        for name, part in (("train_idx", train), ("test_idx", test)):
            assert part.ndim == 1 and (part.size == 0 or part.dtype.kind in "iu"), (
                f"{what}: fold {i} {name} must be a 1-D int array, got {part.dtype} {part.shape}"
            )
            assert np.all(np.diff(part) > 0), (
                f"{what}: fold {i} {name} must be sorted ascending without repeats"
            )
        overlap = np.intersect1d(train, test)
        assert overlap.size == 0, (
            f"{what}: fold {i} has indices {overlap[:5].tolist()} in both train and test; "
            "the model would be scored on samples it was fitted on"
        )
        assert np.array_equal(np.union1d(train, test), np.arange(n)), (
            f"{what}: fold {i} train + test do not cover 0..{n - 1}; train_idx is every index "
            "not in test_idx"
        )
        folds.append((train, test))
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(n)), (
        f"{what}: the test folds must partition 0..{n - 1} (each index tested exactly once); "
        f"{n - len(np.unique(tested))} indices are never tested"
        + (" (the remainder n % k was dropped?)" if len(tested) < n else "")
    )
    return folds


def _check_sizes(folds, n, k, what):
    sizes = [len(test) for _, test in folds]
    want = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
    if sizes != want and sorted(sizes) == sorted(want):
        raise AssertionError(f"{what}: test fold sizes {sizes}, expected {want}: the first "
                             "n % k folds are the larger ones, not the last")
    assert sizes == want, f"{what}: test fold sizes {sizes}, expected {want}"


# ----------------------------------------------------------------------------- kfold_indices


@pytest.mark.parametrize("n, k", [(10, 3), (12, 4), (7, 2), (5, 5), (23, 6), (2, 2)])
def test_kfold_unshuffled_equals_sklearn_kfold(kata, n, k):
    folds = _folds(kata.kfold_indices(n, k), n, k, f"kfold_indices({n}, {k})")
    _check_sizes(folds, n, k, f"kfold_indices({n}, {k})")
    sk_folds = KFold(k).split(range(n))
    for i, ((train, test), (sk_train, sk_test)) in enumerate(zip(folds, sk_folds, strict=False)):
        assert_close(test, sk_test, what=f"kfold_indices({n}, {k}) fold {i} test_idx (KFold)")
        assert_close(train, sk_train, what=f"kfold_indices({n}, {k}) fold {i} train_idx (KFold)")


def test_kfold_of_ten_into_three_tests_four_then_three_then_three(kata):
    folds = _folds(kata.kfold_indices(10, 3), 10, 3, "kfold_indices(10, 3)")
    _check_sizes(folds, 10, 3, "kfold_indices(10, 3)")
    assert [test.tolist() for _, test in folds] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_kfold_unshuffled_ignores_rng(kata):
    plain = kata.kfold_indices(11, 4)
    with_rng = kata.kfold_indices(11, 4, shuffle=False, rng=np.random.default_rng(0))
    for i, ((a, b), (c, d)) in enumerate(zip(plain, with_rng, strict=False)):
        assert np.array_equal(a, c) and np.array_equal(b, d), (
            f"kfold_indices fold {i} changed when an rng was passed with shuffle=False"
        )


@pytest.mark.parametrize("n, k, seed", [(10, 3, 0), (17, 5, 1), (40, 4, 2)])
def test_kfold_shuffled_cuts_the_rng_permutation_into_the_same_blocks(kata, n, k, seed):
    folds = _folds(kata.kfold_indices(n, k, shuffle=True, rng=np.random.default_rng(seed)),
                   n, k, f"kfold_indices({n}, {k}, shuffle=True)")
    _check_sizes(folds, n, k, f"kfold_indices({n}, {k}, shuffle=True)")
    perm = np.random.default_rng(seed).permutation(n)
    contiguous = kata.kfold_indices(n, k)
    assert any(not np.array_equal(t, c[1]) for (_, t), c in zip(folds, contiguous, strict=False)), (
        "kfold_indices with shuffle=True returned the unshuffled folds"
    )
    for i, ((_, test), (_, block)) in enumerate(zip(folds, KFold(k).split(range(n)), strict=False)):
        assert_close(test, np.sort(perm[block]), what=f"shuffled fold {i} test_idx (the sorted "
                     "block of rng.permutation(n) at the unshuffled fold's positions)")


def test_kfold_shuffled_accepts_a_seed_and_is_reproducible(kata):
    a = kata.kfold_indices(30, 4, shuffle=True, rng=7)
    b = kata.kfold_indices(30, 4, shuffle=True, rng=7)
    c = kata.kfold_indices(30, 4, shuffle=True, rng=8)
    _folds(a, 30, 4, "kfold_indices(30, 4, shuffle=True, rng=7)")
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=False)), (
        "the same seed gave other folds")
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=False)), (
        "seeds 7 and 8 gave the same folds: shuffle with np.random.default_rng(rng)"
    )


@pytest.mark.parametrize("n, k", [(10, 1), (10, 0), (10, -2), (5, 6)])
def test_kfold_rejects_k_below_two_or_above_n(kata, n, k):
    with pytest.raises(ValueError):
        kata.kfold_indices(n, k)


# ----------------------------------------------------------------------------- stratified


def _check_strata(folds, y, k, what):
    classes, counts = np.unique(y, return_counts=True)
    for i, (_, test) in enumerate(folds):
        in_fold = Counter(y[test].tolist())
        for c, n_c in zip(classes.tolist(), counts, strict=False):
            lo, hi = n_c // k, -(-n_c // k)
            got = in_fold.get(c, 0)
            assert lo <= got <= hi, (
                f"{what}: fold {i} tests {got} samples of class {c!r}, which has {n_c} in all; "
                f"expected {lo}" + (f" or {hi}" if hi != lo else "")
                + " (each class split evenly over the k folds"
                + (", the minority class included)" if n_c < counts.max() else ")")
            )


def _labels(seed, counts, labels):
    y = np.repeat(np.asarray(labels), counts)
    return np.random.default_rng(seed).permutation(y)


STRATA = [  # (seed, class counts, labels, k)
    (0, [30, 12, 5], [3, 7, 9], 5),        # a minority class of exactly k
    (1, [17, 9, 4, 1], [2, 0, 5, 1], 4),   # counts not divisible by k; a singleton class
    (2, [50, 3], [1, 0], 3),               # 3 members for 3 folds: one each
    (3, [8, 8, 8], ["a", "b", "c"], 6),    # string labels
    (4, [20, 19], [0, 1], 2),
]


@pytest.mark.parametrize("seed, counts, labels, k", STRATA)
def test_stratified_folds_partition_and_keep_every_class_within_one_of_its_share(
        kata, seed, counts, labels, k):
    y = _labels(seed, counts, labels)
    n = len(y)
    what = f"stratified_kfold_indices(y with counts {counts}, k={k})"
    folds = _folds(kata.stratified_kfold_indices(y, k, np.random.default_rng(seed)), n, k, what)
    _check_strata(folds, y, k, what)
    _check_sizes(folds, n, k, what)


@pytest.mark.filterwarnings("ignore:The least populated class")  # sklearn warns; we allow it
@pytest.mark.parametrize("seed, counts, labels, k", STRATA[:3])
def test_stratified_class_counts_per_fold_match_sklearn_stratified_kfold(
        kata, seed, counts, labels, k):
    y = _labels(seed, counts, labels)
    folds = kata.stratified_kfold_indices(y, k, seed)
    sk = StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    ours = sorted(sorted(Counter(y[np.asarray(t)].tolist()).items()) for _, t in folds)
    theirs = sorted(sorted(Counter(y[t].tolist()).items()) for _, t in sk)
    assert ours == theirs, (
        f"per-fold class counts {ours} differ from sklearn StratifiedKFold's {theirs}"
    )


def test_stratified_fold_sizes_stay_within_one_when_every_class_has_a_remainder(kata):
    # Three classes of 4 with k = 3: starting every class at fold 0 gives sizes 6, 3, 3.
    y = np.repeat([0, 1, 2], 4)
    folds = _folds(kata.stratified_kfold_indices(y, 3, 0), 12, 3, "stratified_kfold_indices")
    _check_strata(folds, y, 3, "stratified_kfold_indices")
    _check_sizes(folds, 12, 3, "stratified_kfold_indices (continue dealing where the last "
                 "class stopped, do not restart at fold 0 for every class)")


def test_stratified_folds_depend_on_the_rng_and_are_reproducible(kata):
    y = _labels(5, [25, 15], [0, 1])
    a = kata.stratified_kfold_indices(y, 4, np.random.default_rng(11))
    b = kata.stratified_kfold_indices(y, 4, np.random.default_rng(11))
    c = kata.stratified_kfold_indices(y, 4, np.random.default_rng(12))
    assert all(np.array_equal(x[1], z[1]) for x, z in zip(a, b, strict=False)), (
        "the same rng seed gave different stratified folds"
    )
    assert any(not np.array_equal(x[1], z[1]) for x, z in zip(a, c, strict=False)), (
        "stratified folds ignore the rng: shuffle the members of each class"
    )


def test_stratified_folds_are_shuffled_not_class_sorted_blocks(kata):
    y = np.repeat([0, 1], [40, 20])  # sorted labels: unshuffled dealing gives 0, 4, 8, ...
    folds = kata.stratified_kfold_indices(y, 4, 3)
    first = np.asarray(folds[0][1])
    assert not np.array_equal(first, np.flatnonzero(np.arange(60) % 4 == 0)), (
        "stratified fold 0 tests every 4th sample of the sorted labels: the members of each "
        "class were not shuffled with rng"
    )


@pytest.mark.parametrize("n, k", [(10, 1), (10, 0), (5, 6)])
def test_stratified_rejects_k_below_two_or_above_n(kata, n, k):
    with pytest.raises(ValueError):
        kata.stratified_kfold_indices(np.arange(n) % 2, k, 0)


def test_stratified_accepts_k_equal_to_n(kata):
    y = np.array([1, 0, 1, 1, 0])
    folds = _folds(kata.stratified_kfold_indices(y, 5, 0), 5, 5, "stratified_kfold_indices(k=n)")
    _check_sizes(folds, 5, 5, "stratified_kfold_indices(k=n)")


# ----------------------------------------------------------------------------- cross_val_score


def _ridge_fit(X, y):
    return Ridge(alpha=0.7).fit(X, y)


def _ridge_score(model, X, y):
    return model.score(X, y)  # R^2 on the held-out fold


def _regression(seed, n):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    # a shift in the second half makes the folds score differently
    y = (X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.8, size=n)
         + 3.0 * (np.arange(n) > n / 2))
    return X, y


@pytest.mark.parametrize("seed, n, k", [(0, 40, 5), (1, 23, 4), (2, 9, 2)])
def test_cross_val_score_matches_sklearn_with_unshuffled_kfold(kata, seed, n, k):
    X, y = _regression(seed, n)
    scores = kata.cross_val_score(_ridge_fit, _ridge_score, X, y, k)
    assert scores is not None, "cross_val_score returned None"
    assert np.ndim(scores) == 1 and len(scores) == k, (
        f"cross_val_score must return one score per fold, shape ({k},), got "
        f"{np.shape(scores)}" + (" (the mean of the scores?)" if np.ndim(scores) == 0 else "")
    )
    assert np.asarray(scores).dtype == np.float64, "cross_val_score must return float64"
    want = sk_cross_val_score(Ridge(alpha=0.7), X, y, cv=KFold(k))
    assert_close(scores, want, what=f"cross_val_score (sklearn, cv=KFold({k}), R^2 per fold)")


def test_cross_val_score_with_k_equal_to_n_is_leave_one_out(kata):
    X, y = _regression(3, 9)
    sq_err = kata.cross_val_score(
        _ridge_fit, lambda m, Xt, yt: float(np.mean((m.predict(Xt) - yt) ** 2)), X, y, 9)
    want = -sk_cross_val_score(Ridge(alpha=0.7), X, y, cv=KFold(9),
                               scoring="neg_mean_squared_error")
    assert_close(sq_err, want, what="leave-one-out squared errors (sklearn, cv=KFold(n))")


def test_cross_val_score_fits_on_the_training_rows_and_scores_the_test_rows(kata):
    n, k = 11, 3
    X = np.arange(n, dtype=np.float64)[:, None] * 10.0  # row i is 10 * i: rows identify samples
    y = np.arange(n)
    calls = []

    def fit(X_train, y_train):
        calls.append(("fit", X_train[:, 0].tolist(), y_train.tolist()))
        return {"train": set(y_train.tolist())}

    def score(model, X_test, y_test):
        calls.append(("score", X_test[:, 0].tolist(), y_test.tolist()))
        assert not model["train"] & set(y_test.tolist()), (
            "cross_val_score scored a model on samples it was fitted on: fit on X[train], "
            "score on X[test]"
        )
        return float(len(y_test)) + 0.1 * y_test[0]

    scores = kata.cross_val_score(fit, score, X, y, k)
    kinds = [c[0] for c in calls]
    assert kinds == ["fit", "score"] * k, (
        f"cross_val_score made the calls {kinds}; expected fit then score, once per fold"
    )
    for i, (train, test) in enumerate(KFold(k).split(range(n))):
        _, fit_x, fit_y = calls[2 * i]
        _, score_x, score_y = calls[2 * i + 1]
        assert fit_y == train.tolist() and fit_x == (10.0 * train).tolist(), (
            f"fold {i}: fit got samples {fit_y}, expected the training rows {train.tolist()}"
        )
        assert score_y == test.tolist() and score_x == (10.0 * test).tolist(), (
            f"fold {i}: score got samples {score_y}, expected the test rows {test.tolist()}"
        )
    assert_close(scores, np.array([4.0, 4.4, 3.8]), what="cross_val_score per-fold scores, "
                 "in fold order (not their mean)")


def test_cross_val_score_accepts_lists(kata):
    X = [[0.0], [1.0], [2.0], [3.0]]
    y = [0.0, 2.0, 4.0, 6.0]
    scores = kata.cross_val_score(lambda Xt, yt: float(np.mean(yt)),
                                  lambda m, Xt, yt: float(np.mean(yt) - m), X, y, 2)
    assert_close(scores, np.array([-4.0, 4.0]), what="cross_val_score of a mean predictor "
                 "(test mean minus training mean per fold)")
