"""Multiple-testing corrections from scratch: Bonferroni, Holm and Benjamini–Hochberg.

Build three functions, each returning `(reject, adjusted)`:

    bonferroni(p, alpha)            # family-wise error rate (FWER) <= alpha, single step
    holm(p, alpha)                  # FWER <= alpha, step-down: never rejects less than Bonferroni
    benjamini_hochberg(p, q)        # false discovery rate (FDR) <= q, step-up

`p` is a 1-D array-like of m p-values in [0, 1], in ANY order (ties allowed; m = 0 gives two
empty arrays). `reject` is an (m,) bool ndarray and `adjusted` an (m,) float64 ndarray, both
in the ORIGINAL order of p: reject[i] and adjusted[i] are about p[i]. Never modify p.
You may use numpy, but not statsmodels' `multipletests` or scipy's `false_discovery_control`:
they are the oracle.

Conventions
-----------
Write p_(1) <= p_(2) <= ... <= p_(m) for the sorted p-values, with 1-based rank k.

- Bonferroni:  adjusted_i   = min(1, m p_i).
- Holm:        adjusted_(k) = min(1, max_{j <= k} (m - j + 1) p_(j)):  the smallest p-value is
               multiplied by m, the largest by 1, then a running max from the smallest.
- BH:          adjusted_(k) = min_{j >= k} p_(j) m / j:  a running min from the largest
               p-value down (already <= p_(m) <= 1, so it needs no cap).
- reject_i = adjusted_i <= alpha (or q). `<=`: a p-value exactly on its threshold is rejected.
  This is the textbook procedure: Holm walks up from the smallest p-value and stops at the
  first p_(k) > alpha / (m - k + 1); BH finds the LARGEST k with p_(k) <= k q / m and rejects
  all of p_(1), ..., p_(k), even those above their own threshold.

Pitfalls an interviewer looks for
---------------------------------
- Returning the results in sorted order (or un-sorting with the wrong permutation): undo the
  argsort with `out[order] = sorted_values`.
- Off-by-one multipliers: Holm's are m, m - 1, ..., 1; BH divides by the 1-based rank k.
- Forgetting the running max (Holm) / running min from the largest (BH): the adjusted values
  must be monotone in p, tied p-values get the same adjusted value, and BH's step-up rejects
  every p-value below the largest one that passes.
- Not capping the adjusted p-values at 1.
"""

from __future__ import annotations

import numpy as np


def bonferroni(p, alpha):
    """Bonferroni correction. p: (m,) p-values, any order. -> (reject (m,) bool, adjusted (m,))."""
    # >>> TODO: scale each p-value by the number of tests, cap, compare with alpha
    p = np.asarray(p, dtype=np.float64)  # (m,)
    adjusted = np.minimum(p * p.size, 1.0)  # (m,)
    return adjusted <= alpha, adjusted
    # <<<


def holm(p, alpha):
    """Holm's step-down correction. p: (m,) p-values, any order.

    Returns (reject (m,) bool, adjusted (m,) float64) in the original order of p.
    """
    # >>> TODO: sort, apply the Holm multipliers, make the result monotone, cap,
    # >>>       and put everything back in the original order
    p = np.asarray(p, dtype=np.float64)  # (m,)
    m = p.size
    order = np.argsort(p, kind="stable")  # (m,) indices of p in ascending order
    scaled = p[order] * np.arange(m, 0, -1)  # p_(k) * (m - k + 1), k = 1..m
    stepped = np.minimum(np.maximum.accumulate(scaled), 1.0)  # step-down: running max, cap
    adjusted = np.empty(m)
    adjusted[order] = stepped  # undo the sort: position order[k] gets the k-th value
    return adjusted <= alpha, adjusted
    # <<<


def benjamini_hochberg(p, q):
    """Benjamini–Hochberg step-up FDR control at level q. p: (m,) p-values, any order.

    Returns (reject (m,) bool, adjusted (m,) float64) in the original order of p.
    """
    # >>> TODO: sort, scale by m / rank, make the result monotone from the largest p-value
    # >>>       down, and put everything back in the original order
    p = np.asarray(p, dtype=np.float64)  # (m,)
    m = p.size
    order = np.argsort(p, kind="stable")  # (m,)
    scaled = p[order] * m / np.arange(1, m + 1)  # p_(k) * m / k, k = 1..m
    # step-up: running min from the top; it never exceeds p_(m) * m / m <= 1, so no cap
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted <= q, adjusted
    # <<<
