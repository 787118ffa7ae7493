# Your attempt at the `paged_attention` kata: fill in every TODO, then run
#     nox -s kata -- paged_attention
# Generated from solutions/paged_attention.py; `dojo reset paged_attention` archives this file and starts over.
"""Paged KV cache and paged decode attention (vLLM-style), in torch.

A decode server keeps the keys and values of every live sequence. Reserving max_len slots per
sequence wastes most of the memory, so the cache is paged: one big pool of fixed-size blocks,
and per sequence a block table listing the blocks that hold its tokens, in order.

Build:

    OutOfBlocks                          (given) MemoryError raised when the pool is exhausted
    BlockAllocator(n_blocks, block_size)
        .allocate(n) -> list[int]        n distinct free block ids; all or nothing: if fewer
                                         than n are free, raise OutOfBlocks and allocate none
        .free(blocks)                    return ids to the pool; freeing an id that is not
                                         currently allocated (double free, never allocated,
                                         out of range) raises ValueError
        .n_free                          (given) number of free blocks
    PagedKVCache(allocator, n_heads, head_dim, dtype=torch.float32, device=None)
        .k_blocks, .v_blocks             (given) physical storage (n_blocks, block_size, H, D)
        .block_tables[seq_id]            list of block ids of the sequence, in token order
        .lengths[seq_id]                 number of tokens stored for the sequence
        .append(seq_id, k, v)            k, v (T, H, D), any T >= 0; a new seq_id starts empty
        .gather(seq_id) -> (k, v)        each (T_total, H, D): exactly the tokens appended
        .free(seq_id)                    give every block of the sequence back; forget it
    paged_attention(q, cache, seq_ids) -> (n_seqs, H, D)
        one decode query per sequence, q (n_seqs, H, D), q[i] attends over all the tokens
        of seq_ids[i] (every listed sequence holds >= 1 token):
            out[i, h] = softmax(K_i[:, h] @ q[i, h] / sqrt(D)) @ V_i[:, h]

Layout: token number `pos` of a sequence lives in block block_tables[seq][pos // block_size],
slot pos % block_size. A sequence of n tokens holds exactly ceil(n / block_size) blocks: a new
block is allocated when a token arrives and the last block is full, never earlier. If append
cannot get the blocks it needs it raises OutOfBlocks and leaves the cache as it was.

paged_attention works on all sequences at once: look up the block tables (padded to the
longest), index k_blocks with them to get (n_seqs, max_blocks * block_size, H, D), and mask
every position >= the sequence's length before the softmax. You may use torch.softmax; not
F.scaled_dot_product_attention (the oracle).

Pitfalls an interviewer looks for:
- Off-by-one at block boundaries: block index pos // block_size, slot pos % block_size, and a
  new block exactly when the last one is full (a sequence of 2 * block_size tokens holds 2).
- Leaking blocks: free must return every block of the sequence to the allocator.
- Blocks are reused: a freed block still holds the old sequence's keys. gather must stop at
  the sequence's length and attention must mask the slots past it, or stale tokens leak in.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class OutOfBlocks(MemoryError):
    """The block pool has fewer free blocks than requested."""


class BlockAllocator:
    """A pool of n_blocks block ids 0..n_blocks-1, each block holding block_size tokens."""

    def __init__(self, n_blocks: int, block_size: int):
        self.n_blocks, self.block_size = n_blocks, block_size
        self._free = list(range(n_blocks - 1, -1, -1))  # a stack: pop() hands out 0 first
        self._used: set[int] = set()

    @property
    def n_free(self) -> int:
        return len(self._free)

    def allocate(self, n: int) -> list[int]:
        """n distinct free block ids; raises OutOfBlocks (allocating none) if fewer are free."""
        # TODO: check there are enough free blocks first, then take n of them
        raise NotImplementedError('TODO: check there are enough free blocks first, then take n of them')

    def free(self, blocks) -> None:
        """Return the ids to the pool; ValueError for an id that is not allocated."""
        # TODO: refuse ids that are not currently allocated, then put them back
        raise NotImplementedError('TODO: refuse ids that are not currently allocated, then put them back')


class PagedKVCache:
    """Keys and values of many sequences in a shared pool of blocks."""

    def __init__(self, allocator: BlockAllocator, n_heads: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device=None):
        self.allocator = allocator
        self.block_size = allocator.block_size
        shape = (allocator.n_blocks, allocator.block_size, n_heads, head_dim)
        self.k_blocks = torch.zeros(shape, dtype=dtype, device=device)
        self.v_blocks = torch.zeros(shape, dtype=dtype, device=device)
        self.block_tables: dict = {}  # seq_id -> [block id, ...] in token order
        self.lengths: dict = {}  # seq_id -> number of tokens stored

    def append(self, seq_id, k: Tensor, v: Tensor) -> None:
        """Store k, v (T, H, D) after the tokens already held for seq_id."""
        # TODO: allocate just enough new blocks, then write each token to its block and slot
        raise NotImplementedError('TODO: allocate just enough new blocks, then write each token to its block and slot')

    def gather(self, seq_id) -> tuple[Tensor, Tensor]:
        """(k, v) of seq_id, each (T_total, H, D), contiguous in token order."""
        # TODO: read the sequence's blocks in table order, flatten, cut at its length
        raise NotImplementedError("TODO: read the sequence's blocks in table order, flatten, cut at its length")

    def free(self, seq_id) -> None:
        """Give all blocks of seq_id back to the allocator; KeyError if it is unknown."""
        # TODO: return the sequence's blocks and forget its table and length
        raise NotImplementedError("TODO: return the sequence's blocks and forget its table and length")


def paged_attention(q: Tensor, cache: PagedKVCache, seq_ids) -> Tensor:
    """One decode step: q (n_seqs, H, D), q[i] attends over the cached tokens of seq_ids[i].
    -> (n_seqs, H, D)."""
    # TODO: padded block tables -> (N, S, H, D) keys/values, scores, mask past each
    #       length, softmax over the tokens, weighted sum of values
    raise NotImplementedError('TODO: padded block tables -> (N, S, H, D) keys/values, scores, mask past each')
