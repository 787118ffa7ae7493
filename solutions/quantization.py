"""Int8 quantization from scratch: affine quantize/dequantize, min-max qparams, SQNR, and a
linear layer that multiplies in int8 and accumulates in int32.

Build, in torch, on whatever device the inputs live on (cpu, cuda or mps):

1. `quantize(x, scale, zp, qmin=-128, qmax=127, axis=None)` -> int8 codes
       q = clamp(round(x / scale) + zp, qmin, qmax)
   `round` is round-half-to-even (`torch.round`): 0.5 -> 0, 1.5 -> 2, -2.5 -> -2. (torch's
   own kernels round x * (1 / scale) + zp; that differs only at an exact tie with an odd zp,
   or within float rounding of a tie, and the tests leave those cases open.) `scale` and
   `zp` are numbers or 0-d tensors (per-tensor), or 1-D tensors of length C = x.shape[axis]
   (per-channel, `axis` given): `broadcast_along` (given) shapes them to broadcast against x.
   The result is torch.int8, so qmin and qmax must lie in [-128, 127].
2. `dequantize(q, scale, zp, axis=None)` -> float32: (q - zp) * scale, same broadcasting.
3. `minmax_qparams(x, symmetric=True, per_channel=False, axis=0, qmin=-128, qmax=127)`
   -> (scale float32, zero_point int32), 0-d for per-tensor, (C,) per-channel (min and max
   taken over every dim except `axis`). The same numbers as torch.ao.quantization's
   MinMaxObserver / PerChannelMinMaxObserver for dtype=torch.qint8:
     - first widen the range to contain 0: lo = min(x.min(), 0), hi = max(x.max(), 0), so that
       0.0 (padding, ReLU zeros) is represented exactly;
     - symmetric: scale = max(-lo, hi) / ((qmax - qmin) / 2)   (= max|x| / 127.5), zp = 0;
     - affine:    scale = (hi - lo) / (qmax - qmin)           (= range / 255),
                  zp = clamp(qmin - round(lo / scale), qmin, qmax);
     - scale is at least float32 eps (1.1920929e-07), so an all-zero tensor gets
       scale = eps and zp = 0 (symmetric) or qmin (affine), never a division by zero.
4. `sqnr_db(x, x_hat)` -> 0-d float32 tensor: 10 * log10(||x||^2 / ||x - x_hat||^2), the
   signal-to-quantization-noise ratio in decibels (higher is better; +inf when x_hat == x).
5. `QuantLinear.from_float(linear, calib_inputs=None)` and `QuantLinear.forward(x)`:
     - weights: int8, per-channel symmetric with one scale per OUTPUT channel (row of the
       (out, in) weight): buffers `weight_q` (out, in) int8 and `w_scale` (out,) float32;
       `bias` is the float bias (out,) float32, or None;
     - activations: int8 per-tensor symmetric (zp = 0). Calibration: with calib_inputs=None
       the layer is *dynamic*: every forward call uses x_scale = minmax_qparams(x)[0] of that
       call's whole input. With a calib_inputs tensor (..., in) the layer is *static*:
       x_scale = minmax_qparams(calib_inputs)[0] is computed once, stored in the buffer
       `x_scale`, and used for every later input (values beyond it clamp to +-127 codes);
     - forward(x: (..., in) float32) -> (..., out) float32:
           acc = int8_matmul(xq, weight_q.T)               # (N, out) int32, exact
           y   = acc * (x_scale * w_scale) + bias          # w_scale broadcasts over out
       i.e. exactly dequantize(xq) @ dequantize(weight_q).T + bias, up to float rounding.
   `int8_matmul` (given) multiplies int8 matrices with an int32 accumulator:
   torch._int_mm where its kernel exists, an exact float32 fallback elsewhere.

Pitfalls an interviewer looks for:
- floor or trunc instead of round; forgetting the clamp (an outlier or a code of 128 then
  wraps around in int8); `x / scale - zp` instead of `+ zp`;
- 255 instead of 127.5 for symmetric scales (or vice versa); a range that does not include 0;
- per-channel along the wrong axis: nn.Linear's weight is (out, in), channels are rows;
- `q - zp` computed in int8 overflows (127 - (-100)): widen to float before subtracting;
- multiplying int8 by int8 in int8: a dot product of 64 terms overflows at once. Accumulate
  in int32, then rescale by BOTH scales (activation and weight) and add the float bias.
"""

from __future__ import annotations

import torch
from torch import nn

QMIN, QMAX = -128, 127


