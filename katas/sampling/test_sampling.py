"""Tests for the sampling kata: reservoir sampling, weighted sampling without replacement,
Vose's alias method and the stratified split.

Oracles: scipy.stats.chisquare goodness of fit over many seeded draws (the correct sampler
passes at p > 1e-3 with these seeds; the classic bugs give p < 1e-9 at these sizes), exact
reproduction of the documented rng call sequence by a brute-force reference, the exact mass
each alias column carries, and exact class counts for the split.
"""

from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from dojo.testing import assert_close

P_MIN = 1e-3  # the correct sampler's chi-square p-value with these seeds is well above this


def _chisquare(observed, expected, what, bug_hint):
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    expected = expected * observed.sum() / expected.sum()
    p = stats.chisquare(observed, expected).pvalue
    if p < P_MIN:
        worst = np.argmax((observed - expected) ** 2 / expected)
        raise AssertionError(
            f"{what}: the draws do not follow the target distribution (chi-square p = {p:.2g}; "
            f"cell {worst}: observed {observed[worst]:.0f}, expected {expected[worst]:.1f}). "
            f"{bug_hint}"
        )


# ----------------------------------------------------------------------------- reservoir


def _algorithm_r(items, k, rng, high=lambda i: i + 1, first_k_draw=False):
    """Algorithm R with the documented draws (or a buggy variant, to name the bug)."""
    res = []
    for i, item in enumerate(items):
        if i < k:
            if first_k_draw:
                rng.integers(0, i + 1)
            res.append(item)
        else:
            j = rng.integers(0, high(i))
            if j < k:
                res[j] = item
    return res


@pytest.mark.parametrize("n, k, seed", [(20, 5, 0), (50, 1, 1), (9, 9, 2), (30, 7, 3)])
def test_reservoir_sample_reproduces_algorithm_r_with_the_documented_draws(kata, n, k, seed):
    items = [f"item{i}" for i in range(n)]
    rng = np.random.default_rng(seed)
    got = kata.reservoir_sample(iter(items), k, rng)
    want = _algorithm_r(items, k, ref := np.random.default_rng(seed))
    assert got is not None, "reservoir_sample returned None; return the reservoir list"
    got = list(got)
    if got != want:
        suspects = [
            (dict(high=lambda i: i), "item i replaces with probability k / i: draw "
                                     "rng.integers(0, i + 1) for 0-based i"),
            (dict(high=lambda i: i + 2), "the draw is rng.integers(0, i + 2); for 0-based i "
                                         "it is rng.integers(0, i + 1)"),
            (dict(first_k_draw=True), "it draws for the first k items too; they go in "
                                      "without any rng call"),
        ]
        for change, message in suspects:
            if n > k and got == _algorithm_r(items, k, np.random.default_rng(seed), **change):
                raise AssertionError(f"reservoir_sample(n={n}, k={k}): {message}.")
        raise AssertionError(f"reservoir_sample(n={n}, k={k}, seed={seed}) gave {got}, "
                             f"expected {want}: keep the first k, then for i >= k draw "
                             "j = rng.integers(0, i + 1) and replace reservoir[j] if j < k.")
    assert rng.random() == ref.random(), (
        "reservoir_sample used a different number of random draws: exactly one "
        "rng.integers(0, i + 1) per item with i >= k")


def test_reservoir_sample_makes_every_k_subset_equally_likely(kata):
    n, k, runs = 7, 3, 4_000
    rng = np.random.default_rng(4)
    subsets = {s: m for m, s in enumerate(combinations(range(n), k))}
    counts = np.zeros(len(subsets))
    for _ in range(runs):
        counts[subsets[tuple(sorted(kata.reservoir_sample(range(n), k, rng)))]] += 1
    _chisquare(counts, np.ones(len(subsets)), f"reservoir_sample(range({n}), k={k}) subsets",
               "Each item i >= k must enter with probability k / (i + 1) (0-based i), "
               "replacing a uniformly chosen slot.")


def test_reservoir_sample_reads_a_generator_of_unknown_length(kata):
    items = ["a", "b", "c", "d", "e", "f"]
    got = kata.reservoir_sample((x for x in items), 4, np.random.default_rng(5))
    want = _algorithm_r(items, 4, np.random.default_rng(5))
    assert list(got) == want, (
        f"reservoir_sample over a generator gave {got}, expected {want}: Algorithm R with "
        "one rng.integers(0, i + 1) per item i >= k, reading the stream once (it has no len())")


