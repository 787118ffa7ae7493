"""Sampling algorithms: reservoir, weighted without replacement, alias method, stratified split.

Build, with numpy only (every random number comes from the np.random.Generator `rng`, in the
documented order, so a fixed seed gives a fixed answer that the tests reproduce exactly):

    reservoir_sample(stream, k, rng)                   -> list of min(k, n) items
    weighted_sample_without_replacement(w, k, rng)     -> (k,) int64 distinct indices
    AliasTable(p)                                      Vose's alias method: .prob, .alias
    AliasTable(p).sample(n, rng)                       -> (n,) int64 indices, P(i) = p_i / sum(p)
    stratified_split(y, test_frac, rng)                -> (train_idx, test_idx) int64 arrays

Reservoir sampling (Algorithm R)
--------------------------------
`stream` is any iterable, possibly a generator of unknown length; read it once. Keep the first
k items; for item i >= k (0-based) draw j = rng.integers(0, i + 1) (one call per item, none for
the first k) and, if j < k, replace reservoir[j] by item i. Then item i lands in the reservoir
with probability k / (i + 1), and every k-subset of the stream is equally likely. Return the
reservoir as a list (all items if the stream has fewer than k; [] for k = 0).

Weighted sampling without replacement (Efraimidis–Spirakis)
-----------------------------------------------------------
w: (n,) non-negative weights, not necessarily summing to 1. Draw u = rng.random(n) once; item i
gets the key u_i^(1/w_i), computed as log(u_i) / w_i (same order, no underflow for small w_i;
-inf for w_i = 0). Return the indices of the k largest keys, largest first. That order is the
order of sequential draws: the first index is i with probability w_i / sum(w), the next one
is drawn the same way from the items left (weights renormalised), and so on. Raise ValueError
if k exceeds the number of positive weights.

Alias table (Vose)
------------------
p: (N,) non-negative weights (renormalised, so counts work). Scale q_i = N p_i / sum(p), so the
mean of q is 1. Every column i holds its own item with probability prob[i] and alias[i]
otherwise. Build it with two worklists: while some q_s < 1 ("small") and some q_l >= 1
("large"): prob[s] = q_s, alias[s] = l, and l gives away 1 - q_s: q_l -= 1 - q_s; l goes back
to small or large by its new q_l. Columns left over get prob 1 (alias to themselves).
O(N) to build; the table satisfies, for every j,
    (prob[j] + sum over i with alias[i] = j and i != j of (1 - prob[i])) / N  =  p_j / sum(p).
Sampling is O(1) per draw: i = rng.integers(0, N, size=n), then u = rng.random(n) (in that
order), and the sample is i where u < prob[i], else alias[i].

Stratified split
----------------
y: (n,) class labels (any sortable dtype). For each class c in increasing order
(np.unique(y)), with n_c members: n_test_c = floor(test_frac * n_c + 0.5) (round half up, so
n_c = 5, test_frac = 0.5 gives 3; Python's round(2.5) is 2). Draw
perm = rng.permutation(np.flatnonzero(y == c)); the first n_test_c indices go to test, the
rest to train. Return (train_idx, test_idx), each sorted ascending, int64: disjoint, together
every index once, and exactly n_test_c members of class c in test.

Pitfalls an interviewer looks for
---------------------------------
- Reservoir: the replacement probability is k / (i + 1) for 0-based i (rng.integers(0, i)
  gives k / i and over-weights the later items).
- Weighted: without replacement means distinct indices; drawing k times from the same
  distribution (rng.choice(n, k, p=...)) repeats heavy items; and sequential draws must
  renormalise over what is left.
- Alias: the scaling is N * p / sum(p); forgetting N (or the renormalisation) breaks the table.
- Stratified: per-class counts with a defined rounding; train and test never overlap and no
  index, and no class, is lost.
"""

from __future__ import annotations

import numpy as np


def reservoir_sample(stream, k, rng):
    """Uniform sample of k items from an iterable of unknown length (Algorithm R).
    One rng.integers(0, i + 1) per item i >= k. Returns a list of min(k, n) items."""
    # >>> TODO: fill the reservoir with the first k items, then let item i replace a random
    # >>>       slot with probability k / (i + 1)
    reservoir = []
    for i, item in enumerate(stream):
        if i < k:
            reservoir.append(item)
        else:
            j = rng.integers(0, i + 1)  # uniform over the i + 1 items seen so far
            if j < k:
                reservoir[j] = item
    return reservoir
    # <<<


def weighted_sample_without_replacement(w, k, rng):
    """k distinct indices drawn with probability proportional to w, without replacement,
    in draw order. Efraimidis–Spirakis keys log(u) / w from one u = rng.random(n).
    w: (n,) non-negative. Returns (k,) int64. ValueError if k > number of positive weights."""
    # >>> TODO: one uniform per item, a key that favours heavy items, the k best keys in order
    w = np.asarray(w, dtype=np.float64)
    if k > np.count_nonzero(w > 0):
        raise ValueError(f"cannot draw {k} distinct items from {np.count_nonzero(w > 0)} "
                         "with positive weight")
    u = rng.random(w.size)  # (n,)
    with np.errstate(divide="ignore"):
        keys = np.log(u) / w  # log of u^(1/w): larger is better; -inf for w = 0
    return np.argsort(-keys, kind="stable")[:k].astype(np.int64)
    # <<<


class AliasTable:
    """Vose's alias method for sampling from a discrete distribution in O(1) per draw."""

    def __init__(self, p):
        """p: (N,) non-negative weights (any positive sum). Builds .prob (N,) float64 and
        .alias (N,) int64 as described in the module docstring."""
        # >>> TODO: scale to mean 1, then pair each small column with a large one that
        # >>>       tops it up to 1
        p = np.asarray(p, dtype=np.float64)
        n = p.size
        q = p * n / p.sum()  # (N,), mean 1
        self.prob = np.ones(n)
        self.alias = np.arange(n, dtype=np.int64)
        small = [i for i in range(n) if q[i] < 1.0]
        large = [i for i in range(n) if q[i] >= 1.0]
        while small and large:
            s, l = small.pop(), large.pop()
            self.prob[s], self.alias[s] = q[s], l
            q[l] -= 1.0 - q[s]  # l fills the rest of column s
            (small if q[l] < 1.0 else large).append(l)
        # <<<

    def sample(self, n, rng):
        """n draws: i = rng.integers(0, N, size=n), u = rng.random(n) (in that order);
        i where u < prob[i], else alias[i]. Returns (n,) int64."""
        # >>> TODO: a uniform column and a uniform coin for each draw, vectorised
        cols = rng.integers(0, self.prob.size, size=n)  # (n,)
        u = rng.random(n)  # (n,)
        return np.where(u < self.prob[cols], cols, self.alias[cols]).astype(np.int64)
        # <<<


def stratified_split(y, test_frac, rng):
    """Split indices so each class keeps floor(test_frac * n_c + 0.5) members in test.
    Classes in np.unique order, one rng.permutation per class. Returns (train_idx,
    test_idx), each sorted ascending, int64."""
    # >>> TODO: per class, a random permutation of its indices, the first n_test_c to test
    y = np.asarray(y)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(np.floor(test_frac * idx.size + 0.5))  # round half up
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return (np.sort(np.concatenate(train)).astype(np.int64),
            np.sort(np.concatenate(test)).astype(np.int64))
    # <<<
