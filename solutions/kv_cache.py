"""KV cache for autoregressive decoding: preallocated cache, decode step, greedy generation.

A decoder generates one token at a time. Without a cache, every step runs the whole sequence
through the model again (O(T) work per step, O(T^2) per sequence, plus O(T^2) attention per
step). With a KV cache, each layer keeps the keys and values of the tokens it has already
seen, so a step only computes q, k, v for the ONE new token and attends over the cache.

Given (outside the TODOs): `TinyDecoder(vocab, d_model, n_heads, n_layers, max_len)`, a small
pre-norm GPT (token + learned position embeddings, causal self-attention, GELU MLP):
    model(tokens (B, T) int64, cache=None) -> logits (B, T, vocab) float32
    model.new_cache(batch, max_len) -> an empty KVCache sized for this model
You write the cache-aware parts of its attention and of its forward, and:

1. `KVCache(n_layers, batch, n_heads, max_len, head_dim, device=None, dtype=torch.float32)`
   - preallocates two buffers `self.k` and `self.v`, each zeros of shape
     (n_layers, batch, n_heads, max_len, head_dim): appending never reallocates or copies the
     past (no torch.cat);
   - `append(layer, k, v)`: k, v (B, H, T, D) of T new tokens, written right after what `layer`
     already holds; ValueError if they do not fit in max_len;
   - `get(layer)` -> (k, v), each (B, H, S, D): views of the S tokens `layer` holds;
   - `len(cache)`: the number of tokens every layer holds (0 when empty).
2. In `CausalSelfAttention.forward`: with a cache, append the new k, v and attend over all the
   cached keys. Alignment: the T new queries sit at absolute positions past .. past + T - 1,
   so query t sees keys 0 .. past + t, a (T, S) mask aligned at the BOTTOM-RIGHT corner
   (S = past + T). SDPA's is_causal=True is aligned at the top-left: right only when T == S.
3. In `TinyDecoder.forward`: the new tokens' positions continue after the cached ones.
4. `decode_step(model, token, cache)`: token (B,) int64, the newest token -> logits (B, vocab)
   for the token after it; runs the model on that one token and advances the cache by 1.
5. `generate_greedy(model, prompt, n, use_cache=True)`: prompt (B, T0) int64 -> (B, T0 + n),
   the prompt followed by n greedy (argmax) tokens. use_cache=True: one forward over the
   prompt into a fresh cache (prefill), then decode steps. use_cache=False: every step runs the
   model on the whole sequence so far (the baseline). Both give the same tokens.
6. `kv_cache_bytes(layers, kv_heads, head_dim, seq, batch, dtype_bytes)` -> int:
   2 * layers * kv_heads * head_dim * seq * batch * dtype_bytes (K and V: the factor 2).

Pitfalls an interviewer looks for:
- The causal mask of a chunk of new queries over a longer cache: top-left alignment (or no
  mask at all for T > 1) lets the chunk see its own future, or hides past tokens.
- Positions restarting at 0 for every decode step, or read after the first layer appended.
- A cache that is never advanced, or that is appended to twice in one step.
- Forgetting the factor 2 (keys AND values) in the memory estimate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KVCache:
    """Preallocated per-layer keys and values: k, v (n_layers, batch, n_heads, max_len, D)."""

    def __init__(self, n_layers: int, batch: int, n_heads: int, max_len: int, head_dim: int,
                 device=None, dtype: torch.dtype = torch.float32):
        self.max_len = max_len
        # >>> TODO: two zero buffers of shape (n_layers, batch, n_heads, max_len, head_dim),
        # >>>       and a count of the tokens stored in each layer
        shape = (n_layers, batch, n_heads, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.lengths = [0] * n_layers  # tokens held by each layer
        # <<<

    def append(self, layer: int, k: Tensor, v: Tensor) -> None:
        """Store k, v (B, H, T, D) of T new tokens after the tokens `layer` holds."""
        # >>> TODO: check they fit, write them into the buffers in place, advance the layer
        start, T = self.lengths[layer], k.shape[-2]
        if start + T > self.max_len:
            raise ValueError(f"KVCache full: {start} + {T} tokens > max_len={self.max_len}")
        self.k[layer, :, :, start:start + T] = k
        self.v[layer, :, :, start:start + T] = v
        self.lengths[layer] = start + T
        # <<<

    def get(self, layer: int) -> tuple[Tensor, Tensor]:
        """(k, v), each (B, H, S, D): views of the S tokens stored for `layer`."""
        # >>> TODO: slice the buffers up to the layer's length (views, no copy)
        S = self.lengths[layer]
        return self.k[layer, :, :, :S], self.v[layer, :, :, :S]
        # <<<

    def __len__(self) -> int:
        """Tokens held by every layer."""
        # >>> TODO: the number of tokens all layers have cached
        return min(self.lengths)
        # <<<


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention that can read and extend a KVCache."""

    def __init__(self, d_model: int, n_heads: int, layer: int):
        super().__init__()
        self.n_heads, self.head_dim, self.layer = n_heads, d_model // n_heads, layer
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        """x (B, T, d_model) -> (B, T, d_model); T new tokens, after the cached ones if any."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # q, k, v: (B, H, T, D) each
        # >>> TODO: with a cache, store k, v and attend over all cached keys; mask so that
        # >>>       new query t (absolute position past + t) sees keys 0 .. past + t
        if cache is not None:
            cache.append(self.layer, k, v)
            k, v = cache.get(self.layer)  # (B, H, S, D), S = past + T
        S = k.shape[-2]
        keep = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)  # bottom-right
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, H, T, D)
        # <<<
        return self.out(out.transpose(1, 2).reshape(B, T, -1))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, layer: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, layer)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class TinyDecoder(nn.Module):
    """A small pre-norm GPT: tokens (B, T) int64 -> logits (B, T, vocab)."""

    def __init__(self, vocab: int, d_model: int, n_heads: int, n_layers: int, max_len: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.head_dim, self.max_len = n_heads, d_model // n_heads, max_len
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, i) for i in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """An empty KVCache for this model on its device and dtype."""
        w = self.head.weight
        return KVCache(len(self.blocks), batch, self.n_heads, max_len or self.max_len,
                       self.head_dim, device=w.device, dtype=w.dtype)

    def forward(self, tokens: Tensor, cache: KVCache | None = None) -> Tensor:
        """tokens (B, T) int64 -> logits (B, T, vocab); with a cache, the T tokens come after
        the len(cache) tokens it holds, and the cache is extended by T."""
        B, T = tokens.shape
        # >>> TODO: the absolute position of the first new token
        start = 0 if cache is None else len(cache)  # read before any layer appends
        # <<<
        if start + T > self.max_len:
            raise ValueError(f"positions up to {start + T} exceed max_len={self.max_len}")
        x = self.tok(tokens) + self.pos(torch.arange(start, start + T, device=tokens.device))
        for block in self.blocks:
            x = block(x, cache)
        return self.head(self.norm(x))


@torch.no_grad()
def decode_step(model: TinyDecoder, token: Tensor, cache: KVCache) -> Tensor:
    """token (B,) int64, the newest token -> logits (B, vocab) of the next one; extends cache."""
    # >>> TODO: run the model on the single new token with the cache; keep the last logits
    return model(token[:, None], cache)[:, -1]  # (B, 1) -> (B, 1, vocab) -> (B, vocab)
    # <<<


@torch.no_grad()
def generate_greedy(model: TinyDecoder, prompt: Tensor, n: int, use_cache: bool = True) -> Tensor:
    """prompt (B, T0) int64 -> (B, T0 + n): the prompt and n argmax tokens."""
    # >>> TODO: cached: prefill the prompt into a new cache, then one decode_step per token;
    # >>>       uncached: rerun the model on the whole sequence every step
    B, T0 = prompt.shape
    cache = model.new_cache(B, T0 + n) if use_cache else None
    tokens = prompt
    for i in range(n):
        if not use_cache:
            logits = model(tokens)[:, -1]  # recompute all T0 + i positions
        elif i == 0:
            logits = model(prompt, cache)[:, -1]  # prefill: the whole prompt at once
        else:
            logits = decode_step(model, tokens[:, -1], cache)  # one token, O(S) attention
        tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return tokens
    # <<<


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, seq: int, batch: int,
                   dtype_bytes: int) -> int:
    """Bytes of a KV cache: keys and values for every layer, kv head, position and sequence."""
    # >>> TODO: count both K and V
    return 2 * layers * kv_heads * head_dim * seq * batch * dtype_bytes
    # <<<
