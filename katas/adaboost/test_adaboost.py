"""Tests for the adaboost kata.

Oracles: a brute-force weighted stump search (every feature, midpoint and polarity, in the tie
order of the statement); three boosting rounds worked out by hand; scikit-learn's
AdaBoostClassifier (SAMME, alpha twice ours) run on that brute-force stump, for the boosting
loop on random data; and AdaBoostClassifier on depth-1 DecisionTreeClassifiers on simple data
where its (Gini) stumps coincide with the minimum-error ones.
"""

import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from dojo.testing import assert_close

EPS = 1e-10


# ----------------------------------------------------------------------------- references


def _h(X, feature, threshold, polarity):
    """The stump's vote, computed here and not through the learner's predict."""
    return np.where(X[:, feature] > threshold, polarity, -polarity)


def _candidates(X, y, w):
    """Every stump, in the tie order (feature, threshold, polarity +1 first), with its error."""
    out = []
    for j in range(X.shape[1]):
        u = np.unique(X[:, j])
        for t in (u[:-1] + u[1:]) / 2:
            for p in (1, -1):
                h = _h(X, j, t, p)
                out.append((w[h != y].sum() / w.sum(), j, float(t), p, h))
    return out


def _ref_stump(X, y, w):
    """(error, feature, threshold, polarity, h, margin): the first minimum, and by how much it
    beats every stump that votes differently on X (the premise that makes it unambiguous)."""
    cands = _candidates(X, y, w)
    best = min(cands, key=lambda c: c[0])  # min keeps the first of equal errors
    margin = min((c[0] for c in cands if not np.array_equal(c[4], best[4])), default=np.inf)
    return (*best, margin - best[0])


class BruteForceStump(ClassifierMixin, BaseEstimator):
    """The minimum weighted-error stump as a scikit-learn estimator, for AdaBoostClassifier."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        self.error_, self.feature_, self.threshold_, self.polarity_, _, self.margin_ = (
            _ref_stump(X, y, w))
        return self

    def predict(self, X):
        return _h(X, self.feature_, self.threshold_, self.polarity_)


def _ring(seed, n, d, noise=0.1):
    """Inside a sphere = +1, outside = -1, with a fraction of labels flipped."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where((X**2).sum(axis=1) < 1.4 * d, 1, -1)
    y[rng.random(n) < noise] *= -1
    return X, y


def _fields(stump):
    assert stump is not None, "fit_stump returned None; return a Stump"
    for name in ("feature", "threshold", "polarity", "error"):
        assert hasattr(stump, name), f"the stump has no field {name!r}; return a Stump"
    return int(stump.feature), float(stump.threshold), int(stump.polarity), float(stump.error)


# The worked example: x = 1..5, y = [+1, +1, -1, -1, +1].
#   round 1: w = [1/5] * 5.  Best stump: x > 2.5 -> -1 (feature 0, t = 2.5, polarity -1): it
#            misses x = 5 only, e1 = 1/5, alpha1 = 0.5 ln(4) = ln 2. The mistake is multiplied
#            by e^{ln 2} = 2, the rest by 1/2: [.1, .1, .1, .1, .4] / 0.8 = [1/8]*4 + [1/2].
#   round 2: best x > 4.5 -> +1 (t = 4.5, polarity +1), missing x = 1, 2: e2 = 1/4,
#            alpha2 = 0.5 ln 3. After the update the mistakes hold half the weight:
#            w = [1/4, 1/4, 1/12, 1/12, 1/3].
#   round 3: best x > 2.5 -> -1 again, missing x = 5 only: e3 = 1/3, alpha3 = 0.5 ln 2;
#            w = [3/16, 3/16, 1/16, 1/16, 1/2] (mistake x = 5 gets half, the rest * 3/4).
HAND_X = np.arange(1.0, 6.0)[:, None]
HAND_Y = np.array([1, 1, -1, -1, 1])
HAND_STUMPS = [(0, 2.5, -1, 1 / 5), (0, 4.5, 1, 1 / 4), (0, 2.5, -1, 1 / 3)]
HAND_ALPHAS = [0.5 * math.log(4.0), 0.5 * math.log(3.0), 0.5 * math.log(2.0)]
HAND_WEIGHTS = [
    np.array([1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 2]),
    np.array([1 / 4, 1 / 4, 1 / 12, 1 / 12, 1 / 3]),
    np.array([3 / 16, 3 / 16, 1 / 16, 1 / 16, 1 / 2]),
]