@pytest.mark.parametrize("n, k", [(3, 5), (0, 2), (4, 0)])
def test_reservoir_sample_of_a_short_stream_keeps_what_there_is(kata, n, k):
    got = kata.reservoir_sample(iter(range(10, 10 + n)), k, np.random.default_rng(6))
    want = list(range(10, 10 + min(n, k)))
    assert got is not None and list(got) == want, (
        f"reservoir_sample of {n} items with k={k} gave {got}, expected {want} "
        "(min(k, n) items; no draws until the reservoir is full)")


# ----------------------------------------------------------------------------- weighted


def _es_reference(w, k, seed):
    u = np.random.default_rng(seed).random(len(w))
    with np.errstate(divide="ignore"):
        keys = np.log(u) / np.asarray(w, float)
    return np.argsort(-keys, kind="stable")[:k]


@pytest.mark.parametrize("w, k, seed", [([5.0, 3.0, 1.0, 1.0, 0.5, 2.0], 3, 7),
                                        ([1e-3, 2.0, 0.0, 7.0, 4.0], 4, 8),
                                        ([1.0] * 8, 8, 9)])
def test_weighted_sample_reproduces_efraimidis_spirakis_keys(kata, w, k, seed):
    got = kata.weighted_sample_without_replacement(np.array(w), k, np.random.default_rng(seed))
    want = _es_reference(w, k, seed)
    assert got is not None and np.shape(got) == (k,), f"expected shape ({k},), got {got!r}"
    assert np.asarray(got).dtype.kind in "iu", f"indices must be integers, got {got!r}"
    u = np.random.default_rng(seed).random(len(w))
    with np.errstate(divide="ignore"):
        keys = np.log(u) / np.asarray(w, float)
    wrong = [(np.argsort(keys, kind="stable")[:k], "it takes the SMALLEST keys; the k largest "
                                                  "keys log(u) / w win, largest first"),
             (np.argsort(-np.log(u) * np.asarray(w, float), kind="stable")[:k],
              "the key multiplies by w; it is log(u) / w (the log of u^(1/w))"),
             (np.sort(want), "the indices are sorted; return them largest key first (the "
                             "order of sequential draws)")]
    for cand, message in wrong:
        if np.array_equal(got, cand) and not np.array_equal(cand, want):
            raise AssertionError(f"weighted_sample_without_replacement(w={w}, k={k}): {message}.")
    assert_close(got, want, what=f"indices for w={w}, k={k} (one u = rng.random(n), keys "
                                 "log(u) / w, the k largest first)")


def test_weighted_sample_never_repeats_an_index(kata):
    w = np.array([1000.0, 1.0, 1.0, 1.0, 1.0])
    rng = np.random.default_rng(10)
    for _ in range(200):
        got = kata.weighted_sample_without_replacement(w, 4, rng)
        assert len(set(np.asarray(got).tolist())) == 4, (
            f"got {got}: an index repeats. Sampling WITHOUT replacement returns k distinct "
            "indices (drawing k times from w / sum(w) repeats the heavy item).")


def test_weighted_sample_ordered_pairs_follow_sequential_draws_without_replacement(kata):
    # Unnormalised weights. P(first = i, second = j) = p_i * p_j / (1 - p_i): the second
    # draw renormalises over what is left.
    w = np.array([5.0, 3.0, 1.0, 1.0])
    p = w / w.sum()
    n, runs = len(w), 5_000
    rng = np.random.default_rng(11)
    draws = np.array([kata.weighted_sample_without_replacement(w, 2, rng) for _ in range(runs)])
    assert draws.shape == (runs, 2), f"expected (2,) indices per call, got {draws.shape[1:]}"
    assert np.all(draws[:, 0] != draws[:, 1]), "an index repeats: sample without replacement"
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    counts = np.array([np.sum((draws[:, 0] == i) & (draws[:, 1] == j)) for i, j in pairs])
    expected = np.array([p[i] * p[j] / (1 - p[i]) for i, j in pairs])
    _chisquare(counts, expected, "ordered pairs (first, second) of weighted draws",
               "The first index is i with probability w_i / sum(w), the second is drawn the "
               "same way from the rest; with keys log(u) / w take the LARGEST keys first.")


