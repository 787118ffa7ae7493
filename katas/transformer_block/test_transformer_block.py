"""Tests for the transformer_block kata: a pre-norm causal GPT-2 block and count_params.

Oracles: the same weights loaded into a block built from torch.nn (nn.LayerNorm,
nn.MultiheadAttention(batch_first=True) with a causal attn_mask, nn.Linear, nn.GELU); for the
parameter count, sum(p.numel()) over a GPT-2-shaped model built here from nn.Embedding,
nn.LayerNorm, nn.Linear and nn.MultiheadAttention on the meta device (no memory), with the LM
head's weight tied to the token embedding, plus the published GPT-2 totals. When the block is
wrong, the message names the variant it matches (post-norm, no residual, no causal mask, tanh
GELU, 1/sqrt(d_model) scaling).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


class OracleBlock(nn.Module):
    """A pre-norm GPT-2 block from torch.nn; `variant` switches in a classic mistake (used only
    to name the mistake in a failure message)."""

    def __init__(self, d_model, n_heads, mlp_ratio=4, variant=None):
        super().__init__()
        self.variant = variant
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.fc = nn.Linear(d_model, mlp_ratio * d_model)
        self.fc_out = nn.Linear(mlp_ratio * d_model, d_model)
        self.n_heads = n_heads

    def attn(self, h):
        T = h.shape[1]
        blocked = torch.ones(T, T, dtype=torch.bool, device=h.device).triu(1)  # True = blocked
        if self.variant == "no_mask":
            blocked = None
        if self.variant == "scale_d_model":  # scores / sqrt(d_model): pre-scale q by sqrt(H)
            E = h.shape[-1]
            w_q, w_k, w_v = self.mha.in_proj_weight.chunk(3)
            b_q, b_k, b_v = self.mha.in_proj_bias.chunk(3)
            B, H = h.shape[0], self.n_heads
            q, k, v = (F.linear(h, w, b).view(B, T, H, E // H).transpose(1, 2)
                       for w, b in ((w_q, b_q), (w_k, b_k), (w_v, b_v)))
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1 / math.sqrt(E))
            return self.mha.out_proj(out.transpose(1, 2).reshape(B, T, E))
        return self.mha(h, h, h, attn_mask=blocked, need_weights=False)[0]

    def mlp(self, h):
        gelu = "tanh" if self.variant == "tanh_gelu" else "none"
        return self.fc_out(F.gelu(self.fc(h), approximate=gelu))

    def forward(self, x):
        if self.variant == "post_norm":
            x = self.ln1(x + self.attn(x))
            return self.ln2(x + self.mlp(x))
        if self.variant == "no_residual":
            x = self.attn(self.ln1(x))
            return self.mlp(self.ln2(x))
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


SUSPECTS = {
    "post_norm": "a post-norm block ln(x + sublayer(x)): GPT-2 is pre-norm, x + sublayer(ln(x))",
    "no_residual": "a block without the residual connections: x = x + sublayer(ln(x))",
    "no_mask": "attention without the causal mask: token t may only see tokens 0..t",
    "tanh_gelu": "GELU's tanh approximation: this kata uses the exact (erf) GELU",
    "scale_d_model": "scores scaled by 1/sqrt(d_model): scale by 1/sqrt(head_dim)",
}


def random_oracle(d_model, n_heads, mlp_ratio, seed, variant=None):
    """An OracleBlock with every parameter random (LayerNorm and bias defaults of 1 and 0 would
    hide a missing or misplaced one)."""
    block = OracleBlock(d_model, n_heads, mlp_ratio, variant)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in block.named_parameters():
            scale = 1 / math.sqrt(p.shape[-1]) if p.dim() > 1 else 0.3
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if "ln" in name and
                                                                   "weight" in name else 0.0))
    return block.eval()


def load_into(kata_block, oracle):
    """Copy the oracle's weights into the learner's GPTBlock (names from the statement)."""
    with torch.no_grad():
        for mine, theirs in ((kata_block.ln1, oracle.ln1), (kata_block.ln2, oracle.ln2),
                             (kata_block.fc, oracle.fc), (kata_block.fc_out, oracle.fc_out),
                             (kata_block.proj, oracle.mha.out_proj)):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
        kata_block.qkv.weight.copy_(oracle.mha.in_proj_weight)
        kata_block.qkv.bias.copy_(oracle.mha.in_proj_bias)
    return kata_block


def pair(kata, d_model, n_heads, mlp_ratio, seed, device):
    oracle = random_oracle(d_model, n_heads, mlp_ratio, seed)
    ours = kata.GPTBlock(d_model, n_heads, mlp_ratio)
    return load_into(ours, oracle).to(device), oracle.to(device)


def check_block(actual, x, d_model, n_heads, mlp_ratio, seed, what):
    expected = random_oracle(d_model, n_heads, mlp_ratio, seed).to(x.device)
    with torch.no_grad():
        want = expected(x)
    try:
        assert_close(actual, want, what=what)
    except AssertionError as err:
        for variant, description in SUSPECTS.items():
            with torch.no_grad():
                wrong = random_oracle(d_model, n_heads, mlp_ratio, seed, variant).to(x.device)(x)
            try:
                assert_close(actual, wrong, what=description)
            except AssertionError:
                continue
            raise AssertionError(f"{err}\nYour block matches {description}.") from None
        raise


@pytest.mark.parametrize("d_model, n_heads, mlp_ratio", [(16, 4, 4), (12, 2, 2), (8, 1, 3)])
def test_block_matches_a_torch_nn_pre_norm_block(kata, device, d_model, n_heads, mlp_ratio):
    ours, _ = pair(kata, d_model, n_heads, mlp_ratio, seed=d_model, device=device)
    x = randn(2, 6, d_model, seed=1).to(device)
    with torch.no_grad():
        out = ours(x)
    assert out is not None, "GPTBlock.forward returned None"
    assert out.shape == x.shape, (
        f"GPTBlock must keep the shape {tuple(x.shape)}, got {tuple(out.shape)}")
    check_block(out, x, d_model, n_heads, mlp_ratio, seed=d_model,
                what=f"GPTBlock({d_model}, {n_heads}, {mlp_ratio}) output")


def test_block_matches_for_a_single_token(kata, device):
    ours, _ = pair(kata, 16, 4, 4, seed=16, device=device)
    x = randn(3, 1, 16, seed=2).to(device)
    with torch.no_grad():
        check_block(ours(x), x, 16, 4, 4, seed=16, what="GPTBlock output for T=1")


def test_future_tokens_do_not_change_past_outputs(kata, device):
    ours, _ = pair(kata, 16, 4, 4, seed=20, device=device)
    x = randn(2, 7, 16, seed=3).to(device)
    y = x.clone()
    y[:, 4:] += randn(2, 3, 16, seed=4).to(device)  # change tokens 4, 5, 6
    with torch.no_grad():
        a, b = ours(x), ours(y)
    assert_close(b[:, :4], a[:, :4], what="outputs of tokens 0..3 after changing tokens 4..6 "
                                          "(the causal mask must hide future tokens)")
    assert not torch.allclose(a[:, 4:], b[:, 4:]), "changed tokens must change their own outputs"


def test_past_tokens_do_change_later_outputs(kata, device):
    ours, _ = pair(kata, 16, 4, 4, seed=21, device=device)
    x = randn(1, 5, 16, seed=5).to(device)
    y = x.clone()
    y[:, 0] += randn(1, 16, seed=6)[0].to(device)  # not a constant shift: LayerNorm removes those
    with torch.no_grad():
        delta = (ours(x) - ours(y)).abs().amax(-1)[0]  # (T,)
    assert (delta[1:] > 1e-4).all(), (
        f"changing token 0 must change every later output (they attend to it); max changes per "
        f"position {delta.tolist()}: is the mask hiding the past instead of the future "
        "(triu(1) marks the future)?")


def test_gradients_match_the_torch_nn_block(kata, device):
    ours, oracle = pair(kata, 12, 3, 4, seed=30, device=device)
    oracle.train()  # dropout is 0; train mode keeps nn.MultiheadAttention off its fast path
    x = randn(2, 5, 12, seed=6).to(device).requires_grad_(True)
    w = randn(2, 5, 12, seed=7).to(device)
    (gx,) = torch.autograd.grad((ours(x) * w).sum(), [x])
    (want,) = torch.autograd.grad((oracle(x) * w).sum(), [x])
    assert_close(gx, want, what="d(loss)/dx through GPTBlock")
    loss = (ours(x) * w).sum()
    grads = torch.autograd.grad(loss, [ours.qkv.weight, ours.fc.weight, ours.ln1.weight,
                                       ours.ln2.bias])
    want = torch.autograd.grad((oracle(x) * w).sum(), [oracle.mha.in_proj_weight,
                                                       oracle.fc.weight, oracle.ln1.weight,
                                                       oracle.ln2.bias])
    for name, g, e in zip(("qkv.weight", "fc.weight", "ln1.weight", "ln2.bias"), grads, want,
                          strict=True):
        assert_close(g, e, what=f"gradient of {name}")


def test_block_works_in_float64_on_cpu(kata, device):
    if device.type != "cpu":
        pytest.skip("float64 is checked on CPU only (MPS has none)")
    ours, oracle = pair(kata, 16, 2, 4, seed=40, device=device)
    ours, oracle = ours.double(), oracle.double()
    x = randn(2, 4, 16, seed=8).double()
    with torch.no_grad():
        out = ours(x)
        assert out.dtype == torch.float64, f"float64 in must give float64 out, got {out.dtype}"
        assert_close(out, oracle(x), what="GPTBlock in float64")


def test_block_does_not_use_torch_attention(kata, device, monkeypatch):
    forbidden = {
        "nn.MultiheadAttention.forward": (nn.MultiheadAttention, "forward"),
        "F.scaled_dot_product_attention": (F, "scaled_dot_product_attention"),
        "F.multi_head_attention_forward": (F, "multi_head_attention_forward"),
        "nn.TransformerEncoderLayer.forward": (nn.TransformerEncoderLayer, "forward"),
    }
    for name, (owner, attr) in forbidden.items():
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"{_name} is off limits in this kata: write the attention "
                                 "with matmul, masked_fill and softmax")
        monkeypatch.setattr(owner, attr, refuse)
    block = kata.GPTBlock(8, 2).to(device)
    with torch.no_grad():
        out = block(randn(1, 3, 8, seed=9).to(device))
    assert out.shape == (1, 3, 8)


# ---------------------------------------------------------------------------------------------
# count_params
# ---------------------------------------------------------------------------------------------


class GPT2Oracle(nn.Module):
    """A GPT-2-shaped model from torch.nn modules."""

    def __init__(self, d_model, n_layers, vocab, ctx, mlp_ratio=4, tied=True, bias=True,
                 device="meta"):
        super().__init__()
        kw = {"device": device}  # meta: shapes only, GPT-2 XL costs no memory
        # from_pretrained: nn.Embedding's normal_ init on meta costs seconds of imports
        self.wte, self.wpe = (nn.Embedding.from_pretrained(torch.empty(n, d_model, **kw),
                                                           freeze=False) for n in (vocab, ctx))
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            block = nn.Module()
            block.ln1 = nn.LayerNorm(d_model, bias=bias, **kw)
            block.attn = nn.MultiheadAttention(d_model, 1, bias=bias, batch_first=True, **kw)
            block.ln2 = nn.LayerNorm(d_model, bias=bias, **kw)
            block.fc = nn.Linear(d_model, mlp_ratio * d_model, bias=bias, **kw)
            block.fc_out = nn.Linear(mlp_ratio * d_model, d_model, bias=bias, **kw)
            self.blocks.append(block)
        self.ln_f = nn.LayerNorm(d_model, bias=bias, **kw)
        self.head = nn.Linear(d_model, vocab, bias=False, **kw)
        if tied:
            self.head.weight = self.wte.weight


def oracle_count(*args, **kwargs):
    model = GPT2Oracle(*args, **kwargs)
    return sum(p.numel() for p in model.parameters())  # shared (tied) parameters counted once


def count_suspects(d, L, V, ctx, r, tied, bias):
    """Classic miscounts, as (description, value)."""
    right = oracle_count(d, L, V, ctx, r, tied, bias)
    b = 1 if bias else 0
    out = [
        ("12 * L * d^2 plus embeddings only: biases and LayerNorms are missing",
         L * 2 * (r + 2) * d * d + V * d + ctx * d),
        ("a count without the position embedding (ctx * d_model)", right - ctx * d),
        ("a count without the final LayerNorm", right - (1 + b) * d),
        ("a count without the LayerNorms", right - (2 * L + 1) * (1 + b) * d),
        ("a count without the biases",
         right - b * (L * ((3 + 1 + 1) * d + r * d) + (2 * L + 1) * d)),
    ]
    if tied:
        out.append(("the tied LM head counted twice: it IS the token embedding", right + V * d))
    else:
        out.append(("an untied LM head left out: tied=False adds a (vocab, d_model) matrix",
                    right - V * d))
        out.append(("an untied LM head with a bias: the head has none", right + V))
    return out


def check_count(kata, d, L, V, ctx, r=4, tied=True, bias=True):
    got = kata.count_params(d, L, V, ctx=ctx, mlp_ratio=r, tied=tied, bias=bias)
    want = oracle_count(d, L, V, ctx, r, tied, bias)
    if got != want:
        msg = (f"count_params(d_model={d}, n_layers={L}, vocab={V}, ctx={ctx}, mlp_ratio={r}, "
               f"tied={tied}, bias={bias}) = {got}, expected {want}.")
        for description, wrong in count_suspects(d, L, V, ctx, r, tied, bias):
            if got == wrong:
                msg += f" That is {description}."
                break
        raise AssertionError(msg)


@pytest.mark.parametrize("name, d, L, total", [
    ("GPT-2 small", 768, 12, 124_439_808),
    ("GPT-2 medium", 1024, 24, 354_823_168),
    ("GPT-2 large", 1280, 36, 774_030_080),
    ("GPT-2 XL", 1600, 48, 1_557_611_200),
])
def test_count_params_gives_the_published_gpt2_totals(kata, name, d, L, total):
    assert oracle_count(d, L, 50257, 1024) == total  # the oracle agrees with the publication
    got = kata.count_params(d, L, 50257)
    assert got == total, f"{name}: count_params = {got}, published {total:,}"
    check_count(kata, d, L, 50257, 1024)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("d, L, V, ctx, r", [(64, 3, 1000, 128, 4), (48, 2, 97, 33, 2)])
def test_count_params_matches_a_torch_nn_model(kata, d, L, V, ctx, r, tied, bias):
    check_count(kata, d, L, V, ctx, r, tied, bias)


def test_count_params_returns_an_int(kata):
    got = kata.count_params(768, 12, 50257)
    assert isinstance(got, int), f"count_params must return an int, got {type(got).__name__}"


def test_count_params_agrees_with_the_block_you_built(kata, device):
    d, L, V, ctx, r = 24, 3, 50, 16, 3
    block = kata.GPTBlock(d, 4, r)
    per_block = sum(p.numel() for p in block.parameters())
    assert per_block == 2 * 2 * d + 4 * d * d + 4 * d + 2 * r * d * d + r * d + d, (
        f"GPTBlock({d}, 4, {r}) has {per_block} parameters")
    rest = V * d + ctx * d + 2 * d
    assert kata.count_params(d, L, V, ctx=ctx, mlp_ratio=r) == rest + L * per_block, (
        "count_params must equal embeddings + final LayerNorm + n_layers * (parameters of one "
        "GPTBlock)")
