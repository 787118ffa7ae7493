"""Tests for the mle kata: closed-form maximum likelihood estimates and the Gaussian NLL.

Oracles: scipy.stats.expon.fit(x, floc=0) (scale = 1/lam) and scipy.stats.norm.fit(x)
(loc = mu, scale = sqrt(var_mle)) for the continuous estimates; a bounded numerical
maximisation (scipy.optimize.minimize_scalar) of the log-likelihood summed with
scipy.stats.poisson.logpmf / bernoulli.logpmf for the discrete ones; and
scipy.stats.norm.logpdf summed for the negative log-likelihood. Property tests check that
the Gaussian MLE minimises the learner's NLL. Failure messages name the classic bug that a
wrong value matches (the mean as the exponential rate, ddof=1, a missing constant, ...).
"""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import minimize_scalar

from dojo.testing import assert_close

TOL = {"rtol": 1e-9, "atol": 0.0}


def _check(actual, expected, what, suspects=(), **tol):
    """assert_close on a scalar, naming the classic bug (if any) that `actual` matches."""
    assert actual is not None, f"{what}: got None; did you forget to return it?"
    assert np.ndim(actual) == 0, f"{what}: expected a scalar, got shape {np.shape(actual)}"
    actual = float(actual)
    if not math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12):
        for value, hint in suspects:
            if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12) and math.isclose(
                    actual, value, rel_tol=1e-9, abs_tol=1e-12):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(actual, expected, what=what, **(tol or TOL))


# ----------------------------------------------------------------------------- samples

def _exp_sample(seed, n, rate):
    return np.random.default_rng(seed).exponential(1.0 / rate, size=n)


def _normal_sample(seed, n, mu, sd):
    return np.random.default_rng(seed).normal(mu, sd, size=n)


# ----------------------------------------------------------------------------- exponential

@pytest.mark.parametrize("seed, n, rate", [(0, 50, 0.3), (1, 7, 4.0), (2, 400, 1.7)])
def test_exponential_rate_matches_scipy_expon_fit(kata, seed, n, rate):
    x = _exp_sample(seed, n, rate)
    _, scale = stats.expon.fit(x, floc=0)  # scale = 1 / lam
    lam = kata.mle_exponential(x)
    _check(lam, 1.0 / scale, f"mle_exponential (n={n}, true rate {rate})", [
        (x.mean(), "this is the mean, 1/lam; the rate is 1 / mean(x)"),
        (1.0 / np.median(x), "the rate is 1 / mean(x), not 1 / median(x)"),
        ((n - 1) / x.sum(), "the rate is n / sum(x), not (n - 1) / sum(x)"),
    ])


def test_exponential_rate_is_a_float(kata):
    lam = kata.mle_exponential([0.5, 2.0, 1.0])
    assert isinstance(lam, float), f"mle_exponential returned {type(lam).__name__}, not float"
    _check(lam, 3.0 / 3.5, "mle_exponential([0.5, 2, 1]) = n / sum(x) = 3 / 3.5")


def test_exponential_accepts_zeros_and_a_single_sample(kata):
    # 0 is in the support of Exp(lam): only a negative value (or all zeros) is invalid.
    _check(kata.mle_exponential([0.0, 2.0, 0.0, 6.0]), 0.5, "mle_exponential([0, 2, 0, 6])")
    _check(kata.mle_exponential([0.25]), 4.0, "mle_exponential of the single sample [0.25]")
    _check(kata.mle_exponential([0.5, 1.5]), 1.0, "mle_exponential([0.5, 1.5]) (mean 1)")


@pytest.mark.parametrize("bad", [[1.0, -0.5, 2.0], [-3.0], [], [0.0, 0.0, 0.0], [0.0]],
                         ids=["negative", "single-negative", "empty", "all-zeros", "one-zero"])
def test_exponential_rejects_invalid_samples(kata, bad):
    with pytest.raises(ValueError):
        kata.mle_exponential(np.array(bad, dtype=np.float64))


# ----------------------------------------------------------------------------- gaussian

def _gaussian_suspects(x):
    return {
        "mu": [(np.median(x), "mu is the mean, not the median")],
        "var": [
            (np.var(x, ddof=1), "the variance divides by n - 1 (ddof=1): the MLE divides by n"),
            (np.std(x), "this is the standard deviation; return the variance sigma^2"),
            (np.std(x, ddof=1), "this is the ddof=1 standard deviation; return the variance "
                                "with ddof=0"),
            (np.mean(x**2), "the variance is mean((x - mu)^2): subtract the mean first"),
        ],
    }


