"""Tests for the t_tests kata: one-sample, Welch, Student and paired t-tests.

Oracle: scipy.stats.ttest_1samp / ttest_ind(equal_var=False|True) / ttest_rel, which report
the statistic, the p-value and the degrees of freedom. When a value is wrong, the failure
message names the classic bug it matches (ddof=0, df off by one, p not doubled, ...).
"""

import math

import numpy as np
import pytest
from scipy import stats

from dojo.testing import assert_close

KINDS = ("one_sample", "welch", "student", "paired")
ALTERNATIVES = ("two-sided", "less", "greater")
FUNCS = {"one_sample": "one_sample_t", "welch": "welch_t", "student": "student_t",
         "paired": "paired_t"}

# p-values are compared relatively (atol=0): a p of 1e-30 returned as 0 must fail.
P_TOL = {"rtol": 1e-6, "atol": 0.0}


# ---------------------------------------------------------------------------------------------
# Inputs: each case is a story (unequal sizes, very different variances, negative t, n = 2,
# a huge effect with a tiny p-value). Two-sample data for welch/student, paired data for
# paired, the first sample against a null mean for one_sample.

def _two_sample(case):
    rng = np.random.default_rng({"spread": 0, "negative": 1, "small": 2, "huge": 3}[case])
    if case == "spread":      # a > b, sizes 7 vs 13, sd 1 vs 5: Welch and Student differ a lot
        return rng.normal(1.5, 1.0, 7), rng.normal(0.0, 5.0, 13)
    if case == "negative":    # a < b, sizes 12 vs 5, sd 4 vs 0.5: t < 0
        return rng.normal(0.0, 4.0, 12), rng.normal(2.5, 0.5, 5)
    if case == "small":       # n1 = 2, n2 = 3: df and ddof errors are large here
        return rng.normal(0.0, 1.0, 2), rng.normal(0.8, 2.0, 3)
    # huge effect: p-values around 1e-30 and below, where 1 - cdf(t) is exactly 0
    return rng.normal(10.0, 1.0, 30), rng.normal(0.0, 1.5, 25)


def _paired(case):
    rng = np.random.default_rng({"spread": 10, "negative": 11, "small": 12, "huge": 13}[case])
    n = {"spread": 9, "negative": 15, "small": 2, "huge": 30}[case]
    shift = {"spread": 0.7, "negative": -0.9, "small": 0.5, "huge": 6.0}[case]
    subject = rng.normal(50.0, 10.0, n)  # large between-subject spread: pairing matters
    a = subject + rng.normal(shift, 1.0, n)
    b = subject + rng.normal(0.0, 1.0, n)
    return a, b


def _inputs(kind, case):
    """The positional arguments (before `alternative`) for the function of `kind`."""
    if kind == "paired":
        return _paired(case)
    a, b = _two_sample(case)
    if kind == "one_sample":
        mu0 = {"spread": 0.3, "negative": 1.7, "small": -0.4, "huge": 0.0}[case]
        return a, mu0
    return a, b


def _oracle(kind, args, alternative):
    if kind == "one_sample":
        r = stats.ttest_1samp(*args, alternative=alternative)
    elif kind == "welch":
        r = stats.ttest_ind(*args, equal_var=False, alternative=alternative)
    elif kind == "student":
        r = stats.ttest_ind(*args, equal_var=True, alternative=alternative)
    else:
        r = stats.ttest_rel(*args, alternative=alternative)
    return float(r.statistic), float(r.df), float(r.pvalue)


def _call(kata, kind, args, alternative="two-sided"):
    result = getattr(kata, FUNCS[kind])(*args, alternative=alternative)
    assert result is not None, f"{FUNCS[kind]} returned None; return (t, df, p)"
    assert len(result) == 3, f"{FUNCS[kind]} must return a 3-tuple (t, df, p), got {result!r}"
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# Wrong answers that a plausible bug would give; a failure message names the one matched.

def _var(x, ddof):
    return float(np.var(np.asarray(x, dtype=np.float64), ddof=ddof))


