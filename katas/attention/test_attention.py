"""Tests for the attention kata.

Oracles: torch.nn.functional.scaled_dot_product_attention for attention, torch.softmax for
softmax, and nn.MultiheadAttention(batch_first=True) for the module. Inputs are float32, drawn
on CPU from seeded generators and then moved to the device under test. When a result is wrong,
the tests also compare it with the classic wrong answers (scale 1/E, softmax over the queries,
inverted mask, heads split without a transpose, ...) and name the one it matches.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close, forbid_builtins

NEG_INF = float("-inf")


def randn(*shape, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(device)


def rand_keep(*shape, seed, device, p=0.6):
    """A random bool mask (True = may attend) in which key 0 is always allowed, so that no
    query row is fully masked (fully masked rows have their own test)."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(*shape, generator=g) < p
    keep[..., 0] = True
    return keep.to(device)


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


# ---------------------------------------------------------------------------------------------
# Oracle and classic wrong answers for scaled dot-product attention
# ---------------------------------------------------------------------------------------------


def causal_keep(L, S, device, diagonal=0):
    return torch.ones(L, S, dtype=torch.bool, device=device).tril(diagonal)


def oracle_sdpa(q, k, v, mask=None, causal=False, scale=None):
    """torch's SDPA; F.scaled_dot_product_attention refuses attn_mask together with is_causal,
    so causal is folded into the mask when both are given."""
    if causal and mask is not None:
        keep = causal_keep(q.shape[-2], k.shape[-2], q.device)
        mask = mask & keep if mask.dtype == torch.bool else mask.masked_fill(~keep, NEG_INF)
        causal = False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


def sdpa_suspects(q, k, v, mask=None, causal=False):
    E = q.shape[-1]

    def softmax_over_queries():
        scores = q @ k.transpose(-2, -1) / math.sqrt(E)
        keep = causal_keep(q.shape[-2], k.shape[-2], q.device) if causal else None
        if mask is not None and mask.dtype == torch.bool:
            keep = mask if keep is None else mask & keep
        elif mask is not None:
            scores = scores + mask
        if keep is not None:
            scores = scores.masked_fill(~keep, NEG_INF)
        return torch.softmax(scores, dim=-2) @ v

    out = [
        ("attention scaled by 1/E: the scale is 1/sqrt(E)",
         lambda: oracle_sdpa(q, k, v, mask, causal, scale=1.0 / E)),
        ("attention with unscaled scores: divide q @ k^T by sqrt(E)",
         lambda: oracle_sdpa(q, k, v, mask, causal, scale=1.0)),
        ("a softmax over the queries (dim=-2): each query's weights must sum to 1 over the "
         "keys, dim=-1", softmax_over_queries),
    ]
    if mask is not None and mask.dtype == torch.bool:
        out.append(("an inverted bool mask: True means 'may attend', as in torch's SDPA",
                    lambda: oracle_sdpa(q, k, v, ~mask, causal)))
    if causal:
        L, S = q.shape[-2], k.shape[-2]
        upper = torch.ones(L, S, dtype=torch.bool, device=q.device).triu()
        out += [
            ("an upper-triangular causal mask: query i may see keys j <= i (tril, not triu)",
             lambda: oracle_sdpa(q, k, v, upper if mask is None else upper & mask)),
            ("a causal mask without its diagonal: query i may also see key i (tril(0), not "
             "tril(-1))",
             lambda: oracle_sdpa(q, k, v, causal_keep(L, S, q.device, -1) if mask is None
                                 else causal_keep(L, S, q.device, -1) & mask)),
        ]
    return out


def check_sdpa(kata, q, k, v, mask=None, causal=False, what="scaled_dot_product_attention"):
    actual = kata.scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
    check(actual, oracle_sdpa(q, k, v, mask, causal), what, sdpa_suspects(q, k, v, mask, causal))


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_matches_torch_along_the_given_dim(kata, device, dim):
    x = randn(3, 4, 5, seed=0, device=device, scale=3.0)
    actual = kata.softmax(x, dim=dim)
    assert_close(actual, torch.softmax(x, dim=dim), what=f"softmax(x, dim={dim})")


def test_softmax_is_stable_for_huge_logits(kata, device):
    x = randn(4, 6, seed=1, device=device, scale=1e4)
    x[1] = 3e4  # a row of equal huge logits: uniform weights, not inf / inf
    x[2] = -3e4  # exp underflows to 0 everywhere unless the max is subtracted
    assert_close(kata.softmax(x, dim=-1), torch.softmax(x, dim=-1),
                 what="softmax of logits ~1e4 (subtract the max along dim before exp)")