# ----------------------------------------------------------------------------- the stump


def test_stump_predict_gives_polarity_above_the_threshold_and_minus_polarity_at_or_below(kata):
    X = np.array([[9.0, -1.0], [9.0, 0.5], [9.0, 0.50001], [9.0, 3.0]])
    labels = kata.Stump(1, 0.5, -1, 0.0).predict(X)
    assert labels is not None and np.asarray(labels).dtype.kind in "iu", (
        f"Stump.predict must return integer labels in {{-1, 1}}, got {labels!r}")
    assert_close(labels, np.array([1, 1, -1, -1]),
                 what="Stump(feature=1, threshold=0.5, polarity=-1).predict (-1 where "
                      "x[1] > 0.5, +1 where x[1] <= 0.5: x == threshold is 'at or below')")
    assert_close(kata.Stump(0, 9.0, 1, 0.0).predict(X), np.array([-1, -1, -1, -1]),
                 what="Stump(feature=0, threshold=9, polarity=+1).predict on x[0] == 9")


@pytest.mark.parametrize("seed, n, d", [(0, 17, 3), (1, 30, 1), (2, 9, 4), (3, 40, 2)])
def test_fit_stump_minimises_the_weighted_error_like_brute_force(kata, seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X[:, 0] + rng.normal(size=n) > 0, 1, -1)
    w = rng.uniform(0.1, 3.0, size=n)  # not normalised: the error divides by sum(w)
    err, j, t, p, _, margin = _ref_stump(X, y, w)
    f, thr, pol, got_err = _fields(kata.fit_stump(X, y, w))
    unweighted = _ref_stump(X, y, np.ones(n))[0]
    assert f in range(d) and pol in (-1, 1), f"feature {f} / polarity {pol} out of range"
    true_err = w[_h(X, f, thr, pol) != y].sum() / w.sum()
    if not np.isclose(true_err, err, rtol=1e-9) and np.isclose(
            (_h(X, f, thr, pol) != y).mean(), unweighted, rtol=1e-9):
        raise AssertionError("fit_stump picked the stump with the fewest mistakes: it must "
                             "minimise the WEIGHTED error sum(w[h != y]) / sum(w)")
    assert_close(true_err, err, what=f"weighted error of the stump fit_stump chose "
                                     f"(feature {f}, threshold {thr:.4g}, polarity {pol}) vs "
                                     "the brute-force minimum", rtol=1e-9, atol=0.0)
    assert_close(got_err, err, what="Stump.error (sum(w[h != y]) / sum(w))", rtol=1e-9,
                 atol=0.0)
    assert margin > 1e-9  # the premise: the minimum is unique, so the stump is too
    assert (f, pol) == (j, p), (
        f"fit_stump chose (feature {f}, polarity {pol}), expected ({j}, {p})")
    assert_close(thr, t, what="threshold (a midpoint between consecutive distinct values)")


def test_fit_stump_uses_the_weights_not_the_counts(kata):
    # One mistake of weight 10 costs more than two of weight 1.
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([1, -1, 1, -1, -1])
    w = np.array([1.0, 1.0, 10.0, 1.0, 1.0])
    f, t, p, e = _fields(kata.fit_stump(X, y, w))
    if (t, p) == (1.5, -1):
        raise AssertionError("fit_stump picked x <= 1.5 -> +1 (one mistake by count, weight "
                             "10): minimise the WEIGHTED error, not the number of mistakes")
    assert (f, t, p) == (0, 3.5, -1), (
        f"fit_stump chose (feature {f}, threshold {t}, polarity {p}); expected x <= 3.5 -> +1, "
        "i.e. (0, 3.5, -1), whose mistakes x = 2 (weight 1) cost 1/14")
    assert_close(e, 1 / 14, what="Stump.error = sum(w[h != y]) / sum(w) = 1 / 14")


