"""Tests for the chi_square kata: goodness of fit and independence, with Yates' correction.

Oracle: scipy.stats.chisquare (statistic and p-value; df = k - 1) and
scipy.stats.chi2_contingency(table, correction=yates) (statistic, p-value, dof and the
expected table). Inputs are seeded counts on non-square tables (so that swapped margins
cannot pass), square tables with unequal margins, 2x2 tables for Yates, and a huge effect
whose p-value only the survival function keeps. Failure messages name the classic bug a
wrong value matches (df = k, df = r*c - 1, dividing by O, Yates on a 3x3 table, cdf for sf).
"""

import math

import numpy as np
import pytest
from scipy import stats

from dojo.testing import assert_close

P_TOL = {"rtol": 1e-7, "atol": 0.0}  # p-values compared relatively: 1e-40 returned as 0 fails


def _check(actual, expected, what, suspects=(), **tol):
    """assert_close on a scalar, naming the classic bug (if any) that `actual` matches."""
    assert actual is not None, f"{what}: got None"
    assert np.ndim(actual) == 0, f"{what}: expected a scalar, got shape {np.shape(actual)}"
    actual = float(actual)
    if not math.isclose(actual, expected, rel_tol=1e-7, abs_tol=1e-300):
        for value, hint in suspects:
            if not math.isclose(value, expected, rel_tol=1e-7, abs_tol=1e-300) and math.isclose(
                    actual, value, rel_tol=1e-7, abs_tol=1e-300):
                what = f"{what} [likely bug: {hint}]"
                break
    assert_close(actual, expected, what=what, **tol)


def _p_suspects(stat, df):
    return [
        (stats.chi2.cdf(stat, df), "p = cdf(stat) is the lower tail; use chi2.sf(stat, df)"),
        (1 - stats.chi2.cdf(stat, df), "1 - cdf(stat) rounds to 0 for large statistics; use "
                                       "chi2.sf(stat, df)"),
        (stats.chi2.sf(stat, df + 1), "p uses df + 1 degrees of freedom"),
        (2 * stats.chi2.sf(stat, df), "the chi-square test is one-sided (upper tail): do not "
                                      "double p"),
    ]


# ============================================================================ goodness of fit

def _gof_case(case):
    """(observed, expected or None): seeded counts, each case a story."""
    rng = np.random.default_rng({"uniform": 0, "weighted": 1, "two": 2, "huge": 3,
                                 "floats": 4}[case])
    if case == "uniform":   # a fair six-sided die rolled 120 times, expected=None
        return rng.multinomial(120, np.full(6, 1 / 6)), None
    if case == "weighted":  # data from one model, tested against another; totals agree
        obs = rng.multinomial(200, [0.1, 0.2, 0.3, 0.4])
        return obs, 200 * np.array([0.15, 0.15, 0.35, 0.35])
    if case == "two":       # k = 2: df = 1
        obs = rng.multinomial(50, [0.3, 0.7])
        return obs, np.array([20.0, 30.0])
    if case == "floats":    # non-integer counts are allowed
        return rng.uniform(5.0, 15.0, size=5), None
    # huge effect: p ~ 1e-100, where 1 - cdf(stat) is exactly 0
    return np.array([400, 100, 100, 100, 100]), None


def _gof_oracle(obs, exp):
    r = stats.chisquare(obs, exp)
    return float(r.statistic), len(obs) - 1, float(r.pvalue)


def _gof_call(kata, obs, exp):
    res = kata.chi2_goodness_of_fit(obs) if exp is None else kata.chi2_goodness_of_fit(obs, exp)
    assert res is not None and len(res) == 3, (
        f"chi2_goodness_of_fit must return (stat, df, p), got {res!r}")
    return res


def _gof_stat_suspects(obs, exp):
    obs = np.asarray(obs, dtype=np.float64)
    e = np.full(obs.shape, obs.mean()) if exp is None else np.asarray(exp, dtype=np.float64)
    return [
        (np.sum((obs - e) ** 2 / obs), "divided by the observed counts; Pearson divides "
                                       "(O - E)^2 by the EXPECTED counts"),
        (np.sum((obs - e) ** 2), "(O - E)^2 is not divided by E"),
        (np.sum((obs - e) ** 2 / e) / len(obs), "the statistic is a sum over cells, not a mean"),
        (np.sum(np.abs(obs - e) / e), "the deviations are squared: (O - E)^2 / E"),
    ]


GOF_CASES = ("uniform", "weighted", "two", "floats", "huge")


