"""Tests for the bootstrap_permutation kata: percentile bootstrap and permutation tests.

Oracles:
- scipy.stats.bootstrap(method="percentile") draws rng.integers(0, n, (B, n)) and takes
  linear quantiles, exactly the documented convention, so with the same seed it gives the same
  interval to the last digit; with an independent seed it agrees within Monte-Carlo error.
- scipy.stats.permutation_test draws rng.permutation(n_a + n_b) per resample, as documented,
  and returns its null distribution: the documented p, (1 + #{|t*| >= |t|}) / (B + 1), is
  computed from it exactly. Its own p (2 min of the one-sided p's) agrees within Monte-Carlo
  error for a symmetric null; its exact test (n_resamples=inf) agrees exactly for equal sizes.
- Brute force over all (n_a + n_b)! orderings of the pooled sample for the exact test.
- Properties: determinism for a seed, p = 1/(B + 1) for a huge effect of either sign, p = 1
  for identical samples, p roughly uniform under H0, nested intervals, and so on.
"""

import math
from itertools import combinations, permutations

import numpy as np
import pytest
from scipy import stats

from dojo.testing import assert_close


def mean_diff(a, b, axis=-1):
    """Difference in means; the axis argument lets scipy vectorise it."""
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def median_diff(a, b, axis=-1):
    return np.median(a, axis=axis) - np.median(b, axis=axis)


def sd(x, axis=-1):
    return np.std(x, ddof=1, axis=axis)


STATS = {"mean": np.mean, "median": np.median, "sd": sd}


def _sample(seed, n=25):
    return np.random.default_rng(seed).exponential(2.0, size=n)  # skewed: lo, hi asymmetric


# ----------------------------------------------------------------------------- bootstrap

def _ref_boot(x, stat, n_resamples, level, seed, *, size=None, high=None, q=None,
              replace=True):
    """The documented bootstrap, or a classic variant of it, from a fresh rng(seed)."""
    rng = np.random.default_rng(seed)
    n = x.size
    if replace:
        idx = rng.integers(0, n if high is None else high, size=(n_resamples, size or n))
    else:
        idx = np.array([rng.permutation(n) for _ in range(n_resamples)])
    theta = np.array([stat(x[i]) for i in idx])
    q = ((1 - level) / 2, (1 + level) / 2) if q is None else q
    return np.quantile(theta, q)


def _boot_suspects(x, stat, n_resamples, level, seed):
    """{hint: (kwargs of _ref_boot)}: the classic variants, computed only on a failure."""
    n = x.size
    return {
        "resampled WITHOUT replacement: every resample is x reordered; draw indices with "
        "rng.integers(0, n, size=(n_resamples, n))": {"replace": False},
        "the resamples have n - 1 values; each has n": {"size": n - 1},
        "the resamples have n + 1 values; each has n": {"size": n + 1},
        "the indices never reach n - 1: rng.integers(0, n) already excludes n": {"high": n - 1},
        "the quantiles are 1 - level and level; use (1 - level)/2 and (1 + level)/2":
            {"q": (1 - level, level)},
        "the quantiles are level and 1 - level; use (1 - level)/2 and (1 + level)/2":
            {"q": (level, 1 - level)},
        "the quantiles are (1 - level)/2 and level; the upper one is (1 + level)/2":
            {"q": ((1 - level) / 2, level)},
        "the quantiles are percentages; np.quantile takes fractions in [0, 1]":
            {"q": ((1 - level) / 200, (1 + level) / 200)},
    }, (x, stat, n_resamples, level, seed)


def _check_ci(ci, expected, what, suspects=None, **tol):
    assert ci is not None and len(ci) == 2, f"{what}: return a 2-tuple (lo, hi), got {ci!r}"
    got = np.array([float(ci[0]), float(ci[1])])
    if suspects is not None and not np.allclose(got, expected, rtol=1e-12, atol=0.0):
        variants, args = suspects
        for hint, kwargs in variants.items():
            value = _ref_boot(*args, **kwargs)
            if not np.allclose(value, expected, rtol=1e-12) and np.allclose(got, value,
                                                                            rtol=1e-12):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(got, np.asarray(expected, dtype=np.float64), what=what, **tol)


