# Your attempt at the `bootstrap_permutation` kata: fill in every TODO, then run
#     nox -s kata -- bootstrap_permutation
# Generated from solutions/bootstrap_permutation.py; `dojo reset bootstrap_permutation` archives this file and starts over.
"""Resampling inference: the percentile bootstrap and the two-sample permutation test.

Build three functions:

    bootstrap_ci(x, stat, n_resamples, level, rng)        -> (lo, hi)  Python floats
    permutation_test(a, b, stat, n_resamples, rng)        -> p         Python float
    exact_permutation_test(a, b, stat)                    -> p         Python float

x, a, b are 1-D float arrays (n,), (n_a,), (n_b,). `stat` is a callable returning a float:
of one sample for the bootstrap (e.g. np.mean, np.median), of two samples for the tests
(e.g. lambda a, b: a.mean() - b.mean()). rng is a np.random.Generator: draw every random
number from it (never np.random.*), so a fixed seed gives a fixed answer. You may not use
scipy.stats.bootstrap or scipy.stats.permutation_test: they are the oracle.

Percentile bootstrap
--------------------
Draw all the indices at once, idx = rng.integers(0, n, size=(n_resamples, n)): row r is
resample r, n values drawn WITH replacement from x (rng.choice(x, size=(n_resamples, n)) and
a loop of rng.integers(0, n, size=n) draw exactly the same numbers). theta[r] = stat(x[idx[r]])
gives (n_resamples,) values, and the interval is their (1 - level)/2 and (1 + level)/2
quantiles, np.quantile's default (linear) method. This is scipy.stats.bootstrap with
method="percentile" to the last digit, given the same seed.

Permutation test (two-sided)
----------------------------
H0: a and b come from one distribution, so the labels are exchangeable. Pool
c = concatenate([a, b]); for each of n_resamples draws, perm = rng.permutation(n_a + n_b),
a* = c[perm[:n_a]], b* = c[perm[n_a:]], t* = stat(a*, b*). With t = stat(a, b),
    p = (1 + #{|t*| >= |t|}) / (n_resamples + 1)
Ties count as extreme. The +1 counts the observed labelling, itself one of the permutations:
p is never 0 and is a valid p-value, P(p <= alpha) <= alpha under H0.
scipy.stats.permutation_test(..., permutation_type="independent") draws the same
permutations from the same seed, but its two-sided p is 2 min(p_less, p_greater) (each with
the +1), clipped to 1, and it forgives a relative 1e-14 in ties; for a statistic whose null
distribution is symmetric the two agree up to Monte-Carlo noise. When n_resamples is at least
the number of distinct splits, scipy silently runs the exact test below instead.

Exact permutation test
----------------------
Enumerate every way to choose which n_a of the n_a + n_b pooled positions form a*
(itertools.combinations(range(n_a + n_b), n_a), in order within a* and b*): each of the
C(n_a + n_b, n_a) splits is equally likely under H0, and the observed one is among them, so
    p = #{|t*| >= |t|} / C(n_a + n_b, n_a)         (no +1)

Pitfalls an interviewer looks for
---------------------------------
- The bootstrap resamples WITH replacement and keeps the size n; without replacement every
  resample is a reordering of x and the interval collapses to a point.
- The quantiles are (1 - level)/2 and (1 + level)/2, not level and 1 - level.
- The permutation test pools both samples before shuffling, compares |t*| with |t| (a
  one-sided count gives p ~ 1 for a strong negative effect), and adds 1 to the count and to
  the number of resamples (otherwise p can be exactly 0).
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np


def bootstrap_ci(x, stat, n_resamples, level, rng):
    """Percentile bootstrap interval for stat(x). x: (n,) floats; stat: (n,) -> float;
    level in (0, 1), e.g. 0.95; rng: np.random.Generator. -> (lo, hi) Python floats."""
    # TODO: resample x, evaluate stat on every resample, take the two quantiles
    raise NotImplementedError('TODO: resample x, evaluate stat on every resample, take the two quantiles')


def permutation_test(a, b, stat, n_resamples, rng):
    """Two-sided Monte-Carlo permutation test of H0: a and b are exchangeable.
    a: (n_a,), b: (n_b,); stat(a, b) -> float. -> p = (1 + #{|t*| >= |t|}) / (B + 1)."""
    # TODO: shuffle the pooled sample n_resamples times, split it, and count the
    #       permuted statistics at least as extreme as the observed one
    raise NotImplementedError('TODO: shuffle the pooled sample n_resamples times, split it, and count the')


def exact_permutation_test(a, b, stat):
    """Exact two-sided permutation test: every split of the pooled sample into n_a and n_b.
    -> p = #{|t*| >= |t|} / C(n_a + n_b, n_a), a Python float."""
    # TODO: enumerate every choice of the n_a positions that form a*, count the
    #       statistics at least as extreme as the observed one
    raise NotImplementedError('TODO: enumerate every choice of the n_a positions that form a*, count the')
