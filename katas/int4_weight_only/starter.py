# Your attempt at the `int4_weight_only` kata: fill in every TODO, then run
#     nox -s kata -- int4_weight_only
# Generated from solutions/int4_weight_only.py; `dojo reset int4_weight_only` archives this file and starts over.
"""Int4 weight-only quantization: nibble packing, group-wise asymmetric quantization, and a
linear layer that stores its weight in 4 bits (torch).

LLM inference is memory bound: the weights are read once per token. Storing them as 4-bit
codes, two per byte, with one float scale and zero point per group of `group_size` input
columns, cuts their size by ~8x against float32. Build, on whatever device the tensors
live on (cpu, cuda or mps):

1. `pack_int4(q)` -> uint8: q is torch.int8 holding int4 values in [-8, 7], shape (..., n)
   with n even. Two codes per byte along the last dim: byte i = (q[2i] & 0xF) | (q[2i+1] & 0xF)
   << 4, i.e. the LOW nibble holds the EVEN index; the nibble is the 4-bit two's complement
   (-1 -> 0xF, -8 -> 0x8). Result (..., n // 2) torch.uint8. ValueError if n is odd or a
   value lies outside [-8, 7].
2. `unpack_int4(packed)` -> int8: the inverse, (..., m) uint8 -> (..., 2m) int8 in [-8, 7]:
   a nibble >= 8 is negative (nibble - 16).
3. `quantize_int4(w, group_size)` -> (packed, scales, zeros). w (out, in) float; each row is
   cut into in // group_size groups of group_size consecutive columns, and each group gets
   its own asymmetric (zero point) qparams, from its min and max widened to contain 0:
       lo = min(w_g.min(), 0), hi = max(w_g.max(), 0)
       scale = max((hi - lo) / 15, eps)           eps = float32 eps: an all-zero group is fine
       zero  = -8 - round(lo / scale)             an integer in [-8, 7]
       q     = clamp(round(w / scale) + zero, -8, 7)
   so lo maps to code -8 and hi to code 7: all 16 codes are used. round is half to even
   (torch.round). Returns packed (out, in // 2) uint8, scales (out, in // group_size)
   float32 and zeros (out, in // group_size) int8. ValueError unless group_size is even and
   divides in. Every weight is then within scale / 2 of its dequantized value.
4. `dequantize_int4(packed, scales, zeros, group_size)` -> (out, in) float32:
   (q - zero) * scale, group by group.
5. `Int4Linear.from_linear(linear, group_size)` quantizes an nn.Linear's weight; the buffers
   `packed`, `scales`, `zeros` and `bias` (float32, or None) hold the layer. forward(x:
   (..., in)) -> (..., out) = x @ dequantize_int4(...).T + bias, computed in x's dtype.

Pitfalls an interviewer looks for:
- Sign extension: the high nibble of 0xF7 is 15, which is the code -1, not 15.
- Nibble order: the low nibble is the even index; swapped nibbles still round-trip through
  your own unpack but not through anyone else's kernel.
- One scale per row instead of per group: a single outlier then ruins the whole row.
- Clamping to [-7, 7] instead of [-8, 7]: the group minimum needs the code -8.
- `x >> 4` on int8 is an arithmetic shift; do the bit work on uint8 (or mask with & 0xF).
"""

from __future__ import annotations

import torch
from torch import nn

QMIN, QMAX = -8, 7
EPS = torch.finfo(torch.float32).eps


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """(..., n) int8 in [-8, 7], n even -> (..., n // 2) uint8, low nibble = even index."""
    # TODO: validate; take the 4-bit two's complement of each code; even -> low, odd -> high
    raise NotImplementedError("TODO: validate; take the 4-bit two's complement of each code; even -> low, odd -> high")


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """(..., m) uint8 -> (..., 2m) int8 in [-8, 7]; the inverse of pack_int4."""
    # TODO: split the nibbles, sign-extend (>= 8 means negative), interleave low, high
    raise NotImplementedError('TODO: split the nibbles, sign-extend (>= 8 means negative), interleave low, high')


def quantize_int4(w: torch.Tensor, group_size: int):
    """w (out, in) -> (packed (out, in // 2) uint8, scales (out, G) float32,
    zeros (out, G) int8), G = in // group_size groups of consecutive columns per row."""
    # TODO: view as (out, G, group_size); per-group min/max widened to 0, scale, zero
    #       point, codes clamped to [-8, 7]; pack
    raise NotImplementedError('TODO: view as (out, G, group_size); per-group min/max widened to 0, scale, zero')


def dequantize_int4(packed: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                    group_size: int) -> torch.Tensor:
    """(out, in // 2) uint8 codes with (out, G) scales and zeros -> (out, in) float32."""
    # TODO: unpack, view as groups, (q - zero) * scale in float, back to (out, in)
    raise NotImplementedError('TODO: unpack, view as groups, (q - zero) * scale in float, back to (out, in)')


class Int4Linear(nn.Module):
    """y = x @ W.T + b with W stored as packed int4 codes plus per-group scales and zeros."""

    def __init__(self, packed: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                 bias: torch.Tensor | None, group_size: int):
        super().__init__()
        self.group_size = group_size
        self.register_buffer("packed", packed)
        self.register_buffer("scales", scales)
        self.register_buffer("zeros", zeros)
        self.register_buffer("bias", bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int) -> Int4Linear:
        """Quantize linear.weight group-wise; keep the bias in float32 (a copy)."""
        # TODO: quantize the (out, in) weight; copy the bias
        raise NotImplementedError('TODO: quantize the (out, in) weight; copy the bias')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out): x @ W_dq.T (+ bias), in x's dtype."""
        # TODO: dequantize the weight, matmul with x, add the bias
        raise NotImplementedError('TODO: dequantize the weight, matmul with x, add the bias')