@pytest.mark.parametrize("level", (0.95, 0.8))
@pytest.mark.parametrize("name", STATS)
def test_bootstrap_equals_scipy_percentile_for_the_same_seed(kata, name, level):
    x, stat = _sample(1), STATS[name]
    res = stats.bootstrap((x,), stat, n_resamples=999, confidence_level=level,
                          method="percentile", rng=np.random.default_rng(11))
    expected = [res.confidence_interval.low, res.confidence_interval.high]
    ci = kata.bootstrap_ci(x, stat, 999, level, np.random.default_rng(11))
    _check_ci(ci, expected, f"bootstrap_ci of the {name}, level={level}, seed 11 (scipy "
              "percentile interval: indices rng.integers(0, n, size=(B, n)), linear quantiles)",
              _boot_suspects(x, stat, 999, level, 11), rtol=1e-12, atol=1e-12)


def test_bootstrap_agrees_with_scipy_within_monte_carlo_error(kata):
    # Independent seeds: whatever the draw order, the endpoints must agree statistically.
    # The bootstrap means have sd s ~ 0.35 here; an endpoint at quantile q of B draws has
    # Monte-Carlo sd ~ sqrt(q (1 - q) / B) / density = s sqrt(q (1 - q) / B) / phi(z_q), about
    # 0.011 at B = 3000 and q = 0.025, so 0.016 for a difference: tolerance 0.07 (> 4 sd).
    x, level = _sample(2, n=40), 0.95
    res = stats.bootstrap((x,), np.mean, n_resamples=3000, confidence_level=level,
                          method="percentile", rng=np.random.default_rng(100))
    expected = [res.confidence_interval.low, res.confidence_interval.high]
    ci = kata.bootstrap_ci(x, np.mean, 3000, level, np.random.default_rng(200))
    _check_ci(ci, expected, "95% bootstrap interval of the mean vs scipy's from another seed "
              "(within Monte-Carlo error)", rtol=0.0, atol=0.07)


def test_bootstrap_is_deterministic_for_a_seed_and_uses_the_rng_given(kata):
    x = _sample(3)
    first = kata.bootstrap_ci(x, np.median, 300, 0.9, np.random.default_rng(5))
    again = kata.bootstrap_ci(x, np.median, 300, 0.9, np.random.default_rng(5))
    other = kata.bootstrap_ci(x, np.median, 300, 0.9, np.random.default_rng(6))
    assert tuple(first) == tuple(again), (
        f"the same seed gave {first} and then {again}: draw every random number from `rng`")
    assert tuple(first) != tuple(other), (
        f"seeds 5 and 6 gave the same interval {first}: the resamples must come from `rng`")


def test_bootstrap_resamples_with_replacement_n_values_of_x_each(kata):
    x = np.arange(10.0) * 1.5
    seen = []

    def spy(sample):
        seen.append(np.array(sample, copy=True))
        return float(np.mean(sample))

    kata.bootstrap_ci(x, spy, 200, 0.9, np.random.default_rng(0))
    assert len(seen) == 200, f"stat was called {len(seen)} times; call it once per resample"
    sizes = {s.size for s in seen}
    assert sizes == {10}, f"resample sizes {sorted(sizes)}: every resample has n = 10 values"
    assert all(np.isin(s, x).all() for s in seen), "the resamples must contain values of x"
    repeats = sum(np.unique(s).size < s.size for s in seen)
    assert repeats > 190, (
        f"only {repeats} of 200 resamples repeat a value; drawn with replacement, nearly all "
        "do (P(no repeat) = 10!/10^10 ~ 4e-4): resample WITH replacement")
    assert len({s.tobytes() for s in seen}) > 190, "the resamples must differ from one another"


def test_bootstrap_interval_contains_the_statistic_for_symmetric_data(kata):
    x = np.random.default_rng(4).normal(3.0, 1.0, size=31)
    x = np.concatenate([x, 6.0 - x])  # exactly symmetric about 3
    lo, hi = kata.bootstrap_ci(x, np.mean, 500, 0.9, np.random.default_rng(8))
    assert lo < 3.0 < hi, f"90% interval ({lo:.4g}, {hi:.4g}) misses the sample mean 3.0"
    assert hi - lo < 0.6, (f"90% interval ({lo:.4g}, {hi:.4g}) is too wide for sd 1, n = 62: "
                           "the standard error of the mean is ~0.13")