def broadcast_along(v, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Given. A qparam as a tensor on x's device that broadcasts against x: a number or 0-d
    tensor as is (axis=None); a (C,) tensor viewed as (1, .., C, .., 1) with C on `axis`."""
    v = torch.as_tensor(v, device=x.device)
    if axis is None:
        return v
    shape = [1] * x.dim()
    shape[axis] = -1
    return v.reshape(shape)


def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Given. (M, K) int8 @ (K, N) int8 -> (M, N) int32, exact: products of int8 values are
    accumulated in int32, never in int8.

    torch._int_mm runs on CPU for any shape, and on CUDA when M > 16 and K, N are multiples
    of 8. Elsewhere (MPS, other CUDA shapes) a float32 matmul is exact on int8 values as long
    as every partial sum stays within 2**24: |a_ik * b_kj| <= 2**14, so chunks of K <= 1024.
    """
    (m, k), n = a.shape, b.shape[1]
    kind = a.device.type
    if kind == "cpu" or (kind == "cuda" and m > 16 and k % 8 == 0 and n % 8 == 0):
        return torch._int_mm(a.contiguous(), b.contiguous())
    out = torch.zeros(m, n, dtype=torch.int32, device=a.device)
    for k0 in range(0, k, 1024):
        chunk = a[:, k0:k0 + 1024].float() @ b[k0:k0 + 1024].float()
        out += chunk.to(torch.int32)
    return out


def quantize(x: torch.Tensor, scale, zp, qmin: int = QMIN, qmax: int = QMAX,
             axis: int | None = None) -> torch.Tensor:
    """float x -> int8 codes clamp(round(x / scale) + zp, qmin, qmax), same shape as x.
    Per-tensor: scale, zp numbers or 0-d tensors. Per-channel: (C,) tensors, C = x.shape[axis]."""
    # >>> TODO: scale, round half to even, shift by zp, clamp to [qmin, qmax], cast to int8
    scale = broadcast_along(scale, x, axis)
    zp = broadcast_along(zp, x, axis)
    q = torch.round(x / scale) + zp  # round first, then shift: zp is an integer
    return torch.clamp(q, qmin, qmax).to(torch.int8)  # clamp BEFORE the cast, or it wraps
    # <<<


def dequantize(q: torch.Tensor, scale, zp, axis: int | None = None) -> torch.Tensor:
    """int codes -> float32 (q - zp) * scale, same shape as q; qparams as in `quantize`."""
    # >>> TODO: subtract zp and multiply by scale, in float32 (int8 - zp can overflow)
    scale = broadcast_along(scale, q, axis)
    zp = broadcast_along(zp, q, axis)
    return (q.float() - zp) * scale
    # <<<


def minmax_qparams(x: torch.Tensor, symmetric: bool = True, per_channel: bool = False,
                   axis: int = 0, qmin: int = QMIN, qmax: int = QMAX):
    """(scale float32, zero_point int32) from the min and max of x, as torch's MinMaxObserver
    (per-tensor, 0-d results) or PerChannelMinMaxObserver (per-channel along `axis`, (C,))."""
    # >>> TODO: min/max (over all dims but axis), widen to 0, scale >= eps, int32 zp
    if per_channel:
        xc = x.movedim(axis, 0).reshape(x.shape[axis], -1)  # (C, everything else)
        lo, hi = xc.amin(dim=1), xc.amax(dim=1)  # (C,)
    else:
        lo, hi = x.min(), x.max()  # 0-d
    lo = torch.clamp(lo, max=0.0)  # the range must contain 0 so that 0.0 is exact
    hi = torch.clamp(hi, min=0.0)
    eps = torch.finfo(torch.float32).eps
    if symmetric:
        scale = torch.clamp(torch.maximum(-lo, hi) / ((qmax - qmin) / 2), min=eps)
        zp = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=eps)
        zp = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int32)
    return scale.float(), zp
    # <<<


def sqnr_db(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Signal-to-quantization-noise ratio of x_hat against the signal x, in dB (0-d float32)."""
    # >>> TODO: 10 * log10(signal power / noise power); the signal is x, the noise x - x_hat
    x, x_hat = x.float(), x_hat.float()
    return 10 * torch.log10(x.pow(2).sum() / (x - x_hat).pow(2).sum())
    # <<<


class QuantLinear(nn.Module):
    """y = x @ W.T + b with int8 weights (per output channel) and int8 activations (per tensor).

    Buffers: weight_q (out, in) int8, w_scale (out,) float32, bias (out,) float32 or None,
    x_scale 0-d float32 (static, calibrated) or None (dynamic: computed in every forward).
    """

    def __init__(self, weight_q: torch.Tensor, w_scale: torch.Tensor,
                 bias: torch.Tensor | None = None, x_scale: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("weight_q", weight_q)
        self.register_buffer("w_scale", w_scale)
        self.register_buffer("bias", bias)
        self.register_buffer("x_scale", x_scale)

    @classmethod
    def from_float(cls, linear: nn.Linear, calib_inputs: torch.Tensor | None = None):
        """Quantize an nn.Linear. calib_inputs (..., in): fixes a static x_scale; None: dynamic."""
        # >>> TODO: int8 weights per output row (symmetric), float bias, x_scale from calib
        w = linear.weight.detach().float()  # (out, in)
        w_scale, w_zp = minmax_qparams(w, symmetric=True, per_channel=True, axis=0)  # (out,)
        weight_q = quantize(w, w_scale, w_zp, axis=0)  # (out, in) int8
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        x_scale = None
        if calib_inputs is not None:
            x_scale = minmax_qparams(calib_inputs.detach().float(), symmetric=True)[0]
        return cls(weight_q, w_scale, bias, x_scale)
        # <<<

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) float32 -> (..., out) float32."""
        # >>> TODO: quantize x (zp 0), int8_matmul, rescale by x_scale * w_scale, add bias
        x_scale = self.x_scale if self.x_scale is not None else minmax_qparams(x)[0]
        xq = quantize(x, x_scale, 0).reshape(-1, x.shape[-1])  # (N, in) int8
        acc = int8_matmul(xq, self.weight_q.t())  # (N, out) int32: no overflow
        y = acc.float() * (x_scale * self.w_scale)  # (N, out): both scales, per output column
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], -1)
        # <<<