def _t_suspects(kind, args):
    """{hint: the t a classic bug would produce}."""
    out = {}
    if kind in ("one_sample", "paired"):
        x, mu0 = (args[0] - args[1], 0.0) if kind == "paired" else args
        n = len(x)
        out["the variance uses ddof=0 (np.var's default); use ddof=1"] = (
            (np.mean(x) - mu0) / math.sqrt(_var(x, 0) / n))
        out["the sign is flipped; t uses mean(a) - mean(b) (or mean(x) - mu0)"] = (
            -(np.mean(x) - mu0) / math.sqrt(_var(x, 1) / n))
        out["the standard error divides by n - 1 instead of n: se = s / sqrt(n)"] = (
            (np.mean(x) - mu0) / math.sqrt(_var(x, 1) / (n - 1)))
        if kind == "paired":
            out["the paired test was done as an independent two-sample test; test the "
                "differences a - b"] = float(stats.ttest_ind(*args, equal_var=False).statistic)
            out["the paired test was done as a pooled two-sample test; test the "
                "differences a - b"] = float(stats.ttest_ind(*args).statistic)
        return out
    a, b = args
    n1, n2 = len(a), len(b)
    diff = np.mean(a) - np.mean(b)
    s1, s2 = _var(a, 1), _var(b, 1)
    welch_se = math.sqrt(s1 / n1 + s2 / n2)
    pooled_se = math.sqrt(((n1 - 1) * s1 + (n2 - 1) * s2) / (n1 + n2 - 2) * (1 / n1 + 1 / n2))
    out["the sign is flipped; t uses mean(a) - mean(b)"] = -diff / (
        welch_se if kind == "welch" else pooled_se)
    ddof0 = "a variance uses ddof=0 (np.var's default); use ddof=1"
    if kind == "welch":
        out[ddof0] = diff / math.sqrt(_var(a, 0) / n1 + _var(b, 0) / n2)
        out[ddof0 + " (for a)"] = diff / math.sqrt(_var(a, 0) / n1 + s2 / n2)
        out[ddof0 + " (for b)"] = diff / math.sqrt(s1 / n1 + _var(b, 0) / n2)
    else:
        out[ddof0] = diff / math.sqrt(
            ((n1 - 1) * _var(a, 0) + (n2 - 1) * _var(b, 0)) / (n1 + n2 - 2) * (1 / n1 + 1 / n2))
        out[ddof0 + ", and the pooled variance weights by n"] = diff / math.sqrt(
            (n1 * _var(a, 0) + n2 * _var(b, 0)) / (n1 + n2 - 2) * (1 / n1 + 1 / n2))
    if kind == "welch":
        out["this is the pooled (Student) statistic; Welch uses sqrt(s1^2/n1 + s2^2/n2)"] = (
            diff / pooled_se)
    else:
        out["this is Welch's statistic; Student pools the variances"] = diff / welch_se
        out["the pooled variance is weighted by n instead of n - 1"] = diff / math.sqrt(
            (n1 * s1 + n2 * s2) / (n1 + n2 - 2) * (1 / n1 + 1 / n2))
        out["the pooled variance is a plain average of s1^2 and s2^2; weight by n - 1"] = (
            diff / math.sqrt((s1 + s2) / 2 * (1 / n1 + 1 / n2)))
        out["the pooled variance divides by n1 + n2 - 1; use n1 + n2 - 2"] = diff / math.sqrt(
            ((n1 - 1) * s1 + (n2 - 1) * s2) / (n1 + n2 - 1) * (1 / n1 + 1 / n2))
    return out


