# Your attempt at the `flash_attention` kata: fill in every TODO, then run
#     nox -s kata -- flash_attention
# Generated from solutions/flash_attention.py; `dojo reset flash_attention` archives this file and starts over.
"""FlashAttention's algorithm in torch: tiled attention with an online softmax.

Naive attention materializes the (N, N) score matrix: at N = 4096 that is 64 MiB per head in
float32, and it dominates the memory of long-context models. FlashAttention computes the same
softmax(q k^T / sqrt(D)) v block by block and never holds more than a (block, block) tile of
scores: for each block of queries it walks over the blocks of keys, keeping per query row a
running max m, a running sum l of exp(score - m) and an unnormalized output acc. When a new
block raises the max from m to m_new, everything accumulated so far was computed relative to
the old max and is rescaled by exp(m - m_new); the division by l happens once, at the end.

Build:

    flash_attention(q, k, v, block_size=64, causal=False)
        q (B, H, N, D), k (B, H, N, D), v (B, H, N, Dv)  ->  (B, H, N, Dv)
        (k and v may have their own length S; the same formulas hold with an (N, S) score matrix)

- Same result as torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
  up to float rounding, in q's dtype and on q's device.
- Blocks of `block_size` queries and `block_size` keys; N need not be a multiple of block_size
  (the last block is partial), and block_size may exceed N.
- causal=True: query i sees keys j <= i (top-left aligned, as SDPA's is_causal). Key blocks that
  lie entirely after a query block are skipped, not just masked.
- Never build a tensor with N * S elements (no full score matrix, no full (N, S) mask): the
  tests track every allocation. Autograd through the loops must work (no in-place writes into
  tensors that autograd saved).

Not allowed (the tests switch them off): F.scaled_dot_product_attention and softmax in any form.

Pitfalls an interviewer looks for:
- Not rescaling the running sum AND the output by exp(m_old - m_new) when the max grows.
- Normalizing each block by its own sum instead of dividing by the total sum once at the end.
- The causal mask inside a tile must use absolute indices (row i0 + r, column j0 + c); an off-by
  -one (j < i) drops the diagonal. Forgetting 1 / sqrt(D). Dropping the partial last block.
"""

import math

import torch
from torch import Tensor


def flash_attention(q: Tensor, k: Tensor, v: Tensor, block_size: int = 64,
                    causal: bool = False) -> Tensor:
    """Tiled softmax(q k^T / sqrt(D)) v with an online softmax, O(block^2) extra memory.

    q (B, H, N, D), k (B, H, S, D), v (B, H, S, Dv) -> (B, H, N, Dv). causal: j <= i.
    """
    # TODO: for each query block: running max m, running sum l and accumulator acc;
    #       for each key block (up to the diagonal if causal): scores, mask, new max,
    #       rescale l and acc by exp(m - m_new), add exp(scores - m_new); then acc / l
    raise NotImplementedError('TODO: for each query block: running max m, running sum l and accumulator acc;')
