"""Tests for the speculative_decoding kata: one verify step of speculative sampling.

Oracle: the defining property of speculative sampling, that the emitted tokens follow the
TARGET distribution, checked with scipy.stats.chisquare over many seeded steps (the correct
rule passes at p > 1e-3 with these seeds; the classic bugs give p < 1e-10), the acceptance rate
sum_x min(p(x), q(x)) checked with scipy.stats.binomtest, and deterministic cases where the
outcome is forced (p(x) = 0 forces a rejection, p = q forces acceptance, a one-hot residual or
bonus row forces the extra token). When the first-token distribution is wrong, the message
names the classic bug whose exact distribution q*a + (1 - sum q*a) * r fits the draws.
"""

import numpy as np
import pytest
import torch
from scipy import stats

P_MIN = 1e-3  # the correct rule's chi-square / binomial p-values with these seeds exceed this


def gen(device, seed):
    return torch.Generator(device=device).manual_seed(seed)


def norm(x):
    x = np.asarray(x, dtype=np.float64)
    return x / x.sum()


def emit(kata, target, draft, tokens, rng, device):
    out = kata.speculative_step(torch.tensor(np.asarray(target), dtype=torch.float32).to(device),
                                torch.tensor(np.asarray(draft), dtype=torch.float32).to(device),
                                torch.tensor(np.asarray(tokens), dtype=torch.int64).to(device),
                                rng)
    assert out is not None, "speculative_step returned None; return the emitted tokens"
    assert isinstance(out, torch.Tensor) and out.dim() == 1, (
        "speculative_step must return a 1-D tensor of emitted tokens")
    return out.tolist()


def run_many(kata, target, draft, n, seed, device):
    """n speculative steps, each with fresh draft tokens drawn (by the test, as the draft model
    would) from the draft rows; returns the list of emitted token lists."""
    target, draft = np.asarray(target), np.asarray(draft)
    rng_np = np.random.default_rng(seed)
    gamma, V = draft.shape
    drafts = np.stack([rng_np.choice(V, size=n, p=norm(draft[i])) for i in range(gamma)], 1)
    t_target = torch.tensor(target, dtype=torch.float32, device=device)
    t_draft = torch.tensor(draft, dtype=torch.float32, device=device)
    t_tokens = torch.tensor(drafts, dtype=torch.int64, device=device)
    rng = gen(device, seed)
    return [kata.speculative_step(t_target, t_draft, t_tokens[j], rng).tolist() for j in range(n)]


def first_token_law(p, q, accept, residual):
    """Exact distribution of the first emitted token for an acceptance function a(x) and a
    residual distribution r: q*a + (1 - sum(q*a)) * r."""
    qa = q * accept
    return qa + (1 - qa.sum()) * residual