@pytest.mark.parametrize("case", GOF_CASES)
def test_goodness_of_fit_statistic_matches_scipy_chisquare(kata, case):
    obs, exp = _gof_case(case)
    stat, _, _ = _gof_call(kata, obs, exp)
    _check(stat, _gof_oracle(obs, exp)[0], f"chi2_goodness_of_fit stat ({case} case)",
           _gof_stat_suspects(obs, exp))


@pytest.mark.parametrize("case", GOF_CASES)
def test_goodness_of_fit_df_is_k_minus_1(kata, case):
    obs, exp = _gof_case(case)
    _, df, _ = _gof_call(kata, obs, exp)
    k = len(obs)
    assert isinstance(df, int), f"df must be a Python int, got {type(df).__name__}"
    assert df == k - 1, (
        f"chi2_goodness_of_fit df = {df} for k = {k} cells, expected k - 1 = {k - 1}"
        + (" [likely bug: df = k; one degree of freedom is lost to the fixed total]"
           if df == k else ""))


@pytest.mark.parametrize("case", GOF_CASES)
def test_goodness_of_fit_p_value_matches_scipy_chisquare(kata, case):
    obs, exp = _gof_case(case)
    stat, df, p = _gof_call(kata, obs, exp)
    e_stat, e_df, e_p = _gof_oracle(obs, exp)
    what = f"chi2_goodness_of_fit p ({case} case, stat={e_stat:.4g}, df={e_df})"
    if not (math.isclose(stat, e_stat, rel_tol=1e-7) and df == e_df):
        what += " [stat or df is wrong too: fix those first]"
    _check(p, e_p, what, _p_suspects(e_stat, e_df), **P_TOL)


def test_goodness_of_fit_by_hand(kata):
    # O = [10, 20, 30], E = 20 each: stat = (100 + 0 + 100) / 20 = 10, df = 2, and for two
    # degrees of freedom the upper tail is exp(-stat / 2).
    stat, df, p = kata.chi2_goodness_of_fit([10, 20, 30])
    assert isinstance(stat, float) and isinstance(p, float), (
        f"stat and p must be Python floats, got {type(stat).__name__} and {type(p).__name__}")
    _check(stat, 10.0, "chi2_goodness_of_fit stat of [10, 20, 30]",
           _gof_stat_suspects([10, 20, 30], None))
    assert df == 2, f"df = {df} for 3 cells; expected k - 1 = 2"
    _check(p, math.exp(-5.0), "chi2_goodness_of_fit p of [10, 20, 30] (exp(-10/2))",
           _p_suspects(10.0, 2), **P_TOL)


def test_goodness_of_fit_expected_none_means_uniform(kata):
    obs = np.random.default_rng(5).multinomial(90, [0.2, 0.2, 0.3, 0.3])
    got = kata.chi2_goodness_of_fit(obs)
    explicit = kata.chi2_goodness_of_fit(obs, np.full(4, 22.5))
    assert_close(np.array(got, dtype=np.float64), np.array(explicit, dtype=np.float64),
                 what="chi2_goodness_of_fit(obs) vs (obs, uniform counts 90/4) (stat, df, p)")


def test_goodness_of_fit_tiny_p_value_is_not_rounded_to_zero(kata):
    obs, _ = _gof_case("huge")
    e_stat, e_df, e_p = _gof_oracle(obs, None)
    assert 0 < e_p < 1e-50 and 1 - stats.chi2.cdf(e_stat, e_df) == 0.0  # the premise
    _, _, p = kata.chi2_goodness_of_fit(obs)
    assert p > 0, (f"p = {p!r} for stat = {e_stat:.4g}, expected {e_p:.3g}: 1 - cdf rounds "
                   "to 0 in float64; use the survival function chi2.sf")


@pytest.mark.parametrize("obs, exp", [
    ([40, 45, 38, 50, 42, 41, 44], 300 * np.full(7, 1 / 7)),  # sums to 300 - 5.7e-14
    ([100, 120, 80], [100.0, 100.0, 100.0 + 3e-8]),            # totals differ by 1e-10 relative
], ids=["rounding", "relative-1e-10"])
def test_goodness_of_fit_tolerates_float_rounding_in_the_totals(kata, obs, exp):
    obs, exp = np.array(obs), np.array(exp)
    assert obs.sum() != exp.sum()  # the premise: not exactly equal
    try:
        stat, _, _ = kata.chi2_goodness_of_fit(obs, exp)
    except ValueError as err:
        raise AssertionError(
            f"chi2_goodness_of_fit raised for totals {obs.sum()} and {exp.sum()!r} ({err}); "
            "totals that agree to a relative 1e-8 are equal up to float rounding") from None
    _check(stat, _gof_oracle(obs, exp)[0], "chi2_goodness_of_fit stat, totals equal up to "
           "rounding")