def _df_suspects(kind, args):
    if kind in ("one_sample", "paired"):
        n = len(args[0])
        return {"df should be n - 1, not n": n, "df should be n - 1, not n - 2": n - 2}
    a, b = args
    n1, n2 = len(a), len(b)
    out = {"df should be n1 + n2 - 2, not n1 + n2 - 1": n1 + n2 - 1,
           "df should be n1 + n2 - 2, not n1 + n2": n1 + n2}
    if kind == "welch":
        v1, v2 = _var(a, 1) / n1, _var(b, 1) / n2
        out = {
            "Welch's df is not the pooled n1 + n2 - 2; use Welch–Satterthwaite": n1 + n2 - 2,
            "Welch–Satterthwaite divides by n1 and n2; it should be n1 - 1 and n2 - 1":
                (v1 + v2) ** 2 / (v1**2 / n1 + v2**2 / n2),
            "Welch–Satterthwaite: the numerator is (v1 + v2)^2, not v1^2 + v2^2":
                (v1**2 + v2**2) / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)),
            "Welch–Satterthwaite uses v = s^2 / n (variance of the mean), not s^2": (
                (_var(a, 1) + _var(b, 1)) ** 2
                / (_var(a, 1) ** 2 / (n1 - 1) + _var(b, 1) ** 2 / (n2 - 1))),
            "Welch–Satterthwaite with ddof=0 variances; use ddof=1": (
                (_var(a, 0) / n1 + _var(b, 0) / n2) ** 2
                / ((_var(a, 0) / n1) ** 2 / (n1 - 1) + (_var(b, 0) / n2) ** 2 / (n2 - 1))),
        }
    return out


def _p_suspects(t, df, alternative):
    """The p a classic p-value bug would produce, given the correct t and df."""
    dist = stats.t(df)
    out = {}
    if alternative == "two-sided":
        out["the two-sided p is not doubled: p = 2 * sf(|t|)"] = dist.sf(abs(t))
        out["two-sided p uses sf(t) for negative t; use 2 * sf(|t|)"] = 2 * dist.sf(t)
        out["two-sided p uses 2 * cdf(|t|); the tail beyond |t| is sf(|t|)"] = 2 * dist.cdf(abs(t))
        out["two-sided p computed as 1 - cdf: it underflows to 0; use 2 * sf(|t|)"] = (
            2 * (1 - dist.cdf(abs(t))))
    else:
        other = "greater" if alternative == "less" else "less"
        right, wrong = (dist.cdf(t), dist.sf(t)) if alternative == "less" else (
            dist.sf(t), dist.cdf(t))
        out[f"'{alternative}' and '{other}' are swapped: 'less' is P(T <= t) = cdf(t), "
            "'greater' is P(T >= t) = sf(t)"] = wrong
        out[f"the one-sided p of '{alternative}' was doubled"] = 2 * right
        out["the one-sided p ignores the sign of t; use sf(t) or cdf(t), not sf(|t|)"] = (
            dist.sf(abs(t)))
        out["the p-value is computed as 1 - cdf (or 1 - sf): it underflows to 0 for tiny p; "
            "use sf(t) for 'greater' and cdf(t) for 'less'"] = (
            1 - dist.sf(t) if alternative == "less" else 1 - dist.cdf(t))
    return out


def _check(actual, expected, what, suspects, **tol):
    """assert_close, with the matching classic bug (if any) named in the message."""
    assert actual is not None, f"{what}: got None"
    assert np.ndim(actual) == 0, f"{what}: expected a scalar, got shape {np.shape(actual)}"
    if not np.isclose(float(actual), expected, rtol=1e-6, atol=0.0):
        for hint, value in suspects.items():
            if not np.isclose(value, expected, rtol=1e-6, atol=0.0) and np.isclose(
                    float(actual), value, rtol=1e-6, atol=1e-300):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(float(actual), expected, what=what, **tol)


# ---------------------------------------------------------------------------------------------
# Oracle comparisons