def test_bootstrap_intervals_nest_as_the_level_grows(kata):
    x = _sample(5)
    lo90, hi90 = kata.bootstrap_ci(x, np.mean, 400, 0.9, np.random.default_rng(3))
    lo50, hi50 = kata.bootstrap_ci(x, np.mean, 400, 0.5, np.random.default_rng(3))
    assert lo90 < lo50 < hi50 < hi90, (
        f"with the same resamples the 50% interval ({lo50:.4g}, {hi50:.4g}) must lie inside "
        f"the 90% one ({lo90:.4g}, {hi90:.4g}): quantiles (1 - level)/2 and (1 + level)/2")


def test_bootstrap_by_hand_on_two_points(kata):
    # x = [0, 1]: a resample mean is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4. The 40%
    # interval (quantiles 0.3 and 0.7) is [1/2, 1/2]; the 90% one (0.05, 0.95) is [0, 1].
    x = np.array([0.0, 1.0])
    narrow = kata.bootstrap_ci(x, np.mean, 2000, 0.4, np.random.default_rng(1))
    wide = kata.bootstrap_ci(x, np.mean, 2000, 0.9, np.random.default_rng(1))
    _check_ci(narrow, [0.5, 0.5], "40% interval of the mean of [0, 1]", atol=1e-12)
    _check_ci(wide, [0.0, 1.0], "90% interval of the mean of [0, 1]", atol=1e-12)


def test_bootstrap_returns_python_floats(kata):
    ci = kata.bootstrap_ci(_sample(6), np.mean, 50, 0.9, np.random.default_rng(0))
    assert all(isinstance(v, float) for v in ci), (
        f"bootstrap_ci returned {[type(v).__name__ for v in ci]}; return Python floats")


# ----------------------------------------------------------------------------- permutation test

def _perm_suspects(a, b, stat, null):
    """p-values that classic bugs give from the same null distribution."""
    t = stat(a, b)
    n = null.size
    ge = int(np.sum(np.abs(null) >= abs(t)))
    return {
        "one-sided count (t* >= t): compare |t*| with |t|": (1 + np.sum(null >= t)) / (n + 1),
        "no +1: p = (1 + count) / (n_resamples + 1)": ge / n,
        "the +1 is missing from the denominator: p = (1 + count) / (n_resamples + 1)":
            (ge + 1) / n,
        "ties are not counted: use |t*| >= |t|": (1 + np.sum(np.abs(null) > abs(t))) / (n + 1),
        "the p-value is the fraction NOT as extreme": 1 - (1 + ge) / (n + 1),
    }


def _check_p(p, expected, what, suspects=None, **tol):
    assert p is not None and np.ndim(p) == 0, f"{what}: return one float, got {p!r}"
    if not math.isclose(float(p), expected, rel_tol=1e-12):
        for hint, value in (suspects or {}).items():
            if not math.isclose(value, expected, rel_tol=1e-12) and math.isclose(
                    float(p), value, rel_tol=1e-12):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(float(p), float(expected), what=what, **tol)


def _two_samples(seed, n_a, n_b, shift):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, n_a), rng.normal(shift, 1.0, n_b)


@pytest.mark.parametrize("seed, n_a, n_b, shift, stat", [
    (1, 12, 15, 0.6, mean_diff),     # unequal sizes: splitting at the wrong place shows
    (2, 10, 10, 0.9, mean_diff),     # t < 0 (b is higher): a one-sided count gives p ~ 1
    (3, 9, 14, 0.3, median_diff),
])
def test_permutation_p_is_one_plus_count_over_one_plus_resamples(kata, seed, n_a, n_b, shift,
                                                                 stat):
    a, b = _two_samples(seed, n_a, n_b, shift)
    res = stats.permutation_test((a, b), stat, n_resamples=999, vectorized=True,
                                 rng=np.random.default_rng(seed + 50))
    null = res.null_distribution  # scipy's permuted statistics: the same draws as documented
    expected = (1 + np.sum(np.abs(null) >= abs(stat(a, b)))) / (999 + 1)
    p = kata.permutation_test(a, b, stat, 999, np.random.default_rng(seed + 50))
    _check_p(p, expected, f"permutation_test p (n_a={n_a}, n_b={n_b}, shift={shift}; pooled, "
             "rng.permutation(n_a + n_b) per resample, first n_a to a*)",
             _perm_suspects(a, b, stat, null), rtol=1e-12, atol=0.0)