def test_goodness_of_fit_accepts_small_positive_expected_counts(kata):
    # Expected counts of 0.5 and 1 are valid (only E <= 0 is rejected).
    obs, exp = np.array([1, 2, 47]), np.array([0.5, 1.0, 48.5])
    stat, _, p = kata.chi2_goodness_of_fit(obs, exp)
    e_stat, _, e_p = _gof_oracle(obs, exp)
    _check(stat, e_stat, "chi2_goodness_of_fit stat with expected [0.5, 1, 48.5]")
    _check(p, e_p, "chi2_goodness_of_fit p with expected [0.5, 1, 48.5]", **P_TOL)


@pytest.mark.parametrize("obs, exp", [
    ([10, 20, 30], [1 / 3, 1 / 3, 1 / 3]),        # probabilities, not counts
    ([10, 20, 30], [20.0, 20.0, 20.5]),           # totals 60 vs 60.5
    ([10, 20, 30], [10.0, 50.0]),                  # shapes differ
    ([10, 20, 30, 5], [10.0, 20.0, 30.0]),         # shapes differ the other way
    ([10, 0, 20], [15.0, 0.0, 15.0]),              # an expected count of 0
    ([10, 20, 30], [-10.0, 40.0, 30.0]),           # a negative expected count
], ids=["probabilities", "totals-differ-by-half", "shorter-expected", "longer-observed",
        "zero-expected", "negative-expected"])
def test_goodness_of_fit_rejects_invalid_expected(kata, obs, exp):
    with np.errstate(all="ignore"), pytest.raises(ValueError):
        kata.chi2_goodness_of_fit(np.array(obs), np.array(exp))


# ============================================================================ independence

def _table(case):
    rng = np.random.default_rng({"2x3": 10, "3x2": 11, "4x3": 12, "3x3": 13, "2x2": 14,
                                 "2x5": 15, "ones": 16}[case])
    if case == "2x3":   # associated rows and columns
        return np.array([[rng.poisson(30), rng.poisson(12), rng.poisson(8)],
                         [rng.poisson(10), rng.poisson(25), rng.poisson(20)]])
    if case == "3x2":
        return rng.poisson([[5.0, 40.0], [20.0, 15.0], [30.0, 3.0]])
    if case == "4x3":
        return rng.poisson(rng.uniform(3.0, 40.0, size=(4, 3)))
    if case == "3x3":   # square but with unequal margins: E != E.T
        return rng.poisson([[50.0, 5.0, 10.0], [8.0, 20.0, 2.0], [12.0, 30.0, 6.0]])
    if case == "2x2":
        return rng.poisson([[25.0, 10.0], [12.0, 30.0]])
    if case == "2x5":   # floats
        return rng.uniform(1.0, 20.0, size=(2, 5))
    # a row and a column that sum to exactly 1 (valid: no expected count is 0)
    return np.array([[1, 0, 0], [2, 5, 4], [3, 2, 7]])


INDEP_CASES = ("2x3", "3x2", "4x3", "3x3", "2x2", "2x5", "ones")


def _indep_oracle(table, yates):
    r = stats.chi2_contingency(table, correction=yates)
    return float(r.statistic), int(r.dof), float(r.pvalue), r.expected_freq


def _indep_call(kata, table, yates):
    res = kata.chi2_independence(table, yates=yates)
    assert res is not None and len(res) == 4, (
        f"chi2_independence must return (stat, df, p, expected), got {res!r}")
    return res


def _expected_suspects(table):
    t = np.asarray(table, dtype=np.float64)
    rows, cols, n = t.sum(axis=1), t.sum(axis=0), t.sum()
    return [
        (np.outer(rows, cols) / n, None),
        (np.outer(cols, rows) / n, "E is built from the swapped margins (column totals down "
                                   "the rows): E[i, j] = row_total[i] * col_total[j] / N"),
        (np.outer(rows, cols).T / n, "E is transposed: E[i, j] = row_total[i] * col_total[j] "
                                     "/ N has the shape of the table"),
        (np.outer(rows, cols), "E is not divided by the grand total N"),
        (np.outer(rows, cols) / n**2, "E is divided by N^2; divide by N once"),
    ]