def test_softmax_of_an_all_neg_inf_row_is_zeros_with_finite_gradients(kata, device):
    x = randn(3, 5, seed=2, device=device)
    x[0, 1:3] = NEG_INF  # partly blocked: an ordinary row
    x[1] = NEG_INF  # nothing to attend to
    x.requires_grad_(True)
    p = kata.softmax(x, dim=-1)
    expected = torch.softmax(x.detach(), dim=-1)
    expected[1] = 0.0
    assert_close(p, expected, what="softmax with an all -inf row (that row must be zeros, "
                                   "not NaN)")
    (p * randn(3, 5, seed=3, device=device)).sum().backward()
    assert torch.isfinite(x.grad).all(), (
        "softmax: the gradient has NaN/inf for an all -inf row; avoid computing -inf - (-inf) "
        "or 0 / 0 (replace a -inf max by 0 and a zero sum by 1)"
    )


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------

# (leading dims, L, S, E, Ev): non-square, E != Ev, so that k vs k^T and the softmax dim show.
SHAPES = [((), 4, 6, 5, 3), ((2, 3), 5, 7, 6, 4), ((2,), 1, 9, 4, 2), ((3,), 6, 6, 6, 6)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, (*s[0], *s[1:]))))
def test_sdpa_matches_torch(kata, device, shape):
    lead, L, S, E, Ev = shape
    q = randn(*lead, L, E, seed=10, device=device)
    k = randn(*lead, S, E, seed=11, device=device)
    v = randn(*lead, S, Ev, seed=12, device=device)
    check_sdpa(kata, q, k, v, what=f"scaled_dot_product_attention (L={L}, S={S}, E={E}, Ev={Ev})")


@pytest.mark.parametrize("mask_shape", ["L,S", "B,1,L,S", "B,1,1,S"])
def test_sdpa_bool_mask_true_means_may_attend(kata, device, mask_shape):
    B, H, L, S, E, Ev = 2, 3, 5, 7, 4, 3
    q = randn(B, H, L, E, seed=20, device=device)
    k = randn(B, H, S, E, seed=21, device=device)
    v = randn(B, H, S, Ev, seed=22, device=device)
    shape = {"L,S": (L, S), "B,1,L,S": (B, 1, L, S), "B,1,1,S": (B, 1, 1, S)}[mask_shape]
    mask = rand_keep(*shape, seed=23, device=device)
    check_sdpa(kata, q, k, v, mask=mask,
               what=f"attention with a bool mask of shape ({mask_shape}), broadcast to "
                    "(B, H, L, S)")


def test_sdpa_float_mask_is_added_to_the_scores(kata, device):
    B, L, S, E, Ev = 2, 5, 7, 4, 3
    q = randn(B, L, E, seed=30, device=device)
    k = randn(B, S, E, seed=31, device=device)
    v = randn(B, S, Ev, seed=32, device=device)
    mask = randn(L, S, seed=33, device=device, scale=2.0)
    mask = mask.masked_fill(~rand_keep(L, S, seed=34, device=device), NEG_INF)
    check_sdpa(kata, q, k, v, mask=mask, what="attention with an additive float mask")


@pytest.mark.parametrize("L,S", [(6, 6), (4, 7), (7, 4)])
def test_sdpa_causal_is_lower_triangular_from_the_top_left(kata, device, L, S):
    q = randn(2, L, 5, seed=40, device=device)
    k = randn(2, S, 5, seed=41, device=device)
    v = randn(2, S, 3, seed=42, device=device)
    check_sdpa(kata, q, k, v, causal=True,
               what=f"causal attention (L={L}, S={S}); query i sees keys j <= i")