@pytest.mark.parametrize("seed, n, mu, sd", [(3, 12, -2.0, 0.7), (4, 3, 5.0, 3.0),
                                             (5, 300, 0.4, 1.9)])
def test_gaussian_matches_scipy_norm_fit(kata, seed, n, mu, sd):
    x = _normal_sample(seed, n, mu, sd)
    loc, scale = stats.norm.fit(x)  # scale is sqrt of the ddof=0 variance
    got = kata.mle_gaussian(x)
    assert isinstance(got, tuple) and len(got) == 2, (
        f"mle_gaussian must return a tuple (mu, var), got {got!r}")
    suspects = _gaussian_suspects(x)
    _check(got[0], loc, f"mle_gaussian mu (n={n})", suspects["mu"])
    _check(got[1], scale**2, f"mle_gaussian var (n={n})", suspects["var"])


def test_gaussian_by_hand(kata):
    # x = [1, 2, 6]: mean 3, squared deviations 4 + 1 + 9 = 14, var = 14 / 3 (not 14 / 2).
    mu, var = kata.mle_gaussian([1, 2, 6])
    assert isinstance(mu, float) and isinstance(var, float), (
        f"mle_gaussian must return Python floats, got {type(mu).__name__}, "
        f"{type(var).__name__}")
    _check(mu, 3.0, "mle_gaussian mu of [1, 2, 6]")
    _check(var, 14.0 / 3.0, "mle_gaussian var of [1, 2, 6]", [
        (7.0, "the variance divides by n - 1 = 2: the MLE divides by n = 3"),
        (math.sqrt(14.0 / 3.0), "this is the standard deviation; return the variance")])


def test_gaussian_of_a_single_sample_has_zero_variance(kata):
    with np.errstate(all="raise"):
        try:
            mu, var = kata.mle_gaussian([3.5])
        except FloatingPointError as err:
            raise AssertionError(f"mle_gaussian([3.5]) divided by zero ({err}): the MLE "
                                 "divides by n = 1, not n - 1 = 0") from None
    _check(mu, 3.5, "mle_gaussian mu of the single sample [3.5]")
    _check(var, 0.0, "mle_gaussian var of a single sample (divide by n, not n - 1)",
           atol=0.0, rtol=0.0)


def test_gaussian_rejects_an_empty_sample(kata):
    with pytest.raises(ValueError):
        kata.mle_gaussian(np.array([], dtype=np.float64))


# ----------------------------------------------------------------------------- poisson

def _numeric_mle(logpmf, x, upper):
    """argmax over the parameter in (0, upper) of sum(logpmf(x, theta)), numerically."""
    res = minimize_scalar(lambda t: -np.sum(logpmf(x, t)), bounds=(1e-9, upper),
                          method="bounded", options={"xatol": 1e-10})
    return float(res.x)


@pytest.mark.parametrize("seed, n, lam", [(6, 40, 3.2), (7, 9, 0.4), (8, 250, 11.0)])
def test_poisson_rate_maximises_the_scipy_log_likelihood(kata, seed, n, lam):
    x = np.random.default_rng(seed).poisson(lam, size=n)  # int64 counts
    got = kata.mle_poisson(x)
    numeric = _numeric_mle(stats.poisson.logpmf, x, upper=10 * x.max() + 1)
    _check(got, numeric, f"mle_poisson (n={n}, true mean {lam}) vs the numerical argmax of "
           "sum(poisson.logpmf)", [(1.0 / x.mean(), "this is 1 / mean; Poisson's lam is the "
                                    "mean itself"), (np.var(x), "lam is the mean, not the "
                                                     "variance")], rtol=1e-6, atol=1e-8)
    _check(got, float(x.mean()), f"mle_poisson (n={n}): the closed form is mean(x)")


def test_poisson_accepts_zeros_floats_and_a_single_count(kata):
    lam = kata.mle_poisson([0, 0, 0])
    assert isinstance(lam, float), f"mle_poisson returned {type(lam).__name__}, not float"
    _check(lam, 0.0, "mle_poisson of all zeros (a valid sample: lam = 0)", atol=0.0)
    _check(kata.mle_poisson(np.array([2.0, 0.0, 5.0, 1.0])), 2.0,
           "mle_poisson of whole numbers stored as floats")
    _check(kata.mle_poisson([7]), 7.0, "mle_poisson of the single count [7]")


