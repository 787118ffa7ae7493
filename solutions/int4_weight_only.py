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
    # >>> TODO: validate; take the 4-bit two's complement of each code; even -> low, odd -> high
    if q.shape[-1] % 2:
        raise ValueError(f"the last dim must be even to pack pairs, got {q.shape[-1]}")
    if q.numel() and (q.min() < QMIN or q.max() > QMAX):
        raise ValueError("int4 codes must lie in [-8, 7]")
    nib = (q & 0xF).to(torch.uint8)  # two's complement nibble: -1 -> 15, -8 -> 8
    return nib[..., 0::2] | (nib[..., 1::2] << 4)
    # <<<


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """(..., m) uint8 -> (..., 2m) int8 in [-8, 7]; the inverse of pack_int4."""
    # >>> TODO: split the nibbles, sign-extend (>= 8 means negative), interleave low, high
    lo = (packed & 0xF).to(torch.int8)  # (..., m) in 0..15
    hi = (packed >> 4).to(torch.int8)  # uint8 shift: logical, 0..15
    pairs = torch.stack([lo, hi], dim=-1)  # (..., m, 2): even index first
    pairs = torch.where(pairs >= 8, pairs - 16, pairs)  # sign extension
    return pairs.flatten(-2)
    # <<<


def quantize_int4(w: torch.Tensor, group_size: int):
    """w (out, in) -> (packed (out, in // 2) uint8, scales (out, G) float32,
    zeros (out, G) int8), G = in // group_size groups of consecutive columns per row."""
    # >>> TODO: view as (out, G, group_size); per-group min/max widened to 0, scale, zero
    # >>>       point, codes clamped to [-8, 7]; pack
    out_f, in_f = w.shape
    if group_size % 2 or in_f % group_size:
        raise ValueError(f"group_size {group_size} must be even and divide in_features {in_f}")
    wg = w.float().reshape(out_f, in_f // group_size, group_size)  # (out, G, gs)
    lo = wg.amin(dim=-1).clamp(max=0.0)  # (out, G): the range contains 0
    hi = wg.amax(dim=-1).clamp(min=0.0)
    scales = ((hi - lo) / (QMAX - QMIN)).clamp(min=EPS)  # 15 steps between 16 codes
    zeros = QMIN - torch.round(lo / scales)  # lo -> -8; in [-8, 7] since lo / scale in [-15, 0]
    q = torch.round(wg / scales[..., None]) + zeros[..., None]  # divide, round, then shift
    q = q.clamp(QMIN, QMAX).to(torch.int8).reshape(out_f, in_f)
    return pack_int4(q), scales, zeros.to(torch.int8)
    # <<<


def dequantize_int4(packed: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                    group_size: int) -> torch.Tensor:
    """(out, in // 2) uint8 codes with (out, G) scales and zeros -> (out, in) float32."""
    # >>> TODO: unpack, view as groups, (q - zero) * scale in float, back to (out, in)
    q = unpack_int4(packed).float()  # (out, in)
    out_f, in_f = q.shape
    qg = q.reshape(out_f, in_f // group_size, group_size)  # (out, G, gs)
    w = (qg - zeros.float()[..., None]) * scales[..., None]
    return w.reshape(out_f, in_f)
    # <<<


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
        # >>> TODO: quantize the (out, in) weight; copy the bias
        packed, scales, zeros = quantize_int4(linear.weight.detach(), group_size)
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        return cls(packed, scales, zeros, bias, group_size)
        # <<<

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out): x @ W_dq.T (+ bias), in x's dtype."""
        # >>> TODO: dequantize the weight, matmul with x, add the bias
        w = dequantize_int4(self.packed, self.scales, self.zeros, self.group_size).to(x.dtype)
        y = x @ w.T  # (..., in) @ (in, out)
        if self.bias is not None:
            y = y + self.bias.to(x.dtype)
        return y
        # <<<