def test_sdpa_causal_combines_with_a_mask(kata, device):
    L = S = 6
    q = randn(2, 2, L, 4, seed=50, device=device)
    k = randn(2, 2, S, 4, seed=51, device=device)
    v = randn(2, 2, S, 3, seed=52, device=device)
    mask = rand_keep(2, 1, L, S, seed=53, device=device)
    check_sdpa(kata, q, k, v, mask=mask, causal=True, what="causal attention with a bool mask")
    float_mask = randn(L, S, seed=54, device=device)
    check_sdpa(kata, q, k, v, mask=float_mask, causal=True,
               what="causal attention with a float mask")


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_query_outputs_zeros(kata, device, kind):
    L, S = 4, 5
    q = randn(2, L, 3, seed=60, device=device).requires_grad_(True)
    k = randn(2, S, 3, seed=61, device=device).requires_grad_(True)
    v = randn(2, S, 2, seed=62, device=device).requires_grad_(True)
    keep = rand_keep(L, S, seed=63, device=device)
    open_keep = keep.clone()
    keep[2] = False  # query 2 may attend to nothing
    mask = keep if kind == "bool" else torch.zeros(L, S, device=device).masked_fill(~keep, NEG_INF)
    open_mask = open_keep if kind == "bool" else torch.zeros(L, S, device=device).masked_fill(
        ~open_keep, NEG_INF)
    out = kata.scaled_dot_product_attention(q, k, v, mask=mask)
    # Rows are independent: the other rows are what torch gives when row 2 is left open.
    expected = oracle_sdpa(q.detach(), k.detach(), v.detach(), open_mask).clone()
    expected[:, 2] = 0.0
    assert_close(out, expected, what=f"attention where a {kind} mask blocks every key of query "
                                     "2 (that row must be zeros, not NaN)")
    (out * randn(2, L, 2, seed=64, device=device)).sum().backward()
    for name, t in (("q", q), ("k", k), ("v", v)):
        assert torch.isfinite(t.grad).all(), (
            f"the gradient of {name} has NaN/inf when a query row is fully masked; the softmax "
            "must not compute 0 / 0 or -inf - (-inf)")
    assert_close(q.grad[:, 2], torch.zeros_like(q.grad[:, 2]),
                 what="gradient of the fully masked query (its output is constant zeros)")


def test_sdpa_is_stable_for_huge_scores(kata, device):
    # Integer-valued q and k with E = 16 (scale 1/4, sqrt(scale) = 1/2) make every score exact
    # whatever the kernel (even with TF32), with magnitudes ~1e4: a softmax that does not
    # subtract the row max overflows exp to inf.
    g = torch.Generator().manual_seed(70)
    q = torch.randint(-100, 101, (2, 5, 16), generator=g).float().to(device)
    k = torch.randint(-100, 101, (2, 7, 16), generator=g).float().to(device)
    v = randn(2, 7, 3, seed=71, device=device)
    scores = q @ k.transpose(-2, -1) / 4
    assert scores.abs().max() > 5e3  # the test really does probe large logits
    check_sdpa(kata, q, k, v, what="attention with scores ~1e4 (subtract the row max before exp)")
    check_sdpa(kata, -q, k, v, causal=True, what="causal attention with scores ~1e4")


@pytest.mark.parametrize("variant", ["plain", "causal", "bool-mask", "float-mask"])
def test_sdpa_gradients_match_torch(kata, device, variant):
    L, S, E, Ev = 4, 5, 3, 2
    if variant == "causal":
        S = L
    leaves = [randn(2, 2, n, d, seed=80 + i, device=device).requires_grad_(True)
              for i, (n, d) in enumerate(((L, E), (S, E), (S, Ev)))]
    mask = {"plain": None, "causal": None,
            "bool-mask": rand_keep(L, S, seed=84, device=device),
            "float-mask": randn(L, S, seed=85, device=device)}[variant]
    causal = variant == "causal"
    w = randn(2, 2, L, Ev, seed=86, device=device)
    out = kata.scaled_dot_product_attention(*leaves, mask=mask, causal=causal)
    grads = torch.autograd.grad((out * w).sum(), leaves)
    expected = torch.autograd.grad((oracle_sdpa(*leaves, mask, causal) * w).sum(), leaves)
    for name, got, want in zip("qkv", grads, expected, strict=True):
        assert_close(got, want, what=f"d(loss)/d{name} through attention ({variant})")


def test_no_builtin_softmax_or_attention(kata, device, monkeypatch):
    """The point of the kata is to write these: the built-ins are switched off here."""
    forbidden = {
        "torch.softmax": (torch, "softmax"),
        "torch.nn.functional.softmax": (F, "softmax"),
        "torch.special.softmax": (torch.special, "softmax"),
        "Tensor.softmax": (torch.Tensor, "softmax"),
        "torch.log_softmax": (torch, "log_softmax"),
        "torch.nn.functional.log_softmax": (F, "log_softmax"),
        "Tensor.log_softmax": (torch.Tensor, "log_softmax"),
        "F.scaled_dot_product_attention": (F, "scaled_dot_product_attention"),
        "F.multi_head_attention_forward": (F, "multi_head_attention_forward"),
        "nn.MultiheadAttention.forward": (nn.MultiheadAttention, "forward"),
    }
    forbid_builtins(monkeypatch, kata, forbidden, "write it with exp, amax, sum and matmul")
    x = randn(2, 5, 4, seed=90, device=device)
    kata.softmax(x, dim=-1)
    kata.scaled_dot_product_attention(x, x, x, mask=rand_keep(5, 5, seed=91, device=device),
                                      causal=True)
    mha = kata.MultiHeadAttention(4, 2).to(device)
    mha(x, x, x, causal=True)