@pytest.mark.parametrize("bad", [[1, -1, 2], [2.5, 1.0], [0.0, 1e-3], [], [-4]],
                         ids=["negative", "fraction", "tiny-fraction", "empty", "single-negative"])
def test_poisson_rejects_invalid_counts(kata, bad):
    with pytest.raises(ValueError):
        kata.mle_poisson(np.array(bad, dtype=np.float64))


# ----------------------------------------------------------------------------- bernoulli

@pytest.mark.parametrize("seed, n, p", [(9, 30, 0.3), (10, 11, 0.8), (11, 500, 0.05)])
def test_bernoulli_p_maximises_the_scipy_log_likelihood(kata, seed, n, p):
    x = (np.random.default_rng(seed).random(n) < p).astype(np.int64)
    assert 0 < x.sum() < n  # an interior optimum
    got = kata.mle_bernoulli(x)
    res = minimize_scalar(lambda q: -np.sum(stats.bernoulli.logpmf(x, q)),
                          bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-10})
    _check(got, float(res.x), f"mle_bernoulli (n={n}) vs the numerical argmax of "
           "sum(bernoulli.logpmf)", [(1 - x.mean(), "this is P(x = 0); p = P(x = 1) is the "
                                      "fraction of ones")], rtol=1e-6, atol=1e-8)
    _check(got, x.sum() / n, f"mle_bernoulli (n={n}): the closed form is the fraction of ones")


def test_bernoulli_edge_samples(kata):
    p = kata.mle_bernoulli([1, 1, 1])
    assert isinstance(p, float), f"mle_bernoulli returned {type(p).__name__}, not float"
    _check(p, 1.0, "mle_bernoulli of all ones")
    _check(kata.mle_bernoulli(np.zeros(4)), 0.0, "mle_bernoulli of all zeros", atol=0.0)
    _check(kata.mle_bernoulli([0]), 0.0, "mle_bernoulli of the single sample [0]", atol=0.0)
    _check(kata.mle_bernoulli(np.array([True, False, False, True, True])), 0.6,
           "mle_bernoulli of a boolean array")


@pytest.mark.parametrize("bad", [[0, 1, 2], [0.5], [1, -1], [], [0.0, 1.0, 0.999]],
                         ids=["two", "half", "minus-one", "empty", "almost-one"])
def test_bernoulli_rejects_values_other_than_0_and_1(kata, bad):
    with pytest.raises(ValueError):
        kata.mle_bernoulli(np.array(bad, dtype=np.float64))


# ----------------------------------------------------------------------------- gaussian NLL

def _nll_suspects(x, mu, var):
    n = len(x)
    sq = np.sum((np.asarray(x) - mu) ** 2)
    sd = math.sqrt(var)
    full = n / 2 * math.log(2 * math.pi * var) + sq / (2 * var)
    return [
        (full / n, "this is the mean NLL; the convention is the SUM over samples"),
        (-full, "the sign is flipped: return MINUS the log-likelihood"),
        (sq / (2 * var), "the 0.5 * log(2 * pi * var) term is missing"),
        (n / 2 * math.log(var) + sq / (2 * var), "the log(2 * pi) constant is missing: "
                                                  "each sample adds 0.5 * log(2 * pi * var)"),
        (n * math.log(2 * math.pi * var) + sq / (2 * var),
         "the 1/2 in front of log(2 * pi * var) is missing"),
        (n / 2 * math.log(2 * math.pi * var) + sq / var, "the 1/2 in (x - mu)^2 / (2 var) is "
                                                        "missing"),
        (n / 2 * math.log(2 * math.pi * sd) + sq / (2 * var),
         "log(2 * pi * sigma) used where log(2 * pi * var) belongs (var = sigma^2)"),
        (n / 2 * math.log(2 * math.pi * var) + sq / (2 * sd),
         "(x - mu)^2 divided by 2 * sigma where it should be 2 * var (var = sigma^2)"),
        (n / 2 * math.log(2 * math.pi * sd) + sq / (2 * sd),
         "var was treated as a standard deviation: var is sigma^2 already"),
        (0.5 * math.log(2 * math.pi * var) + sq / (2 * var),
         "the 0.5 * log(2 * pi * var) term is added once; it is added for every sample"),
    ]


