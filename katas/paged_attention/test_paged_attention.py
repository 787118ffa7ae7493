"""Tests for the paged_attention kata.

Oracles: a contiguous cache (a plain torch.cat of every chunk appended to a sequence) for
append/gather, F.scaled_dot_product_attention run sequence by sequence on that contiguous
cache for paged_attention, and the allocator's free count for leaks (it must come back to
n_blocks once every sequence is freed). Inputs are float32, drawn on CPU from seeded
generators, then moved to the device under test. Storage moves are exact copies, so gathered
keys and values must equal the oracle exactly.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from dojo.testing import assert_close

H, D = 2, 4


def randn(*shape, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(device)


def make_cache(kata, device, n_blocks=16, block_size=4):
    alloc = kata.BlockAllocator(n_blocks, block_size)
    return alloc, kata.PagedKVCache(alloc, H, D, torch.float32, device)


def run_script(kata, device, script, n_blocks=32, block_size=4, seed=0):
    """Apply [(seq_id, T), ...] appends to a paged cache and to the contiguous oracle
    {seq_id: [k chunks]}; returns (alloc, cache, {seq_id: (k, v) concatenated})."""
    alloc, cache = make_cache(kata, device, n_blocks, block_size)
    chunks = {}
    for i, (sid, T) in enumerate(script):
        k = randn(T, H, D, seed=seed + 2 * i, device=device)
        v = randn(T, H, D, seed=seed + 2 * i + 1, device=device)
        cache.append(sid, k, v)
        chunks.setdefault(sid, []).append((k, v))
    contiguous = {sid: (torch.cat([k for k, _ in c]), torch.cat([v for _, v in c]))
                  for sid, c in chunks.items()}
    return alloc, cache, contiguous


def check_gather(cache, sid, k_exp, v_exp, what):
    got = cache.gather(sid)
    assert got is not None and len(got) == 2, f"{what}: gather must return (k, v)"
    k, v = got
    n = k_exp.shape[0]
    if k.shape[0] > n:
        raise AssertionError(
            f"{what}: gather returned {k.shape[0]} tokens, the sequence holds {n}; it gathers "
            "past the sequence length (the rest of the last block is stale or empty): cut at "
            "lengths[seq_id]")
    assert tuple(k.shape) == tuple(k_exp.shape), (
        f"{what}: gathered k has shape {tuple(k.shape)}, expected {tuple(k_exp.shape)} "
        "(T_total, H, D)")
    for name, got_t, exp_t in (("k", k, k_exp), ("v", v, v_exp)):
        if not torch.equal(got_t.cpu(), exp_t.cpu()):
            bad = (got_t.cpu() != exp_t.cpu()).reshape(n, -1).any(dim=1).nonzero()
            first = int(bad[0])
            bs = cache.block_size
            raise AssertionError(
                f"{what}: gathered {name} differs from the contiguous cache at token {first} "
                f"(block {first // bs} of the table, slot {first % bs}); token pos lives in "
                "block_tables[seq][pos // block_size], slot pos % block_size")


def blocks_needed(n, bs):
    return -(-n // bs)


# ---------------------------------------------------------------------------------------------
# BlockAllocator
# ---------------------------------------------------------------------------------------------


def test_allocator_hands_out_distinct_blocks_until_exhausted(kata):
    alloc = kata.BlockAllocator(6, 4)
    assert alloc.n_free == 6
    a = alloc.allocate(4)
    b = alloc.allocate(2)
    assert a is not None and len(a) == 4 and len(b) == 2, (
        f"allocate(n) must return a list of n block ids, got {a!r} and {b!r}")
    assert sorted(a + b) == list(range(6)), (
        f"6 blocks allocated as {a} and {b}: they must be the distinct ids 0..5")
    assert alloc.n_free == 0, f"n_free = {alloc.n_free} after allocating all 6 blocks"
    with pytest.raises(kata.OutOfBlocks):
        alloc.allocate(1)
    assert issubclass(kata.OutOfBlocks, MemoryError)


def test_allocate_is_all_or_nothing(kata):
    alloc = kata.BlockAllocator(5, 2)
    alloc.allocate(3)
    with pytest.raises(kata.OutOfBlocks):
        alloc.allocate(3)  # only 2 free
    assert alloc.n_free == 2, (
        f"a failed allocate(3) with 2 free blocks left n_free = {alloc.n_free}: it must "
        "allocate nothing when it cannot allocate everything")
    got = alloc.allocate(2)  # exactly what is left is fine
    assert len(got) == 2 and alloc.n_free == 0
    assert alloc.allocate(0) == [], "allocate(0) returns no blocks"


def test_freed_blocks_are_returned_and_reused(kata):
    alloc = kata.BlockAllocator(4, 8)
    a = alloc.allocate(3)
    alloc.free(a[:2])
    assert alloc.n_free == 3, f"n_free = {alloc.n_free} after freeing 2 of 3 blocks out of 4"
    b = alloc.allocate(3)
    assert set(a[:2]) <= set(b) and a[2] not in b, (
        f"after freeing {a[:2]}, allocate(3) gave {b}: freed blocks must be reusable and a "
        "still-allocated block must not be handed out again")
    alloc.free(b + [a[2]])
    assert alloc.n_free == 4


@pytest.mark.parametrize("case", ["double free", "never allocated", "out of range"])
def test_freeing_a_block_that_is_not_allocated_raises(kata, case):
    alloc = kata.BlockAllocator(4, 2)
    blocks = alloc.allocate(2)
    if case == "double free":
        alloc.free(blocks)
        bad = [blocks[0]]
    elif case == "never allocated":
        bad = [next(b for b in range(4) if b not in blocks)]
    else:
        bad = [7]
    n_free = alloc.n_free
    with pytest.raises(ValueError):
        alloc.free(bad)
    assert alloc.n_free == n_free, f"a refused free ({case}) must not change n_free"


# ---------------------------------------------------------------------------------------------
# PagedKVCache: append / gather against a contiguous cache
# ---------------------------------------------------------------------------------------------

SCRIPTS = {
    # chunks smaller than, equal to and larger than a block, crossing boundaries
    "one sequence": [(0, 3), (0, 1), (0, 5), (0, 4), (0, 1)],
    "interleaved": [(0, 2), (1, 7), (0, 6), (2, 1), (1, 1), (2, 8), (0, 4), (1, 3)],
    "single tokens": [(s, 1) for _ in range(6) for s in (10, 11)],
    "prefill then decode": [("a", 9), ("b", 4), ("a", 1), ("b", 1), ("a", 1), ("b", 1)],
}


@pytest.mark.parametrize("block_size", [1, 3, 4])
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_gather_matches_contiguous_cache(kata, device, name, block_size):
    alloc, cache, contiguous = run_script(kata, device, SCRIPTS[name], block_size=block_size,
                                          seed=100)
    for sid, (k, v) in contiguous.items():
        check_gather(cache, sid, k, v, f"{name}, block_size={block_size}, seq {sid!r}")


def test_tokens_live_at_block_pos_div_bs_slot_pos_mod_bs(kata, device):
    bs = 3
    _, cache, contiguous = run_script(kata, device, SCRIPTS["interleaved"], block_size=bs,
                                      seed=200)
    assert tuple(cache.k_blocks.shape) == (32, bs, H, D)
    for sid, (k, v) in contiguous.items():
        table = cache.block_tables[sid]
        for pos in range(k.shape[0]):
            blk, slot = table[pos // bs], pos % bs
            assert torch.equal(cache.k_blocks[blk, slot].cpu(), k[pos].cpu()) and torch.equal(
                cache.v_blocks[blk, slot].cpu(), v[pos].cpu()), (
                f"seq {sid!r} token {pos} is not in k_blocks/v_blocks[{blk}, {slot}]: token "
                "pos lives in block block_tables[seq][pos // block_size], slot pos % block_size")


@pytest.mark.parametrize("block_size", [1, 4])
def test_a_sequence_holds_exactly_ceil_len_over_block_size_blocks(kata, device, block_size):
    alloc, cache = make_cache(kata, device, n_blocks=24, block_size=block_size)
    n = 0
    for i, T in enumerate([1, 3, 4, 1, 7, 0, 4, 2]):  # lengths 1 4 8 9 16 16 20 22
        k = randn(T, H, D, seed=300 + i, device=device)
        cache.append("s", k, k)
        n += T
        held = len(cache.block_tables["s"])
        want = blocks_needed(n, block_size)
        hint = ("a block is allocated before the last one is full" if held > want else
                "no new block was allocated when the last one filled up")
        assert held == want, (
            f"after {n} tokens with block_size={block_size} the sequence holds {held} blocks, "
            f"expected ceil({n} / {block_size}) = {want}: {hint}")
        assert cache.lengths["s"] == n, f"lengths['s'] = {cache.lengths['s']}, expected {n}"
        assert alloc.n_free == 24 - want, (
            f"allocator has {alloc.n_free} free blocks, expected {24 - want}: every block in "
            "the table must come from the allocator, and only those")


def test_append_nothing_to_a_new_sequence(kata, device):
    alloc, cache = make_cache(kata, device)
    cache.append("e", torch.zeros(0, H, D, device=device), torch.zeros(0, H, D, device=device))
    assert cache.lengths["e"] == 0 and cache.block_tables["e"] == [], (
        "appending 0 tokens to a new sequence creates it empty, with no block")
    k, v = cache.gather("e")
    assert tuple(k.shape) == (0, H, D) and tuple(v.shape) == (0, H, D)
    assert alloc.n_free == 16


def test_distinct_sequences_never_share_a_block(kata, device):
    _, cache, contiguous = run_script(kata, device, SCRIPTS["interleaved"], seed=400)
    tables = [cache.block_tables[s] for s in contiguous]
    flat = [b for t in tables for b in t]
    assert len(flat) == len(set(flat)), f"block tables {tables} share blocks"


# ---------------------------------------------------------------------------------------------
# free, leaks and reuse
# ---------------------------------------------------------------------------------------------


def test_free_returns_every_block_of_the_sequence(kata, device):
    alloc, cache, contiguous = run_script(kata, device, SCRIPTS["interleaved"], n_blocks=12,
                                          seed=500)
    held = {s: len(cache.block_tables[s]) for s in contiguous}
    cache.free(1)
    assert alloc.n_free == 12 - held[0] - held[2], (
        f"after freeing seq 1 ({held[1]} blocks) the allocator has {alloc.n_free} free, "
        f"expected {12 - held[0] - held[2]}: blocks leaked")
    assert 1 not in cache.block_tables and 1 not in cache.lengths, (
        "a freed sequence must be forgotten (its block table and length removed)")
    for sid in (0, 2):  # the others are untouched
        check_gather(cache, sid, *contiguous[sid], f"seq {sid} after freeing seq 1")
    cache.free(0)
    cache.free(2)
    assert alloc.n_free == 12, f"{12 - alloc.n_free} blocks leaked after freeing everything"


def test_free_of_an_unknown_or_freed_sequence_raises(kata, device):
    alloc, cache, _ = run_script(kata, device, [(0, 5)], n_blocks=8)
    with pytest.raises(KeyError):
        cache.free(3)
    cache.free(0)
    with pytest.raises((KeyError, ValueError)):
        cache.free(0)
    assert alloc.n_free == 8, "a second free of the same sequence must not free blocks twice"
    with pytest.raises(KeyError):
        cache.gather(0)


def test_reused_blocks_do_not_leak_stale_tokens(kata, device):
    # seq "old" fills 3 blocks with large values; after it is freed, "new" reuses its blocks
    # and holds fewer tokens than they can: the rest of the last block is stale.
    bs = 4
    alloc, cache = make_cache(kata, device, n_blocks=3, block_size=bs)
    old = randn(12, H, D, seed=600, device=device, scale=100.0)
    cache.append("old", old, old)
    cache.free("old")
    k = randn(6, H, D, seed=601, device=device)
    v = randn(6, H, D, seed=602, device=device)
    cache.append("new", k[:5], v[:5])
    cache.append("new", k[5:], v[5:])
    check_gather(cache, "new", k, v, "a sequence written into reused blocks")


def test_append_out_of_blocks_raises_and_changes_nothing(kata, device):
    alloc, cache, contiguous = run_script(kata, device, [(0, 6), (1, 3)], n_blocks=4,
                                          block_size=3, seed=700)
    assert alloc.n_free == 1
    big = randn(7, H, D, seed=701, device=device)  # seq 1: 3 + 7 = 10 tokens -> 4 blocks
    with pytest.raises(kata.OutOfBlocks):
        cache.append(1, big, big)
    assert alloc.n_free == 1 and cache.lengths[1] == 3 and len(cache.block_tables[1]) == 1, (
        "a failed append must leave the sequence and the allocator as they were")
    check_gather(cache, 1, *contiguous[1], "seq 1 after a failed append")
    cache.append(1, big[:3], big[:3])  # exactly fills the last free block
    assert alloc.n_free == 0 and cache.lengths[1] == 6


# ---------------------------------------------------------------------------------------------
# paged_attention against SDPA on the contiguous cache
# ---------------------------------------------------------------------------------------------


def oracle_attention(q, contiguous, seq_ids):
    outs = []
    for i, sid in enumerate(seq_ids):
        k, v = contiguous[sid]  # (T, H, D)
        o = F.scaled_dot_product_attention(q[i][:, None, :], k.transpose(0, 1),
                                           v.transpose(0, 1))  # (H, 1, D)
        outs.append(o[:, 0, :])
    return torch.stack(outs)


def attention_suspects(q, contiguous, seq_ids):
    def scaled(c):
        return lambda: oracle_attention(q * c, contiguous, seq_ids)

    return [("scores scaled by 1/D instead of 1/sqrt(D)", scaled(1 / math.sqrt(D))),
            ("unscaled scores: divide by sqrt(D)", scaled(math.sqrt(D)))]


def check_attention(kata, q, cache, contiguous, seq_ids, what):
    out = kata.paged_attention(q, cache, seq_ids)
    expected = oracle_attention(q, contiguous, seq_ids)
    try:
        assert_close(out, expected, what=what)
    except AssertionError as err:
        for description, wrong in attention_suspects(q, contiguous, seq_ids):
            try:
                assert_close(out, wrong(), what=description)
            except AssertionError:
                continue
            raise AssertionError(f"{err}\nYour result matches {description}.") from None
        raise


@pytest.mark.parametrize("block_size", [1, 4, 5])
def test_paged_attention_matches_sdpa_per_sequence(kata, device, block_size):
    # lengths 1, 8, 13, 4, 20: one token, whole blocks, partial last blocks
    script = [(0, 1), (1, 8), (2, 9), (3, 4), (4, 15), (2, 4), (4, 5)]
    _, cache, contiguous = run_script(kata, device, script, n_blocks=64, block_size=block_size,
                                      seed=800)
    seq_ids = [0, 1, 2, 3, 4]
    q = randn(5, H, D, seed=801, device=device)
    check_attention(kata, q, cache, contiguous, seq_ids,
                    f"paged_attention (block_size={block_size}, lengths 1, 8, 13, 4, 20)")


def test_paged_attention_follows_the_order_of_seq_ids(kata, device):
    script = [("x", 7), ("y", 2), ("z", 11)]
    _, cache, contiguous = run_script(kata, device, script, block_size=4, seed=900)
    seq_ids = ["z", "x"]  # a subset, out of insertion order
    q = randn(2, H, D, seed=901, device=device)
    check_attention(kata, q, cache, contiguous, seq_ids,
                    "paged_attention over seq_ids ['z', 'x']: q[i] goes with seq_ids[i]")


def test_paged_attention_masks_stale_slots_of_reused_blocks(kata, device):
    bs = 4
    alloc, cache = make_cache(kata, device, n_blocks=4, block_size=bs)
    junk = randn(16, H, D, seed=1000, device=device, scale=30.0)  # stale keys dominate scores
    cache.append("old", junk, junk)
    cache.free("old")
    k = randn(6, H, D, seed=1001, device=device)
    v = randn(6, H, D, seed=1002, device=device)
    k2 = randn(1, H, D, seed=1003, device=device)
    cache.append("a", k, v)  # 6 tokens: the second block has 2 stale slots
    cache.append("b", k2, k2)  # 1 token: 3 stale slots
    contiguous = {"a": (k, v), "b": (k2, k2)}
    q = randn(2, H, D, seed=1004, device=device, scale=3.0)
    check_attention(kata, q, cache, contiguous, ["a", "b"],
                    "paged_attention on reused blocks: slots past each sequence's length hold "
                    "stale keys and must be masked")


def test_paged_attention_does_not_call_sdpa(kata, device, monkeypatch):
    _, cache, contiguous = run_script(kata, device, [(0, 5), (1, 2)], seed=1100)
    q = randn(2, H, D, seed=1101, device=device)
    expected = oracle_attention(q, contiguous, [0, 1])

    def refuse(*args, **kwargs):
        raise AssertionError("F.scaled_dot_product_attention is the oracle: compute the "
                             "scores, mask and softmax yourself")

    monkeypatch.setattr(F, "scaled_dot_product_attention", refuse)
    out = kata.paged_attention(q, cache, [0, 1])
    assert_close(out, expected, what="paged_attention without SDPA")