def test_weighted_sample_never_draws_zero_weights_and_rejects_too_large_k(kata):
    w = np.array([0.0, 2.0, 0.0, 1.0, 3.0])
    rng = np.random.default_rng(12)
    for _ in range(50):
        got = np.asarray(kata.weighted_sample_without_replacement(w, 3, rng))
        assert sorted(got.tolist()) == [1, 3, 4], (
            f"got {got.tolist()} from w={w.tolist()} with k=3: items of weight 0 are never "
            "drawn, and k = 3 takes all the positive ones")
    with pytest.raises(ValueError):
        kata.weighted_sample_without_replacement(w, 4, rng)


# ----------------------------------------------------------------------------- alias


ALIAS_CASES = {
    "counts": [10, 1, 0, 4, 25, 2],     # unnormalised, with a zero
    "probs": [0.1, 0.2, 0.3, 0.4],
    "uniform": [1, 1, 1, 1, 1],
    "one-hot": [0, 0, 3, 0],
    "dirichlet": np.random.default_rng(13).dirichlet(np.full(300, 0.3)),
}


def _column_mass(prob, alias):
    """Probability of each outcome under the table: own column plus aliased leftovers."""
    n = len(prob)
    return (prob + np.bincount(alias, weights=1.0 - prob, minlength=n)
            - np.where(alias == np.arange(n), 1.0 - prob, 0.0)) / n


@pytest.mark.parametrize("name", list(ALIAS_CASES))
def test_alias_table_columns_carry_exactly_the_target_probabilities(kata, name):
    p = np.asarray(ALIAS_CASES[name], dtype=np.float64)
    table = kata.AliasTable(p.copy())
    prob, alias = np.asarray(table.prob), np.asarray(table.alias)
    n = len(p)
    assert prob.shape == (n,) and alias.shape == (n,), (
        f"prob and alias must both have shape ({n},), got {prob.shape} and {alias.shape}")
    assert alias.dtype.kind in "iu" and np.all((alias >= 0) & (alias < n)), (
        f"alias must hold integer column indices in [0, {n}), got {alias}")
    assert np.all((prob >= -1e-12) & (prob <= 1 + 1e-12)), (
        f"prob must lie in [0, 1], got min {prob.min():.3g}, max {prob.max():.3g}: scale p "
        "by N / sum(p) so the columns have mean height 1")
    assert_close(_column_mass(prob, alias), p / p.sum(),
                 what=f"probability each outcome gets from the table ({name}): scale to "
                      "q = N p / sum(p), and a large column gives 1 - q_s to each small one",
                 rtol=1e-9, atol=1e-12)


def test_alias_sample_uses_the_documented_draws_on_the_table(kata):
    p = np.array([3.0, 1.0, 0.5, 2.5, 3.0])
    table = kata.AliasTable(p)
    got = table.sample(1000, np.random.default_rng(14))
    rng = np.random.default_rng(14)
    cols = rng.integers(0, len(p), size=1000)
    u = rng.random(1000)
    want = np.where(u < np.asarray(table.prob)[cols], cols, np.asarray(table.alias)[cols])
    assert got is not None and np.shape(got) == (1000,), f"expected shape (1000,), got {got!r}"
    assert np.asarray(got).dtype.kind in "iu", "samples must be integer indices"
    assert_close(got, want, what="alias samples (i = rng.integers(0, N, size=n), then "
                                 "u = rng.random(n); i if u < prob[i] else alias[i])")


def test_alias_samples_follow_p_chi_square(kata):
    p = np.array([7.0, 1.0, 0.0, 3.0, 12.0, 2.0, 0.5])
    draws = np.asarray(kata.AliasTable(p).sample(200_000, np.random.default_rng(15)))
    assert np.all(draws != 2), "the outcome of weight 0 was drawn"
    counts = np.bincount(draws, minlength=len(p))
    keep = p > 0
    _chisquare(counts[keep], p[keep], "AliasTable.sample",
               "Check the scaling q = N p / sum(p) and that each small column is topped up "
               "by a large one.")


def test_alias_table_of_one_outcome_always_samples_it(kata):
    draws = kata.AliasTable(np.array([2.5])).sample(50, np.random.default_rng(16))
    assert_close(draws, np.zeros(50, dtype=np.int64), what="samples of a one-outcome table")