@pytest.mark.parametrize("seed, n, mu, var", [(12, 25, 1.0, 2.5), (13, 4, -3.0, 0.2),
                                              (14, 150, 0.0, 9.0)])
def test_nll_matches_the_sum_of_scipy_norm_logpdf(kata, seed, n, mu, var):
    x = _normal_sample(seed, n, mu + 0.3, math.sqrt(var) * 1.2)  # evaluated off the optimum
    got = kata.neg_log_likelihood_gaussian(x, mu, var)
    assert isinstance(got, float), (
        f"neg_log_likelihood_gaussian returned {type(got).__name__}, not a Python float")
    expected = -float(np.sum(stats.norm.logpdf(x, loc=mu, scale=math.sqrt(var))))
    _check(got, expected, f"neg_log_likelihood_gaussian (n={n}, mu={mu}, var={var})",
           _nll_suspects(x, mu, var))


def test_nll_of_a_single_sample_at_its_mean(kata):
    # One sample at x = mu with var = 1 / (2 pi): the density is 1 and the NLL exactly 0.
    got = kata.neg_log_likelihood_gaussian(np.array([1.7]), 1.7, 1.0 / (2 * math.pi))
    _check(got, 0.0, "neg_log_likelihood_gaussian([1.7], mu=1.7, var=1/(2 pi)) (density 1)",
           atol=1e-12)
    got = kata.neg_log_likelihood_gaussian([0.0], 2.0, 4.0)
    _check(got, 0.5 * math.log(8 * math.pi) + 0.5, "neg_log_likelihood_gaussian([0], 2, 4)",
           _nll_suspects([0.0], 2.0, 4.0))


def test_nll_is_summed_over_samples(kata):
    x = _normal_sample(15, 6, 0.0, 1.0)
    whole = kata.neg_log_likelihood_gaussian(x, 0.2, 1.3)
    parts = sum(kata.neg_log_likelihood_gaussian(x[i:i + 1], 0.2, 1.3) for i in range(6))
    assert math.isclose(whole, parts, rel_tol=1e-12, abs_tol=1e-12), (
        f"NLL of the whole sample {whole:.6g} != sum of the per-sample NLLs {parts:.6g}: the "
        "convention is the SUM over samples (not the mean)")


@pytest.mark.parametrize("bad_var", [0.0, -1.0])
def test_nll_rejects_a_non_positive_variance(kata, bad_var):
    with pytest.raises(ValueError):
        kata.neg_log_likelihood_gaussian(np.array([0.1, 0.4]), 0.0, bad_var)


# ----------------------------------------------------------------------------- MLE minimises NLL

@pytest.mark.parametrize("seed, n", [(16, 20), (17, 5)])
def test_gaussian_mle_minimises_the_nll(kata, seed, n):
    x = _normal_sample(seed, n, 2.0, 1.5)
    mu, var = kata.mle_gaussian(x)
    best = kata.neg_log_likelihood_gaussian(x, mu, var)
    _check(best, -float(np.sum(stats.norm.logpdf(x, mu, math.sqrt(var)))),
           "neg_log_likelihood_gaussian at the MLE", _nll_suspects(x, mu, var))
    for d_mu, f_var in [(1e-3, 1.0), (-1e-3, 1.0), (0.0, 1.01), (0.0, 0.99), (0.05, 1.1)]:
        other = kata.neg_log_likelihood_gaussian(x, mu + d_mu, var * f_var)
        assert other > best, (
            f"NLL(mu {d_mu:+g}, var * {f_var}) = {other:.10g} <= NLL at the MLE {best:.10g}: "
            "(mean(x), mean((x - mean)^2)) must minimise the NLL; check the variance divides "
            "by n and the NLL uses var (not sigma)")


def test_ddof1_variance_is_not_the_minimiser(kata):
    # The unbiased variance has a strictly larger NLL than the ddof=0 one.
    x = _normal_sample(18, 6, 0.0, 2.0)
    mu, var = kata.mle_gaussian(x)
    at_mle = kata.neg_log_likelihood_gaussian(x, mu, var)
    at_unbiased = kata.neg_log_likelihood_gaussian(x, mu, np.var(x, ddof=1))
    assert at_mle < at_unbiased, (
        f"NLL at your variance {var:.6g} is {at_mle:.10g}, not below the NLL at the ddof=1 "
        f"variance ({at_unbiased:.10g}): the MLE divides by n")