def suspects(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        a_right = np.minimum(1, p / q)
        a_qp = np.where(p > 0, np.minimum(1, q / p), 1.0)
    r_right = norm(np.maximum(0, p - q))
    return [
        ("accepting with min(1, q/p): the ratio is target over draft, p/q",
         first_token_law(p, q, a_qp, r_right)),
        ("the reversed residual max(0, q - p): resample where the target wants MORE than the "
         "draft, max(0, p - q)", first_token_law(p, q, a_right, norm(np.maximum(0, q - p)))),
        ("resampling from the target p instead of the residual max(0, p - q): the accepted "
         "mass is then counted twice", first_token_law(p, q, a_right, p)),
        ("resampling from the draft q", first_token_law(p, q, a_right, q)),
        ("always accepting the draft token (the draft's distribution q)", q),
    ]


def chisquare_check(tokens, probs, what, named=()):
    tokens, probs = np.asarray(tokens), np.asarray(probs, dtype=np.float64)
    V = len(probs)
    assert tokens.min() >= 0 and tokens.max() < V, f"{what}: emitted a token outside [0, {V})"
    observed = np.bincount(tokens, minlength=V).astype(float)
    zero = probs == 0
    assert observed[zero].sum() == 0, (
        f"{what}: emitted tokens {np.flatnonzero(zero & (observed > 0)).tolist()} that have "
        "target probability 0")
    p = stats.chisquare(observed[~zero], probs[~zero] * len(tokens)).pvalue
    if p >= P_MIN:
        return
    msg = (f"{what}: the emitted tokens do not follow the target distribution (chi-square "
           f"p = {p:.2g}; observed {observed.astype(int).tolist()}, expected "
           f"{np.round(probs * len(tokens), 1).tolist()}).")
    for description, law in named:
        nz = law > 0
        if observed[~nz].sum() == 0 and stats.chisquare(
                observed[nz], law[nz] * len(tokens)).pvalue > P_MIN:
            msg += f" They fit {description}."
            break
    raise AssertionError(msg)


# Target and draft rows that disagree a lot: tokens 0 and 1 are over-proposed by the draft,
# 2 and 3 under-proposed, token 4 agreed on.
P0 = np.array([0.05, 0.15, 0.40, 0.25, 0.15])
Q0 = np.array([0.40, 0.30, 0.05, 0.10, 0.15])
P1 = np.array([0.30, 0.05, 0.05, 0.20, 0.40])
Q1 = np.array([0.10, 0.35, 0.25, 0.20, 0.10])
P2 = np.array([0.10, 0.60, 0.10, 0.10, 0.10])  # the bonus row


N_STEPS = 1000
_RUNS = {}


def shared_run(kata, device):
    """N_STEPS steps with gamma=2 (rows P0, P1, bonus P2; drafts Q0, Q1), computed once per
    implementation and device and shared by the distribution tests, to keep the kata fast."""
    key = (id(kata.speculative_step), str(device))
    if key not in _RUNS:
        _RUNS[key] = run_many(kata, [P0, P1, P2], [Q0, Q1], N_STEPS, seed=1, device=device)
    return _RUNS[key]


def test_first_emitted_token_follows_the_target_distribution(kata, device):
    outs = shared_run(kata, device)
    chisquare_check([o[0] for o in outs], P0, "first emitted token (gamma=2)",
                    suspects(P0, Q0))


def test_later_tokens_follow_their_target_rows(kata, device):
    outs = shared_run(kata, device)
    lengths = sorted({len(o) for o in outs})
    assert set(lengths) <= {1, 2, 3}, (
        f"with gamma=2 a step emits 1 to 3 tokens; got lengths {lengths}")
    second = [o[1] for o in outs if len(o) >= 2]
    third = [o[2] for o in outs if len(o) >= 3]
    assert len(second) > 300 and len(third) > 100, (
        f"only {len(second)} of {N_STEPS} steps emitted a second token and {len(third)} a "
        "third: see the acceptance-rate test")
    chisquare_check(second, P1, "second emitted token (given the first was accepted)",
                    suspects(P1, Q1))
    chisquare_check(third, P2, "bonus token after both drafts were accepted",
                    [("the second target row: the bonus token comes from the extra last row, "
                      "target_probs[gamma]", P1)])


def test_acceptance_rate_is_the_sum_of_min_p_q(kata, device):
    outs = shared_run(kata, device)
    accepted = sum(len(o) >= 2 for o in outs)  # the first draft token was accepted
    rate = np.minimum(P0, Q0).sum()  # 0.5
    p = stats.binomtest(accepted, N_STEPS, rate).pvalue
    assert p > P_MIN, (
        f"the first draft token was accepted in {accepted / N_STEPS:.3f} of the steps; the "
        f"acceptance rate must be sum_x min(p(x), q(x)) = {rate:.3f} (binomial test "
        f"p = {p:.2g}): accept with probability min(1, p(x) / q(x)) for the drafted x")


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_draft_equal_to_target_accepts_everything_and_adds_a_bonus(kata, device, seed):
    probs = np.stack([P0, P1, Q0, Q1])
    g = np.random.default_rng(seed)
    tokens = [g.choice(5, p=norm(r)) for r in probs[:3]]
    rng = gen(device, seed)
    for _ in range(20):
        out = emit(kata, probs, probs[:3], tokens, rng, device)
        assert len(out) == 4 and out[:3] == tokens, (
            f"draft == target: p/q = 1, every draft token must be accepted and a bonus token "
            f"added (gamma + 1 = 4 tokens); drafts {tokens}, got {out}")


def test_rejection_resamples_from_the_normalised_residual(kata, device):
    # the drafted token 0 has p = 0: always rejected; max(0, p - q) = [0, 0, 0.3, 0, 0.1]
    p = np.array([0.0, 0.1, 0.6, 0.1, 0.2])
    q = np.array([0.5, 0.1, 0.3, 0.0, 0.1])
    rng = gen(device, 20)
    outs = [emit(kata, [p, P0], [q], [0], rng, device) for _ in range(400)]
    assert all(len(o) == 1 for o in outs), (
        "the drafted token has target probability 0: it must always be rejected, and exactly "
        "one resampled token emitted")
    residual = norm(np.maximum(0, p - q))  # [0, 0, 0.75, 0, 0.25]
    chisquare_check([o[0] for o in outs], residual, "token resampled after a rejection",
                    [("max(0, q - p): the residual is reversed", norm(np.maximum(0, q - p))),
                     ("the target p instead of the residual max(0, p - q)", p),
                     ("the draft q instead of the residual max(0, p - q)", q),
                     ("an unnormalised residual: divide max(0, p - q) by its sum",
                      np.array([0.0, 0.0, 0.3, 0.0, 0.7]))])


def test_reversed_residual_is_caught_on_a_forced_rejection(kata, device):
    # the only token with p > q is 1, the only one with q > p is 0 (the draft): forced outcome
    p = np.array([0.0, 0.7, 0.3])
    q = np.array([0.6, 0.1, 0.3])
    out = emit(kata, [p, p], [q], [0], gen(device, 21), device)
    assert out == [1], (
        f"p = {p.tolist()}, q = {q.tolist()}, draft 0 (p = 0: rejected): the residual "
        f"max(0, p - q) = [0, 0.6, 0] leaves only token 1; got {out}"
        + (" (token 0 comes from the reversed residual max(0, q - p))" if out == [0] else ""))


def test_emission_stops_at_the_first_rejection(kata, device):
    # position 0: p >= q, always accepted; position 1: p = 0, always rejected, residual -> 3;
    # position 2: p >= q again, but it comes after a rejection and must be discarded
    target = [[0.1, 0.9, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 0.0],
              [0.0, 0.0, 0.0, 1.0]]
    draft = [[0.2, 0.8, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0]]
    rng = gen(device, 30)
    for _ in range(10):
        out = emit(kata, target, draft, [1, 0, 2], rng, device)
        assert out == [1, 3], (
            f"drafts [1, 0, 2]: 1 is accepted (p >= q), 0 rejected (p = 0) and replaced by the "
            f"residual's only token 3; the draft 2 after the rejection is discarded -> [1, 3]; "
            f"got {out}")


def test_full_acceptance_adds_the_bonus_from_the_last_target_row(kata, device):
    target = [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # bonus row: token 2
    draft = [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]  # p >= q on the drafts: always accepted
    rng = gen(device, 31)
    for tokens in ([0, 1], [1, 1]):
        out = emit(kata, target, draft, tokens, rng, device)
        assert out == tokens + [2], (
            f"every draft is accepted, so the step emits them plus a bonus token drawn from "
            f"target_probs[gamma] (one-hot on 2): expected {tokens + [2]}, got {out}")


def test_zero_draft_tokens_draw_one_token_from_the_target(kata, device):
    target = np.array([[0.0, 0.0, 1.0, 0.0]])
    out = kata.speculative_step(torch.tensor(target, dtype=torch.float32, device=device),
                                torch.zeros(0, 4, device=device),
                                torch.zeros(0, dtype=torch.int64, device=device), gen(device, 40))
    assert out is not None and out.tolist() == [2], (
        f"gamma = 0: the step draws one token from target_probs[0] (one-hot on 2); got {out}")


def test_output_is_int64_on_the_input_device_and_reproducible(kata, device):
    target = torch.tensor(np.stack([P0, P1, P2]), dtype=torch.float32, device=device)
    draft = torch.tensor(np.stack([Q0, Q1]), dtype=torch.float32, device=device)
    tokens = torch.tensor([0, 4], device=device)
    outs = []
    for seed in (50, 50):
        out = kata.speculative_step(target, draft, tokens, gen(device, seed))
        assert out.dtype == torch.int64, f"emitted tokens must be int64, got {out.dtype}"
        assert out.device.type == device.type, f"output on {out.device}, inputs on {device}"
        outs.append(out.tolist())
    assert outs[0] == outs[1], "the same rng seed must reproduce the same output"
    runs = {tuple(kata.speculative_step(target, draft, tokens, gen(device, s)).tolist())
            for s in range(60, 80)}
    assert len(runs) > 1, "20 different seeds gave the same output: is rng used?"


@pytest.mark.parametrize("gamma_target, gamma_draft", [(3, 2), (2, 3), (1, 2)])
def test_mismatched_shapes_raise(kata, device, gamma_target, gamma_draft):
    target = torch.full((gamma_target + 1, 4), 0.25, device=device)
    draft = torch.full((gamma_draft, 4), 0.25, device=device)
    tokens = torch.zeros(2, dtype=torch.int64, device=device)
    with pytest.raises(ValueError):
        kata.speculative_step(target, draft, tokens, gen(device, 0))


def test_vocab_sizes_must_agree(kata, device):
    with pytest.raises(ValueError):
        kata.speculative_step(torch.full((2, 4), 0.25, device=device),
                              torch.full((1, 5), 0.2, device=device),
                              torch.zeros(1, dtype=torch.int64, device=device), gen(device, 0))


def test_acceptance_uses_the_probabilities_of_the_drafted_tokens(kata, device):
    # row 0 accepts token 2 for sure (p = q) but token 0 never (p = 0): the emitted prefix
    # tells which column was read
    target = [[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]]
    draft = [[0.5, 0.0, 0.5]]
    rng = gen(device, 60)
    for tokens, accepted in (([2], True), ([0], False)):
        for _ in range(10):
            out = emit(kata, target, draft, tokens, rng, device)
            assert (len(out) == 2) == accepted and (not accepted or out[0] == tokens[0]), (
                f"draft token {tokens[0]} has p = {target[0][tokens[0]]}, q = "
                f"{draft[0][tokens[0]]}: it must be {'accepted' if accepted else 'rejected'}; "
                f"got {out} (read p and q at the drafted token: target_probs[i, x_i])")