CASES = ("spread", "negative", "small", "huge")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_statistic_matches_scipy(kata, kind, case):
    args = _inputs(kind, case)
    t, _, _ = _call(kata, kind, args)
    exp_t, _, _ = _oracle(kind, args, "two-sided")
    _check(t, exp_t, f"{FUNCS[kind]} t ({case} case)", _t_suspects(kind, args))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_degrees_of_freedom_match_scipy(kata, kind, case):
    args = _inputs(kind, case)
    _, df, _ = _call(kata, kind, args)
    _, exp_df, _ = _oracle(kind, args, "two-sided")
    _check(df, exp_df, f"{FUNCS[kind]} df ({case} case)", _df_suspects(kind, args))


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_p_value_matches_scipy(kata, kind, case, alternative):
    args = _inputs(kind, case)
    t, df, p = _call(kata, kind, args, alternative)
    exp_t, exp_df, exp_p = _oracle(kind, args, alternative)
    what = f"{FUNCS[kind]} p, alternative={alternative!r} ({case} case, t={exp_t:.3g})"
    if not (np.isclose(t, exp_t, rtol=1e-6) and np.isclose(df, exp_df, rtol=1e-6)):
        what += " [t or df is wrong too: fix those first]"
    _check(p, exp_p, what, _p_suspects(exp_t, exp_df, alternative), **P_TOL)


def test_results_are_floats(kata):
    for kind in KINDS:
        args = _inputs(kind, "spread")
        for name, value in zip(("t", "df", "p"), _call(kata, kind, args), strict=True):
            assert isinstance(value, float), (
                f"{FUNCS[kind]} {name} is {type(value).__name__}, expected a Python float; "
                "wrap it in float(...)")


# ---------------------------------------------------------------------------------------------
# Requirements spelled out on small, hand-checkable or property-based examples

