# Your attempt at the `classification_metrics` kata: fill in every TODO, then run
#     nox -s kata -- classification_metrics
# Generated from solutions/classification_metrics.py; `dojo reset classification_metrics` archives this file and starts over.
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
    # TODO: one-hot the truth and the prediction over the labels and count the pairs
    raise NotImplementedError('TODO: one-hot the truth and the prediction over the labels and count the pairs')


def precision_recall_f1(y, yhat, average):
    """(precision, recall, f1) as Python floats for average in
    {"binary", "micro", "macro", "weighted"}; 0 / 0 counts as 0.0."""
    # TODO: per-class TP, predicted and true counts from the confusion matrix, then
    #       the ratios, averaged as `average` says
    raise NotImplementedError('TODO: per-class TP, predicted and true counts from the confusion matrix, then')


def _binary_clf_curve(y, scores):
    """Cumulative (fps, tps) at each distinct score, in decreasing order of score.

    Returns fps, tps (int arrays) and the distinct scores, all of shape (u,): fps[i] and
    tps[i] count the negatives and positives with score >= thresholds[i].
    """
    # TODO: sort by decreasing score, count the cumulative positives and negatives, and
    #       keep only the last position of each run of equal scores
    raise NotImplementedError('TODO: sort by decreasing score, count the cumulative positives and negatives, and')


def roc_curve(y, scores):
    """ROC curve: (fpr, tpr, thresholds), each (u + 1,) float64 for u distinct scores.

    thresholds = [inf, distinct scores in decreasing order]; the first point is (0, 0).
    """
    # TODO: the rates at each distinct threshold, with the (0, 0) point at +inf in front
    raise NotImplementedError('TODO: the rates at each distinct threshold, with the (0, 0) point at +inf in front')


def roc_auc(y, scores):
    """Area under the ROC curve = P(score of a positive > score of a negative), a tie
    counting 1/2. Raises ValueError unless both classes are present. -> float."""
    # TODO: the Mann-Whitney U of the positives from their ranks (ties share the mean
    #       rank), normalised by the number of positive-negative pairs
    raise NotImplementedError('TODO: the Mann-Whitney U of the positives from their ranks (ties share the mean')


def average_precision(y, scores):
    """AP = sum_n (R_n - R_{n-1}) P_n over the distinct thresholds (decreasing), R_0 = 0.
    Raises ValueError when y has no positive. -> float."""
    # TODO: precision and recall at each distinct threshold, then the step-wise sum
    raise NotImplementedError('TODO: precision and recall at each distinct threshold, then the step-wise sum')