def _stat_suspects(table, yates):
    t = np.asarray(table, dtype=np.float64)
    e = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    d = np.abs(t - e)
    df = (t.shape[0] - 1) * (t.shape[1] - 1)
    corrected = np.sum(np.maximum(d - 0.5, 0.0) ** 2 / e)
    out = []
    if np.all(t > 0):
        out.append((np.sum(d**2 / t), "divided by the observed counts; Pearson divides by E"))
    if df == 1:
        if yates:
            out += [(np.sum(d**2 / e), "yates=True but the correction was not applied"),
                    (np.sum((d - 0.5) ** 2 / e), "Yates' |O - E| - 0.5 must be floored at 0")]
        else:
            out.append((corrected, "Yates' correction was applied although yates=False"))
    elif yates:
        hint = ("Yates' correction applies only when df == 1 (a 2x2 table); for larger "
                "tables yates=True changes nothing")
        out += [(corrected, hint), (np.sum((d - 0.5) ** 2 / e), hint)]
    if t.shape[0] == t.shape[1]:
        et = e.T
        out.append((np.sum((t - et) ** 2 / et), "E is built from the swapped margins"))
    return out


@pytest.mark.parametrize("case", INDEP_CASES)
def test_independence_expected_counts_match_scipy(kata, case):
    table = _table(case)
    _, _, _, expected = _indep_call(kata, table, False)
    want = _indep_oracle(table, False)[3]
    expected = np.asarray(expected)
    what = f"chi2_independence expected ({case} table)"
    if expected.shape == want.shape and not np.allclose(expected, want, rtol=1e-9):
        for value, hint in _expected_suspects(table)[1:]:
            if value.shape == want.shape and np.allclose(expected, value, rtol=1e-9):
                what += f" [likely bug: {hint}]"
                break
    elif expected.shape != want.shape:
        what += (" [the expected table has the shape of the observed one, (r, c): "
                 "np.outer(row_totals, col_totals) / N]")
    assert expected.dtype == np.float64, f"{what}: dtype {expected.dtype}, expected float64"
    assert_close(expected, want, what=what)


@pytest.mark.parametrize("case", INDEP_CASES)
def test_independence_statistic_matches_scipy(kata, case):
    table = _table(case)
    stat, _, _, _ = _indep_call(kata, table, False)
    _check(stat, _indep_oracle(table, False)[0], f"chi2_independence stat ({case} table)",
           _stat_suspects(table, False))


@pytest.mark.parametrize("case", INDEP_CASES)
def test_independence_df_is_r_minus_1_times_c_minus_1(kata, case):
    table = _table(case)
    _, df, _, _ = _indep_call(kata, table, False)
    r, c = table.shape
    assert isinstance(df, int), f"df must be a Python int, got {type(df).__name__}"
    wrong = {r * c - 1: "df = r*c - 1 is the goodness-of-fit df; independence has "
                        "(r - 1)(c - 1)", r * c: "df = r*c; independence has (r - 1)(c - 1)",
             r + c - 2: "df = (r - 1) + (c - 1); it is the product (r - 1)(c - 1)",
             (r - 1) * c: "df = (r - 1) * c; it is (r - 1)(c - 1)",
             r * (c - 1): "df = r * (c - 1); it is (r - 1)(c - 1)"}
    want = (r - 1) * (c - 1)
    hint = f" [likely bug: {wrong[df]}]" if df != want and df in wrong else ""
    assert df == want, f"chi2_independence df = {df} for a {r}x{c} table, expected {want}{hint}"


@pytest.mark.parametrize("yates", (False, True))
@pytest.mark.parametrize("case", INDEP_CASES)
def test_independence_p_value_matches_scipy(kata, case, yates):
    table = _table(case)
    stat, df, p, _ = _indep_call(kata, table, yates)
    e_stat, e_df, e_p, _ = _indep_oracle(table, yates)
    what = f"chi2_independence p ({case} table, yates={yates}, stat={e_stat:.4g}, df={e_df})"
    if not (math.isclose(stat, e_stat, rel_tol=1e-7) and df == e_df):
        what += " [stat or df is wrong too: fix those first]"
    _check(p, e_p, what, _p_suspects(e_stat, e_df), **P_TOL)


