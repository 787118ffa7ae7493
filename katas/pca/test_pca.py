"""Tests for the pca kata.

Oracle: sklearn.decomposition.PCA(svd_solver="full"): components_, explained_variance_ratio_
and transform(X), with sklearn's components re-signed to the kata's convention (the entry of
largest absolute value of each component is positive) so the comparison does not depend on the
sklearn version. Property tests (orthonormality, translation invariance, the sign convention,
a hand-built rank-1 case) and failure messages that name the classic bugs.
"""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- references


def _data(seed, n, d, shift=5.0):
    """Correlated features with clearly distinct variances and a mean far from 0."""
    rng = np.random.default_rng(seed)
    scales = 3.0 * 0.6 ** np.arange(d)  # distinct singular values: axes are well defined
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return rng.normal(size=(n, d)) * scales @ rot + shift * rng.uniform(0.5, 2.0, size=d)


def _resign(components):
    """+1/-1 per row that makes the entry of largest |.| positive."""
    top = np.abs(components).argmax(axis=1)
    return np.where(components[np.arange(len(components)), top] < 0, -1.0, 1.0)


def _oracle(X, k):
    model = PCA(n_components=k, svd_solver="full").fit(X)
    s = _resign(model.components_)
    return model.components_ * s[:, None], model.explained_variance_ratio_, model.transform(X) * s


def _call(kata, X, k):
    try:
        out = kata.pca(X, k)
    except ValueError as err:
        raise AssertionError(
            f"pca raised ValueError for X of shape {np.shape(X)}, k={k} ({err}). The components "
            "are the first k rows of Vt, shape (k, d) (feature space; columns of U are (n,)), "
            "and X_proj = (X - mean) @ components.T is (n, k).") from err
    assert isinstance(out, tuple) and len(out) == 3, (
        f"pca must return a 3-tuple (components, explained_variance_ratio, X_proj), got {out!r}")
    comps, ratio, proj = (np.asarray(a) if a is not None else a for a in out)
    n, d = np.shape(X)
    assert comps is not None and comps.shape == (k, d), (
        f"components have shape {None if comps is None else comps.shape}, expected (k, d) = "
        f"{(k, d)}" + ("; the axes are rows of Vt (feature space), not columns of U"
                       if comps is not None and comps.shape == (k, n) else ""))
    assert ratio is not None and ratio.shape == (k,), (
        f"explained_variance_ratio has shape {None if ratio is None else ratio.shape}, "
        f"expected (k,) = {(k,)}")
    assert proj is not None and proj.shape == (n, k), (
        f"X_proj has shape {None if proj is None else proj.shape}, expected (n, k) = {(n, k)}")
    return comps, ratio, proj


def _uncentred(X, k):
    _, S, Vt = np.linalg.svd(X, full_matrices=False)
    s = _resign(Vt[:k])
    return Vt[:k] * s[:, None], S


CASES = [  # (seed, n, d, k): tall, k = d, wide (n < d), a single component
    (0, 50, 5, 2),
    (1, 40, 6, 6),
    (2, 8, 12, 3),
    (3, 30, 4, 1),
]


# ----------------------------------------------------------------------------- oracle


