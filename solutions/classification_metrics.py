"""Classification metrics from scratch (numpy only): confusion matrix, precision / recall / F1,
the ROC curve, ROC AUC and average precision.

Build five functions:

    confusion_matrix(y, yhat, labels=None)   (k, k) int64 counts
    precision_recall_f1(y, yhat, average)    (precision, recall, f1) as Python floats
    roc_curve(y, scores)                     (fpr, tpr, thresholds), float64 arrays
    roc_auc(y, scores)                       area under the ROC curve, a Python float
    average_precision(y, scores)             step-wise area under the PR curve, a Python float

y and yhat are (n,) label arrays (ints or strings); scores are (n,) floats, higher meaning
"more positive". For roc_curve, roc_auc and average_precision, y is binary and the positive
class is the label 1.

Conventions
-----------
- confusion_matrix: C[i, j] counts the samples whose TRUE label is labels[i] and whose
  PREDICTED label is labels[j] (rows = truth, columns = prediction). `labels` defaults to
  the sorted union of the values in y and yhat; when given, it fixes the order, and samples
  whose label is not in it are left out.
- precision_recall_f1, per class c: precision = TP / (TP + FP) (over the predicted c),
  recall = TP / (TP + FN) (over the true c), F1 = 2 TP / (2 TP + FP + FN). A 0 / 0 is 0.0.
  `average` is one of
      "binary":   the class 1 alone (the positive label is 1);
      "micro":    sum TP, FP and FN over the classes first, then the three ratios;
      "macro":    the plain mean of the per-class values (macro-F1 is the mean of the
                  per-class F1s, not the F1 of the mean P and R);
      "weighted": the mean of the per-class values weighted by the support (the number of
                  TRUE samples of each class).
  The classes are the sorted union of y and yhat, so a class that is only ever predicted
  counts in "macro" (with recall 0.0). Any other `average` raises ValueError.
- roc_curve: one point per DISTINCT score, thresholds in decreasing order, predicting
  positive when score >= threshold; samples with tied scores cross the threshold together.
  The curve starts at (0, 0) with threshold +inf, so all three arrays have length
  1 + (number of distinct scores), and it ends at (1, 1). fpr = FP / N, tpr = TP / P.
- roc_auc is the Mann-Whitney statistic: the probability that a random positive scores
  higher than a random negative, a tie counting 1/2. Raises ValueError unless y holds both
  classes.
- average_precision = sum_n (R_n - R_{n-1}) P_n over the distinct thresholds in decreasing
  order, with R_0 = 0: a step function (rectangles), not the trapezoidal area. Raises
  ValueError when y has no positive.

Pitfalls an interviewer looks for
---------------------------------
- A transposed confusion matrix (rows = prediction), or precision and recall swapped with it.
- Macro and weighted mixed up; F1 of the averaged P and R instead of the average F1.
- Ties: sorting the scores and walking one sample at a time makes the ROC curve, the AUC and
  the AP depend on the order of tied samples. Group equal scores into one threshold.
"""

import numpy as np

AVERAGES = ("binary", "micro", "macro", "weighted")