# ---------------------------------------------------------------------------------------------
# MultiHeadAttention
# ---------------------------------------------------------------------------------------------

D_MODEL, N_HEADS, B, L, S = 12, 3, 2, 5, 7  # head_dim 4: 1/sqrt(4) != 1/sqrt(12) != 1/4


def torch_mha(seed, d_model=D_MODEL, n_heads=N_HEADS):
    """nn.MultiheadAttention with every parameter random (its biases start at zero, which would
    hide a dropped or misplaced bias)."""
    mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(d_model if p.dim() > 1 else 4))
    return mha.eval()


def pair(kata, seed, device):
    mha = torch_mha(seed)
    ours = kata.MultiHeadAttention.from_torch(mha)
    assert isinstance(ours, nn.Module), "from_torch must return a MultiHeadAttention module"
    return ours.to(device), mha.to(device)


def mha_variant(mha, query, key, value, keep=None, *, split_view=False, out_proj=True,
                scale=None, order=(0, 1, 2)):
    """Multi-head attention written out with F.linear and torch's SDPA, optionally with a
    classic mistake; used only to name the mistake in a failure message."""
    E, H = mha.embed_dim, mha.num_heads
    D = E // H
    ws, bs = mha.in_proj_weight.chunk(3), mha.in_proj_bias.chunk(3)

    def heads(x, i):
        y = F.linear(x, ws[order[i]], bs[order[i]])
        n = x.shape[1]
        return y.view(B, H, n, D) if split_view else y.view(B, n, H, D).transpose(1, 2)

    q, k, v = heads(query, 0), heads(key, 1), heads(value, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=scale)
    out = out.reshape(B, -1, E) if split_view else out.transpose(1, 2).reshape(B, -1, E)
    return mha.out_proj(out) if out_proj else out


def mha_suspects(mha, query, key, value, keep=None):
    def variant(**kw):
        return lambda: mha_variant(mha, query, key, value, keep, **kw)

    out = [
        ("heads split with view(B, H, T, D): use view(B, T, H, D).transpose(1, 2), and merge "
         "back with transpose(1, 2).reshape(B, T, d_model)", variant(split_view=True)),
        ("attention without the output projection: apply out_proj after merging the heads",
         variant(out_proj=False)),
        ("scores scaled by 1/sqrt(d_model): scale by 1/sqrt(head_dim)",
         variant(scale=1 / math.sqrt(mha.embed_dim))),
        ("q and k projections swapped: in_proj_weight stacks W_q, W_k, W_v in that order",
         variant(order=(1, 0, 2))),
        ("k and v projections swapped: in_proj_weight stacks W_q, W_k, W_v in that order",
         variant(order=(0, 2, 1))),
    ]
    if keep is not None:
        out.append(("an inverted attn_mask: True means 'may attend' here (the opposite of "
                    "nn.MultiheadAttention)", lambda: mha_variant(mha, query, key, value, ~keep)))
    return out


def check_mha(ours, mha, query, key, value, keep=None, causal=False, what="MultiHeadAttention"):
    """Compare ours(query, key, value, attn_mask=keep, causal) with nn.MultiheadAttention."""
    if causal:
        causal_ok = causal_keep(query.shape[1], key.shape[1], query.device)
        keep = causal_ok if keep is None else keep & causal_ok
        actual = ours(query, key, value, causal=True)
    else:
        actual = ours(query, key, value, attn_mask=keep)
    torch_mask = None if keep is None else ~keep  # nn.MultiheadAttention: True = blocked
    if torch_mask is not None and torch_mask.dim() == 4:  # (B, 1, 1, S): a key-padding mask
        expected = mha(query, key, value, key_padding_mask=torch_mask[:, 0, 0],
                       need_weights=False)[0]
    else:
        expected = mha(query, key, value, attn_mask=torch_mask, need_weights=False)[0]
    check(actual, expected, what, mha_suspects(mha, query, key, value, keep))
    return actual


