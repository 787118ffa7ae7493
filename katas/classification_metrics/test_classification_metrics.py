"""Tests for the classification_metrics kata.

Oracles: sklearn.metrics (confusion_matrix, precision_recall_fscore_support with
zero_division=0, roc_curve with drop_intermediate=False, roc_auc_score,
average_precision_score), and a brute-force count over all positive-negative pairs for the
AUC. Scores are rounded to one decimal so that ties are everywhere: an implementation that
walks the sorted samples one at a time instead of one distinct score at a time fails. When a
value is wrong, the failure message names the classic bug it matches.
"""

import numpy as np
import pytest
from sklearn import metrics as skm

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- data


def _scored(seed, n=60, pos_rate=0.4):
    """Binary labels and scores with a signal, rounded to 1 decimal: many tied scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos_rate).astype(np.int64)
    y[:2] = [0, 1]  # both classes, always
    scores = np.round(np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0.0, 1.0), 1)
    assert np.unique(scores).size < n // 2  # the premise: heavy ties
    return y, scores


def _multiclass(seed, n=50, k=4, extra_predicted=True):
    """Labels 0..k-1 with a noisy prediction; optionally a class that is only predicted."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    yhat = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, size=n))
    if extra_predicted:
        yhat[rng.choice(n, size=3, replace=False)] = k  # predicted, never true
    return y, yhat


def _prf_oracle(y, yhat, average):
    p, r, f, _ = skm.precision_recall_fscore_support(y, yhat, average=average, zero_division=0)
    return np.array([p, r, f], dtype=np.float64)


def _prf(kata, y, yhat, average):
    out = kata.precision_recall_f1(y, yhat, average)
    assert out is not None and len(out) == 3, (
        f"precision_recall_f1 must return (precision, recall, f1), got {out!r}")
    for name, v in zip(("precision", "recall", "f1"), out, strict=True):
        assert np.ndim(v) == 0, f"{name} must be a scalar, got shape {np.shape(v)}"
    return np.array([float(v) for v in out])


