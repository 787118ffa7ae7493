"""A GPT-2 transformer block (pre-norm, causal) and the parameter count of a GPT model (torch).

Build:

    GPTBlock(d_model, n_heads, mlp_ratio=4)      nn.Module, (B, T, d_model) -> (B, T, d_model)
    count_params(d_model, n_layers, vocab, ctx=1024, mlp_ratio=4, tied=True, bias=True)
                                                 the number of parameters of a GPT-2-shaped
                                                 model (an int)

GPTBlock is pre-norm, as in GPT-2:

    x = x + attn(ln1(x))          causal multi-head self-attention
    x = x + mlp(ln2(x))           mlp(h) = fc_out(gelu(fc(h)))

Its layers are given (their names are part of the contract; the tests load weights into them):
    ln1, ln2   nn.LayerNorm(d_model) (eps 1e-5)
    qkv        nn.Linear(d_model, 3 * d_model): q, k and v stacked in that order on the output
               dim (GPT-2's c_attn; the same layout as nn.MultiheadAttention's in_proj_weight)
    proj       nn.Linear(d_model, d_model), the attention output projection
    fc         nn.Linear(d_model, mlp_ratio * d_model)
    fc_out     nn.Linear(mlp_ratio * d_model, d_model)
Attention: n_heads heads of head_dim = d_model // n_heads, scores scaled by 1 / sqrt(head_dim),
softmax over the keys, and causal: token t attends to tokens 0..t (itself included). GELU is
the EXACT one, 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU()'s default), not GPT-2's tanh
approximation. No dropout. Results keep the input's dtype and device.

Allowed: nn.Linear, nn.LayerNorm, torch.softmax, F.gelu, matmul, view/transpose, tril/triu,
masked_fill. Not allowed (the tests switch them off): nn.MultiheadAttention,
F.scaled_dot_product_attention, F.multi_head_attention_forward, nn.TransformerEncoderLayer.

count_params counts a GPT-2-shaped model: token embedding (vocab, d_model), learned position
embedding (ctx, d_model), n_layers GPTBlocks, a final LayerNorm, and an LM head
Linear(d_model, vocab) WITHOUT bias whose weight is the token embedding when tied=True (counted
once) and a separate matrix when tied=False. bias=False removes every bias: those of the
Linear layers and those of the LayerNorms (nn.LayerNorm(d, bias=False), as in nanoGPT); the
LayerNorm weights stay. GPT-2 small (d_model 768, 12 layers, vocab 50257, ctx 1024, tied) has
124,439,808 parameters.

Pitfalls an interviewer looks for:
- Pre-norm: the LayerNorm is applied to the input of each sublayer, and the residual adds the
  UN-normalised x; post-norm (ln(x + attn(x))) is the original Transformer, not GPT-2.
- The causal mask: without it a token sees the future, and a change to the last token changes
  every output.
- Counting: 12 d^2 per block is only the matrices; the biases (9 d + 4 d = 13 d with
  mlp_ratio 4), the two LayerNorms per block, the final LayerNorm and the position embedding
  all count, and a tied LM head adds nothing.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GPTBlock(nn.Module):
    """Pre-norm GPT-2 block: x + attn(ln1(x)), then x + mlp(ln2(x)); causal attention."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, mlp_ratio * d_model)
        self.fc_out = nn.Linear(mlp_ratio * d_model, d_model)

    def attention(self, h: Tensor) -> Tensor:
        """Causal multi-head self-attention of h (B, T, d_model) -> (B, T, d_model), through
        qkv and proj."""
        # >>> TODO: project to q, k, v and split heads; causal softmax(q k^T / sqrt(head_dim)) v;
        # >>>       merge heads; output projection
        B, T, _ = h.shape
        H, D = self.n_heads, self.head_dim
        q, k, v = self.qkv(h).split(self.d_model, dim=-1)  # each (B, T, d_model)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D)  # (B, H, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=h.device).triu(1)  # key j > query i
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(B, T, self.d_model)  # merge heads
        return self.proj(out)
        # <<<

    def mlp(self, h: Tensor) -> Tensor:
        """fc_out(gelu(fc(h))), exact GELU. (B, T, d_model) -> (B, T, d_model)."""
        # >>> TODO: expand, exact GELU, project back
        return self.fc_out(F.gelu(self.fc(h)))
        # <<<

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, d_model) -> (B, T, d_model), pre-norm residual block."""
        # >>> TODO: two pre-norm residual sublayers: attention, then MLP
        x = x + self.attention(self.ln1(x))
        return x + self.mlp(self.ln2(x))
        # <<<


def count_params(d_model: int, n_layers: int, vocab: int, ctx: int = 1024, mlp_ratio: int = 4,
                 tied: bool = True, bias: bool = True) -> int:
    """Number of parameters of a GPT-2-shaped model (see the module docstring)."""
    # >>> TODO: embeddings (token + position), per block (2 LayerNorms, attention, MLP),
    # >>>       final LayerNorm, LM head unless tied
    d, f = d_model, mlp_ratio * d_model
    b = 1 if bias else 0
    ln = d + b * d  # weight (+ bias)
    attn = d * 3 * d + b * 3 * d + d * d + b * d  # qkv and proj
    mlp = d * f + b * f + f * d + b * d  # fc and fc_out
    block = 2 * ln + attn + mlp
    embeddings = vocab * d + ctx * d
    head = 0 if tied else vocab * d  # no bias; tied: the token embedding, already counted
    return embeddings + n_layers * block + ln + head
    # <<<
