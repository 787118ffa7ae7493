# Your attempt at the `ab_testing` kata: fill in every TODO, then run
#     nox -s kata -- ab_testing
# Generated from solutions/ab_testing.py; `dojo reset ab_testing` archives this file and starts over.
"""A/B testing of two conversion rates: the pooled z-test, sample size and power.

Build three functions:

    two_proportion_ztest(x1, n1, x2, n2, alternative="two-sided") -> (z, p)   Python floats
    sample_size_two_proportions(p1, p2, alpha=0.05, power=0.8)    -> n        Python int, per group
    power_two_proportions(p1, p2, n, alpha=0.05)                  -> power    Python float

x1 of n1 users converted in group A, x2 of n2 in group B (ints, 0 <= x <= n). p1, p2 are the
true conversion rates you plan for, in (0, 1); n is the size of EACH group (equal groups).
You may use `scipy.stats.norm` (cdf, sf, ppf) but not statsmodels: it is the oracle.

The z-test (H0: p1 == p2)
-------------------------
    p1_hat = x1 / n1,   p2_hat = x2 / n2,   p_pool = (x1 + x2) / (n1 + n2)
    z = (p1_hat - p2_hat) / sqrt(p_pool (1 - p_pool) (1/n1 + 1/n2))
Under H0 both groups share one rate, so the standard error uses the POOLED estimate. The sign
follows p1_hat - p2_hat: z > 0 when A converts more. With Z ~ N(0, 1):
    "greater" (H1: p1 > p2): P(Z >= z) = sf(z)
    "less"    (H1: p1 < p2): P(Z <= z) = cdf(z)
    "two-sided":             2 P(Z >= |z|) = 2 sf(|z|)
Any other alternative raises ValueError, and so does p_pool in {0, 1} (zero standard error).

Sample size and power (two-sided test at level alpha, equal groups of n)
------------------------------------------------------------------------
Write d = p1 - p2, p_bar = (p1 + p2) / 2, q = 1 - p, and
    s0 = sqrt(2 p_bar q_bar)        the sd of sqrt(n) (p1_hat - p2_hat) under H0 (pooled)
    s1 = sqrt(p1 q1 + p2 q2)        the same sd under the alternative
    z_a = Phi^-1(1 - alpha / 2),    z_b = Phi^-1(power)
The test rejects when |p1_hat - p2_hat| > z_a s0 / sqrt(n), and under the alternative
p1_hat - p2_hat ~ N(d, s1^2 / n). Hence, counting both rejection regions,
    power(n) = Phi((|d| sqrt(n) - z_a s0) / s1) + Phi((-|d| sqrt(n) - z_a s0) / s1)
Neglecting the far tail (the second term: about 1e-6 at alpha = 0.05 and 80% power, below
1e-4 for any alpha <= 0.1 and power >= 0.8) and solving power(n) = target for n:
    n = (z_a s0 + z_b s1)^2 / d^2,   rounded UP to the next integer
Check: p1 = 0.10, p2 = 0.12, alpha = 0.05, power = 0.8 gives n = 3840.85, so 3841 per group;
power(3841) >= 0.8 > power(3840). p1 == p2 has no finite sample size: raise ValueError.

Pitfalls an interviewer looks for
---------------------------------
- The unpooled standard error sqrt(p1_hat q1_hat / n1 + p2_hat q2_hat / n2) in the z-test: it
  belongs to the confidence interval for p1 - p2, not to the test of p1 == p2.
- A two-sided test splits alpha: z_a = Phi^-1(1 - alpha/2), not Phi^-1(1 - alpha). The
  two-sided p is 2 sf(|z|), a one-sided p is not doubled.
- n is rounded up (ceil): rounding down or to the nearest integer under-powers the test.
- The power of a two-sided test has two tails; for a tiny effect it tends to alpha, not alpha/2.
"""

from __future__ import annotations

import math

from scipy.stats import norm

ALTERNATIVES = ("two-sided", "less", "greater")


def two_proportion_ztest(x1, n1, x2, n2, alternative="two-sided"):
    """Pooled two-proportion z-test of H0: p1 == p2. x1 of n1 and x2 of n2 successes (ints).
    -> (z, p) Python floats, z from p1_hat - p2_hat."""
    # TODO: the z statistic with the standard error under H0, then the p-value for the
    #       alternative; reject unknown alternatives and a zero standard error
    raise NotImplementedError('TODO: the z statistic with the standard error under H0, then the p-value for the')


def _sds(p1, p2):
    """(s0, s1): sd of sqrt(n) (p1_hat - p2_hat) under H0 (pooled at the mean rate) and H1."""
    # TODO: the two standard deviations, H0 pooled at the mean rate, H1 per group
    raise NotImplementedError('TODO: the two standard deviations, H0 pooled at the mean rate, H1 per group')


def sample_size_two_proportions(p1, p2, alpha=0.05, power=0.8):
    """Per-group n for the two-sided pooled z-test at level alpha to reach `power` when the
    true rates are p1 and p2. -> Python int, rounded up. 10% vs 12% -> 3841."""
    # TODO: n = ((two-sided critical value * s0 + power quantile * s1) / (p1 - p2))^2,
    #       rounded so that the power is reached; p1 == p2 raises ValueError
    raise NotImplementedError('TODO: n = ((two-sided critical value * s0 + power quantile * s1) / (p1 - p2))^2,')


def power_two_proportions(p1, p2, n, alpha=0.05):
    """Power of the two-sided pooled z-test at level alpha with n per group when the true
    rates are p1 and p2 (normal approximation, both rejection regions). -> Python float."""
    # TODO: P(reject) under the alternative: both rejection regions, in units of s1
    raise NotImplementedError('TODO: P(reject) under the alternative: both rejection regions, in units of s1')
