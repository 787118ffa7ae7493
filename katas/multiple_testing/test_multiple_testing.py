"""Tests for the multiple_testing kata: Bonferroni, Holm and Benjamini–Hochberg.

Oracles: statsmodels.stats.multitest.multipletests (methods "bonferroni", "holm", "fdr_bh")
for the decisions and the adjusted p-values, and scipy.stats.false_discovery_control for the
BH-adjusted values. Hand-checked examples use dyadic p-values (0.125, 0.1875, ...) so that a
p-value lying exactly on its threshold is exact in floating point. When a value is wrong, the
failure message names the classic bug it matches.
"""

from unittest import mock

import numpy as np
import pytest
from scipy.stats import false_discovery_control
from statsmodels.stats.multitest import multipletests

from dojo.testing import assert_close

METHODS = ("bonferroni", "holm", "benjamini_hochberg")
SM_METHOD = {"bonferroni": "bonferroni", "holm": "holm", "benjamini_hochberg": "fdr_bh"}
CASES = ("uniform", "signals", "ties", "single", "large")


# ---------------------------------------------------------------------------------------------
# Inputs: every case comes in a random (unsorted) order.

def _pvalues(case):
    rng = np.random.default_rng({"uniform": 0, "signals": 1, "ties": 2, "single": 3,
                                 "large": 4}[case])
    if case == "uniform":   # all nulls: m * p > 1 for most of them, so the cap matters
        return rng.uniform(size=20)
    if case == "signals":   # 8 strong signals among 30 nulls, shuffled
        return rng.permutation(np.concatenate([rng.uniform(0, 0.004, 8), rng.uniform(size=30)]))
    if case == "ties":      # rounded to 2 decimals: many tied p-values
        return np.round(rng.uniform(0, 0.2, 25), 2)
    if case == "single":
        return rng.uniform(0, 0.1, 1)
    return rng.permutation(np.concatenate([rng.beta(0.2, 8.0, 150), rng.uniform(size=350)]))


def _call(kata, method, p, level):
    out = getattr(kata, method)(p, level)
    assert out is not None, f"{method} returned None; return (reject, adjusted)"
    assert len(out) == 2, f"{method} must return a pair (reject, adjusted), got {out!r}"
    return out


def _oracle(method, p, level):
    # statsmodels' holm branch ends with gc.collect(), 0.1-0.2 s a call in a process that has
    # torch loaded; the results do not depend on it, so it is skipped.
    with mock.patch("gc.collect"):
        reject, adjusted, _, _ = multipletests(np.asarray(p, dtype=np.float64), alpha=level,
                                               method=SM_METHOD[method])
    return reject, adjusted


# ---------------------------------------------------------------------------------------------
# Wrong answers that a plausible bug would give; a failure message names the one matched.

