"""Tests for the decoding kata: greedy, temperature sampling, top-k, top-p and beam search.

Oracles: numpy argmax for greedy; scipy.stats.chisquare over many seeded draws against
softmax(logits / T) in float64 for sampling (the correct sampler passes at p > 1e-3 with these
seeds, the classic bugs give p < 1e-12); brute force over every subset of a tiny vocabulary
for top-p (the smallest set with mass >= p) and over the sorted logits for top-k; exhaustive
enumeration of every output sequence for beam search with beam >= V ** max_len (which makes
beam search exact), a greedy rollout for beam = 1, and a plain-Python transcription of the
documented pruning rule for small beams.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from dojo.testing import assert_close

NEG_INF = float("-inf")
P_MIN = 1e-3  # the correct sampler's chi-square p-value with these seeds is well above this


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def softmax64(logits):
    """softmax in float64 on CPU (the oracle's precision)."""
    return torch.softmax(torch.as_tensor(logits).detach().cpu().double(), dim=-1).numpy()


def gen(device, seed):
    return torch.Generator(device=device).manual_seed(seed)


def chisquare_check(draws, probs, what, suspects=()):
    """draws: int array of tokens; probs: (V,) float64 target. Cells of probability 0 must be
    empty; the others are tested with scipy.stats.chisquare. On failure, name the suspect
    distribution that fits the draws, if any."""
    draws = np.asarray(draws).ravel()
    probs = np.asarray(probs, dtype=np.float64)
    V = probs.shape[0]
    assert draws.min() >= 0 and draws.max() < V, f"{what}: drew a token outside [0, {V})"
    observed = np.bincount(draws, minlength=V).astype(float)
    zero = probs == 0
    assert observed[zero].sum() == 0, (
        f"{what}: drew tokens {np.flatnonzero(zero & (observed > 0)).tolist()} whose logit is "
        "-inf (probability 0): filtered tokens must never be drawn")
    obs, exp = observed[~zero], probs[~zero] * len(draws) / probs[~zero].sum()
    p = stats.chisquare(obs, exp).pvalue
    if p >= P_MIN:
        return
    message = (f"{what}: the draws do not follow the target distribution (chi-square "
               f"p = {p:.2g}; observed counts {observed.astype(int).tolist()}, expected "
               f"{np.round(probs * len(draws), 1).tolist()}).")
    for description, wrong in suspects:
        wrong = np.asarray(wrong, dtype=np.float64)
        if np.all(observed[wrong == 0] == 0):
            nz = wrong > 0
            expected = wrong[nz] * len(draws) / wrong[nz].sum()
            if stats.chisquare(observed[nz], expected).pvalue > P_MIN:
                message += f" They fit {description}."
                break
    raise AssertionError(message)


# ---------------------------------------------------------------------------------------------
# greedy
# ---------------------------------------------------------------------------------------------


def test_greedy_returns_the_argmax_of_every_row(kata, device):
    logits = randn(2, 3, 7, seed=0, scale=2.0)
    got = kata.greedy(logits.to(device))
    assert got is not None, "greedy returned None"
    assert got.shape == (2, 3), (
        f"greedy of (2, 3, 7) logits must have shape (2, 3), got {tuple(got.shape)}")
    assert got.dtype == torch.int64, f"greedy must return int64 token ids, got {got.dtype}"
    assert_close(got, np.argmax(logits.numpy(), axis=-1), what="greedy tokens")


def test_greedy_breaks_ties_towards_the_lowest_index(kata, device):
    logits = torch.tensor([[0.0, 2.0, 1.0, 2.0], [5.0, 5.0, 5.0, 5.0]], device=device)
    assert kata.greedy(logits).tolist() == [1, 0], "ties must go to the lowest token index"


# ---------------------------------------------------------------------------------------------
# sample_temperature
# ---------------------------------------------------------------------------------------------

LOGITS6 = [1.2, -0.3, 0.5, 2.0, -1.5, 0.0]
N_DRAWS = 20_000


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_sample_temperature_follows_softmax_of_the_scaled_logits(kata, device, temperature):
    logits = torch.tensor(LOGITS6).expand(N_DRAWS, 6).contiguous()
    draws = kata.sample_temperature(logits.to(device), temperature, gen(device, 1))
    assert draws is not None, "sample_temperature returned None"
    assert draws.shape == (N_DRAWS,), (
        f"(N, V) logits give one token per row, shape (N,); got {tuple(draws.shape)}")
    assert draws.dtype == torch.int64, f"tokens must be int64, got {draws.dtype}"
    base = torch.tensor(LOGITS6, dtype=torch.float64)
    suspects = [
        ("softmax(logits): temperature applied after the softmax is undone by renormalising; "
         "divide the logits by T before it", softmax64(base)),
        ("softmax(logits * T): divide the logits by the temperature, do not multiply",
         softmax64(base * temperature)),
    ] if temperature != 1.0 else []
    chisquare_check(draws.cpu().numpy(), softmax64(base / temperature),
                    f"sample_temperature(T={temperature})", suspects)


def test_sample_temperature_draws_each_row_from_its_own_logits(kata, device):
    rows = torch.stack([torch.tensor(LOGITS6), torch.tensor(LOGITS6[::-1]) * 2])  # (2, V)
    logits = rows.expand(N_DRAWS // 2, 2, 6).contiguous()  # (N, 2, V)
    draws = kata.sample_temperature(logits.to(device), 0.8, gen(device, 2))
    assert draws.shape == (N_DRAWS // 2, 2), (
        f"(N, 2, V) logits must give (N, 2) tokens, got {tuple(draws.shape)}")
    draws = draws.cpu().numpy()
    for r in range(2):
        chisquare_check(draws[:, r], softmax64(rows[r].double() / 0.8),
                        f"sample_temperature on row {r} of a (N, 2, V) batch",
                        [("the other row's distribution: rows were mixed up when flattening",
                          softmax64(rows[1 - r].double() / 0.8))])


def test_temperature_zero_is_greedy(kata, device):
    logits = randn(4, 5, 9, seed=3, scale=2.0).to(device)
    got = kata.sample_temperature(logits, 0.0, gen(device, 3))
    assert got is not None and got.shape == (4, 5), "temperature 0 must return (..., ) tokens"
    assert torch.equal(got.cpu(), logits.argmax(-1).cpu()), (
        "temperature 0 must be greedy decoding: the argmax of every row, no randomness")


def test_negative_temperature_raises(kata, device):
    with pytest.raises(ValueError):
        kata.sample_temperature(torch.zeros(3, device=device), -0.5)


def test_sampling_is_reproducible_from_the_generator(kata, device):
    logits = torch.zeros(200, 10, device=device)  # uniform: many distinct draw sequences
    a = kata.sample_temperature(logits, 1.0, gen(device, 7))
    b = kata.sample_temperature(logits, 1.0, gen(device, 7))
    c = kata.sample_temperature(logits, 1.0, gen(device, 8))
    assert torch.equal(a, b), "the same generator seed must give the same draws: pass `generator`"
    assert not torch.equal(a, c), "different generator seeds gave identical draws"


def test_sampling_never_draws_a_minus_inf_logit(kata, device):
    logits = torch.tensor([0.5, NEG_INF, 1.0, NEG_INF, -0.5]).expand(5000, 5).contiguous()
    draws = kata.sample_temperature(logits.to(device), 1.7, gen(device, 9)).cpu().numpy()
    chisquare_check(draws, softmax64(torch.tensor([0.5, NEG_INF, 1.0, NEG_INF, -0.5]) / 1.7),
                    "sample_temperature with -inf logits at T=1.7")


# ---------------------------------------------------------------------------------------------
# top_k_filter
# ---------------------------------------------------------------------------------------------


def kept_mask(filtered):
    return torch.isfinite(filtered).cpu().numpy()


@pytest.mark.parametrize("k", [1, 2, 5, 7])
def test_top_k_keeps_exactly_the_k_largest_logits(kata, device, k):
    logits = randn(3, 4, 8, seed=10 + k, scale=2.0)  # distinct values: no ties
    x = logits.to(device)
    before = x.clone()
    got = kata.top_k_filter(x, k)
    assert got is not None, "top_k_filter returned None"
    assert torch.equal(x, before), "top_k_filter modified its input: return a new tensor"
    assert got.shape == logits.shape and got.dtype == logits.dtype, (
        f"top_k_filter must keep shape and dtype, got {tuple(got.shape)} {got.dtype}")
    expected = np.zeros(logits.shape, dtype=bool)
    for idx in np.ndindex(logits.shape[:-1]):
        row = logits[idx].tolist()
        for j in sorted(range(8), key=lambda j: -row[j])[:k]:
            expected[idx + (j,)] = True
    mask = kept_mask(got)
    if not np.array_equal(mask, expected):
        if mask.sum(-1).max() != k:
            raise AssertionError(f"top_k_filter(k={k}) kept {sorted(set(mask.sum(-1).ravel()))} "
                                 f"tokens per row, expected {k}")
        raise AssertionError(f"top_k_filter(k={k}) kept the wrong tokens (expected the {k} "
                             "largest logits of each row, along the last dim)")
    assert torch.equal(got.cpu()[mask], logits[mask]), "kept logits must be left unchanged"
    assert (got.cpu()[~mask] == NEG_INF).all(), "filtered logits must be -inf"


def test_top_k_keeps_all_ties_at_the_kth_value(kata, device):
    logits = torch.tensor([[1.0, 3.0, 3.0, 2.0, 0.0]], device=device)
    kept = kept_mask(kata.top_k_filter(logits, 1)).tolist()
    assert kept == [[False, True, True, False, False]], (
        "top_k_filter keeps every logit >= the k-th largest: both tied maxima survive k=1")
    assert kept_mask(kata.top_k_filter(logits, 3)).tolist() == [[False, True, True, True, False]]


def test_top_k_with_k_at_least_vocab_keeps_everything_and_k_below_one_raises(kata, device):
    logits = randn(2, 6, seed=20).to(device)
    for k in (6, 10):
        got = kata.top_k_filter(logits, k)
        assert got is not logits, "top_k_filter must return a new tensor, even for k >= V"
        assert torch.equal(got, logits), f"k={k} >= V=6 must keep every logit"
    with pytest.raises(ValueError):
        kata.top_k_filter(logits, 0)


# ---------------------------------------------------------------------------------------------
# top_p_filter
# ---------------------------------------------------------------------------------------------


def brute_force_nucleus(probs, p):
    """The smallest set of tokens with mass >= p; among sets of that size, the heaviest."""
    V = len(probs)
    for size in range(1, V + 1):
        best = max(itertools.combinations(range(V), size), key=lambda s: sum(probs[j] for j in s))
        if sum(probs[j] for j in best) >= p:
            return set(best)
    return set(range(V))


def nucleus_suspects(probs, p):
    """Masks of the classic wrong nuclei, as sets."""
    order = sorted(range(len(probs)), key=lambda j: -probs[j])
    cum = np.cumsum([probs[j] for j in order])
    unsorted = np.cumsum(probs)
    return [
        ("the token that crosses p was dropped (kept cumsum < p instead of mass before < p)",
         {order[i] for i in range(len(order)) if cum[i] < p}),
        ("the cumulative sum was taken in vocabulary order: sort by probability first",
         {j for j in range(len(probs)) if unsorted[j] - probs[j] < p}),
        ("one token too many (kept cumsum <= p or the first token past the crossing)",
         {order[i] for i in range(len(order)) if i == 0 or cum[i - 1] <= p}),
    ]


def test_top_p_keeps_the_smallest_set_with_mass_at_least_p(kata, device):
    logits = randn(4, 3, 7, seed=30, scale=1.5)
    probs = softmax64(logits)
    for p in (0.3, 0.55, 0.8, 0.95):
        got = kata.top_p_filter(logits.to(device), p)
        assert got is not None, "top_p_filter returned None"
        assert got.shape == logits.shape, (
            f"top_p_filter must keep the shape, got {tuple(got.shape)}")
        mask = kept_mask(got)
        for idx in np.ndindex(logits.shape[:-1]):
            row = probs[idx]
            cum = np.cumsum(np.sort(row)[::-1])
            # no partial sum near p, so float32 and float64 agree on the nucleus
            assert np.abs(cum - p).min() > 1e-4, "test inputs too close to p"
            want = brute_force_nucleus(row, p)
            have = set(np.flatnonzero(mask[idx]).tolist())
            if have != want:
                msg = (f"top_p_filter(p={p}) on row {idx} with probabilities "
                       f"{np.round(row, 3).tolist()} kept {sorted(have)}, expected the smallest "
                       f"set with mass >= p: {sorted(want)}.")
                for description, wrong in nucleus_suspects(row, p):
                    if have == wrong:
                        msg += f" That matches {description}."
                        break
                raise AssertionError(msg)
        kept = torch.as_tensor(mask)
        assert torch.equal(got.cpu()[kept], logits[kept]), "kept logits must be left unchanged"
        assert (got.cpu()[~kept] == NEG_INF).all(), "filtered logits must be -inf"


def test_top_p_keeps_the_token_that_crosses_p(kata, device):
    probs = torch.tensor([0.2, 0.5, 0.3])
    logits = probs.log().to(device)
    got = kept_mask(kata.top_p_filter(logits, 0.6)).tolist()
    assert got == [False, True, True], (
        f"probabilities {probs.tolist()}, p=0.6: 0.5 < 0.6 so the 0.3 token that crosses p must "
        f"be kept too -> tokens [1, 2]; got mask {got}")
    got = kept_mask(kata.top_p_filter(logits, 0.4)).tolist()
    assert got == [False, True, False], (
        f"probabilities {probs.tolist()}, p=0.4: the most likely token (0.5) alone already has "
        f"mass >= p and must be kept, alone; got mask {got}")


def test_top_p_always_keeps_the_most_likely_token(kata, device):
    logits = randn(5, 9, seed=31, scale=3.0).to(device)
    got = kata.top_p_filter(logits, 1e-6)
    assert_close(torch.isfinite(got).sum(-1), torch.ones(5, dtype=torch.int64),
                 what="tokens kept per row by top_p_filter(p=1e-6)")
    assert torch.equal(torch.isfinite(got).float().argmax(-1), logits.argmax(-1)), (
        "for a tiny p the one kept token must be the most likely one")


def test_top_p_breaks_ties_towards_the_lowest_index(kata, device):
    logits = torch.zeros(1, 4, device=device)  # probabilities exactly 1/4 each
    got = kata.top_p_filter(logits, 0.5)
    assert kept_mask(got).tolist() == [[True, True, False, False]], (
        "uniform probabilities 1/4, p=0.5: the first two tokens reach mass 0.5 >= p; a stable "
        "descending sort puts lower indices first among ties")
    got = kata.top_p_filter(logits, 0.6)
    assert kept_mask(got).tolist() == [[True, True, True, False]]


def test_top_p_one_keeps_everything_and_p_at_most_zero_raises(kata, device):
    logits = torch.tensor([[30.0, 0.0, -5.0, 1.0]], device=device)  # float32 cumsum hits 1.0 early
    got = kata.top_p_filter(logits, 1.0)
    assert got is not logits, "top_p_filter must return a new tensor"
    assert torch.equal(got, logits), "p=1 must keep every token"
    with pytest.raises(ValueError):
        kata.top_p_filter(logits, 0.0)


def test_nucleus_sampling_draws_from_the_renormalised_nucleus(kata, device):
    base = torch.tensor(LOGITS6)
    nucleus = brute_force_nucleus(softmax64(base), 0.8)  # {3, 0, 2}: 0.52 + 0.23 + 0.12
    target = softmax64(base / 1.3)
    target[[j for j in range(6) if j not in nucleus]] = 0
    filtered = kata.top_p_filter(base.expand(N_DRAWS, 6).contiguous().to(device), 0.8)
    draws = kata.sample_temperature(filtered, 1.3, gen(device, 40)).cpu().numpy()
    chisquare_check(draws, target / target.sum(), "top_p_filter(p=0.8) then sample(T=1.3)")


def test_top_k_sampling_draws_from_the_renormalised_top_k(kata, device):
    base = torch.tensor(LOGITS6)
    target = softmax64(base * 2)
    target[[1, 4, 5]] = 0  # the 3 smallest logits
    filtered = kata.top_k_filter(base.expand(N_DRAWS, 6).contiguous().to(device), 3)
    draws = kata.sample_temperature(filtered, 0.5, gen(device, 41)).cpu().numpy()
    chisquare_check(draws, target / target.sum(), "top_k_filter(k=3) then sample(T=0.5)")


# ---------------------------------------------------------------------------------------------
# beam_search
# ---------------------------------------------------------------------------------------------


class ToyLM:
    """step_fn with a fixed random next-token distribution per prefix (float32 log-probs),
    recording every call."""

    def __init__(self, V, seed, device, sharpness=2.0):
        self.V, self.seed, self.device, self.sharpness = V, seed, device, sharpness
        self.table, self.calls = {}, []

    def logp(self, prefix):
        if prefix not in self.table:
            code = sum((t + 1) * (self.V + 1) ** i for i, t in enumerate(prefix))
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + code)
            self.table[prefix] = torch.log_softmax(torch.randn(self.V, generator=g)
                                                   * self.sharpness, -1)
        return self.table[prefix]

    def __call__(self, prefix):
        assert isinstance(prefix, tuple) and all(isinstance(t, int) for t in prefix), (
            f"step_fn takes the prefix as a tuple of ints, got {prefix!r}")
        self.calls.append(prefix)
        return self.logp(prefix).to(self.device)


def enumerate_outputs(lm, bos, max_len, eos):
    """Every finished output: ends with eos, or reaches max_len tokens; with its summed log-prob
    in float64."""
    out, stack = [], [((bos,), 0.0)]
    while stack:
        seq, score = stack.pop()
        logp = lm.logp(seq).double()
        for t in range(lm.V):
            s = score + logp[t].item()
            new = seq + (t,)
            if (eos is not None and t == eos) or len(new) - 1 == max_len:
                out.append((new, s))
            else:
                stack.append((new, s))
    return out


def normalised(score, seq, alpha):
    return score / (len(seq) - 1) ** alpha


def exhaustive_best(lm, bos, max_len, eos, alpha):
    outs = enumerate_outputs(lm, bos, max_len, eos)
    seq, score = max(outs, key=lambda o: normalised(o[1], o[0], alpha))
    return list(seq), normalised(score, seq, alpha), outs


def reference_beam(lm, bos, beam, max_len, alpha, eos):
    """The documented algorithm, in plain Python and float64."""
    alive, finished = [((bos,), 0.0)], []
    for _ in range(max_len):
        cands = [(seq + (t,), s + lm.logp(seq)[t].item()) for seq, s in alive
                 for t in range(lm.V)]
        cands = sorted(cands, key=lambda c: -c[1])[:beam]
        finished += [c for c in cands if eos is not None and c[0][-1] == eos]
        alive = [c for c in cands if not (eos is not None and c[0][-1] == eos)]
        if not alive:
            break
    finished += alive
    seq, s = max(finished, key=lambda f: normalised(f[1], f[0], alpha))
    return list(seq), normalised(s, seq, alpha)


def run_beam(kata, lm, bos, beam, max_len, alpha, eos):
    result = kata.beam_search(lm, bos, beam, max_len, length_penalty=alpha, eos=eos)
    assert result is not None and len(result) == 2, "beam_search must return (tokens, score)"
    tokens, score = result
    tokens = [int(t) for t in tokens]
    assert tokens[0] == bos, f"the returned tokens must start with bos={bos}, got {tokens}"
    return tokens, float(score)


# float32 log-probs summed on the device vs the float64 oracle
SCORE_TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("V, max_len, eos", [(3, 4, None), (4, 3, 0), (3, 4, 2)])
def test_exhaustive_beam_finds_the_best_sequence_of_all(kata, device, V, max_len, eos, alpha):
    lm = ToyLM(V, seed=50 + V + max_len, device=device, sharpness=1.0)
    bos = V - 1 if eos != V - 1 else 0
    want, want_score, outs = exhaustive_best(lm, bos, max_len, eos, alpha)
    tokens, score = run_beam(kata, lm, bos, V ** max_len, max_len, alpha, eos)
    if tokens != want:
        msg = (f"beam_search(beam={V ** max_len} >= V ** max_len, length_penalty={alpha}, "
               f"eos={eos}) searched every sequence and must return the best by "
               f"score / n ** {alpha}: {want} (score {want_score:.4f}); got {tokens}.")
        for name, a in (("raw summed log-prob (length_penalty ignored)", 0.0),
                        ("log-prob per token (length_penalty treated as 1)", 1.0)):
            if a != alpha and tokens == list(max(outs, key=lambda o: normalised(o[1], o[0], a))[0]):
                msg += f" It is the best by {name}."
                break
        raise AssertionError(msg)
    assert_close(score, want_score, what="beam_search score (normalised by n ** length_penalty)",
                 **SCORE_TOL)


@pytest.mark.parametrize("seed", [60, 61])
def test_beam_of_one_is_a_greedy_rollout(kata, device, seed):
    lm = ToyLM(5, seed=seed, device=device)
    seq, total = (4,), 0.0
    for _ in range(4):
        t = int(lm.logp(seq).argmax())
        total += lm.logp(seq)[t].item()
        seq += (t,)
        if t == 1:
            break
    tokens, score = run_beam(kata, lm, 4, 1, 4, 1.0, 1)
    assert tokens == list(seq), (
        f"beam=1 must follow the argmax at every step: {list(seq)}, got {tokens}")
    assert_close(score, total / (len(seq) - 1), what="beam=1 score", **SCORE_TOL)


@pytest.mark.parametrize("beam, alpha, eos, seed", [(2, 0.0, None, 70), (2, 1.0, 0, 71),
                                                    (3, 0.5, 1, 72), (2, 1.0, 2, 73)])
def test_small_beam_follows_the_documented_pruning(kata, device, beam, alpha, eos, seed):
    lm = ToyLM(4, seed=seed, device=device, sharpness=1.5)
    want, want_score = reference_beam(lm, 3, beam, 4, alpha, eos)
    exact, _, _ = exhaustive_best(lm, 3, 4, eos, alpha)
    tokens, score = run_beam(kata, lm, 3, beam, 4, alpha, eos)
    if tokens != want:
        hint = (" It is the exhaustive optimum: candidates must be pruned to the `beam` best at "
                "every step, not kept as beam * V." if tokens == exact and exact != want else "")
        raise AssertionError(f"beam_search(beam={beam}, max_len=4, length_penalty={alpha}, "
                             f"eos={eos}) returned {tokens}, expected {want}.{hint}")
    assert_close(score, want_score, what="beam_search score", **SCORE_TOL)


def test_beam_search_prunes_to_beam_hypotheses_per_step(kata, device):
    lm = ToyLM(5, seed=80, device=device)
    run_beam(kata, lm, 0, 2, 5, 0.0, None)
    lengths = [len(c) for c in lm.calls]
    per_step = {n: lengths.count(n) for n in sorted(set(lengths))}
    assert max(per_step.values()) <= 2, (
        f"with beam=2 at most 2 prefixes may be extended per step; step_fn was called "
        f"{per_step} times per prefix length: keep only the `beam` best candidates (not beam * V)")
    assert per_step == {1: 1, 2: 2, 3: 2, 4: 2, 5: 2}, (
        f"expected one call for (bos,), then 2 per step for 5 steps; got {per_step}")


class ScriptedLM:
    """eos=0, bos=2: stopping at once has p = 0.5; going on with token 1 has p = 0.49, and then
    p = 0.95 per step. By raw log-prob (2, 0) wins (-0.69 vs -0.82 for (2, 1, 1, 1)); per token
    (2, 1, 1, 1) wins (-0.27 vs -0.69)."""

    def __init__(self, device):
        self.device = device

    def __call__(self, prefix):
        probs = [0.5, 0.49, 0.01] if prefix == (2,) else [0.02, 0.95, 0.03]
        return torch.tensor(probs).log().to(self.device)


def test_length_penalty_normalises_finished_hypotheses(kata, device):
    tokens, score = kata.beam_search(ScriptedLM(device), 2, 2, 3, length_penalty=1.0, eos=0)
    assert list(tokens) == [2, 1, 1, 1], (
        f"with length_penalty=1 the best hypothesis is [2, 1, 1, 1] (log-prob per token -0.27) "
        f"over [2, 0] (-0.69); got {list(tokens)}: are finished hypotheses compared by "
        "score / n ** length_penalty?")
    want = (math.log(0.49) + 2 * math.log(0.95)) / 3
    assert_close(float(score), want, what="normalised score of [2, 1, 1, 1]", **SCORE_TOL)
    tokens, score = kata.beam_search(ScriptedLM(device), 2, 2, 3, length_penalty=0.0, eos=0)
    assert list(tokens) == [2, 0], (
        f"with length_penalty=0 (raw log-prob) the early eos [2, 0] wins; got {list(tokens)}: "
        "a hypothesis ending with eos is finished and must be kept among the candidates")
    assert_close(float(score), math.log(0.5), what="score of [2, 0]", **SCORE_TOL)


def test_eos_ends_a_hypothesis(kata, device):
    lm = ToyLM(4, seed=90, device=device)
    tokens, _ = run_beam(kata, lm, 3, 4, 6, 0.0, 0)
    assert 0 not in tokens[1:-1], f"nothing may follow eos: got {tokens}"
    for prefix in lm.calls:
        assert 0 not in prefix[1:], (
            f"step_fn was called on {prefix}, a prefix that already ended with eos")


def test_beam_search_with_a_single_step(kata, device):
    lm = ToyLM(6, seed=95, device=device)
    tokens, score = run_beam(kata, lm, 5, 3, 1, 1.0, None)
    best = int(lm.logp((5,)).argmax())
    assert tokens == [5, best], f"max_len=1: the most likely first token, [5, {best}]; got {tokens}"
    assert_close(score, lm.logp((5,))[best].item(), what="max_len=1 score", **SCORE_TOL)


@pytest.mark.parametrize("beam, max_len", [(0, 3), (2, 0)])
def test_beam_search_rejects_empty_beams_and_lengths(kata, device, beam, max_len):
    lm = ToyLM(3, seed=0, device=device)
    with pytest.raises(ValueError):
        kata.beam_search(lm, 0, beam, max_len)
    assert lm.calls == [], (
        f"beam={beam}, max_len={max_len} must be rejected before step_fn is ever called")