def test_fit_stump_error_is_a_rate_divided_by_the_total_weight(kata):
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([-1, -1, 1, -1])
    w = np.array([2.0, 2.0, 4.0, 8.0])  # sum 16; the best stump misses x = 2 only
    e = _fields(kata.fit_stump(X, y, w))[3]
    if np.isclose(e, 4.0):
        raise AssertionError("Stump.error is sum(w[h != y]) = 4: divide by sum(w) = 16 so it "
                             "is a rate in [0, 1/2] whatever the scale of w")
    assert_close(e, 0.25, what="Stump.error with w summing to 16")


def test_fit_stump_can_choose_polarity_minus_one(kata):
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1, 1, -1, -1])  # +1 on the LEFT
    f, t, p, e = _fields(kata.fit_stump(X, y, np.full(4, 0.25)))
    assert (f, t, p, e) == (0, 1.5, -1, 0.0), (
        f"got (feature, threshold, polarity, error) = {(f, t, p, e)}; expected (0, 1.5, -1, 0): "
        "polarity -1 predicts -1 above the threshold; try both polarities")


def test_fit_stump_thresholds_are_midpoints_of_distinct_values_and_skip_constant_features(
        kata):
    # Feature 0 is constant (no threshold); feature 1 repeats values: midpoints 1.5 and 3.
    X = np.array([[7.0, 1.0], [7.0, 1.0], [7.0, 2.0], [7.0, 2.0], [7.0, 4.0], [7.0, 4.0]])
    y = np.array([-1, -1, -1, -1, 1, 1])
    f, t, p, e = _fields(kata.fit_stump(X, y, np.ones(6)))
    assert (f, p) == (1, 1) and e == 0.0, (
        f"got (feature, polarity, error) = {(f, p, e)}; expected (1, +1, 0): a constant "
        "feature has no threshold, split feature 1")
    assert t == 3.0, (f"threshold {t}: it must be the midpoint between the distinct sorted "
                      "values 2 and 4, i.e. 3.0")


def test_fit_stump_breaks_ties_by_feature_then_threshold_then_polarity_plus_one(kata):
    # XOR: every stump misses exactly half the (equal) weight.
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([-1, 1, 1, -1])
    assert _fields(kata.fit_stump(X, y, np.full(4, 0.25))) == (0, 0.5, 1, 0.5), (
        "on XOR every stump has error 1/2: the tie goes to feature 0, threshold 0.5, polarity +1")
    # Two identical columns: the tie goes to feature 0.
    X2 = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    y2 = np.array([-1, -1, 1, 1])
    assert _fields(kata.fit_stump(X2, y2, np.ones(4)))[:3] == (0, 2.5, 1), (
        "two identical columns tie: pick the lowest feature, 0")
    # Thresholds 1.5 and 3.5 tie at error 1/4 (dyadic weights: exact sums): pick 1.5.
    X3 = np.array([[1.0], [2.0], [3.0], [4.0]])
    y3 = np.array([-1, 1, -1, 1])
    assert _fields(kata.fit_stump(X3, y3, np.full(4, 0.25))) == (0, 1.5, 1, 0.25), (
        "thresholds 1.5 and 3.5 both give error 1/4: the tie goes to the lowest threshold")


# ----------------------------------------------------------------------------- boosting


def _fit(kata, M, X, y):
    model = kata.AdaBoost(M)
    out = model.fit(X, y)
    assert out is model, "AdaBoost.fit must return self"
    for name in ("stumps_", "alphas_", "weights_"):
        assert hasattr(model, name), f"AdaBoost.fit must set {name}"
    return model


