# Your attempt at the `chi_square` kata: fill in every TODO, then run
#     nox -s kata -- chi_square
# Generated from solutions/chi_square.py; `dojo reset chi_square` archives this file and starts over.
"""Chi-square tests from scratch: goodness of fit and independence (with Yates' correction).

Build two functions:

    chi2_goodness_of_fit(observed, expected=None)  -> (stat, df, p)
    chi2_independence(table, yates=False)          -> (stat, df, p, expected)

`observed` is a 1-D array-like of k >= 2 counts; `expected` the same shape, or None for the
uniform expectation sum(observed) / k in every cell. `table` is a 2-D array-like of counts,
shape (r, c) with r, c >= 2. Counts may be ints or floats. `stat` and `p` are Python floats,
`df` a Python int, `expected` an (r, c) float64 array. You may use `scipy.stats.chi2` (its
`sf` / `cdf`), but not `scipy.stats.chisquare` or `chi2_contingency`: those are the oracle.

Conventions
-----------
- Pearson's statistic: stat = sum((O - E)^2 / E) over the cells; p = P(X >= stat) with
  X ~ chi2(df), i.e. the upper tail: chi2.sf(stat, df).
- Goodness of fit: df = k - 1. `expected` holds COUNTS with the same total as `observed`
  (not probabilities): if sum(observed) and sum(expected) differ by more than a relative
  1e-8, raise ValueError (as scipy does). Also raise ValueError when the shapes differ or
  an expected count is <= 0.
- Independence: the expected count of a cell is row total * column total / grand total,
  E[i, j] = R[i] * C[j] / N, an (r, c) array; df = (r - 1)(c - 1). Raise ValueError when
  the table is not 2-D with r, c >= 2, or a row or a column sums to 0 (E would have a 0).
- Yates' continuity correction (yates=True) applies ONLY when df == 1 (a 2x2 table); for
  df > 1 the flag is ignored. Each |O - E| is reduced by 0.5, but not below 0:
      stat = sum(max(|O - E| - 0.5, 0)^2 / E)
  (scipy's rule: each O moves min(0.5, |O - E|) towards E). The returned `expected` is
  the same with or without it.

Pitfalls an interviewer looks for
---------------------------------
- df = k instead of k - 1; df = r * c - 1 instead of (r - 1)(c - 1).
- Expected counts from the wrong margins (rows and columns swapped): test a non-square
  table. Dividing by O instead of E (that is Neyman's statistic, not Pearson's).
- Yates applied to larger tables, or as (|O - E| - 0.5) without the floor at 0.
- p = chi2.cdf(stat, df) is the lower tail; and 1 - cdf rounds to 0 for large statistics
  where sf keeps p ~ 1e-40.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def chi2_goodness_of_fit(observed, expected=None):
    """Pearson's chi-square goodness-of-fit test. observed: (k,) counts; expected: (k,)
    counts with the same total, or None for uniform. -> (stat float, df int, p float)."""
    # TODO: validate / fill in the expected counts, then the statistic, df and upper tail
    raise NotImplementedError('TODO: validate / fill in the expected counts, then the statistic, df and upper tail')


def chi2_independence(table, yates=False):
    """Pearson's chi-square test of independence of the rows and columns of a contingency
    table (r, c). Yates' correction when yates=True and df == 1.
    -> (stat float, df int, p float, expected (r, c) float64)."""
    # TODO: validate, expected counts from the margins, df, then the statistic
    #       (with Yates' correction only for a 2x2 table) and its upper tail
    raise NotImplementedError('TODO: validate, expected counts from the margins, df, then the statistic')
