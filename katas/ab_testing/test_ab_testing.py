"""Tests for the ab_testing kata: pooled two-proportion z-test, sample size and power.

Oracles: statsmodels.stats.proportion.proportions_ztest (pooled variance by default; its
"larger" / "smaller" are our "greater" / "less", and z uses count[0]/nobs[0] - count[1]/nobs[1]),
samplesize_proportions_2indep_onetail (the unrounded n of the same pooled/unpooled formula)
and power_proportions_2indep (both tails of the two-sided test); the pinned catalog value
3841 for 10% vs 12%; and a Monte-Carlo simulation of the test at the planned sample size.
When a value is wrong, the failure message names the classic bug it matches.
"""

import math

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from dojo.testing import assert_close

ALTERNATIVES = ("two-sided", "less", "greater")
SM_ALTERNATIVE = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}
P_TOL = {"rtol": 1e-9, "atol": 0.0}  # p-values compared relatively: 1e-30 returned as 0 fails

# (x1, n1, x2, n2): a story each.
ZCASES = {
    "a_lower": (30, 200, 45, 210),          # A converts less: z < 0
    "a_higher": (130, 1000, 96, 1100),      # A converts more, unequal sizes: z > 0
    "unbalanced": (9, 40, 160, 1200),       # very different sizes: pooled vs unpooled differ
    "extreme": (18, 20, 2, 25),             # rates near 0 and 1: pooled vs unpooled differ a lot
    "huge": (900, 1000, 100, 1000),         # z ~ 36, p ~ 1e-280: 1 - cdf(z) is exactly 0
}


# ---------------------------------------------------------------------------------------------
# Wrong answers that a plausible bug gives; a failure message names the one matched.

def _z_suspects(x1, n1, x2, n2):
    p1, p2 = x1 / n1, x2 / n2
    pool = (x1 + x2) / (n1 + n2)
    pooled = math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    unpooled = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return {
        "the standard error is unpooled, sqrt(p1(1-p1)/n1 + p2(1-p2)/n2); the test of "
        "p1 == p2 pools the rates: p_pool = (x1 + x2) / (n1 + n2)": (p1 - p2) / unpooled,
        "the sign is flipped; z uses p1_hat - p2_hat": (p2 - p1) / pooled,
        "the pooled rate is the plain mean of p1_hat and p2_hat; pool the counts, "
        "(x1 + x2) / (n1 + n2)": (p1 - p2) / math.sqrt(
            (p1 + p2) / 2 * (1 - (p1 + p2) / 2) * (1 / n1 + 1 / n2)),
        "the standard error divides by n1 + n2 once; it is sqrt(p(1-p)(1/n1 + 1/n2))": (
            (p1 - p2) / math.sqrt(pool * (1 - pool) / (n1 + n2))),
    }


def _p_suspects(z, alternative):
    if alternative == "two-sided":
        return {
            "the two-sided p is not doubled: p = 2 * sf(|z|)": norm.sf(abs(z)),
            "two-sided p uses sf(z) for negative z; use 2 * sf(|z|)": 2 * norm.sf(z),
            "two-sided p computed as 2 * (1 - cdf(|z|)): it rounds to 0; use 2 * sf(|z|)": (
                2 * (1 - norm.cdf(abs(z)))),
        }
    right, wrong = (norm.cdf(z), norm.sf(z)) if alternative == "less" else (norm.sf(z),
                                                                            norm.cdf(z))
    return {
        "'less' and 'greater' are swapped: 'greater' (H1: p1 > p2) is sf(z), 'less' is cdf(z)":
            wrong,
        f"the one-sided p of '{alternative}' was doubled": 2 * right,
        "the one-sided p ignores the sign of z; use sf(z) or cdf(z), not sf(|z|)":
            norm.sf(abs(z)),
    }