def test_permutation_p_agrees_with_scipy_within_monte_carlo_error(kata):
    # Equal sizes and a difference in means: the null is symmetric, so scipy's
    # 2 min(p_less, p_greater) and our |t*| >= |t| estimate the same p (~0.2). Independent
    # seeds, B = 2000: Monte-Carlo sd sqrt(0.2 * 0.8 / 2000) ~ 0.009 each, 0.013 for the
    # difference; tolerance 0.055 (> 4 sd), while a one-sided p would be off by ~0.1.
    a, b = _two_samples(10, 15, 15, 0.45)
    res = stats.permutation_test((a, b), mean_diff, n_resamples=2000, vectorized=True,
                                 rng=np.random.default_rng(1))
    assert 0.1 < res.pvalue < 0.35  # the premise
    p = kata.permutation_test(a, b, mean_diff, 2000, np.random.default_rng(2))
    _check_p(p, res.pvalue, "permutation_test p vs scipy.stats.permutation_test (another seed)",
             rtol=0.0, atol=0.055)


@pytest.mark.parametrize("shift", (8.0, -8.0))
def test_huge_effect_of_either_sign_gives_the_smallest_p(kata, shift):
    a, b = _two_samples(9, 12, 12, shift)  # 2 of C(24, 12) ~ 2.7e6 splits reach |t|
    p = kata.permutation_test(a, b, mean_diff, 99, np.random.default_rng(0))
    assert p != 0, "p = 0: add 1 to the count and to n_resamples; the observed labelling counts"
    if shift > 0 and p > 0.9:  # b is far higher: t = mean(a) - mean(b) < 0
        raise AssertionError(f"p = {p} for a huge NEGATIVE t: the test is two-sided, "
                             "count |t*| >= |t|, not t* >= t")
    if p == 1.0:
        raise AssertionError("p = 1 for a huge effect: pool a and b before shuffling, then "
                             "split the shuffled pool into n_a and n_b values")
    _check_p(p, 1 / 100, f"p for a huge effect ({shift:+}) with 99 resamples: none is as "
             "extreme, so p = (0 + 1) / (99 + 1)", {"no +1 in the denominator": 1 / 99},
             rtol=1e-12, atol=0.0)


def test_identical_samples_give_p_one(kata):
    # Every permuted statistic equals the observed one (0): all of them tie, and ties count.
    a = np.full(6, 2.5)
    p = kata.permutation_test(a, a.copy(), mean_diff, 50, np.random.default_rng(0))
    _check_p(p, 1.0, "p for two identical constant samples (every |t*| == |t|; ties count as "
             "extreme: >=)", {"ties are not counted: use >=": 1 / 51}, rtol=1e-12, atol=0.0)


def test_permutation_p_is_roughly_uniform_under_the_null(kata):
    ps = []
    for seed in range(40):
        a, b = _two_samples(1000 + seed, 8, 11, 0.0)
        ps.append(kata.permutation_test(a, b, mean_diff, 99, np.random.default_rng(seed)))
    ps = np.array(ps)
    assert np.all((ps > 0) & (ps <= 1)), f"p-values outside (0, 1]: {ps[(ps <= 0) | (ps > 1)]}"
    # Uniform: mean 0.5 with sd 0.29 / sqrt(40) ~ 0.046; the bounds are ~3.3 sd.
    assert 0.35 < ps.mean() < 0.65, (
        f"mean p over 40 null data sets is {ps.mean():.3f}, expected ~0.5: a valid p-value is "
        "uniform when H0 holds")
    assert np.mean(ps <= 0.1) < 0.3, f"{np.mean(ps <= 0.1):.0%} of null p-values are <= 0.1"


def test_permutation_is_deterministic_and_splits_into_the_original_sizes(kata):
    a, b = _two_samples(12, 5, 9, 0.5)
    sizes = set()

    def spy(x, y):
        sizes.add((len(x), len(y)))
        return mean_diff(x, y)

    p1 = kata.permutation_test(a, b, spy, 200, np.random.default_rng(4))
    p2 = kata.permutation_test(a, b, spy, 200, np.random.default_rng(4))
    assert sizes == {(5, 9)}, (f"stat was called with sizes {sorted(sizes)}: every permuted "
                               "split has n_a = 5 and n_b = 9 values, like a and b")
    assert p1 == p2, f"the same seed gave p = {p1} and then {p2}: draw only from `rng`"
    assert isinstance(p1, float), f"permutation_test returned {type(p1).__name__}, not float"


# ----------------------------------------------------------------------------- exact test

