"""Tests for the grouped-query attention kata.

Oracles: torch.repeat_interleave(x, n_rep, dim=1) for repeat_kv, and
torch.nn.functional.scaled_dot_product_attention(..., enable_gqa=True) for gqa_attention
(its is_causal mask is top-left aligned, the convention of the kata). Inputs are float32, drawn
on CPU from seeded generators and then moved to the device under test. When a result is wrong,
the tests compare it with the classic wrong answers (tiled heads, no 1/sqrt(D), bottom-right
causal mask, ...) and name the one it matches.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from dojo.testing import assert_close, forbid_builtins


def randn(*shape, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(device)


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


def oracle(q, k, v, causal=False, scale=None, mask=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                          scale=scale, enable_gqa=True)


def tiled(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)  # head h -> kv head h % H_kv: the classic bug


def suspects(q, k, v, causal):
    H, H_kv, D = q.shape[1], k.shape[1], q.shape[-1]
    L, S = q.shape[-2], k.shape[-2]
    n_rep = H // H_kv
    out = [
        ("kv heads tiled (x.repeat): query head h must use kv head h // n_rep, not h % H_kv; "
         "repeat each kv head in place",
         lambda: oracle(q, tiled(k, n_rep), tiled(v, n_rep), causal)),
        ("attention with unscaled scores: divide q @ k^T by sqrt(D)",
         lambda: oracle(q, k, v, causal, scale=1.0)),
        ("scores scaled by 1/D: the scale is 1/sqrt(D)",
         lambda: oracle(q, k, v, causal, scale=1.0 / D)),
        ("a softmax over the queries (dim=-2): each query's weights sum to 1 over the keys",
         lambda: softmax_over_queries(q, k, v, causal)),
    ]
    if causal:
        out += [
            ("a causal mask aligned at the bottom-right corner (query i sees keys j <= i + S - L):"
             " this kata uses SDPA's is_causal convention, top-left (j <= i)",
             lambda: oracle(q, k, v, mask=torch.ones(L, S, dtype=torch.bool,
                                                     device=q.device).tril(S - L))),
            ("a causal mask without its diagonal: query i may also see key i (tril(0))",
             lambda: oracle(q, k, v, mask=torch.ones(L, S, dtype=torch.bool,
                                                     device=q.device).tril(-1))),
            ("an upper-triangular causal mask: query i sees keys j <= i (tril, not triu)",
             lambda: oracle(q, k, v, mask=torch.ones(L, S, dtype=torch.bool,
                                                     device=q.device).triu())),
        ]
    return out


def softmax_over_queries(q, k, v, causal):
    n_rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(n_rep, dim=1), v.repeat_interleave(n_rep, dim=1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        L, S = scores.shape[-2:]
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-2) @ v


def check_gqa(kata, q, k, v, causal, what):
    actual = kata.gqa_attention(q, k, v, causal=causal)
    check(actual, oracle(q, k, v, causal), what, suspects(q, k, v, causal))
    return actual


# ---------------------------------------------------------------------------------------------
# repeat_kv
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_rep", [1, 2, 3])
def test_repeat_kv_repeats_each_head_in_place(kata, device, n_rep):
    x = randn(2, 3, 5, 4, seed=n_rep, device=device)
    actual = kata.repeat_kv(x, n_rep)
    expected = x.repeat_interleave(n_rep, dim=1)
    check(actual, expected, f"repeat_kv(x of shape (2, 3, 5, 4), n_rep={n_rep})",
          [("x tiled with x.repeat(1, n_rep, 1, 1): head h must be kv head h // n_rep "
            "(0,0,1,1,2,2), not h % H_kv (0,1,2,0,1,2)", lambda: tiled(x, n_rep))])
    assert actual.device == x.device and actual.dtype == x.dtype, (
        "repeat_kv must keep the device and dtype of x")


def test_repeat_kv_output_head_h_is_input_head_h_div_n_rep(kata, device):
    # kv head j holds the constant j: output head h must hold h // n_rep.
    x = torch.arange(4.0).view(1, 4, 1, 1).expand(2, 4, 3, 2).contiguous().to(device)
    out = kata.repeat_kv(x, 3)
    got = [int(v) for v in out[0, :, 0, 0].cpu()]
    assert got == [h // 3 for h in range(12)], (
        f"repeat_kv(n_rep=3) of kv heads 0..3 gives heads {got}; expected each kv head three "
        "times in a row, [0, 0, 0, 1, 1, 1, ...]" + (" (this is tiling, x.repeat)"
                                                      if got == [h % 4 for h in range(12)] else ""))


def test_repeat_kv_rejects_n_rep_below_one(kata, device):
    x = randn(1, 2, 3, 4, seed=9, device=device)
    with pytest.raises(ValueError):
        kata.repeat_kv(x, 0)


# ---------------------------------------------------------------------------------------------
# gqa_attention against SDPA(enable_gqa=True)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("H,H_kv", [(4, 4), (8, 2), (6, 3), (4, 1)],
                         ids=["MHA", "GQA-8-2", "GQA-6-3", "MQA"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gqa_matches_sdpa(kata, device, H, H_kv, causal):
    B, L, S, D, Dv = 2, 6, 6 if causal else 9, 4, 3
    q = randn(B, H, L, D, seed=10 + H, device=device)
    k = randn(B, H_kv, S, D, seed=20 + H_kv, device=device)
    v = randn(B, H_kv, S, Dv, seed=30 + H_kv, device=device)
    check_gqa(kata, q, k, v, causal,
              f"gqa_attention with H={H} query heads, H_kv={H_kv} kv heads, L={L}, S={S}, "
              f"causal={causal}")


@pytest.mark.parametrize("L,S", [(3, 7), (7, 3), (1, 5)])
def test_gqa_causal_is_top_left_aligned_when_L_differs_from_S(kata, device, L, S):
    q = randn(2, 4, L, 8, seed=40, device=device)
    k = randn(2, 2, S, 8, seed=41, device=device)
    v = randn(2, 2, S, 5, seed=42, device=device)
    check_gqa(kata, q, k, v, True,
              f"causal gqa_attention with L={L} queries and S={S} keys: query i sees keys "
              "j <= i (top-left, as SDPA's is_causal)")


def test_query_head_h_reads_values_of_kv_head_h_div_n_rep(kata, device):
    # Every value of kv head j is the constant j, so whatever the weights, the output of query
    # head h is exactly the index of the kv head it used.
    B, H, H_kv, L, S, D = 1, 6, 2, 3, 4, 4
    q = randn(B, H, L, D, seed=50, device=device)
    k = randn(B, H_kv, S, D, seed=51, device=device)
    v = torch.arange(float(H_kv)).view(1, H_kv, 1, 1).expand(B, H_kv, S, 2).contiguous()
    out = kata.gqa_attention(q, k, v.to(device), causal=False)
    used = [round(float(x)) for x in out[0, :, 0, 0].cpu()]
    assert used == [0, 0, 0, 1, 1, 1], (
        f"query heads 0..5 used kv heads {used}; with n_rep = 3 heads 0-2 share kv head 0 and "
        "heads 3-5 kv head 1" + (" (tiling: h % H_kv)" if used == [0, 1, 0, 1, 0, 1] else ""))


def test_gqa_scales_scores_by_inverse_sqrt_head_dim(kata, device):
    # D = 16: 1/sqrt(16) = 1/4, far from 1 and from 1/16.
    q = randn(1, 4, 5, 16, seed=60, device=device, scale=0.8)
    k = randn(1, 2, 5, 16, seed=61, device=device, scale=0.8)
    v = randn(1, 2, 5, 3, seed=62, device=device)
    check_gqa(kata, q, k, v, False, "gqa_attention with head_dim 16 (scale 1/4)")


def test_gqa_gradients_match_sdpa(kata, device):
    leaves = [randn(2, *shape, seed=70 + i, device=device).requires_grad_(True)
              for i, shape in enumerate(((6, 5, 4), (2, 5, 4), (2, 5, 3)))]
    w = randn(2, 6, 5, 3, seed=74, device=device)
    out = kata.gqa_attention(*leaves, causal=True)
    grads = torch.autograd.grad((out * w).sum(), leaves)
    expected = torch.autograd.grad((oracle(*leaves, causal=True) * w).sum(), leaves)
    for name, got, want in zip("qkv", grads, expected, strict=True):
        assert_close(got, want, what=f"d(loss)/d{name} through causal gqa_attention "
                                     "(the gradient of a shared kv head sums over its group)")


def test_gqa_keeps_float64(kata, device):
    if device.type != "cpu":
        pytest.skip("float64 is checked on CPU only (MPS has no float64)")
    q = randn(1, 4, 3, 4, seed=80, device=device).double()
    k = randn(1, 2, 3, 4, seed=81, device=device).double()
    v = randn(1, 2, 3, 4, seed=82, device=device).double()
    out = kata.gqa_attention(q, k, v, causal=True)
    assert out.dtype == torch.float64, f"gqa_attention returned {out.dtype} for float64 inputs"
    assert_close(out, oracle(q, k, v, causal=True), what="gqa_attention in float64")


@pytest.mark.parametrize("H,H_kv", [(6, 4), (4, 3), (2, 4)])
def test_gqa_raises_when_heads_do_not_divide(kata, device, H, H_kv):
    q = randn(1, H, 3, 4, seed=90, device=device)
    k = randn(1, H_kv, 3, 4, seed=91, device=device)
    with pytest.raises(ValueError, match="divisible|multiple"):
        kata.gqa_attention(q, k, k, causal=False)


def test_gqa_raises_when_k_and_v_head_counts_differ(kata, device):
    q = randn(1, 4, 3, 4, seed=92, device=device)
    k = randn(1, 2, 3, 4, seed=93, device=device)
    v = randn(1, 4, 3, 4, seed=94, device=device)
    with pytest.raises(ValueError):
        kata.gqa_attention(q, k, v, causal=False)


def test_no_builtin_attention_or_repeat_interleave(kata, device, monkeypatch):
    """repeat_interleave and SDPA are the oracle: they are switched off here."""
    forbidden = {
        "F.scaled_dot_product_attention": (F, "scaled_dot_product_attention"),
        "torch.repeat_interleave": (torch, "repeat_interleave"),
        "Tensor.repeat_interleave": (torch.Tensor, "repeat_interleave"),
    }
    forbid_builtins(monkeypatch, kata, forbidden, "use expand and reshape")
    q = randn(1, 4, 3, 4, seed=95, device=device)
    k = randn(1, 2, 3, 4, seed=96, device=device)
    kata.repeat_kv(k, 2)
    kata.gqa_attention(q, k, k, causal=True)
