"""2-D convolution by im2col (unfold + one matmul) and 2-D max pooling (torch).

Build, in torch, on whatever device the inputs live on:

    conv2d(x, w, b=None, stride=1, padding=0, dilation=1)    -> (N, C_out, H_out, W_out)
    max_pool2d(x, k, stride=None)                              -> (N, C, H_out, W_out)

Shapes: x (N, C_in, H, W); w (C_out, C_in, kH, kW); b (C_out,) or None. stride, padding,
dilation and k are an int (the same for H and W) or a pair (for H, for W); `_pair` (given)
turns either into a pair. max_pool2d's stride defaults to k (non-overlapping windows).

Conventions (those of torch.nn.functional.conv2d / max_pool2d):
- conv2d is a CROSS-CORRELATION, as in every deep-learning library: the kernel is not
  flipped.  out[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] *
                                   x_pad[n, c, i * sH + p * dH, j * sW + q * dW]
  where x_pad is x zero-padded by padH rows on top and bottom and padW columns left and right.
- Output size, per spatial dim: floor((H + 2 * pad - dil * (k - 1) - 1) / stride) + 1.
  A dilated kernel spans dil * (k - 1) + 1 pixels; windows that do not fit are dropped.
- max_pool2d takes the max over each k window (no padding), same floor rule with pad 0 and
  dil 1. Its gradient goes to the max of each window.

How: zero-pad with F.pad, cut the windows out with Tensor.unfold (or advanced indexing), lay
them out as an im2col matrix (N, H_out * W_out, C_in * kH * kW) and multiply by the kernel
viewed as (C_in * kH * kW, C_out): one matmul (or einsum). No Python loop over pixels.

Not allowed (the tests switch them off): F.conv2d, torch.conv2d, torch.convolution,
nn.Conv2d.forward, F.unfold / F.fold, F.max_pool2d, torch.max_pool2d, nn.MaxPool2d.forward.

Pitfalls an interviewer looks for:
- The output-size off-by-one (the "- 1 ... + 1"), and ignoring dilation in it.
- Flipping the kernel (a true convolution): torch does not.
- Mixing channel and spatial axes when flattening: the columns of the im2col matrix must be
  ordered (C_in, kH, kW), exactly as w.reshape(C_out, -1) flattens the kernel.
- max_pool2d's stride defaults to the kernel size, not to 1.
"""

import torch.nn.functional as F
from torch import Tensor


def _pair(v) -> tuple[int, int]:
    """Given. An int or a pair -> a pair (for H, for W)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv2d(x: Tensor, w: Tensor, b: Tensor | None = None, stride=1, padding=0,
           dilation=1) -> Tensor:
    """Cross-correlation of x (N, C_in, H, W) with w (C_out, C_in, kH, kW) (+ b) by im2col."""
    # >>> TODO: pad, cut out the (dilated, strided) windows, flatten them as im2col rows,
    # >>>       one matmul with the flattened kernel, back to (N, C_out, H_out, W_out), + bias
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C_in, _, _ = x.shape
    C_out, _, kh, kw = w.shape
    xp = F.pad(x, (pw, pw, ph, ph))  # (N, C_in, H + 2ph, W + 2pw); F.pad starts at the last dim
    # A dilated window spans d * (k - 1) + 1 pixels; keep every d-th of them.
    win = xp.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    win = win[..., ::dh, ::dw]  # (N, C_in, H_out, W_out, kH, kW)
    H_out, W_out = win.shape[2], win.shape[3]
    cols = win.permute(0, 2, 3, 1, 4, 5).reshape(N, H_out * W_out, C_in * kh * kw)  # im2col
    out = cols @ w.reshape(C_out, -1).T  # (N, H_out * W_out, C_out); columns (C_in, kH, kW)
    out = out.transpose(1, 2).reshape(N, C_out, H_out, W_out)
    if b is not None:
        out = out + b.view(1, -1, 1, 1)
    return out
    # <<<


def max_pool2d(x: Tensor, k, stride=None) -> Tensor:
    """Max over each k window of x (N, C, H, W), moving by stride (default: k)."""
    # >>> TODO: windows of size k moving by stride (k if not given), max over each window
    (kh, kw), (sh, sw) = _pair(k), _pair(k if stride is None else stride)
    win = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, H_out, W_out, kH, kW)
    return win.amax(dim=(-2, -1))
    # <<<