@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_hand_computed_rounds(kata, rounds):
    model = _fit(kata, rounds, HAND_X, HAND_Y)
    assert len(model.stumps_) == rounds, f"{len(model.stumps_)} stumps after {rounds} rounds"
    stumps = [_fields(s) for s in model.stumps_]
    alphas = np.asarray(model.alphas_, dtype=np.float64)
    for m, (got, want) in enumerate(zip(stumps, HAND_STUMPS, strict=False), start=1):
        if m == 2 and got[:3] == (0, 4.5, -1):
            raise AssertionError("round 2 picked x > 4.5 -> -1: the update boosted the points "
                                 "round 1 got RIGHT; multiply by exp(-alpha * y * h)")
        assert got[:3] == want[:3], (f"round {m}: stump (feature, threshold, polarity) = "
                                     f"{got[:3]}, expected {want[:3]}")
        assert_close(got[3], want[3], what=f"round {m}: the stump's weighted error")
    want_a = np.array(HAND_ALPHAS[:rounds])
    if alphas.shape == want_a.shape and not np.allclose(alphas, want_a):
        for factor, bug in [(2.0, "alpha lacks the factor 0.5: 0.5 * ln((1 - e) / e)"),
                            (1 / math.log(10), "alpha uses log10; use the natural log"),
                            (2 / math.log(10), "alpha uses log10 and lacks the 0.5")]:
            if np.allclose(alphas, factor * want_a):
                raise AssertionError(f"alphas_ = {alphas}: {bug}")
    assert_close(alphas, want_a, what="alphas_ (0.5 ln 4, 0.5 ln 3, 0.5 ln 2)")
    w = np.asarray(model.weights_, dtype=np.float64)
    if w.shape == (5,) and not np.isclose(w.sum(), 1.0):
        raise AssertionError(f"weights_ sums to {w.sum():.6g}: renormalise w to sum to 1 after "
                             "every update")
    assert_close(w, HAND_WEIGHTS[rounds - 1], what=f"weights_ after {rounds} round(s)")


def test_hand_computed_predictions(kata):
    # After 2 rounds F = ln2 * h1 + 0.5 ln3 * h2; x = 5: -ln 2 + 0.5 ln 3 < 0 -> -1, although
    # the two stumps split 1-1 (an unweighted vote would tie).
    model = _fit(kata, 2, HAND_X, HAND_Y)
    a1, a2 = HAND_ALPHAS[:2]
    assert_close(model.decision_function(HAND_X),
                 np.array([a1 - a2, a1 - a2, -a1 - a2, -a1 - a2, -a1 + a2]),
                 what="decision_function after 2 rounds (sum of alpha_m * h_m(x))")
    labels = model.predict(HAND_X)
    assert np.asarray(labels).dtype.kind in "iu", "predict must return integer labels"
    assert_close(labels, np.array([1, 1, -1, -1, -1]),
                 what="predict after 2 rounds (sign of the alpha-WEIGHTED vote)")


def test_mistakes_hold_half_the_weight_after_each_update(kata):
    # The update gives mistakes e * e^alpha = sqrt(e (1 - e)) and the rest the same: after
    # renormalising, the stump just fit has weighted error exactly 1/2.
    X, y = _ring(4, 36, 2)
    for rounds in (1, 2, 5):
        model = _fit(kata, rounds, X, y)
        w = np.asarray(model.weights_, dtype=np.float64)
        assert w.shape == (36,), f"weights_ must have shape (n,), got {w.shape}"
        assert_close(w.sum(), 1.0, what=f"sum of weights_ after {rounds} round(s) (renormalise)")
        f, t, p, _ = _fields(model.stumps_[-1])
        miss = _h(X, f, t, p) != y
        assert_close(w[miss].sum(), 0.5,
                     what=f"weight on the last stump's mistakes after {rounds} round(s) "
                          "(must be 1/2: mistakes are multiplied by exp(+alpha), the rest by "
                          "exp(-alpha))")