def _check(actual, expected, what, suspects, **tol):
    """assert_close, with the matching classic bug (if any) named in the message."""
    assert actual is not None, f"{what}: got None"
    assert np.ndim(actual) == 0, f"{what}: expected a scalar, got shape {np.shape(actual)}"
    if not np.isclose(float(actual), expected, rtol=1e-9, atol=0.0):
        for hint, value in suspects.items():
            if not np.isclose(value, expected, rtol=1e-9, atol=0.0) and np.isclose(
                    float(actual), value, rtol=1e-9, atol=1e-300):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(float(actual), expected, what=what, **tol)


def _ztest(kata, case, alternative="two-sided"):
    result = kata.two_proportion_ztest(*ZCASES[case], alternative=alternative)
    assert result is not None and len(result) == 2, (
        f"two_proportion_ztest must return a 2-tuple (z, p), got {result!r}")
    return result


def _oracle(case, alternative="two-sided"):
    x1, n1, x2, n2 = ZCASES[case]
    z, p = proportions_ztest([x1, x2], [n1, n2], alternative=SM_ALTERNATIVE[alternative])
    return float(z), float(p)


# ---------------------------------------------------------------------------------------------
# The z-test against statsmodels

@pytest.mark.parametrize("case", ZCASES)
def test_z_statistic_uses_the_pooled_standard_error(kata, case):
    z, _ = _ztest(kata, case)
    _check(z, _oracle(case)[0], f"z ({case}: x1, n1, x2, n2 = {ZCASES[case]})",
           _z_suspects(*ZCASES[case]), rtol=1e-9, atol=0.0)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("case", ZCASES)
def test_p_value_matches_statsmodels(kata, case, alternative):
    z, p = _ztest(kata, case, alternative)
    exp_z, exp_p = _oracle(case, alternative)
    what = f"p, alternative={alternative!r} ({case}, z={exp_z:.3g})"
    if not np.isclose(z, exp_z, rtol=1e-9):
        what += " [z is wrong too: fix it first]"
    _check(p, exp_p, what, _p_suspects(exp_z, alternative), **P_TOL)


def test_ztest_returns_python_floats(kata):
    for value, name in zip(_ztest(kata, "a_higher"), ("z", "p"), strict=True):
        assert isinstance(value, float), (
            f"two_proportion_ztest {name} is {type(value).__name__}; wrap it in float(...)")


def test_equal_rates_give_z_zero_and_p_one(kata):
    z, p = kata.two_proportion_ztest(12, 40, 30, 100)  # 0.3 vs 0.3
    assert_close(z, 0.0, what="z for equal observed rates 12/40 and 30/100", atol=1e-12)
    assert_close(p, 1.0, what="two-sided p for equal observed rates", atol=1e-12)


def test_ztest_by_hand(kata):
    # 60/100 vs 40/100: p_pool = 0.5, se = sqrt(0.25 * 0.02) = sqrt(0.005), z = 0.2 / se.
    z, p = kata.two_proportion_ztest(60, 100, 40, 100, alternative="greater")
    expected = 0.2 / math.sqrt(0.005)
    _check(z, expected, "z for 60/100 vs 40/100 (p_pool = 0.5)",
           {"the standard error is unpooled": 0.2 / math.sqrt(0.48 / 100)})
    _check(p, norm.sf(expected), "'greater' p for 60/100 vs 40/100 (sf(z))",
           _p_suspects(expected, "greater"), **P_TOL)


def test_swapping_the_groups_flips_z_and_keeps_the_two_sided_p(kata):
    x1, n1, x2, n2 = ZCASES["unbalanced"]
    z_ab, p_ab = kata.two_proportion_ztest(x1, n1, x2, n2)
    z_ba, p_ba = kata.two_proportion_ztest(x2, n2, x1, n1)
    assert_close(z_ba, -z_ab, what="z with the groups swapped (must be -z)")
    assert_close(p_ba, p_ab, what="two-sided p with the groups swapped (must not change)")
    _, p_less = kata.two_proportion_ztest(x1, n1, x2, n2, alternative="less")
    _, p_greater = kata.two_proportion_ztest(x2, n2, x1, n1, alternative="greater")
    assert_close(p_greater, p_less, what="p('greater', B vs A) vs p('less', A vs B)")


