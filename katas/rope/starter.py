# Your attempt at the `rope` kata: fill in every TODO, then run
#     nox -s kata -- rope
# Generated from solutions/rope.py; `dojo reset rope` archives this file and starts over.
"""Rotary position embeddings (RoPE), half-split convention (torch).

RoPE encodes the position p of a token by rotating pairs of coordinates of its query and key
vectors by angles p * theta_i. The dot product of a query rotated at position m and a key
rotated at position n then depends on m - n only: attention sees relative positions.

Build two functions:

    rope_frequencies(head_dim, max_pos, base=10000.0, device=None, dtype=torch.float32)
        -> (cos, sin), each (max_pos, head_dim // 2):
           cos[p, i] = cos(p * theta_i), sin[p, i] = sin(p * theta_i),
           theta_i = base ** (-2 i / head_dim) for i = 0 .. head_dim/2 - 1
           (theta_0 = 1, the fastest pair; the frequencies then fall geometrically).
    apply_rope(x, positions, base=10000.0)
        x (..., T, head_dim) float, positions int64 of shape (T,) or broadcastable to
        x.shape[:-1] (e.g. (B, 1, T) for x (B, H, T, head_dim))  ->  same shape and dtype as x.

Convention: HALF-SPLIT pairs (GPT-NeoX, Hugging Face Llama's rotate_half). With h = head_dim/2,
coordinate i is paired with coordinate i + h, and pair i is rotated counter-clockwise by
p * theta_i:

    x1, x2 = x[..., :h], x[..., h:]
    out = cat(x1 * cos - x2 * sin,  x1 * sin + x2 * cos)        (cos, sin taken at p)

i.e. (x1 + i x2) * exp(i p theta) as a complex number. head_dim must be even (else ValueError).
Tokens are rotated at the positions given, NOT at 0 .. T-1: with a KV cache the new token sits
at position T_past, and packed or shifted sequences pass their own positions.
apply_rope computes its angles in float32 (float64 for float64 x) on x's device.

Pitfalls an interviewer looks for:
- Pairing neighbours (x[2i], x[2i+1]), the interleaved convention of the original paper and
  Meta's Llama code, with weights laid out for the half-split one (or the reverse): both are
  valid RoPEs but they are not interchangeable.
- theta_i = base ** (-i / head_dim), or an exponent running over all of 0 .. head_dim - 1: the
  exponent steps by 2 / head_dim, over the even indices 0, 2, .., head_dim - 2.
- Rotating by -theta (x1 * cos + x2 * sin first): still norm-preserving and still relative,
  but not the same embedding as the checkpoint's.
- Ignoring `positions` and rotating by arange(T).
"""

import torch
from torch import Tensor


def rope_frequencies(head_dim: int, max_pos: int, base: float = 10000.0, device=None,
                     dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """(cos, sin), each (max_pos, head_dim // 2): cos/sin of p * base**(-2i/head_dim)."""
    # TODO: one frequency per pair (even exponents), angles = positions x frequencies
    raise NotImplementedError('TODO: one frequency per pair (even exponents), angles = positions x frequencies')


def apply_rope(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate x (..., T, head_dim) at `positions` (T,) (or broadcastable to x.shape[:-1]),
    half-split pairs (i, i + head_dim/2). Same shape and dtype as x."""
    # TODO: tables up to the largest position, pick the rows at `positions`,
    #       rotate the halves (x1, x2) as the complex number x1 + i x2
    raise NotImplementedError('TODO: tables up to the largest position, pick the rows at `positions`,')