def _brute_force_p(a, b, stat):
    """All (n_a + n_b)! orderings of the pooled sample; each split appears n_a! n_b! times."""
    pooled = np.concatenate([a, b])
    t = abs(stat(a, b))
    hits = [abs(stat(pooled[list(o[:a.size])], pooled[list(o[a.size:])])) >= t
            for o in permutations(range(pooled.size))]
    return float(np.mean(hits))


# Integer-valued data: equal statistics are equal to the last bit, so ties are exact.
EXACT_CASES = {
    "3_vs_4": (np.array([4.0, 9.0, 7.0]), np.array([1.0, 3.0, 7.0, 2.0])),
    "4_vs_3_ties": (np.array([2.0, 2.0, 5.0, 3.0]), np.array([3.0, 2.0, 1.0])),
    "2_vs_5": (np.array([10.0, 6.0]), np.array([0.0, 4.0, 5.0, 1.0, 6.0])),
}


@pytest.mark.parametrize("case", EXACT_CASES)
def test_exact_test_matches_brute_force_over_all_orderings(kata, case):
    a, b = EXACT_CASES[case]
    expected = _brute_force_p(a, b, mean_diff)
    p = kata.exact_permutation_test(a, b, mean_diff)
    pooled, t = np.concatenate([a, b]), mean_diff(a, b)
    splits = [list(c) for c in combinations(range(pooled.size), a.size)]
    one_sided = np.mean([mean_diff(pooled[c], np.delete(pooled, c)) >= t for c in splits])
    _check_p(p, expected, f"exact_permutation_test p ({case}; {len(splits)} splits)", {
        "the observed split was counted twice (a +1): it is already one of the splits":
            (expected * len(splits) + 1) / (len(splits) + 1),
        "one-sided count: compare |t*| with |t|": float(one_sided),
    }, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("seed", (0, 1))
def test_exact_test_matches_scipy_exact_for_equal_sizes(kata, seed):
    # Equal sizes: the null of a difference in means is symmetric, so scipy's exact
    # 2 min(p_less, p_greater) equals P(|T| >= |t|).
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.0, 1.0, 6), rng.normal(0.8, 1.0, 6)
    res = stats.permutation_test((a, b), mean_diff, n_resamples=np.inf, vectorized=True)
    p = kata.exact_permutation_test(a, b, mean_diff)
    _check_p(p, res.pvalue, "exact_permutation_test vs scipy's exact test (6 vs 6, 924 splits)",
             rtol=1e-12, atol=0.0)


def test_exact_test_of_fully_separated_samples(kata):
    # Only the observed split and its mirror reach |t|: p = 2 / C(8, 4) = 2 / 70.
    a, b = np.array([10.0, 11.0, 12.0, 13.0]), np.array([0.0, 1.0, 2.0, 3.0])
    p = kata.exact_permutation_test(a, b, mean_diff)
    _check_p(p, 2 / 70, "exact p for 4 vs 4 fully separated samples (2 of 70 splits)",
             {"one-sided count: compare |t*| with |t|": 1 / 70,
              "the observed split was counted twice (a +1)": 3 / 71}, rtol=1e-12, atol=0.0)
    assert isinstance(p, float), f"exact_permutation_test returned {type(p).__name__}"


def test_exact_test_of_identical_samples_is_one(kata):
    p = kata.exact_permutation_test(np.full(3, 1.5), np.full(4, 1.5), mean_diff)
    _check_p(p, 1.0, "exact p for constant samples (every split ties; ties count)",
             rtol=1e-12, atol=0.0)


def test_monte_carlo_p_converges_to_the_exact_p(kata):
    # 5 vs 5 (252 splits); B = 4000 gives a Monte-Carlo sd of sqrt(p (1 - p) / 4000) < 0.008.
    a, b = np.array([3.1, 4.7, 2.2, 5.0, 3.9]), np.array([4.4, 6.1, 5.2, 3.8, 6.6])
    exact = kata.exact_permutation_test(a, b, mean_diff)
    assert 0.02 < exact < 0.3, f"exact p = {exact}, expected ~0.1 for these samples"
    p = kata.permutation_test(a, b, mean_diff, 4000, np.random.default_rng(9))
    assert abs(p - exact) < 0.03, (
        f"Monte-Carlo p = {p:.4f} with 4000 resamples, exact p = {exact:.4f}: they must agree "
        "within ~0.03")