def test_tiny_p_value_is_not_rounded_to_zero(kata):
    exp_z, exp_p = _oracle("huge")
    assert 0 < exp_p < 1e-200 and 1 - norm.cdf(exp_z) == 0.0  # the premise
    z, p = _ztest(kata, "huge")
    assert p > 0, (f"p = {p!r} for z = {exp_z:.3g}, expected {exp_p:.3g}: 1 - cdf(z) rounds "
                   "to 0 in float64; use the survival function, 2 * sf(|z|)")
    _check(p, exp_p, "tiny two-sided p", {}, **P_TOL)


@pytest.mark.parametrize("bad", ("two_sided", "larger", "smaller", None))
def test_unknown_alternative_raises(kata, bad):
    with pytest.raises(ValueError):
        kata.two_proportion_ztest(30, 200, 45, 210, alternative=bad)


@pytest.mark.parametrize("counts", ((0, 50, 0, 80), (50, 50, 80, 80)))
def test_zero_pooled_standard_error_raises(kata, counts):
    # No success (or no failure) anywhere: p_pool (1 - p_pool) = 0 and z would be 0 / 0.
    with pytest.raises(ValueError):
        kata.two_proportion_ztest(*counts)


# ---------------------------------------------------------------------------------------------
# Sample size

# (p1, p2, alpha, power); the comment gives the unrounded n. Several fractional parts are
# below 0.5, where rounding to the nearest integer goes down. alpha <= 0.1 and power >= 0.8
# keep the far tail that the formula neglects below 1e-4.
PLANS = [
    (0.10, 0.12, 0.05, 0.80),   # 3840.85
    (0.30, 0.40, 0.05, 0.90),   # 476.007
    (0.50, 0.45, 0.01, 0.80),   # 2328.52
    (0.02, 0.03, 0.05, 0.80),   # 3825.15
    (0.60, 0.30, 0.10, 0.95),   # 56.78
    (0.40, 0.50, 0.05, 0.80),   # 387.34
    (0.15, 0.20, 0.10, 0.80),   # 713.04
]


def _n_real(p1, p2, alpha, power, *, z_a=None, pooled=True, alt_pooled=False):
    """The unrounded n of the documented formula, or of a classic variant of it."""
    p_bar = (p1 + p2) / 2
    z_a = norm.ppf(1 - alpha / 2) if z_a is None else z_a
    s1 = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    s0 = math.sqrt(2 * p_bar * (1 - p_bar)) if pooled else s1
    s1 = s0 if alt_pooled else s1
    return ((z_a * s0 + norm.ppf(power) * s1) / (p1 - p2)) ** 2


def _n_suspects(p1, p2, alpha, power):
    n = _n_real(p1, p2, alpha, power)
    return {
        "n was rounded down; round UP (math.ceil) so the power is reached": math.floor(n),
        "n was rounded to the nearest integer; round UP (math.ceil)": round(n),
        "n is not an integer; round it up with math.ceil": n,
        "alpha was not halved: a two-sided test uses Phi^-1(1 - alpha/2)": math.ceil(
            _n_real(p1, p2, alpha, power, z_a=norm.ppf(1 - alpha))),
        "the H0 term uses the unpooled sd; under H0 the sd is sqrt(2 p_bar q_bar)": math.ceil(
            _n_real(p1, p2, alpha, power, pooled=False)),
        "the power term uses the pooled sd; under H1 it is sqrt(p1 q1 + p2 q2)": math.ceil(
            _n_real(p1, p2, alpha, power, alt_pooled=True)),
        "the power quantile has the wrong sign: z_b = Phi^-1(power), not Phi^-1(1 - power)":
            math.ceil(((norm.ppf(1 - alpha / 2) * math.sqrt(
                2 * (p1 + p2) / 2 * (1 - (p1 + p2) / 2)) - norm.ppf(power) * math.sqrt(
                p1 * (1 - p1) + p2 * (1 - p2))) / (p1 - p2)) ** 2),
    }