# ----------------------------------------------------------------------------- stratified


def _split_reference(y, test_frac, seed):
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        m = int(np.floor(test_frac * idx.size + 0.5))
        test += idx[:m].tolist()
        train += idx[m:].tolist()
    return np.sort(train), np.sort(test)


def _labels(seed):
    # classes of sizes 10, 5, 3, 1, 6 in shuffled positions
    y = np.repeat([0, 1, 2, 3, 4], [10, 5, 3, 1, 6])
    return np.random.default_rng(seed).permutation(y)


def _call_split(kata, y, test_frac, seed):
    out = kata.stratified_split(y, test_frac, np.random.default_rng(seed))
    assert isinstance(out, tuple) and len(out) == 2, (
        f"stratified_split must return (train_idx, test_idx), got {out!r}")
    return np.asarray(out[0]), np.asarray(out[1])


@pytest.mark.parametrize("test_frac, want", [(0.5, [5, 3, 2, 1, 3]),
                                             (0.25, [3, 1, 1, 0, 2]),
                                             (0.2, [2, 1, 1, 0, 1])])
def test_stratified_split_puts_round_half_up_of_test_frac_of_each_class_in_test(
        kata, test_frac, want):
    y = _labels(17)
    _, test = _call_split(kata, y, test_frac, 18)
    got = [int(np.sum(y[test] == c)) for c in range(5)]
    sizes = [10, 5, 3, 1, 6]
    bugs = [([round(test_frac * s) for s in sizes], "Python's round() rounds half to even "
                                                     "(2.5 -> 2); use floor(x + 0.5)"),
            ([int(test_frac * s) for s in sizes], "int() truncates; use floor(x + 0.5)"),
            ([int(np.ceil(test_frac * s)) for s in sizes], "ceil rounds 0.25 up to 1; use "
                                                           "floor(x + 0.5)")]
    if got != want:
        for counts, message in bugs:
            if got == counts:
                raise AssertionError(f"test counts per class {got}, expected {want} for class "
                                     f"sizes {sizes} and test_frac={test_frac}: {message}.")
    assert got == want, (f"test counts per class {got}, expected {want} (floor(test_frac * n_c "
                         f"+ 0.5) per class) for class sizes {sizes}, test_frac={test_frac}")


@pytest.mark.parametrize("test_frac", [0.0, 0.2, 0.5, 1.0])
def test_stratified_split_is_a_partition_of_all_indices(kata, test_frac):
    y = _labels(19)
    train, test = _call_split(kata, y, test_frac, 20)
    assert train.dtype.kind in "iu" and test.dtype.kind in "iu", "indices must be integers"
    assert not set(train.tolist()) & set(test.tolist()), (
        f"train and test overlap at {sorted(set(train.tolist()) & set(test.tolist()))}: the "
        "test items of a class must leave its train part")
    assert_close(np.sort(np.concatenate([train, test])), np.arange(len(y)),
                 what="train and test together (every index exactly once, no class dropped)")
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0), (
        "train_idx and test_idx must each be sorted ascending")


def test_stratified_split_reproduces_the_documented_per_class_permutations(kata):
    y = _labels(21)
    train, test = _call_split(kata, y, 0.4, 22)
    want_train, want_test = _split_reference(y, 0.4, 22)
    assert_close(test, want_test, what="test_idx (classes in np.unique order, one "
                                       "rng.permutation of each class's indices, the first "
                                       "n_test_c to test)")
    assert_close(train, want_train, what="train_idx")


def test_stratified_split_handles_arbitrary_labels_in_sorted_order(kata):
    y = np.array(["cat", "dog", "ant", "dog", "cat", "dog", "ant", "cat", "dog", "emu"])
    train, test = _call_split(kata, y, 0.5, 23)
    want_train, want_test = _split_reference(y, 0.5, 23)
    assert_close(test, want_test, what="test_idx for string labels (np.unique order: ant, "
                                       "cat, dog, emu)")
    assert_close(train, want_train, what="train_idx for string labels")


def test_stratified_split_depends_on_the_seed(kata):
    y = _labels(24)
    tests = {tuple(_call_split(kata, y, 0.5, seed)[1].tolist()) for seed in range(5)}
    assert len(tests) > 1, "five seeds gave the same split: shuffle with rng.permutation"