RANDOM_CASES = [(0, 36, 2, 12), (5, 36, 2, 12), (10, 36, 2, 12), (3, 50, 3, 15),
                (9, 50, 3, 15)]


@pytest.mark.parametrize("seed, n, d, M", RANDOM_CASES)
def test_matches_sklearn_samme_with_the_brute_force_stump(kata, seed, n, d, M):
    X, y = _ring(seed, n, d)
    sk = AdaBoostClassifier(BruteForceStump(), n_estimators=M).fit(X, y)
    assert len(sk.estimators_) == M and min(e.margin_ for e in sk.estimators_) > 1e-6  # premise
    model = _fit(kata, M, X, y)
    assert len(model.stumps_) == M, f"{len(model.stumps_)} stumps, expected {M}"
    for m, (s, ref) in enumerate(zip(model.stumps_, sk.estimators_, strict=True), start=1):
        f, t, p, _ = _fields(s)
        assert np.array_equal(_h(X, f, t, p), ref.predict(X)), (
            f"round {m}: your stump (feature {f}, threshold {t:.4g}, polarity {p}) is not the "
            f"minimum weighted-error stump (feature {ref.feature_}, threshold "
            f"{ref.threshold_:.4g}, polarity {ref.polarity_}); check the weight update")
    # SAMME's alpha is ln((1 - e) / e), twice the classic one.
    assert_close(model.alphas_, sk.estimator_weights_ / 2,
                 what="alphas_ vs sklearn SAMME estimator_weights_ / 2")
    Xt = np.random.default_rng(seed + 1000).normal(size=(200, d))
    assert_close(model.predict(np.vstack([X, Xt])), sk.predict(np.vstack([X, Xt])),
                 what="predict vs sklearn AdaBoostClassifier (SAMME), train and new points")


def test_predict_is_the_sign_of_the_alpha_weighted_vote(kata):
    X, y = _ring(7, 60, 2)
    model = _fit(kata, 25, X, y)
    Xt = np.random.default_rng(8).normal(size=(300, 2))
    votes = np.array([_h(Xt, *_fields(s)[:3]) for s in model.stumps_])  # (M, n)
    alphas = np.asarray(model.alphas_, dtype=np.float64)
    score = alphas @ votes
    unweighted = np.where(votes.sum(axis=0) >= 0, 1, -1)
    want = np.where(score >= 0, 1, -1)
    assert np.any(unweighted != want)  # the premise: an unweighted vote differs somewhere
    assert_close(model.decision_function(Xt), score,
                 what="decision_function (sum over rounds of alpha_m * h_m(x))")
    got = np.asarray(model.predict(Xt))
    if np.array_equal(got, unweighted):
        raise AssertionError("predict is the majority of the stumps: weight each vote by its "
                             "alpha, sign(sum alpha_m h_m(x))")
    assert_close(got, want, what="predict (sign of sum alpha_m h_m(x), ties to +1)")


def test_boosting_beats_a_single_stump_on_a_band(kata):
    # y = +1 on the band |x0| < 0.7: no single threshold separates it, two stumps can.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(80, 2))
    y = np.where(np.abs(X[:, 0]) < 0.7, 1, -1)
    one = np.mean(_fit(kata, 1, X, y).predict(X) == y)
    many = np.mean(_fit(kata, 20, X, y).predict(X) == y)
    best_stump = 1 - _ref_stump(X, y, np.ones(80))[0]
    assert_close(one, best_stump, what="training accuracy of AdaBoost(1) (the best stump)")
    assert many == 1.0 and one < 0.85, (
        f"training accuracy: 1 round {one:.3f}, 20 rounds {many:.3f}; boosting stumps must "
        "fit the band |x0| < 0.7 exactly")


