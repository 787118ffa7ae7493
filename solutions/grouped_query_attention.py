"""Grouped-query attention (GQA): many query heads share a few key/value heads (torch).

Build two functions:

    repeat_kv(x, n_rep)              (B, H_kv, S, D) -> (B, H_kv * n_rep, S, D): each kv head
                                     repeated n_rep times IN PLACE, so that output head h is
                                     input head h // n_rep (what torch.repeat_interleave(x,
                                     n_rep, dim=1) returns).
    gqa_attention(q, k, v, causal)   softmax(q k^T / sqrt(D)) v with shared kv heads.

Shapes (any float dtype; results keep the dtype and device of q):
    q (B, H, L, D), k (B, H_kv, S, D), v (B, H_kv, S, Dv)  ->  (B, H, L, Dv)
    H must be a multiple of H_kv; n_rep = H // H_kv query heads share one kv head.
    H_kv == H is ordinary multi-head attention (MHA), H_kv == 1 is multi-query attention (MQA).

Conventions (those of torch.nn.functional.scaled_dot_product_attention(..., enable_gqa=True)):
- Query head h attends with kv head h // n_rep: heads are grouped in consecutive blocks
  (query heads 0..n_rep-1 share kv head 0, the next n_rep share kv head 1, ...).
- Scores are scaled by 1 / sqrt(D), D the head dim of q and k.
- causal=True keeps key j for query i iff j <= i: a lower-triangular (L, S) mask aligned at
  the TOP-LEFT corner (SDPA's is_causal), diagonal included, also when L != S.
- H not a multiple of H_kv, or k and v with different numbers of heads: raise ValueError
  saying so. n_rep must be >= 1.

You may use torch.softmax and matmul. Not allowed (the tests switch them off):
F.scaled_dot_product_attention and repeat_interleave, which are the oracle. Use expand and
reshape: repeat_kv then needs no loop and no copy until the reshape.

Pitfalls an interviewer looks for:
- Tiling (x.repeat(1, n_rep, 1, 1)) instead of repeating each head in place: then query head
  h uses kv head h % H_kv, which silently mixes the groups. Only MHA and MQA hide the bug.
- Forgetting the 1 / sqrt(D) scale.
- A causal mask built for the square case: with L != S it must still be (L, S), top-left.
"""

import math

import torch
from torch import Tensor


def repeat_kv(x: Tensor, n_rep: int) -> Tensor:
    """(B, H_kv, S, D) -> (B, H_kv * n_rep, S, D); output head h is input head h // n_rep."""
    # >>> TODO: insert a repeat axis right after the head axis, broadcast it, merge it back
    if n_rep < 1:
        raise ValueError(f"n_rep must be >= 1, got {n_rep}")
    B, H_kv, S, D = x.shape
    x = x[:, :, None].expand(B, H_kv, n_rep, S, D)  # a view: no copy yet
    return x.reshape(B, H_kv * n_rep, S, D)  # kv head j -> heads j*n_rep .. j*n_rep + n_rep-1
    # <<<


def gqa_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False) -> Tensor:
    """q (B, H, L, D), k (B, H_kv, S, D), v (B, H_kv, S, Dv) -> (B, H, L, Dv).

    Query head h attends with kv head h // (H // H_kv). causal: key j <= query i (top-left).
    """
    # >>> TODO: check the head counts, repeat k and v to H heads, scaled scores,
    # >>>       top-left causal mask, softmax over the keys, @ v
    H, H_kv = q.shape[1], k.shape[1]
    if v.shape[1] != H_kv:
        raise ValueError(f"k has {H_kv} heads but v has {v.shape[1]}")
    if H % H_kv:
        raise ValueError(f"n_heads={H} is not divisible by n_kv_heads={H_kv}")
    k, v = repeat_kv(k, H // H_kv), repeat_kv(v, H // H_kv)  # (B, H, S, D), (B, H, S, Dv)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, L, S)
    if causal:
        L, S = scores.shape[-2:]
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()  # j <= i
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # (B, H, L, S) @ (B, H, S, Dv)
    # <<<
