"""Tests for the RoPE kata.

Oracles: an independent complex-number RoPE computed in float64 on CPU (the half-split pairs
(x[i], x[i + d/2]) viewed as x[i] + 1j x[i + d/2], multiplied by torch.polar(1, p * theta_i),
theta_i = base ** (-2i / d) from numpy), a hand-computed 2-D rotation, and two properties:
rotations preserve norms, and <rope(q, m), rope(k, n)> depends on m - n only. Inputs are
float32, drawn on CPU from seeded generators and then moved to the device under test. When a
result is wrong, the tests compare it with the classic wrong RoPEs (interleaved pairs,
exponent i/d, rotation by -theta, positions ignored) and name the one it matches.
"""

import math

import numpy as np
import pytest
import torch

from dojo.testing import assert_close

# float32 angles p * theta carry a relative rounding error of ~1e-7, i.e. ~p * 1e-7 rad, which
# the float64 oracle does not have; positions here stay below ~100, so 2e-5 covers it.
ANGLE_TOL = {"rtol": 2e-5, "atol": 2e-5}


def randn(*shape, seed, device=None, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g) * scale
    return x if device is None else x.to(device)


def inv_freq(d, base, exponent="2i/d", sign=1.0):
    """theta_i in float64 from numpy; the wrong exponents are classic bugs."""
    i = np.arange(d // 2, dtype=np.float64)
    e = {"2i/d": 2 * i / d, "i/d": i / d, "-2i/d": -2 * i / d}[exponent]
    return torch.from_numpy(sign * base ** -e)


def complex_rope(x, positions, base=10000.0, *, pairing="half", exponent="2i/d", sign=1.0):
    """RoPE as a complex multiplication, in float64 on CPU. pairing="half": (x[i], x[i + d/2]);
    "interleaved": (x[2i], x[2i+1]). Returns float64 on CPU."""
    x = x.detach().cpu().double()
    d = x.shape[-1]
    if pairing == "half":
        pairs = torch.stack([x[..., : d // 2], x[..., d // 2:]], dim=-1)  # (..., d/2, 2)
    else:
        pairs = x.unflatten(-1, (d // 2, 2))
    z = torch.view_as_complex(pairs.contiguous())  # (..., T, d/2)
    angles = positions.detach().cpu().double()[..., None] * inv_freq(d, base, exponent, sign)
    rot = torch.polar(torch.ones_like(angles), angles)  # exp(i p theta)
    out = torch.view_as_real(z * rot)  # (..., T, d/2, 2)
    if pairing == "half":
        out = torch.cat([out[..., 0], out[..., 1]], dim=-1)
    else:
        out = out.flatten(-2)
    return out


def rope_suspects(x, positions, base=10000.0):
    T = x.shape[-2]
    return [
        ("interleaved pairs (x[2i], x[2i+1]): this kata pairs the halves, x[i] with "
         "x[i + d/2] (rotate_half)", lambda: complex_rope(x, positions, base,
                                                          pairing="interleaved")),
        ("theta_i = base ** (-i / d): the exponent is 2i / d (even indices 0, 2, .., d - 2)",
         lambda: complex_rope(x, positions, base, exponent="i/d")),
        ("theta_i = base ** (+2i / d): the frequencies must fall, base ** (-2i / d)",
         lambda: complex_rope(x, positions, base, exponent="-2i/d")),
        ("a rotation by -theta: out = (x1 cos - x2 sin, x1 sin + x2 cos), counter-clockwise",
         lambda: complex_rope(x, positions, base, sign=-1.0)),
        ("rotation at positions arange(T): use the positions passed in",
         lambda: complex_rope(x, torch.arange(T), base)),
    ]


def check(actual, expected, what, suspects=(), **tol):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects, **tol)


def check_rope(kata, x, positions, base=10000.0, what="apply_rope"):
    actual = kata.apply_rope(x, positions, base=base)
    assert actual.device == x.device, f"{what}: result on {actual.device}, x on {x.device}"
    check(actual.cpu(), complex_rope(x, positions, base), what,
          rope_suspects(x, positions, base), **ANGLE_TOL)
    return actual


# ---------------------------------------------------------------------------------------------
# rope_frequencies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head_dim,max_pos,base", [(8, 12, 10000.0), (16, 40, 500.0)])
def test_rope_frequencies_are_cos_sin_of_p_times_theta(kata, device, head_dim, max_pos, base):
    cos, sin = kata.rope_frequencies(head_dim, max_pos, base, device=device)
    assert cos.shape == sin.shape == (max_pos, head_dim // 2), (
        f"rope_frequencies({head_dim}, {max_pos}) returned shapes {tuple(cos.shape)} and "
        f"{tuple(sin.shape)}; expected (max_pos, head_dim // 2) = ({max_pos}, {head_dim // 2})")
    assert cos.device == device and cos.dtype == torch.float32, (
        f"rope_frequencies must build float32 tables on `device`; got {cos.dtype} on {cos.device}")
    pos = torch.arange(max_pos, dtype=torch.float64)[:, None]
    wrong = {
        "theta_i = base ** (-i / d): the exponent is 2i / d": inv_freq(head_dim, base, "i/d"),
        "theta_i = base ** (+2i / d): the frequencies must fall": inv_freq(head_dim, base,
                                                                           "-2i/d"),
    }
    for name, table, fn in (("cos", cos, torch.cos), ("sin", sin, torch.sin)):
        expected = fn(pos * inv_freq(head_dim, base)).float()
        named = [(f"{name} with {k}", lambda f=f, fn=fn: fn(pos * f).float())
                 for k, f in wrong.items()]
        check(table.cpu(), expected, f"rope_frequencies {name}[p, i] = {name}(p * theta_i)",
              named, **ANGLE_TOL)


def test_rope_frequencies_first_pair_turns_one_radian_per_position(kata, device):
    cos, sin = kata.rope_frequencies(4, 3, device=device)
    assert_close(cos[:, 0], torch.cos(torch.arange(3.0)).to(device),
                 what="cos[:, 0]: theta_0 = base ** 0 = 1, so pair 0 turns by p radians")
    assert_close(sin[:, 1], torch.sin(torch.arange(3.0) / 100).to(device),
                 what="sin[:, 1] for head_dim 4: theta_1 = 10000 ** (-2/4) = 1/100")


def test_rope_frequencies_rejects_odd_head_dim(kata, device):
    with pytest.raises(ValueError):
        kata.rope_frequencies(7, 10, device=device)


# ---------------------------------------------------------------------------------------------
# apply_rope against the complex oracle
# ---------------------------------------------------------------------------------------------


def test_apply_rope_by_hand_in_two_dimensions(kata, device):
    # head_dim 2: one pair, theta_0 = 1. e_x at position p is (cos p, sin p); e_y is rotated
    # counter-clockwise too, to (-sin p, cos p).
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], device=device)  # (T=3, 2)
    p = torch.tensor([1, 2, 0], device=device)
    got = kata.apply_rope(x, p)
    c1, s1, c2, s2 = math.cos(1), math.sin(1), math.cos(2), math.sin(2)
    expected = torch.tensor([[c1, s1], [-s2, c2], [3.0, 4.0]])
    check(got.cpu(), expected, "apply_rope in 2-D: (1, 0) at p=1, (0, 1) at p=2, (3, 4) at p=0",
          [("a rotation by -theta (clockwise)",
            lambda: torch.tensor([[c1, -s1], [s2, c2], [3.0, 4.0]]))])


@pytest.mark.parametrize("shape", [(5, 8), (2, 3, 6, 16)], ids=["(T, d)", "(B, H, T, d)"])
def test_apply_rope_matches_complex_rotation(kata, device, shape):
    x = randn(*shape, seed=1, device=device)
    positions = torch.randperm(40, generator=torch.Generator().manual_seed(2))[: shape[-2]]
    check_rope(kata, x, positions.to(device),
               what=f"apply_rope on x of shape {shape} at positions {positions.tolist()}")


def test_apply_rope_uses_the_given_positions(kata, device):
    # A decode step: one token at position 37 (a KV cache holds 0..36); then an offset prompt.
    x = randn(2, 1, 8, seed=3, device=device)
    check_rope(kata, x, torch.tensor([37], device=device),
               what="apply_rope on one token at position 37 (not at position 0)")
    x = randn(4, 8, seed=4, device=device)
    check_rope(kata, x, torch.arange(10, 14, device=device),
               what="apply_rope at positions 10..13")


def test_apply_rope_broadcasts_per_sequence_positions(kata, device):
    x = randn(2, 3, 4, 8, seed=5, device=device)  # (B, H, T, d)
    positions = torch.tensor([[[0, 1, 2, 3]], [[7, 8, 9, 10]]], device=device)  # (B, 1, T)
    check_rope(kata, x, positions,
               what="apply_rope with per-sequence positions of shape (B, 1, T)")


def test_apply_rope_respects_base(kata, device):
    x = randn(3, 8, seed=6, device=device)
    check_rope(kata, x, torch.tensor([1, 5, 9], device=device), base=100.0,
               what="apply_rope with base=100")


def test_apply_rope_at_position_zero_is_the_identity(kata, device):
    x = randn(3, 4, 8, seed=7, device=device)
    got = kata.apply_rope(x, torch.zeros(4, dtype=torch.long, device=device))
    assert_close(got, x, what="apply_rope at position 0 (a rotation by angle 0 changes nothing)")


def test_apply_rope_preserves_norms(kata, device):
    x = randn(2, 6, 16, seed=8, device=device)
    got = kata.apply_rope(x, torch.arange(3, 9, device=device))
    assert_close(got.norm(dim=-1), x.norm(dim=-1),
                 what="||apply_rope(x)|| per token: a rotation preserves the norm (a pair "
                      "must be rotated as a whole: x1 cos - x2 sin, x1 sin + x2 cos)")


def test_scores_depend_only_on_relative_position(kata, device):
    # <rope(q, m), rope(k, n)> == <rope(q, m + s), rope(k, n + s)> == <q, rope(k, n - m)>.
    d = 16
    q = randn(d, seed=9, device=device).expand(6, d)
    k = randn(d, seed=10, device=device).expand(6, d)
    m = torch.tensor([3, 10, 0, 25, 7, 12], device=device)
    n = torch.tensor([1, 10, 5, 20, 30, 2], device=device)
    shift = 17

    def scores(mq, nk):
        return (kata.apply_rope(q, mq) * kata.apply_rope(k, nk)).sum(-1)

    base_scores = scores(m, n)
    assert_close(scores(m + shift, n + shift), base_scores, **ANGLE_TOL,
                 what="q.k after shifting both positions by 17: RoPE scores depend on m - n only")
    expected = (q.cpu().double() * complex_rope(k, (n - m).cpu())).sum(-1)  # rope(q, 0) = q
    assert_close(base_scores.cpu(), expected, **ANGLE_TOL,
                 what="<rope(q, m), rope(k, n)> == <q, rope(k, n - m)>")


def test_apply_rope_keeps_dtype_and_shape(kata, device):
    x = randn(2, 4, 8, seed=11, device=device)
    got = kata.apply_rope(x, torch.arange(4, device=device))
    assert got.shape == x.shape and got.dtype == x.dtype, (
        f"apply_rope returned {tuple(got.shape)} {got.dtype}; expected {tuple(x.shape)} {x.dtype}")
    if device.type == "cpu":  # MPS has no float64
        x64 = x.double()
        got = kata.apply_rope(x64, torch.tensor([0, 50, 99, 3]))
        assert got.dtype == torch.float64, f"apply_rope(float64 x) returned {got.dtype}"
        assert_close(got, complex_rope(x64, torch.tensor([0, 50, 99, 3])),
                     what="apply_rope in float64 (angles computed in float64 too)")


def test_apply_rope_rejects_odd_head_dim(kata, device):
    with pytest.raises(ValueError):
        kata.apply_rope(randn(3, 5, seed=12, device=device), torch.arange(3, device=device))