def test_a_perfect_stump_stops_the_boosting_with_a_finite_alpha(kata):
    X = np.array([[0.3, 5.0], [1.2, 4.0], [2.5, 3.0], [3.1, 2.0], [4.0, 1.0]])
    y = np.array([-1, -1, 1, 1, 1])
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        try:
            model = _fit(kata, 10, X, y)
        except FloatingPointError as err:
            raise AssertionError(f"a stump with error 0 made alpha infinite ({err}): clip e "
                                 "below at EPS = 1e-10") from None
    assert len(model.stumps_) == 1, (
        f"{len(model.stumps_)} stumps: after a stump with error 0 the boosting must stop")
    assert _fields(model.stumps_[0]) == (0, 1.85, 1, 0.0)
    assert_close(model.alphas_, np.array([0.5 * math.log((1 - EPS) / EPS)]),
                 what="alpha of a perfect stump (error clipped to EPS = 1e-10)")
    assert_close(model.weights_, np.full(5, 0.2),
                 what="weights_ after a perfect stump (all scaled alike, then renormalised)")
    assert_close(model.predict(X), y, what="predictions of a perfect stump")


def test_xor_gives_alpha_zero_and_every_tie_goes_to_plus_one(kata):
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([-1, 1, 1, -1])
    model = _fit(kata, 3, X, y)
    assert len(model.stumps_) == 3, "an error of 1/2 does not stop the boosting"
    assert_close(model.alphas_, np.zeros(3), what="alphas_ on XOR (every error is 1/2)",
                 atol=1e-12)
    assert_close(model.weights_, np.full(4, 0.25), what="weights_ on XOR (alpha 0: unchanged)",
                 atol=1e-12)
    assert_close(model.predict(np.vstack([X, [[0.5, 0.5]]])), np.ones(5, dtype=np.int64),
                 what="predict where every score is 0 (a tie goes to +1)")


def test_same_predictions_as_sklearn_with_depth_one_trees_on_simple_data(kata):
    # 1-D data where sklearn's Gini stumps are the minimum-error stumps in every round.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 1))
    y = np.where(X @ rng.normal(size=1) + 0.3 * rng.normal(size=30) > 0, 1, -1)
    sk = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=5,
                            random_state=0).fit(X, y)
    ref = AdaBoostClassifier(BruteForceStump(), n_estimators=5).fit(X, y)
    assert np.allclose(sk.estimator_weights_, ref.estimator_weights_)  # the premise
    model = _fit(kata, 5, X, y)
    Xt = np.linspace(-3, 3, 301)[:, None]
    assert_close(model.predict(np.vstack([X, Xt])), sk.predict(np.vstack([X, Xt])),
                 what="predict vs AdaBoostClassifier(DecisionTreeClassifier(max_depth=1))")
    assert_close(model.alphas_, sk.estimator_weights_ / 2,
                 what="alphas_ vs sklearn SAMME estimator_weights_ / 2")


def test_float_labels_and_shapes(kata):
    X, y = _ring(12, 20, 2)
    model = _fit(kata, 4, X, y.astype(np.float64))
    ref = _fit(kata, 4, X, y)
    assert np.asarray(model.alphas_).shape == (4,), "alphas_ must have shape (n_estimators,)"
    assert_close(model.alphas_, ref.alphas_, what="alphas_ with float vs int labels")
    labels = model.predict(X)
    assert np.asarray(labels).shape == (20,) and set(np.unique(labels)) <= {-1, 1}


def test_zero_rounds_keep_uniform_weights_and_every_score_is_zero(kata):
    X, y = _ring(13, 8, 2)
    model = _fit(kata, 0, X, y)
    assert len(model.stumps_) == 0 and np.asarray(model.alphas_).shape == (0,), (
        "AdaBoost(0) runs no round: stumps_ is empty and alphas_ has shape (0,)")
    assert_close(model.weights_, np.full(8, 1 / 8),
                 what="weights_ of AdaBoost(0) (the uniform start, 1/n each)")
    assert_close(model.decision_function(X), np.zeros(8), what="decision_function with no stumps")
    assert_close(model.predict(X), np.ones(8, dtype=np.int64),
                 what="predict with no stumps (every score is 0, a tie: +1)")