def _safe_div(num, den):
    """num / den elementwise, 0.0 where den == 0 (the zero_division=0 convention)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def confusion_matrix(y, yhat, labels=None):
    """C[i, j] = #{samples with true label labels[i] and predicted label labels[j]}.

    y, yhat: (n,) labels. labels: (k,) or None for the sorted union of y and yhat.
    Returns a (k, k) int64 array; samples with a label outside `labels` are not counted.
    """
    # >>> TODO: one-hot the truth and the prediction over the labels and count the pairs
    y, yhat = np.asarray(y), np.asarray(yhat)
    labels = np.union1d(y, yhat) if labels is None else np.asarray(labels)
    T = (y[:, None] == labels[None, :]).astype(np.int64)  # (n, k) one-hot truth
    P = (yhat[:, None] == labels[None, :]).astype(np.int64)  # (n, k) one-hot prediction
    return T.T @ P  # (k, k): rows = truth, columns = prediction
    # <<<


def precision_recall_f1(y, yhat, average):
    """(precision, recall, f1) as Python floats for average in
    {"binary", "micro", "macro", "weighted"}; 0 / 0 counts as 0.0."""
    # >>> TODO: per-class TP, predicted and true counts from the confusion matrix, then
    # >>>       the ratios, averaged as `average` says
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    labels = np.union1d(np.asarray(y), np.asarray(yhat))
    C = confusion_matrix(y, yhat, labels)  # (k, k)
    tp = np.diag(C)  # (k,)
    predicted = C.sum(axis=0)  # (k,) TP + FP: column sums
    support = C.sum(axis=1)  # (k,) TP + FN: row sums, the true counts
    if average == "binary":
        keep = labels == 1
        tp, predicted, support = tp[keep].sum(), predicted[keep].sum(), support[keep].sum()
    elif average == "micro":
        tp, predicted, support = tp.sum(), predicted.sum(), support.sum()
    p = _safe_div(tp, predicted)
    r = _safe_div(tp, support)
    f = _safe_div(2 * tp, predicted + support)  # 2TP / (2TP + FP + FN)
    if average in ("macro", "weighted"):
        weights = support if average == "weighted" else np.ones_like(support)
        p, r, f = (np.sum(v * weights) / np.sum(weights) for v in (p, r, f))
    return float(p), float(r), float(f)
    # <<<


def _binary_clf_curve(y, scores):
    """Cumulative (fps, tps) at each distinct score, in decreasing order of score.

    Returns fps, tps (int arrays) and the distinct scores, all of shape (u,): fps[i] and
    tps[i] count the negatives and positives with score >= thresholds[i].
    """
    # >>> TODO: sort by decreasing score, count the cumulative positives and negatives, and
    # >>>       keep only the last position of each run of equal scores
    y = np.asarray(y) == 1
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")  # (n,) decreasing score
    s, pos = scores[order], y[order]
    last = np.append(np.flatnonzero(np.diff(s)), s.size - 1)  # (u,) end of each tie group
    tps = np.cumsum(pos)[last]
    fps = last + 1 - tps  # everything above the threshold that is not a positive
    return fps, tps, s[last]
    # <<<


def roc_curve(y, scores):
    """ROC curve: (fpr, tpr, thresholds), each (u + 1,) float64 for u distinct scores.

    thresholds = [inf, distinct scores in decreasing order]; the first point is (0, 0).
    """
    # >>> TODO: the rates at each distinct threshold, with the (0, 0) point at +inf in front
    fps, tps, thresholds = _binary_clf_curve(y, scores)
    fpr = np.append(0.0, fps) / fps[-1]  # fps[-1] = N, every negative
    tpr = np.append(0.0, tps) / tps[-1]  # tps[-1] = P
    return fpr, tpr, np.append(np.inf, thresholds)
    # <<<


def roc_auc(y, scores):
    """Area under the ROC curve = P(score of a positive > score of a negative), a tie
    counting 1/2. Raises ValueError unless both classes are present. -> float."""
    # >>> TODO: the Mann-Whitney U of the positives from their ranks (ties share the mean
    # >>>       rank), normalised by the number of positive-negative pairs
    y = np.asarray(y) == 1
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs at least one positive and one negative")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # 1-based ranks of a tie group of size c ending at rank e are e-c+1..e: mean e - (c-1)/2
    mean_rank = np.cumsum(counts) - (counts - 1) / 2  # (u,)
    ranks = mean_rank[inverse]  # (n,)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2  # pairs won by a positive, ties as 1/2
    return float(u / (n_pos * n_neg))
    # <<<


def average_precision(y, scores):
    """AP = sum_n (R_n - R_{n-1}) P_n over the distinct thresholds (decreasing), R_0 = 0.
    Raises ValueError when y has no positive. -> float."""
    # >>> TODO: precision and recall at each distinct threshold, then the step-wise sum
    fps, tps, _ = _binary_clf_curve(y, scores)
    if tps[-1] == 0:
        raise ValueError("average_precision needs at least one positive")
    precision = tps / (tps + fps)  # (u,)
    recall = tps / tps[-1]  # (u,)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
    # <<<