def _named_bug(got, want, suspects, what, **tol):
    """assert_close, naming the first suspect that `got` matches and `want` does not."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape == want.shape and not np.allclose(got, want, rtol=1e-9, atol=1e-12):
        for value, hint in suspects:
            value = np.asarray(value, dtype=np.float64)
            if value.shape == got.shape and not np.allclose(value, want, rtol=1e-9,
                                                            atol=1e-12) and np.allclose(
                    got, value, rtol=1e-9, atol=1e-12):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(got, want, what=what, **tol)


# ----------------------------------------------------------------------------- confusion matrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_matrix_matches_sklearn_rows_true_columns_predicted(kata, seed):
    y, yhat = _multiclass(seed)
    C = kata.confusion_matrix(y, yhat)
    want = skm.confusion_matrix(y, yhat)
    assert C is not None, "confusion_matrix returned None"
    C = np.asarray(C)
    assert C.shape == want.shape, (
        f"confusion_matrix shape {C.shape}, expected {want.shape}: one row and one column per "
        "label of the sorted union of y and yhat (a label only predicted still counts)")
    assert C.dtype.kind in "iu", f"confusion_matrix must hold integer counts, got {C.dtype}"
    if np.array_equal(C, want.T) and not np.array_equal(want, want.T):
        raise AssertionError("confusion_matrix is transposed: rows are the TRUE labels, "
                             "columns the PREDICTED ones (C[i, j] = true i, predicted j)")
    assert_close(C, want, what="confusion matrix")


def test_confusion_matrix_by_hand(kata):
    # truth 0 predicted 1 twice, truth 1 predicted 1 once: C = [[0, 2], [0, 1]].
    C = np.asarray(kata.confusion_matrix(np.array([0, 0, 1]), np.array([1, 1, 1])))
    if np.array_equal(C, [[0, 0], [2, 1]]):
        raise AssertionError("confusion_matrix is transposed: C[i, j] counts true label i "
                             "predicted as j, so C = [[0, 2], [0, 1]] here")
    assert_close(C, np.array([[0, 2], [0, 1]]), what="confusion_matrix([0, 0, 1], [1, 1, 1])")


def test_confusion_matrix_default_labels_are_the_sorted_union(kata):
    # Labels first seen in the order dog, cat, bird, eel; "eel" is only ever predicted.
    y = np.array(["dog", "cat", "bird", "dog", "cat", "cat"])
    yhat = np.array(["dog", "bird", "bird", "cat", "cat", "eel"])
    C = np.asarray(kata.confusion_matrix(y, yhat))
    want = skm.confusion_matrix(y, yhat)  # labels bird, cat, dog, eel
    assert C.shape == (4, 4), (f"shape {C.shape}, expected (4, 4): the labels are the sorted "
                               "union of y AND yhat")
    assert_close(C, want, what="confusion matrix with labels sorted as bird, cat, dog, eel "
                               "(the sorted union, not the order of first appearance)")


def test_confusion_matrix_follows_the_given_label_order_and_drops_other_labels(kata):
    y, yhat = _multiclass(3, k=5, extra_predicted=False)
    labels = np.array([3, 0, 4])  # unsorted, and labels 1, 2 left out
    C = np.asarray(kata.confusion_matrix(y, yhat, labels=labels))
    want = skm.confusion_matrix(y, yhat, labels=labels)
    assert C.shape == (3, 3), f"shape {C.shape}, expected (3, 3): one row/column per given label"
    if np.array_equal(C, skm.confusion_matrix(y, yhat, labels=np.sort(labels))):
        raise AssertionError("confusion_matrix sorted the given labels: keep their order")
    assert_close(C, want, what="confusion_matrix(y, yhat, labels=[3, 0, 4])")


def test_confusion_matrix_counts_every_sample_once(kata):
    y, yhat = _multiclass(4, n=37)
    C = np.asarray(kata.confusion_matrix(y, yhat))
    assert C.sum() == 37, f"the counts sum to {C.sum()}, expected n = 37"
    assert_close(C.sum(axis=1), np.bincount(y, minlength=C.shape[0]),
                 what="row sums of the confusion matrix (the true counts of each label)")


# ----------------------------------------------------------------------------- P, R, F1


def _prf_suspects(y, yhat, average):
    labels = np.union1d(y, yhat)
    p, r, f, s = skm.precision_recall_fscore_support(y, yhat, labels=labels, average=None,
                                                     zero_division=0)
    out = [(_prf_oracle(y, yhat, average)[[1, 0, 2]],
            "precision and recall are swapped: precision = TP / predicted (column sums), "
            "recall = TP / true (row sums)")]
    if average != "binary":
        out += [
            (np.array([np.average(v, weights=s) for v in (p, r, f)]),
             "this is the support-weighted average; 'macro' is the plain mean over classes"),
            (np.array([v.mean() for v in (p, r, f)]),
             "this is the plain mean; 'weighted' weights each class by its support"),
            (_prf_oracle(y, yhat, "micro"), "this is the micro average"),
            (_prf_oracle(y, yhat, "macro")[:2].tolist() + [
                2 * p.mean() * r.mean() / (p.mean() + r.mean())],
             "macro-F1 is the mean of the per-class F1s, not the F1 of the mean P and R"),
            (_prf_oracle(y, yhat, "weighted")[:2].tolist() + [
                2 * np.average(p, weights=s) * np.average(r, weights=s)
                / (np.average(p, weights=s) + np.average(r, weights=s))],
             "weighted F1 is the weighted mean of the per-class F1s, not the F1 of the "
             "weighted P and R"),
        ]
    return out


@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_precision_recall_f1_match_sklearn(kata, seed, average):
    y, yhat = _multiclass(seed)
    _named_bug(_prf(kata, y, yhat, average), _prf_oracle(y, yhat, average),
               _prf_suspects(y, yhat, average),
               f"(precision, recall, f1) with average={average!r}")


@pytest.mark.parametrize("seed", [8, 9, 10])
def test_binary_precision_recall_f1_use_label_1_as_positive(kata, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(40) < 0.3).astype(np.int64)
    yhat = np.where(rng.random(40) < 0.7, y, 1 - y)
    suspects = _prf_suspects(y, yhat, "binary") + [
        (skm.precision_recall_fscore_support(y, yhat, average="binary", pos_label=0)[:3],
         "the positive label is 1, not 0"),
        (_prf_oracle(y, yhat, "macro"), "'binary' scores the class 1 alone, not the macro mean"),
    ]
    _named_bug(_prf(kata, y, yhat, "binary"), _prf_oracle(y, yhat, "binary"), suspects,
               "(precision, recall, f1) with average='binary'")


def test_binary_scores_by_hand(kata):
    # TP = 2, FP = 1, FN = 3: P = 2/3, R = 2/5, F1 = 2TP / (2TP + FP + FN) = 4/8.
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    yhat = np.array([1, 1, 0, 0, 0, 1, 0, 0])
    _named_bug(_prf(kata, y, yhat, "binary"), np.array([2 / 3, 2 / 5, 1 / 2]),
               [(np.array([2 / 5, 2 / 3, 1 / 2]), "precision and recall are swapped")],
               "binary (precision, recall, f1) with TP=2, FP=1, FN=3")


def test_zero_division_gives_zero_not_nan(kata):
    # Nothing predicted positive: precision is 0/0 -> 0.0, recall 0/2, F1 0/2.
    with np.errstate(all="raise"):
        try:
            got = _prf(kata, np.array([1, 1, 0, 0]), np.array([0, 0, 0, 0]), "binary")
        except FloatingPointError as err:
            raise AssertionError(f"0/0 raised a floating-point error ({err}): a ratio with a "
                                 "zero denominator is 0.0") from None
    assert np.all(np.isfinite(got)), f"got {got}: a 0 / 0 must be 0.0, not NaN"
    assert_close(got, np.zeros(3), what="binary scores when nothing is predicted positive")
    # No positive anywhere: every ratio is 0 / 0.
    got = _prf(kata, np.array([0, 0, 0]), np.array([0, 0, 0]), "binary")
    assert_close(got, np.zeros(3), what="binary scores with no positive in y or yhat")


def test_class_only_predicted_counts_in_macro_with_zero_recall(kata):
    # Class 2 is predicted once but never true: its precision and recall are 0.0, and the
    # macro mean runs over 3 classes. Class 0: P = 1, R = 1/2. Class 1: P = 1, R = 1.
    y, yhat = np.array([0, 0, 1]), np.array([0, 2, 1])
    want = _prf_oracle(y, yhat, "macro")
    assert_close(want, np.array([2 / 3, 1 / 2, (2 / 3 + 1 + 0) / 3]), what="the premise")
    _named_bug(_prf(kata, y, yhat, "macro"), want,
               [(np.array([1.0, 0.75, (2 / 3 + 1) / 2]),
                 "the classes must be the union of y AND yhat: class 2 is only predicted")],
               "macro (precision, recall, f1) with a class that is only predicted")


def test_micro_scores_equal_accuracy_for_multiclass(kata):
    y, yhat = _multiclass(11)
    acc = np.mean(y == yhat)
    assert_close(_prf(kata, y, yhat, "micro"), np.full(3, acc),
                 what="micro (precision, recall, f1) (each equals the accuracy when every "
                      "label counts)")


@pytest.mark.parametrize("bad", ["samples", "Macro", None, "mean"])
def test_unknown_average_raises(kata, bad):
    with pytest.raises(ValueError):
        kata.precision_recall_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), bad)


# ----------------------------------------------------------------------------- ROC curve


def _roc(kata, y, scores):
    out = kata.roc_curve(y, scores)
    assert out is not None and len(out) == 3, (
        f"roc_curve must return (fpr, tpr, thresholds), got {out!r}")
    return tuple(np.asarray(a, dtype=np.float64) for a in out)


@pytest.mark.parametrize("seed", [12, 13, 14])
def test_roc_curve_matches_sklearn_with_tied_scores(kata, seed):
    y, scores = _scored(seed)
    fpr, tpr, thr = _roc(kata, y, scores)
    want_fpr, want_tpr, want_thr = skm.roc_curve(y, scores, drop_intermediate=False)
    n_distinct = np.unique(scores).size
    if thr.shape == (y.size + 1,) or thr.shape == (y.size,):
        raise AssertionError(
            f"roc_curve has {thr.size} thresholds for {y.size} samples, but only {n_distinct} "
            "distinct scores: group tied scores into one threshold (one point per distinct "
            "score, plus the (0, 0) point at +inf)")
    assert thr.shape == want_thr.shape, (
        f"roc_curve returned {thr.size} thresholds, expected {want_thr.size} = 1 + the "
        f"{n_distinct} distinct scores (the curve starts at threshold +inf)")
    if np.array_equal(thr[1:], want_thr[:0:-1]):
        raise AssertionError("thresholds must DEcrease: sort the scores from high to low")
    assert thr[0] == np.inf, f"the first threshold is {thr[0]}, expected +inf (the (0, 0) point)"
    assert_close(thr, want_thr, what="roc_curve thresholds")
    assert_close(fpr, want_fpr, what="roc_curve fpr = FP / N at each threshold")
    assert_close(tpr, want_tpr, what="roc_curve tpr = TP / P at each threshold")


def test_roc_curve_by_hand_with_a_tie(kata):
    # The two positives share the score 0.5: they cross the threshold together.
    fpr, tpr, thr = _roc(kata, np.array([0, 1, 1, 0]), np.array([0.1, 0.5, 0.5, 0.2]))
    assert_close(thr, np.array([np.inf, 0.5, 0.2, 0.1]), what="thresholds")
    assert_close(fpr, np.array([0.0, 0.0, 0.5, 1.0]), what="fpr")
    assert_close(tpr, np.array([0.0, 1.0, 1.0, 1.0]), what="tpr (tied positives step together)")
    # A positive at the lowest score: tpr only reaches 1 at the last threshold.
    fpr, tpr, thr = _roc(kata, np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.1, 0.5]))
    assert_close(thr, np.array([np.inf, 0.9, 0.5, 0.1]), what="thresholds")
    assert_close(fpr, np.array([0.0, 0.0, 1.0, 1.0]), what="fpr (fpr = FP / N, N = 2)")
    assert_close(tpr, np.array([0.0, 0.5, 0.5, 1.0]), what="tpr (tpr = TP / P, P = 2)")


def test_roc_curve_does_not_depend_on_the_order_of_tied_samples(kata):
    y, scores = _scored(15)
    perm = np.random.default_rng(16).permutation(y.size)
    a = _roc(kata, y, scores)
    b = _roc(kata, y[perm], scores[perm])
    for name, u, v in zip(("fpr", "tpr", "thresholds"), a, b, strict=True):
        assert u.shape == v.shape, f"{name} changed length when the samples were shuffled"
        assert_close(v, u, what=f"roc_curve {name} after shuffling the samples (tied scores "
                                "must cross a threshold together, whatever their order)")


def test_roc_curve_starts_at_origin_ends_at_one_and_is_monotone(kata):
    y, scores = _scored(17, n=45, pos_rate=0.25)
    fpr, tpr, thr = _roc(kata, y, scores)
    assert (fpr[0], tpr[0]) == (0.0, 0.0), f"the curve starts at ({fpr[0]}, {tpr[0]}), not (0, 0)"
    assert_close(np.array([fpr[-1], tpr[-1]]), np.ones(2), what="the last ROC point (1, 1)")
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0), "fpr and tpr must not decrease"
    assert np.all(np.diff(thr) < 0), "thresholds must strictly decrease (one per distinct score)"


# ----------------------------------------------------------------------------- ROC AUC


def _pairwise_auc(y, scores):
    pos, neg = scores[y == 1], scores[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def _auc_suspects(y, scores):
    pos, neg = scores[y == 1], scores[y == 0]
    diff = pos[:, None] - neg[None, :]
    want = _pairwise_auc(y, scores)
    return [
        ((diff > 0).mean(), "a tie between a positive and a negative counts 1/2, not 0 "
                            "(average the ranks of tied scores)"),
        ((diff >= 0).mean(), "a tie between a positive and a negative counts 1/2, not 1"),
        (1.0 - want, "the AUC is reversed: it is the probability that a POSITIVE outranks a "
                     "negative"),
    ]


@pytest.mark.parametrize("seed", [18, 19, 20, 21])
def test_roc_auc_matches_sklearn_and_mann_whitney_with_ties(kata, seed):
    y, scores = _scored(seed, n=50 + 10 * (seed - 18))
    want = skm.roc_auc_score(y, scores)
    assert np.isclose(want, _pairwise_auc(y, scores))  # the two oracles agree
    got = kata.roc_auc(y, scores)
    assert np.ndim(got) == 0, f"roc_auc must return a scalar, got shape {np.shape(got)}"
    _named_bug(got, want, _auc_suspects(y, scores), "roc_auc with tied scores")


def test_roc_auc_by_hand(kata):
    # Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8 > 0.4), (0.8 > 0.1), (0.4 = 0.4),
    # (0.4 > 0.1): AUC = (3 + 1/2) / 4.
    y, scores = np.array([1, 0, 1, 0]), np.array([0.8, 0.4, 0.4, 0.1])
    _named_bug(kata.roc_auc(y, scores), 3.5 / 4, _auc_suspects(y, scores), "roc_auc by hand")


def test_roc_auc_of_all_tied_scores_is_one_half(kata):
    y = np.array([0, 1, 1, 0, 1, 0, 0])
    _named_bug(kata.roc_auc(y, np.full(7, 0.3)), 0.5,
               _auc_suspects(y, np.full(7, 0.3)), "roc_auc when every score is tied")


def test_roc_auc_is_one_for_a_perfect_ranking_and_zero_for_a_reversed_one(kata):
    y = np.array([0, 0, 1, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.7, 0.3, 0.9, 0.8])
    assert_close(kata.roc_auc(y, s), 1.0, what="roc_auc of a perfect ranking")
    assert_close(kata.roc_auc(y, -s), 0.0, what="roc_auc of a reversed ranking")


@pytest.mark.parametrize("y", [[1, 0, 0, 0], [0, 1, 1, 1]])
def test_roc_auc_with_a_single_positive_or_a_single_negative(kata, y):
    y = np.array(y)
    s = np.array([0.5, 0.2, 0.5, 0.9])
    _named_bug(kata.roc_auc(y, s), skm.roc_auc_score(y, s), _auc_suspects(y, s),
               f"roc_auc for y={y.tolist()}")


@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1]])
def test_roc_auc_needs_both_classes(kata, y):
    with pytest.raises(ValueError):
        kata.roc_auc(np.array(y), np.array([0.1, 0.2, 0.3]))


# ----------------------------------------------------------------------------- average precision


def _ap_suspects(y, scores):
    out = []
    precision, recall, _ = skm.precision_recall_curve(y, scores)
    out.append((skm.auc(recall, precision),
                "this is the trapezoidal area; AP is the step sum of (R_n - R_{n-1}) * P_n"))
    order = np.argsort(-scores, kind="stable")
    hits = y[order]
    prec_at_k = np.cumsum(hits) / np.arange(1, y.size + 1)
    out.append(((prec_at_k * hits).sum() / hits.sum(),
                "tied scores were walked one sample at a time: group them into one threshold"))
    return out


@pytest.mark.parametrize("seed", [22, 23, 24])
def test_average_precision_matches_sklearn_with_ties(kata, seed):
    y, scores = _scored(seed, pos_rate=0.3)
    got = kata.average_precision(y, scores)
    assert np.ndim(got) == 0, f"average_precision must return a scalar, got {np.shape(got)}"
    _named_bug(got, skm.average_precision_score(y, scores), _ap_suspects(y, scores),
               "average_precision with tied scores")


def test_average_precision_by_hand(kata):
    # Distinct thresholds 0.9, 0.6, 0.3: (TP, FP) = (1, 0), (2, 1), (3, 2); P = 1, 2/3, 3/5;
    # R = 1/3, 2/3, 1. AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5.
    y = np.array([1, 1, 0, 1, 0])
    s = np.array([0.9, 0.6, 0.6, 0.3, 0.3])
    _named_bug(kata.average_precision(y, s), (1 + 2 / 3 + 3 / 5) / 3, _ap_suspects(y, s),
               "average_precision by hand")


def test_average_precision_of_a_perfect_ranking_is_one(kata):
    y = np.array([0, 1, 0, 1, 1, 0])
    assert_close(kata.average_precision(y, np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.3])), 1.0,
                 what="average_precision of a perfect ranking")


def test_average_precision_of_all_tied_scores_is_the_positive_rate(kata):
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    assert_close(kata.average_precision(y, np.full(8, 0.5)), 0.25,
                 what="average_precision when every score is tied (one threshold: P = 2/8, "
                      "R = 1)")


def test_average_precision_with_a_single_positive(kata):
    # One positive, tied with two negatives at the top: one threshold covers it, P = 1/3.
    y = np.array([0, 0, 1, 0])
    s = np.array([0.3, 0.3, 0.3, 0.1])
    _named_bug(kata.average_precision(y, s), skm.average_precision_score(y, s),
               _ap_suspects(y, s), "average_precision with a single (tied) positive")


def test_average_precision_needs_a_positive(kata):
    with pytest.raises(ValueError):
        kata.average_precision(np.array([0, 0, 0]), np.array([0.3, 0.2, 0.1]))
