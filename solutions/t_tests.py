"""t-tests from scratch: one-sample, Welch, Student (pooled) and paired.

Build four functions, each returning `(t, df, p)` as Python floats:

    one_sample_t(x, mu0, alternative="two-sided")   # H0: mean(x) == mu0
    welch_t(a, b, alternative="two-sided")          # H0: mean(a) == mean(b), unequal variances
    student_t(a, b, alternative="two-sided")        # H0: mean(a) == mean(b), equal variances
    paired_t(a, b, alternative="two-sided")         # H0: mean(a - b) == 0, a[i] paired with b[i]

Inputs are 1-D array-likes of floats. You may use `scipy.stats.t` (its `cdf` / `sf`) for the
t distribution, but not `scipy.stats.ttest_*`: those are the oracle.

Conventions
-----------
- Sample variances are unbiased: `s^2 = sum((x - mean)^2) / (n - 1)`, i.e. `ddof=1`.
- Sign: the statistic uses `mean(a) - mean(b)` (and `mean(x) - mu0`), so t > 0 when a is larger.
- One-sample:  t = (mean(x) - mu0) / (s / sqrt(n)),                         df = n - 1.
- Student:     sp^2 = ((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2),
               t = (mean(a) - mean(b)) / sqrt(sp^2 (1/n1 + 1/n2)),          df = n1 + n2 - 2.
- Welch:       v1 = s1^2 / n1, v2 = s2^2 / n2,  t = (mean(a) - mean(b)) / sqrt(v1 + v2),
               df = (v1 + v2)^2 / (v1^2 / (n1-1) + v2^2 / (n2-1))   (Welch–Satterthwaite;
               not an integer in general).
- Paired:      the one-sample test on d = a - b against 0, df = n - 1. a and b must have the
               same length, else raise ValueError.
- p-value with T ~ t(df):
      "greater":   P(T >= t) = sf(t)
      "less":      P(T <= t) = cdf(t)
      "two-sided": 2 P(T >= |t|) = 2 sf(|t|)
  Any other `alternative` raises ValueError.

Pitfalls an interviewer looks for
---------------------------------
- ddof=0 (`np.var` default) instead of ddof=1; df off by one (n instead of n - 1, n1 + n2 - 1
  instead of n1 + n2 - 2); using the pooled df for Welch.
- Pooled variance weighted by n instead of n - 1, or a plain average of s1^2 and s2^2.
- Two-sided p: double the one-sided tail of |t|; `2 * sf(t)` exceeds 1 for negative t.
- Precision: `1 - cdf(t)` is exactly 0 once cdf rounds to 1 (t around 10 with df ~ 50); `sf`
  keeps tiny p-values like 1e-30 exact.
- A paired design analysed as two independent samples loses the pairing (and the power).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ALTERNATIVES = ("two-sided", "less", "greater")


def _p_value(t, df, alternative):
    """p-value of statistic t under a t(df) null, for the given alternative. -> float."""
    # >>> TODO: map the alternative to a tail of t(df) (use sf, not 1 - cdf); reject unknown ones
    if alternative == "two-sided":
        return float(2.0 * stats.t.sf(abs(t), df))
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    # <<<


def one_sample_t(x, mu0, alternative="two-sided"):
    """One-sample t-test of H0: mean(x) == mu0. x: (n,) floats, n >= 2. -> (t, df, p) floats."""
    # >>> TODO: t = (mean - mu0) / standard error (ddof=1), df = n - 1
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    se = np.sqrt(x.var(ddof=1) / n)
    t = (x.mean() - mu0) / se
    df = n - 1
    return float(t), float(df), _p_value(t, df, alternative)
    # <<<


def welch_t(a, b, alternative="two-sided"):
    """Welch's t-test (unequal variances) of H0: mean(a) == mean(b). a: (n1,), b: (n2,).
    -> (t, df, p) floats, df from Welch–Satterthwaite."""
    # >>> TODO: per-sample variances of the means, t, and the Welch–Satterthwaite df
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n1, n2 = a.size, b.size
    v1 = a.var(ddof=1) / n1  # squared standard error of mean(a)
    v2 = b.var(ddof=1) / n2
    t = (a.mean() - b.mean()) / np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return float(t), float(df), _p_value(t, df, alternative)
    # <<<


def student_t(a, b, alternative="two-sided"):
    """Student's two-sample t-test (pooled, equal variances) of H0: mean(a) == mean(b).
    a: (n1,), b: (n2,). -> (t, df, p) floats, df = n1 + n2 - 2."""
    # >>> TODO: pooled variance weighted by n - 1, t, df = n1 + n2 - 2
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n1, n2 = a.size, b.size
    df = n1 + n2 - 2
    sp2 = ((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / df
    t = (a.mean() - b.mean()) / np.sqrt(sp2 * (1.0 / n1 + 1.0 / n2))
    return float(t), float(df), _p_value(t, df, alternative)
    # <<<


def paired_t(a, b, alternative="two-sided"):
    """Paired t-test of H0: mean(a - b) == 0. a, b: (n,) with a[i] paired with b[i].
    -> (t, df, p) floats, df = n - 1. Raises ValueError if the lengths differ."""
    # >>> TODO: check the lengths match, then a one-sample test on the differences a - b
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same length, got {a.size} and {b.size}")
    return one_sample_t(a - b, 0.0, alternative)
    # <<<