@pytest.mark.parametrize("seed, n, d, k", CASES)
def test_components_match_sklearn_up_to_the_sign_convention(kata, seed, n, d, k):
    X = _data(seed, n, d)
    comps, _, _ = _call(kata, X, k)
    expected, _, _ = _oracle(X, k)
    if not np.allclose(comps, expected, atol=1e-8):
        if np.allclose(comps, _uncentred(X, k)[0], atol=1e-8):
            raise AssertionError("the components are those of the UNCENTRED data: subtract "
                                 "the column means before the SVD")
        if np.allclose(np.abs(comps), np.abs(expected), atol=1e-8):
            raise AssertionError("the components are right up to sign, but the sign is not "
                                 "normalised: flip each row so its largest-|.| entry is positive")
    assert_close(comps, expected, what="components vs sklearn PCA (re-signed)",
                 rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("seed, n, d, k", CASES)
def test_explained_variance_ratio_matches_sklearn(kata, seed, n, d, k):
    X = _data(seed, n, d)
    _, ratio, _ = _call(kata, X, k)
    _, expected, _ = _oracle(X, k)
    S = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    suspects = {
        "the ratios are over the top-k variance only; divide by the TOTAL variance "
        "(all singular values)": S[:k] ** 2 / np.sum(S[:k] ** 2),
        "the ratios use singular values; the variances are their SQUARES": S[:k] / S.sum(),
        "the ratios come from the uncentred data: centre X first":
            _uncentred(X, k)[1][:k] ** 2 / np.sum(_uncentred(X, k)[1] ** 2),
        "the ratios are in increasing order; sort the axes by decreasing variance":
            np.sort(S**2)[:k] / np.sum(S**2),
    }
    if not np.allclose(ratio, expected, rtol=1e-8):
        for hint, value in suspects.items():
            if np.allclose(ratio, value, rtol=1e-8) and not np.allclose(value, expected):
                raise AssertionError(f"explained_variance_ratio: {hint}")
    assert_close(ratio, expected, what="explained_variance_ratio vs sklearn",
                 rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("seed, n, d, k", CASES)
def test_projection_matches_sklearn_transform(kata, seed, n, d, k):
    X = _data(seed, n, d)
    comps, _, proj = _call(kata, X, k)
    _, _, expected = _oracle(X, k)
    if not np.allclose(proj, expected, atol=1e-7) and np.allclose(proj, X @ comps.T, atol=1e-7):
        raise AssertionError("X_proj projects the UNCENTRED X; project X - mean")
    assert_close(proj, expected, what="X_proj vs sklearn PCA.transform (re-signed)",
                 rtol=1e-8, atol=1e-8)


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("seed, n, d, k", CASES)
def test_components_are_orthonormal_rows(kata, seed, n, d, k):
    comps, _, _ = _call(kata, _data(seed, n, d), k)
    assert_close(comps @ comps.T, np.eye(k), what="components @ components.T (unit, orthogonal "
                                                  "rows)", rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed, n, d, k", CASES)
def test_largest_entry_of_each_component_is_positive(kata, seed, n, d, k):
    X = _data(seed, n, d)
    for data, name in ((X, "X"), (-X, "-X")):  # -X flips every singular vector: a second look
        comps, _, _ = _call(kata, data, k)
        top = comps[np.arange(k), np.abs(comps).argmax(axis=1)]
        assert np.all(top > 0), (
            f"pca({name}): the largest-|.| entries of the components are {top}; each must be "
            "positive (flip the component, and its column of X_proj, when it is negative)")


def test_negated_data_gives_the_same_axes_and_a_negated_projection(kata):
    X = _data(4, 25, 4)
    comps, ratio, proj = _call(kata, X, 3)
    comps_n, ratio_n, proj_n = _call(kata, -X, 3)
    assert_close(comps_n, comps, what="components of -X (the sign convention makes them equal "
                                      "those of X)", rtol=1e-9, atol=1e-9)
    assert_close(ratio_n, ratio, what="explained_variance_ratio of -X", rtol=1e-9, atol=1e-12)
    assert_close(proj_n, -proj, what="X_proj of -X (minus that of X)", rtol=1e-9, atol=1e-9)


def test_pca_is_invariant_to_translating_the_data(kata):
    X = _data(5, 30, 3, shift=0.0)
    X = X - X.mean(axis=0)
    comps, ratio, proj = _call(kata, X, 2)
    comps_t, ratio_t, proj_t = _call(kata, X + np.array([100.0, -40.0, 7.0]), 2)
    what = "after adding a constant to every row (PCA centres the data first)"
    assert_close(comps_t, comps, what=f"components {what}", rtol=1e-8, atol=1e-8)
    assert_close(ratio_t, ratio, what=f"explained_variance_ratio {what}", rtol=1e-8, atol=1e-12)
    assert_close(proj_t, proj, what=f"X_proj {what}", rtol=1e-7, atol=1e-7)


def test_projection_is_the_centred_data_times_the_returned_components(kata):
    X = _data(6, 20, 5)
    comps, _, proj = _call(kata, X, 3)
    assert_close(proj, (X - X.mean(axis=0)) @ comps.T,
                 what="X_proj vs (X - mean) @ components.T (flip X_proj's columns with the "
                      "components)", rtol=1e-9, atol=1e-9)


def test_ratios_decrease_and_sum_to_one_at_full_rank(kata):
    X = _data(7, 30, 5)
    _, ratio, _ = _call(kata, X, 5)
    assert np.all(np.diff(ratio) <= 0), f"ratios {ratio} are not in decreasing order"
    assert_close(ratio.sum(), 1.0, what="sum of the ratios with k = d (all the variance)",
                 rtol=1e-12, atol=1e-12)
    _, ratio2, _ = _call(kata, X, 2)
    assert ratio2.sum() < 1.0, (
        f"with k = 2 of 5 axes the ratios sum to {ratio2.sum():.6g}; they are over the TOTAL "
        "variance, so they sum to less than 1")


def test_rank_one_data_by_hand(kata):
    # Points on the line through (1, 1) with direction (1, 2): one axis, (1, 2) / sqrt(5),
    # carries all the variance. Its largest entry, 2 / sqrt(5), is positive.
    t = np.array([-2.0, -1.0, 0.5, 3.0, 4.5])
    X = np.array([1.0, 1.0]) + t[:, None] * np.array([1.0, 2.0])
    comps, ratio, proj = _call(kata, X, 1)
    assert_close(comps, np.array([[1.0, 2.0]]) / np.sqrt(5.0),
                 what="the component of points on a line of direction (1, 2)", rtol=0, atol=1e-12)
    assert_close(ratio, np.array([1.0]), what="explained_variance_ratio of rank-1 data",
                 rtol=0, atol=1e-12)
    assert_close(proj[:, 0], (t - t.mean()) * np.sqrt(5.0),
                 what="X_proj of rank-1 data (signed distance from the mean along the line)",
                 rtol=0, atol=1e-12)


def test_pca_does_not_modify_x(kata):
    X = _data(8, 15, 3)
    before = X.copy()
    _call(kata, X, 2)
    assert np.array_equal(X, before), ("pca modified X in place (X -= mean?); centre a copy: "
                                       "Xc = X - X.mean(axis=0)")


def test_outputs_are_float64(kata):
    X = np.arange(24, dtype=np.int64).reshape(6, 4) ** 2 % 7  # integer input
    comps, ratio, proj = _call(kata, X, 2)
    for name, a in (("components", comps), ("explained_variance_ratio", ratio), ("X_proj", proj)):
        assert a.dtype == np.float64, f"{name} is {a.dtype}, expected float64"
    expected, exp_ratio, exp_proj = _oracle(X.astype(np.float64), 2)
    assert_close(comps, expected, what="components of integer data", rtol=1e-8, atol=1e-8)
    assert_close(ratio, exp_ratio, what="explained_variance_ratio of integer data",
                 rtol=1e-8, atol=1e-12)
    assert_close(proj, exp_proj, what="X_proj of integer data", rtol=1e-8, atol=1e-8)