def _check_n(n, expected, what, suspects):
    assert n is not None, f"{what}: got None"
    if n != expected:
        for hint, value in suspects.items():
            if value != expected and np.isclose(n, value, rtol=0, atol=1e-9):
                raise AssertionError(f"{what}: got {n}, expected {expected} [likely bug: {hint}]")
        raise AssertionError(f"{what}: got {n}, expected {expected}")


def test_sample_size_for_10_vs_12_percent_is_3841(kata):
    n = kata.sample_size_two_proportions(0.10, 0.12)
    _check_n(n, 3841, "sample_size_two_proportions(0.10, 0.12) (defaults alpha=0.05, "
             "power=0.8; the unrounded n is 3840.85)", _n_suspects(0.10, 0.12, 0.05, 0.8))
    assert isinstance(n, int), f"the sample size is {type(n).__name__}; return a Python int"


@pytest.mark.parametrize("p1, p2, alpha, power", PLANS)
def test_sample_size_is_the_rounded_up_statsmodels_n(kata, p1, p2, alpha, power):
    exp = samplesize_proportions_2indep_onetail(p2 - p1, p1, power, alpha=alpha,
                                                alternative="two-sided")
    n = kata.sample_size_two_proportions(p1, p2, alpha=alpha, power=power)
    _check_n(n, math.ceil(exp), f"sample size for {p1} vs {p2}, alpha={alpha}, power={power} "
             f"(unrounded {exp:.6g})", _n_suspects(p1, p2, alpha, power))


def test_sample_size_is_symmetric_in_p1_and_p2(kata):
    n12 = kata.sample_size_two_proportions(0.3, 0.4, alpha=0.05, power=0.9)
    n21 = kata.sample_size_two_proportions(0.4, 0.3, alpha=0.05, power=0.9)
    assert n12 == n21 == 477, (
        f"n(0.3, 0.4) = {n12}, n(0.4, 0.3) = {n21}, expected 477 for both: the effect enters "
        "squared, (p1 - p2)^2")


def test_sample_size_shrinks_with_alpha_and_grows_with_power(kata):
    base = kata.sample_size_two_proportions(0.2, 0.25)
    looser = kata.sample_size_two_proportions(0.2, 0.25, alpha=0.1)
    stronger = kata.sample_size_two_proportions(0.2, 0.25, power=0.9)
    assert looser < base < stronger, (
        f"n = {base} at alpha=0.05, power=0.8; {looser} at alpha=0.1 (must be smaller) and "
        f"{stronger} at power=0.9 (must be larger)")


def test_sample_size_of_zero_effect_raises(kata):
    with pytest.raises(ValueError):
        kata.sample_size_two_proportions(0.2, 0.2)


# ---------------------------------------------------------------------------------------------
# Power

def _power_suspects(p1, p2, n, alpha):
    p_bar = (p1 + p2) / 2
    s0 = math.sqrt(2 * p_bar * (1 - p_bar))
    s1 = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    shift = abs(p1 - p2) * math.sqrt(n)

    def pw(z, a=s0, b=s1):
        return norm.cdf((shift - z * a) / b) + norm.cdf((-shift - z * a) / b)

    z = norm.ppf(1 - alpha / 2)
    return {
        "only one rejection region counted: add the far tail Phi((-|d| sqrt(n) - z s0) / s1)":
            norm.cdf((shift - z * s0) / s1),
        "alpha was not halved: a two-sided test uses Phi^-1(1 - alpha/2)":
            pw(norm.ppf(1 - alpha)),
        "the H0 sd is unpooled; the critical value is z s0 with s0 = sqrt(2 p_bar q_bar)":
            pw(z, a=s1),
        "the H1 sd is pooled; divide by s1 = sqrt(p1 q1 + p2 q2)": pw(z, b=s0),
        "the rejection threshold is not scaled by s0 / s1": pw(z, a=1.0, b=1.0),
    }


