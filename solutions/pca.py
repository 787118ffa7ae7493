"""Principal component analysis from scratch (numpy only), via the SVD of the centred data.

Build

    pca(X, k) -> (components, explained_variance_ratio, X_proj)

X is (n, d) float64 (convert with np.asarray), 1 <= k <= min(n, d). Returns float64 arrays:
- components (k, d): the top-k principal axes as unit rows, in decreasing order of variance,
  mutually orthogonal;
- explained_variance_ratio (k,): the variance along each axis divided by the TOTAL variance
  (the sum over all min(n, d) axes, not just the top k), so it is non-increasing, and sums to
  1 when k = rank;
- X_proj (n, k): the centred data projected onto the axes, (X - mean) @ components.T.

Method: centre the columns, Xc = X - X.mean(axis=0), and take the thin SVD
Xc = U diag(S) Vt. The principal axes are the rows of Vt (the right singular vectors: Vt is
(r, d) with r = min(n, d)), and the variance along axis i is S[i]^2 / (n - 1). The ratio does not
depend on the n - 1 (ddof): it cancels.

Sign convention: an axis is only defined up to sign. Make the entry of largest absolute value
in each component positive (if two entries tie in absolute value, the first one counts, as
with np.argmax); flip the matching column of X_proj with it, so X_proj stays
Xc @ components.T. This is scikit-learn's convention since 1.5 (svd_flip with
u_based_decision=False); the tests re-sign sklearn's output themselves, so they do not depend
on its version.

Pitfalls an interviewer looks for:
- Not centring, or centring the fit but projecting the uncentred X.
- Components from the wrong side: the axes live in feature space, rows of Vt (d entries),
  not columns of U (n entries).
- Variances are the SQUARED singular values; ratios are over the total variance, not over
  the top k.
"""

import numpy as np


def pca(X, k):
    """PCA of X (n, d) keeping k components, 1 <= k <= min(n, d).

    Returns (components (k, d), explained_variance_ratio (k,), X_proj (n, k)), float64:
    unit principal axes with their largest-|.| entry positive, in decreasing variance; the
    variance of each over the total variance; and (X - mean) @ components.T.
    """
    # >>> TODO: centre, SVD, keep the top-k axes with the sign convention, ratios of squared
    # >>>       singular values over their total, project the centred data
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)  # (n, d)
    _, S, Vt = np.linalg.svd(Xc, full_matrices=False)  # S (r,), Vt (r, d), r = min(n, d)
    components = Vt[:k]  # (k, d), rows are unit axes, decreasing S
    top = np.abs(components).argmax(axis=1)  # (k,) index of the largest |entry| of each row
    flip = components[np.arange(k), top] < 0  # (k,)
    components[flip] = -components[flip]
    var = S**2  # (r,) variances times n - 1: the factor cancels in the ratio
    ratio = var[:k] / var.sum()  # over the TOTAL variance
    return components, ratio, Xc @ components.T  # (n, k) projection of the centred data
    # <<<