def test_mha_self_attention_matches_torch(kata, device):
    ours, mha = pair(kata, seed=100, device=device)
    x = randn(B, L, D_MODEL, seed=101, device=device)
    with torch.no_grad():
        check_mha(ours, mha, x, x, x, what="MultiHeadAttention self-attention (B=2, T=5, "
                                           "d_model=12, n_heads=3)")


def test_mha_cross_attention_matches_torch(kata, device):
    ours, mha = pair(kata, seed=110, device=device)
    query = randn(B, L, D_MODEL, seed=111, device=device)
    key = randn(B, S, D_MODEL, seed=112, device=device)
    value = randn(B, S, D_MODEL, seed=113, device=device)
    with torch.no_grad():
        check_mha(ours, mha, query, key, value,
                  what="MultiHeadAttention cross-attention (L=5 queries, S=7 keys)")


def test_mha_causal_matches_torch(kata, device):
    ours, mha = pair(kata, seed=120, device=device)
    x = randn(B, 6, D_MODEL, seed=121, device=device)
    with torch.no_grad():
        check_mha(ours, mha, x, x, x, causal=True, what="MultiHeadAttention with causal=True")


def test_mha_attn_mask_true_means_may_attend(kata, device):
    ours, mha = pair(kata, seed=130, device=device)
    query = randn(B, L, D_MODEL, seed=131, device=device)
    kv = randn(B, S, D_MODEL, seed=132, device=device)
    keep = rand_keep(L, S, seed=133, device=device)
    with torch.no_grad():
        check_mha(ours, mha, query, kv, kv, keep=keep,
                  what="MultiHeadAttention with a bool (L, S) attn_mask")


def test_mha_key_padding_mask_broadcasts_over_heads_and_queries(kata, device):
    ours, mha = pair(kata, seed=140, device=device)
    query = randn(B, L, D_MODEL, seed=141, device=device)
    kv = randn(B, S, D_MODEL, seed=142, device=device)
    lengths = torch.tensor([S, 3], device=device)
    keep = (torch.arange(S, device=device) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, S)
    with torch.no_grad():
        check_mha(ours, mha, query, kv, kv, keep=keep,
                  what="MultiHeadAttention with a (B, 1, 1, S) key-padding attn_mask")


def test_mha_gradients_match_torch(kata, device):
    ours, mha = pair(kata, seed=150, device=device)
    mha.train()  # dropout is 0; train mode keeps torch off its inference fast path
    leaves = [randn(B, n, D_MODEL, seed=151 + i, device=device).requires_grad_(True)
              for i, n in enumerate((L, S, S))]
    w = randn(B, L, D_MODEL, seed=154, device=device)
    out = ours(*leaves)
    grads = torch.autograd.grad((out * w).sum(), [*leaves, *ours.parameters()])
    expected = torch.autograd.grad((mha(*leaves, need_weights=False)[0] * w).sum(), leaves)
    for name, got, want in zip(("query", "key", "value"), grads[:3], expected, strict=True):
        assert_close(got, want, what=f"d(loss)/d{name} through MultiHeadAttention")
    n_params = sum(p.numel() for p in ours.parameters())
    assert n_params == 4 * D_MODEL * D_MODEL + 4 * D_MODEL, (
        f"MultiHeadAttention({D_MODEL}, {N_HEADS}) has {n_params} parameters; expected four "
        "biased d_model x d_model projections (q, k, v, out)")
    for g in grads[3:]:
        assert torch.isfinite(g).all() and g.abs().sum() > 0, (
            "a projection parameter got no (or a non-finite) gradient: is every projection used?")


def test_from_torch_copies_the_weights(kata, device):
    mha = torch_mha(seed=160)
    ours = kata.MultiHeadAttention.from_torch(mha)
    with torch.no_grad():  # a copy must not see later changes to the source module
        mha.in_proj_weight.zero_()
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.zero_()
    x = randn(B, L, D_MODEL, seed=161, device=device)
    with torch.no_grad():
        actual = ours.to(device)(x, x, x)
        expected = torch_mha(seed=160).to(device)(x, x, x, need_weights=False)[0]
    assert_close(actual, expected, what="MultiHeadAttention after its source "
                                        "nn.MultiheadAttention was zeroed in place (from_torch "
                                        "must copy the weights, not share their storage)")