def test_one_sample_by_hand_n2(kata):
    # x = [1, 3]: mean 2, s^2 = 2 (ddof=1), se = sqrt(2 / 2) = 1, so t = 2 with df = 1;
    # two-sided p = 2 * P(T_1 >= 2) = 1 - 2 * atan(2) / pi.
    t, df, p = kata.one_sample_t([1.0, 3.0], 0.0)
    _check(t, 2.0, "one_sample_t t for x=[1, 3], mu0=0", {
        "the variance uses ddof=0 (np.var's default); use ddof=1": 2.0 * math.sqrt(2.0)})
    _check(df, 1.0, "one_sample_t df for n=2", {"df should be n - 1, not n": 2.0})
    _check(p, 1.0 - 2.0 * math.atan(2.0) / math.pi, "one_sample_t two-sided p, t=2, df=1",
           {"the two-sided p is not doubled: p = 2 * sf(|t|)": 0.5 - math.atan(2.0) / math.pi},
           **P_TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_sign_follows_mean_a_minus_mean_b(kata, kind):
    args = _inputs(kind, "negative")  # mean(a) < mean(b) (and mean(x) < mu0)
    t, _, _ = _call(kata, kind, args)
    assert t < 0, (f"{FUNCS[kind]}: mean(a) < mean(b) but t = {t:.3g} > 0; t must use "
                   "mean(a) - mean(b) (mean(x) - mu0 for the one-sample test)")


@pytest.mark.parametrize("case", ("spread", "negative"))
@pytest.mark.parametrize("kind", KINDS)
def test_p_values_are_consistent_across_alternatives(kata, kind, case):
    args = _inputs(kind, case)
    t, _, p_two = _call(kata, kind, args, "two-sided")
    _, _, p_less = _call(kata, kind, args, "less")
    _, _, p_greater = _call(kata, kind, args, "greater")
    name = FUNCS[kind]
    for alt, p in (("two-sided", p_two), ("less", p_less), ("greater", p_greater)):
        assert 0.0 <= p <= 1.0, f"{name}: p={p!r} for {alt!r} is not a probability (t={t:.3g})"
    assert math.isclose(p_less + p_greater, 1.0, rel_tol=1e-9), (
        f"{name}: p(less) + p(greater) = {p_less + p_greater:.6g}, should be 1; one tail is "
        "computed on the wrong side")
    tail, name_tail = (p_less, "less") if t < 0 else (p_greater, "greater")
    assert tail < 0.5, (
        f"{name}: t = {t:.3g} but p({name_tail!r}) = {tail:.3g} >= 0.5; 'less' and 'greater' "
        "are swapped ('less' = P(T <= t), 'greater' = P(T >= t))")
    assert math.isclose(p_two, 2 * tail, rel_tol=1e-9), (
        f"{name}: two-sided p = {p_two:.6g}, should be twice the smaller one-sided p "
        f"({2 * tail:.6g})")


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_p_value_is_not_rounded_to_zero(kata, kind):
    args = _inputs(kind, "huge")
    exp_t, exp_df, exp_p = _oracle(kind, args, "two-sided")
    assert 0 < exp_p < 1e-20 and 1 - stats.t.cdf(abs(exp_t), exp_df) == 0.0  # the premise
    _, _, p = _call(kata, kind, args, "two-sided")
    assert p > 0, (f"{FUNCS[kind]}: p = {p!r} for t = {exp_t:.3g}, expected {exp_p:.3g}; "
                   "1 - cdf(t) rounds to 0 in float64: use the survival function sf")
    _check(p, exp_p, f"{FUNCS[kind]} tiny two-sided p", {}, **P_TOL)


def test_welch_and_student_differ_when_variances_differ(kata):
    a, b = _two_sample("spread")
    tw, dfw, pw = kata.welch_t(a, b)
    ts, dfs, ps = kata.student_t(a, b)
    assert not math.isclose(tw, ts, rel_tol=1e-3), (
        "welch_t and student_t give the same t on samples of sizes 7 and 13 with sd 1 and 5: "
        "Welch uses sqrt(s1^2/n1 + s2^2/n2), Student the pooled variance")
    assert dfs == len(a) + len(b) - 2, f"student_t df = {dfs}, expected n1 + n2 - 2"
    assert dfw < min(len(a), len(b)) + max(len(a), len(b)) - 2 and dfw != int(dfw), (
        f"welch_t df = {dfw}: the Welch–Satterthwaite df is in general not an integer and is "
        "below n1 + n2 - 2")


def test_welch_equals_student_t_for_equal_sizes(kata):
    # With n1 == n2 the two statistics coincide; only the df differ.
    rng = np.random.default_rng(42)
    a, b = rng.normal(0.0, 1.0, 8), rng.normal(0.5, 3.0, 8)
    tw, dfw, _ = kata.welch_t(a, b)
    ts, dfs, _ = kata.student_t(a, b)
    assert_close(tw, ts, what="welch_t t vs student_t t for equal sizes (they must agree)")
    assert dfs == 14.0 and dfw < 14.0, f"df: student {dfs} (expected 14), welch {dfw} (< 14)"


def test_paired_uses_the_pairing(kata):
    a, b = _paired("spread")
    t, df, p = kata.paired_t(a, b)
    t_ind = stats.ttest_ind(a, b).statistic
    assert abs(t) > 3 * abs(t_ind), (
        f"paired_t t = {t:.3g} is close to the independent two-sample t = {t_ind:.3g}; the "
        "paired test is a one-sample test on the differences a - b")
    assert df == len(a) - 1, f"paired_t df = {df}, expected n - 1 = {len(a) - 1}"


def test_paired_equals_one_sample_on_differences(kata):
    a, b = _paired("negative")
    got = kata.paired_t(a, b, alternative="less")
    expected = kata.one_sample_t(a - b, 0.0, alternative="less")
    assert_close(np.array(got), np.array(expected),
                 what="paired_t(a, b) vs one_sample_t(a - b, 0) (t, df, p)")


# ---------------------------------------------------------------------------------------------
# Input validation

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", ("two_sided", "both", "Greater", None))
def test_unknown_alternative_raises(kata, kind, bad):
    args = _inputs(kind, "spread")
    with pytest.raises(ValueError):
        getattr(kata, FUNCS[kind])(*args, alternative=bad)


def test_paired_with_different_lengths_raises(kata):
    # (1,) against (4,) broadcasts silently in a - b: the length check must be explicit.
    with pytest.raises(ValueError):
        kata.paired_t([2.0], [1.0, 2.0, 3.0, 5.0])
    with pytest.raises(ValueError):
        kata.paired_t([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        kata.paired_t(np.arange(5.0), np.arange(6.0), alternative="greater")