POWER_CASES = [(0.10, 0.12, 3841, 0.05), (0.30, 0.40, 120, 0.05), (0.50, 0.45, 700, 0.01),
               (0.60, 0.30, 20, 0.10), (0.05, 0.07, 200, 0.20), (0.12, 0.10, 500, 0.05)]


@pytest.mark.parametrize("p1, p2, n, alpha", POWER_CASES)
def test_power_matches_statsmodels(kata, p1, p2, n, alpha):
    exp = float(power_proportions_2indep(p2 - p1, p1, n, alpha=alpha).power)
    got = kata.power_two_proportions(p1, p2, n, alpha=alpha)
    _check(got, exp, f"power for {p1} vs {p2}, n={n}, alpha={alpha}",
           _power_suspects(p1, p2, n, alpha), rtol=1e-9, atol=1e-12)
    assert isinstance(got, float), f"the power is {type(got).__name__}; return a Python float"


@pytest.mark.parametrize("p1, p2, alpha, power", PLANS)
def test_power_is_reached_at_the_sample_size_and_not_one_below(kata, p1, p2, alpha, power):
    n = kata.sample_size_two_proportions(p1, p2, alpha=alpha, power=power)
    at_n = kata.power_two_proportions(p1, p2, n, alpha=alpha)
    below = kata.power_two_proportions(p1, p2, n - 1, alpha=alpha)
    assert at_n >= power, (
        f"power({n}) = {at_n:.6f} < {power} for {p1} vs {p2}, alpha={alpha}: the sample size "
        "(or the power) is off; round n up and use the same s0, s1 and z in both")
    assert below < power, (
        f"power({n - 1}) = {below:.6f} >= {power} for {p1} vs {p2}, alpha={alpha}: n = {n} "
        "is larger than needed")


@pytest.mark.parametrize("alpha", (0.05, 0.01, 0.2))
def test_power_of_a_zero_effect_is_alpha(kata, alpha):
    # p1 == p2: s0 == s1 and power = 2 Phi(-z_a) = alpha, both tails counted.
    got = kata.power_two_proportions(0.3, 0.3, 250, alpha=alpha)
    _check(got, alpha, f"power when p1 == p2 (alpha={alpha}): the test's size",
           {"only one rejection region counted: a two-sided test rejects in both tails":
                alpha / 2, "alpha was not halved": 2 * alpha}, rtol=1e-9, atol=1e-12)


def test_power_grows_with_n_towards_one(kata):
    powers = [kata.power_two_proportions(0.2, 0.23, n) for n in (10, 100, 1000, 5000, 50000)]
    assert all(a < b for a, b in zip(powers, powers[1:], strict=False)), (
        f"power at n = 10, 100, 1000, 5000, 50000: {powers}; it must increase with n")
    assert powers[-1] > 0.999 and 0.05 < powers[0] < 0.1, f"power at n=10 and 50000: {powers}"


def test_simulated_rejection_rate_matches_the_planned_power(kata):
    # Monte Carlo: draw both groups at the planned n, run YOUR z-test, count rejections.
    # 1500 trials: the standard error of the rejection rate is sqrt(0.8 * 0.2 / 1500) ~ 0.010;
    # the normal approximation adds < 0.01 at n ~ 350. Tolerance 0.04.
    p1, p2 = 0.30, 0.40
    n = kata.sample_size_two_proportions(p1, p2)
    assert 300 < n < 400, f"sample size for 0.3 vs 0.4: {n}, expected 356"
    rng = np.random.default_rng(2024)
    x1, x2 = rng.binomial(n, p1, size=1500), rng.binomial(n, p2, size=1500)
    rejected = [kata.two_proportion_ztest(int(a), n, int(b), n)[1] < 0.05
                for a, b in zip(x1, x2, strict=True)]
    rate = float(np.mean(rejected))
    assert abs(rate - 0.8) < 0.04, (
        f"the z-test rejects in {rate:.3f} of 1500 simulated experiments with n={n} per group, "
        "where 0.8 was planned: the test, the sample size or both are off")