def test_independence_by_hand_2x2(kata):
    # [[10, 20], [20, 10]]: every E is 15, every |O - E| = 5, stat = 4 * 25 / 15 = 20 / 3.
    # With Yates: 4 * 4.5^2 / 15 = 5.4. For df = 1, p = erfc(sqrt(stat / 2)).
    table = [[10, 20], [20, 10]]
    stat, df, p, expected = kata.chi2_independence(table)
    assert isinstance(stat, float) and isinstance(p, float) and isinstance(df, int), (
        "chi2_independence must return (float, int, float, array)")
    assert_close(expected, np.full((2, 2), 15.0), what="expected counts of [[10, 20], [20, 10]]")
    assert df == 1, f"df = {df} for a 2x2 table, expected 1"
    _check(stat, 20 / 3, "stat of [[10, 20], [20, 10]] without Yates",
           _stat_suspects(table, False))
    _check(p, math.erfc(math.sqrt(10 / 3)), "p of [[10, 20], [20, 10]] without Yates",
           _p_suspects(20 / 3, 1), **P_TOL)
    stat_y, df_y, p_y, expected_y = kata.chi2_independence(table, yates=True)
    _check(stat_y, 5.4, "stat of [[10, 20], [20, 10]] with Yates", _stat_suspects(table, True))
    _check(p_y, math.erfc(math.sqrt(2.7)), "p of [[10, 20], [20, 10]] with Yates", **P_TOL)
    assert df_y == 1
    assert_close(expected_y, np.full((2, 2), 15.0), what="expected counts with yates=True")


# ----------------------------------------------------------------------------- Yates

YATES_TABLES = {
    "moderate": [[25, 10], [12, 30]],
    "small-counts": [[3, 7], [8, 2]],
    "floats": [[4.2, 9.9], [11.5, 3.3]],
    "tiny-deviation": [[10, 11], [10, 10]],   # |O - E| ~ 0.24 < 0.5: corrected stat is 0
}


@pytest.mark.parametrize("name", YATES_TABLES)
def test_yates_correction_on_2x2_matches_scipy(kata, name):
    table = np.array(YATES_TABLES[name])
    stat, df, p, expected = _indep_call(kata, table, True)
    e_stat, e_df, e_p, e_exp = _indep_oracle(table, True)
    _check(stat, e_stat, f"chi2_independence stat with yates=True ({name} 2x2)",
           _stat_suspects(table, True), rtol=1e-7, atol=1e-12)
    assert df == 1, f"df = {df} for a 2x2 table, expected 1"
    _check(p, e_p, f"chi2_independence p with yates=True ({name} 2x2)", _p_suspects(e_stat, 1),
           **P_TOL)
    assert_close(np.asarray(expected), e_exp,
                 what=f"expected with yates=True ({name} 2x2): the correction changes only "
                      "the statistic")


def test_yates_floors_each_deviation_at_zero(kata):
    table = np.array(YATES_TABLES["tiny-deviation"])
    stat, _, p, _ = kata.chi2_independence(table, yates=True)
    assert stat == 0.0 and p == 1.0, (
        f"every |O - E| is about 0.24 < 0.5, so with Yates each is floored at 0 and stat = 0, "
        f"p = 1; got stat = {stat!r}, p = {p!r} [likely bug: (|O - E| - 0.5)^2 without "
        "max(., 0) makes a small deviation count as a large one]")


@pytest.mark.parametrize("case", ("2x3", "3x3", "4x3"))
def test_yates_is_ignored_when_df_exceeds_1(kata, case):
    table = _table(case)
    got = _indep_call(kata, table, True)
    e_stat = _indep_oracle(table, True)[0]  # scipy ignores correction=True for dof > 1
    _check(got[0], e_stat, f"chi2_independence stat with yates=True on a {case} table",
           _stat_suspects(table, True))
    plain = _indep_call(kata, table, False)
    assert_close(np.array(got[:3], dtype=np.float64), np.array(plain[:3], dtype=np.float64),
                 what=f"(stat, df, p) with yates=True vs yates=False on a {case} table "
                      "(they must be equal: Yates applies only when df == 1)")


def test_yates_false_on_2x2_is_uncorrected(kata):
    table = np.array(YATES_TABLES["moderate"])
    stat, _, _, _ = kata.chi2_independence(table)
    _check(stat, _indep_oracle(table, False)[0], "chi2_independence stat on a 2x2 table with "
           "the default yates=False", _stat_suspects(table, False))


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("table", [
    [[5, 0, 3], [0, 0, 0], [2, 4, 6]],    # a zero row (no zero column)
    [[5, 0, 3], [4, 0, 6]],               # a zero column (no zero row)
    [[4, 5, 6]],                           # one row: 1x3
    [[4], [5], [6]],                       # one column: 3x1
    [4, 5, 6],                             # 1-D
    np.ones((2, 2, 2)),                    # 3-D
], ids=["zero-row", "zero-column", "one-row", "one-column", "1-D", "3-D"])
def test_independence_rejects_invalid_tables(kata, table):
    with np.errstate(all="ignore"), pytest.raises(ValueError):
        kata.chi2_independence(np.array(table))