def _adjust(p, method, *, shift=0, monotone=True, cap=True, from_smallest=False):
    """Adjusted p-values in SORTED order, with an optional classic bug, and the argsort."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    ps, k = p[order], np.arange(1, m + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "bonferroni":
            s = ps * (m + shift)
        elif method == "holm":
            s = ps * (m - k + 1 + shift)
            if monotone:
                s = np.maximum.accumulate(s)
        else:
            s = ps * m / (k + shift)
            if monotone:
                s = (np.minimum.accumulate(s) if from_smallest
                     else np.minimum.accumulate(s[::-1])[::-1])
    if cap:
        s = np.minimum(s, 1.0)
    return s, order


def _unsort(sorted_values, order):
    out = np.empty_like(sorted_values)
    out[order] = sorted_values
    return out


def _suspects(method, p):
    """{hint: the adjusted p-values (original order) that a classic bug would produce}."""
    s, order = _adjust(p, method)
    out = {
        "the adjusted p-values are in sorted order; put them back in the order of p "
        "(out[order] = sorted_values)": s,
        "un-sorting used the wrong permutation: sorted_values[order] is not the inverse of "
        "the argsort; write out[order] = sorted_values": s[order],
        "the adjusted p-values are not capped at 1": _unsort(_adjust(p, method, cap=False)[0],
                                                            order),
        "no correction was applied: the adjusted p-values equal p": np.asarray(p, float),
    }
    if method == "bonferroni":
        out["Bonferroni multiplies by m - 1 instead of m"] = _unsort(
            _adjust(p, method, shift=-1)[0], order)
    elif method == "holm":
        out["Holm's multipliers are off by one: they are m, m - 1, ..., 1 (the smallest p-value "
            "times m), not m - 1, ..., 0"] = _unsort(_adjust(p, method, shift=-1)[0], order)
        out["Holm's multipliers are off by one: they are m, m - 1, ..., 1, not m + 1, ..., 2"] = (
            _unsort(_adjust(p, method, shift=1)[0], order))
        out["the running max is missing: Holm's adjusted p-values are "
            "max_{j <= k} (m - j + 1) p_(j) (np.maximum.accumulate over the sorted values)"] = (
            _unsort(_adjust(p, method, monotone=False)[0], order))
    else:
        out["BH divides by the 0-based rank; the rank k runs from 1 to m (p_(k) * m / k)"] = (
            _unsort(_adjust(p, method, shift=-1)[0], order))
        out["BH divides by k + 1; the rank k runs from 1 to m (p_(k) * m / k)"] = (
            _unsort(_adjust(p, method, shift=1)[0], order))
        out["the running min is missing: BH's adjusted p-values are min_{j >= k} p_(j) m / j "
            "(a running min from the LARGEST p-value down)"] = (
            _unsort(_adjust(p, method, monotone=False)[0], order))
        out["the running min goes the wrong way: BH takes it from the largest p-value down "
            "(reverse, np.minimum.accumulate, reverse back)"] = (
            _unsort(_adjust(p, method, from_smallest=True)[0], order))
    return out


def _check_adjusted(actual, expected, method, p, what):
    __tracebackhide__ = True
    actual = np.asarray(actual)
    if actual.shape == expected.shape and not np.allclose(actual, expected, rtol=1e-9,
                                                          atol=1e-12):
        for hint, value in _suspects(method, p).items():
            if (np.allclose(actual, value, rtol=1e-9, atol=1e-12, equal_nan=True)
                    and not np.allclose(value, expected, rtol=1e-9, atol=1e-12)):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(actual, expected, what=what, rtol=1e-9, atol=1e-12)


def _check_reject(reject, expected, method, p, level, what):
    __tracebackhide__ = True
    reject = np.asarray(reject)
    assert reject.shape == expected.shape, (
        f"{what}: shape {reject.shape}, expected {expected.shape}")
    if np.array_equal(reject, expected):
        return
    s, order = _adjust(p, method)
    if np.array_equal(reject, s <= level) and not np.array_equal(s <= level, expected):
        raise AssertionError(f"{what}: the decisions are in sorted order; reject[i] must be "
                             "about p[i] (undo the argsort)")
    bad = np.flatnonzero(reject != expected)
    i = bad[0]
    raise AssertionError(
        f"{what}: {bad.size} wrong decision(s); first at index {i}: p = {p[i]:.6g}, got "
        f"reject = {bool(reject[i])}, expected {bool(expected[i])}")


# ---------------------------------------------------------------------------------------------
# Oracle comparisons

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_adjusted_p_values_match_statsmodels(kata, method, case):
    p = _pvalues(case)
    _, adjusted = _call(kata, method, p, 0.05)
    _, expected = _oracle(method, p, 0.05)
    _check_adjusted(adjusted, expected, method, p, f"{method} adjusted p-values ({case} case)")


@pytest.mark.parametrize("case", CASES)
def test_bh_adjusted_p_values_match_scipy_false_discovery_control(kata, case):
    p = _pvalues(case)
    _, adjusted = _call(kata, "benjamini_hochberg", p, 0.1)
    _check_adjusted(adjusted, false_discovery_control(p, method="bh"), "benjamini_hochberg", p,
                    f"benjamini_hochberg adjusted p-values vs scipy ({case} case)")


@pytest.mark.parametrize("level", (0.05, 0.2))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_decisions_match_statsmodels(kata, method, case, level):
    p = _pvalues(case)
    reject, _ = _call(kata, method, p, level)
    expected, _ = _oracle(method, p, level)
    _check_reject(reject, expected, method, p, level,
                  f"{method} reject at level {level} ({case} case)")


@pytest.mark.parametrize("method", METHODS)
def test_returns_a_bool_array_and_a_float64_array_of_length_m(kata, method):
    p = _pvalues("signals")
    reject, adjusted = _call(kata, method, p, 0.05)
    assert isinstance(reject, np.ndarray) and reject.dtype == np.bool_, (
        f"{method}: reject must be a numpy bool array, got {type(reject).__name__} "
        f"{getattr(reject, 'dtype', '')}")
    assert isinstance(adjusted, np.ndarray) and adjusted.dtype == np.float64, (
        f"{method}: adjusted must be a float64 numpy array, got {type(adjusted).__name__} "
        f"{getattr(adjusted, 'dtype', '')}")
    assert reject.shape == adjusted.shape == p.shape, (
        f"{method}: shapes {reject.shape} and {adjusted.shape}, expected {p.shape}")


# ---------------------------------------------------------------------------------------------
# Requirements on hand-checkable examples

@pytest.mark.parametrize("method", METHODS)
def test_results_follow_the_order_of_the_input(kata, method):
    p = _pvalues("signals")
    perm = np.random.default_rng(7).permutation(p.size)
    reject, adjusted = _call(kata, method, p, 0.05)
    reject_perm, adjusted_perm = _call(kata, method, p[perm], 0.05)
    assert_close(np.asarray(adjusted_perm), np.asarray(adjusted)[perm],
                 what=f"{method}(p[perm]) adjusted vs {method}(p) adjusted [perm]: the results "
                      "must follow the input order, not the sorted order")
    assert np.array_equal(reject_perm, np.asarray(reject)[perm]), (
        f"{method}: permuting p does not permute reject the same way; reject[i] must be "
        "about p[i]")


@pytest.mark.parametrize("method", METHODS)
def test_input_array_is_not_modified(kata, method):
    p = _pvalues("signals")
    before = p.copy()
    _call(kata, method, p, 0.05)
    assert np.array_equal(p, before), (
        f"{method} modified its input: sort a copy (np.argsort / p[order]), never p.sort() "
        "in place")


@pytest.mark.parametrize("method", METHODS)
def test_accepts_a_list(kata, method):
    p = [0.04, 0.001, 0.3, 0.02]
    reject, adjusted = _call(kata, method, p, 0.05)
    exp_reject, exp_adjusted = _oracle(method, p, 0.05)
    assert_close(adjusted, exp_adjusted, what=f"{method} adjusted for a list input")
    assert np.array_equal(reject, exp_reject), f"{method} reject for a list input"


# (p-values in a shuffled order, level, expected adjusted): every p-value lies EXACTLY on its
# threshold, which is exact in binary floating point.
BOUNDARY = {
    # m = 4, alpha = 0.5: threshold alpha / m = 0.125, i.e. adjusted 4 p <= 0.5.
    "bonferroni": ([0.125, 0.25, 0.0625, 0.5], 0.5, [0.5, 1.0, 0.25, 1.0], [1, 0, 1, 0]),
    # m = 4, alpha = 0.75: thresholds alpha / (m - k + 1) = 0.1875, 0.25, 0.375, 0.75.
    "holm": ([0.375, 0.1875, 0.75, 0.25], 0.75, [0.75] * 4, [1, 1, 1, 1]),
    # m = 4, q = 0.5: thresholds k q / m = 0.125, 0.25, 0.375, 0.5; 0.4 misses its own but the
    # step-up carries it, and the largest p-value sits exactly on the last threshold.
    "benjamini_hochberg": ([0.4, 0.125, 0.5, 0.25], 0.5, [0.5] * 4, [1, 1, 1, 1]),
}


@pytest.mark.parametrize("method", METHODS)
def test_a_p_value_exactly_on_its_threshold_is_rejected(kata, method):
    p, level, exp_adjusted, exp_reject = BOUNDARY[method]
    p = np.array(p)
    sm_reject, sm_adjusted = _oracle(method, p, level)
    assert np.array_equal(sm_reject, exp_reject) and np.allclose(sm_adjusted, exp_adjusted)
    reject, adjusted = _call(kata, method, p, level)
    _check_adjusted(adjusted, np.array(exp_adjusted), method, p,
                    f"{method} adjusted p-values on the boundary (p = {p.tolist()})")
    assert np.array_equal(reject, np.array(exp_reject, dtype=bool)), (
        f"{method}(p={p.tolist()}, {level}): reject = {np.asarray(reject).tolist()}, expected "
        f"{[bool(r) for r in exp_reject]}. The adjusted p-values equal the level exactly: reject "
        "when adjusted <= level (<=, not <)")


def test_holm_stops_at_the_first_p_value_that_fails(kata):
    # alpha = 0.5, m = 4: thresholds 0.125, 1/6, 0.25, 0.5. 0.1 passes; 0.2 > 1/6 fails, so Holm
    # stops there: 0.21 and 0.4 are kept although 0.4 is below its own threshold 0.5.
    p = np.array([0.4, 0.2, 0.1, 0.21])
    reject, adjusted = _call(kata, "holm", p, 0.5)
    _check_adjusted(adjusted, np.array([0.6, 0.6, 0.4, 0.6]), "holm", p,
                    "holm adjusted for p = [0.4, 0.2, 0.1, 0.21]")
    assert np.array_equal(reject, [False, False, True, False]), (
        f"holm(p = [0.4, 0.2, 0.1, 0.21], 0.5) rejects {np.asarray(reject).tolist()}, expected "
        "only 0.1: Holm is step-down, it stops at the first sorted p-value above "
        "alpha / (m - k + 1) (the running max makes the adjusted values do this)")


def test_bh_rejects_everything_below_the_largest_p_value_that_passes(kata):
    # q = 0.5, m = 4: thresholds 0.125, 0.25, 0.375, 0.5. 0.3 misses its threshold 0.25, but
    # 0.5 meets its own, so BH (step-up) rejects all four.
    p = np.array([0.35, 0.5, 0.1, 0.3])
    reject, adjusted = _call(kata, "benjamini_hochberg", p, 0.5)
    _check_adjusted(adjusted, np.array([1.4 / 3, 0.5, 0.4, 1.4 / 3]), "benjamini_hochberg", p,
                    "benjamini_hochberg adjusted for p = [0.35, 0.5, 0.1, 0.3]")
    assert np.all(reject), (
        f"benjamini_hochberg(p = [0.35, 0.5, 0.1, 0.3], 0.5) rejects "
        f"{np.asarray(reject).tolist()}, expected all four: BH is step-up, it rejects every "
        "p-value up to the LARGEST one below k q / m (the running min from the top does this)")


@pytest.mark.parametrize("method", METHODS)
def test_tied_p_values_get_identical_results(kata, method):
    p = np.array([0.02, 0.01, 0.02, 0.3, 0.01, 0.02, 0.04])
    reject, adjusted = _call(kata, method, p, 0.1)
    adjusted = np.asarray(adjusted)
    for value in (0.01, 0.02):
        tied = p == value
        assert np.ptp(adjusted[tied]) == 0, (
            f"{method}: the tied p-values {value} got different adjusted values "
            f"{adjusted[tied].tolist()}; the running max (Holm) / min (BH) makes them equal")
        assert len(set(np.asarray(reject)[tied].tolist())) == 1, (
            f"{method}: the tied p-values {value} got different decisions")
    _check_adjusted(adjusted, _oracle(method, p, 0.1)[1], method, p, f"{method} adjusted with ties")


@pytest.mark.parametrize("case", ("uniform", "large"))
@pytest.mark.parametrize("method", METHODS)
def test_adjusted_p_values_are_monotone_at_least_p_and_at_most_one(kata, method, case):
    p = _pvalues(case)
    _, adjusted = _call(kata, method, p, 0.05)
    adjusted = np.asarray(adjusted)
    assert np.all(adjusted <= 1.0), (
        f"{method}: adjusted p-value {adjusted.max():.3g} > 1; cap the adjusted p-values at 1")
    assert np.all(adjusted >= p - 1e-15), f"{method}: an adjusted p-value is below its raw p"
    in_p_order = adjusted[np.argsort(p, kind="stable")]
    assert np.all(np.diff(in_p_order) >= 0), (
        f"{method}: the adjusted p-values are not non-decreasing in p; Holm needs a running "
        "max, BH a running min from the largest p-value down")


@pytest.mark.parametrize("level", (0.05, 0.2))
@pytest.mark.parametrize("case", ("signals", "large"))
def test_holm_rejects_at_least_bonferroni_and_bh_at_least_holm(kata, case, level):
    p = _pvalues(case)
    bonf = np.asarray(_call(kata, "bonferroni", p, level)[0])
    holm = np.asarray(_call(kata, "holm", p, level)[0])
    bh = np.asarray(_call(kata, "benjamini_hochberg", p, level)[0])
    assert bonf.any(), "bonferroni rejects nothing on data with strong signals"
    assert np.all(holm[bonf]), "holm keeps a hypothesis that bonferroni rejects"
    assert np.all(bh[holm]), "benjamini_hochberg keeps a hypothesis that holm rejects"
    assert bh.sum() > bonf.sum(), "benjamini_hochberg should reject more than bonferroni here"


@pytest.mark.parametrize("method", METHODS)
def test_a_single_p_value_is_left_unchanged(kata, method):
    for value, level in ((0.03, 0.05), (0.05, 0.05), (0.7, 0.05)):
        reject, adjusted = _call(kata, method, np.array([value]), level)
        assert_close(adjusted, np.array([value]), what=f"{method}([{value}]) adjusted (m = 1)")
        assert np.array_equal(reject, [value <= level]), (
            f"{method}([{value}], {level}): reject = {np.asarray(reject).tolist()}")


@pytest.mark.parametrize("method", METHODS)
def test_no_p_values_give_empty_arrays(kata, method):
    reject, adjusted = _call(kata, method, np.array([]), 0.05)
    assert np.shape(reject) == (0,) and np.shape(adjusted) == (0,), (
        f"{method}([]) must return two empty arrays, got {reject!r}, {adjusted!r}")
    assert np.asarray(reject).dtype == np.bool_, f"{method}([]): reject must be a bool array"
