"""Tests for the KV-cache kata.

Oracles: the logits of a full forward without any cache, computed by an independent reference
forward written here from the model's weights (torch's SDPA with is_causal=True on the square
(T, T) case, where top-left alignment is right); cached decoding must reproduce them position
by position, and cached greedy generation must reproduce a greedy loop over the reference.
kv_cache_bytes is checked against hand-computed sizes of real models and against the bytes of
the cache's own buffers. Inputs are drawn on CPU from seeded generators, models are built
under a fixed seed, and both are then moved to the device under test.
"""

import pytest
import torch
import torch.nn.functional as F

from dojo.testing import assert_close, synchronize

VOCAB, D_MODEL, N_HEADS, N_LAYERS, MAX_LEN = 37, 16, 4, 2, 32


@pytest.fixture(autouse=True)
def one_intra_op_thread(request):
    """The models here are tiny (d_model 16): intra-op threads buy nothing, and on a busy
    machine every one of the hundreds of small ops of a decode loop waits for the thread pool
    (milliseconds each). Benchmarks that really run keep torch's thread count."""
    if "benchmark" in request.fixturenames and not request.getfixturevalue("benchmark").disabled:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def make_model(kata, device, seed=0, vocab=VOCAB, d_model=D_MODEL, n_heads=N_HEADS,
               n_layers=N_LAYERS, max_len=MAX_LEN):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = kata.TinyDecoder(vocab, d_model, n_heads, n_layers, max_len)
    return model.to(device).eval()


def tokens(B, T, seed, device, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (B, T), generator=g).to(device)


def randn(*shape, seed, device):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(device)


@torch.no_grad()
def reference_logits(model, toks):
    """The model's forward written out from its weights, no cache: (B, T) -> (B, T, vocab)."""
    B, T = toks.shape
    H, D = model.n_heads, model.head_dim
    x = model.tok.weight[toks] + model.pos.weight[:T]
    for blk in model.blocks:
        h = F.layer_norm(x, x.shape[-1:], blk.ln1.weight, blk.ln1.bias)
        q, k, v = F.linear(h, blk.attn.qkv.weight, blk.attn.qkv.bias).view(B, T, 3, H, D).unbind(2)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True)  # (B, H, T, D)
        x = x + F.linear(o.transpose(1, 2).reshape(B, T, H * D), blk.attn.out.weight,
                         blk.attn.out.bias)
        x = x + blk.mlp(F.layer_norm(x, x.shape[-1:], blk.ln2.weight, blk.ln2.bias))
    x = F.layer_norm(x, x.shape[-1:], model.norm.weight, model.norm.bias)
    return x @ model.head.weight.T


@torch.no_grad()
def reference_greedy(model, prompt, n):
    out = prompt
    for _ in range(n):
        out = torch.cat([out, reference_logits(model, out)[:, -1].argmax(-1, keepdim=True)], 1)
    return out


ALIGN = ("query t of the new chunk sits at absolute position past + t and must see keys "
         "0 .. past + t: a (T, S) mask aligned at the bottom-right, tril(S - T). SDPA's "
         "is_causal is aligned at the top-left and is only right when T == S")


# ---------------------------------------------------------------------------------------------
# KVCache
# ---------------------------------------------------------------------------------------------


def test_cache_preallocates_k_and_v_buffers(kata, device):
    cache = kata.KVCache(3, 2, 4, 10, 8, device=device)
    for name in ("k", "v"):
        buf = getattr(cache, name)
        assert tuple(buf.shape) == (3, 2, 4, 10, 8), (
            f"cache.{name} has shape {tuple(buf.shape)}; expected (n_layers, batch, n_heads, "
            "max_len, head_dim) = (3, 2, 4, 10, 8), allocated once up front")
        assert buf.device == device and buf.dtype == torch.float32, (
            f"cache.{name} is {buf.dtype} on {buf.device}; expected float32 on {device}")
    assert len(cache) == 0, f"a new cache holds {len(cache)} tokens; expected 0"
    k, v = cache.get(0)
    assert k.shape == v.shape == (2, 4, 0, 8), (
        f"get(0) on an empty cache gives {tuple(k.shape)}; expected (B, H, 0, D) = (2, 4, 0, 8)")


def test_append_then_get_returns_everything_appended_in_order(kata, device):
    cache = kata.KVCache(2, 2, 3, 8, 4, device=device)
    chunks = [(randn(2, 3, T, 4, seed=10 + i, device=device),
               randn(2, 3, T, 4, seed=20 + i, device=device)) for i, T in enumerate((3, 1, 2))]
    for n, (k, v) in enumerate(chunks, 1):
        cache.append(0, k, v)
        cache.append(1, 2 * k, -v)
        want = sum(c[0].shape[-2] for c in chunks[:n])
        assert len(cache) == want, f"after {n} appends len(cache) is {len(cache)}; expected {want}"
    k_all = torch.cat([c[0] for c in chunks], dim=-2)
    v_all = torch.cat([c[1] for c in chunks], dim=-2)
    k0, v0 = cache.get(0)
    k1, v1 = cache.get(1)
    assert_close(k0, k_all, what="get(0) keys after appending chunks of 3, 1, 2 tokens "
                                 "(each chunk goes right after the previous one)")
    assert_close(v0, v_all, what="get(0) values")
    assert_close(k1, 2 * k_all, what="get(1) keys: each layer has its own slot in the buffer")
    assert_close(v1, -v_all, what="get(1) values")


def test_append_writes_in_place_and_get_returns_views(kata, device):
    cache = kata.KVCache(1, 1, 2, 6, 4, device=device)
    k_ptr, v_ptr = cache.k.data_ptr(), cache.v.data_ptr()
    for i in range(3):
        cache.append(0, randn(1, 2, 2, 4, seed=30 + i, device=device),
                     randn(1, 2, 2, 4, seed=40 + i, device=device))
    assert (cache.k.data_ptr(), cache.v.data_ptr()) == (k_ptr, v_ptr), (
        "the cache buffers were reallocated: append must write into the preallocated k and v "
        "(slice assignment), not torch.cat a new tensor every step")
    k, v = cache.get(0)
    assert k.data_ptr() == k_ptr and v.data_ptr() == v_ptr, (
        "get must return views of the buffers (slices), not copies")


def test_cache_fills_exactly_to_max_len_then_refuses(kata, device):
    cache = kata.KVCache(1, 1, 1, 5, 2, device=device)
    cache.append(0, randn(1, 1, 3, 2, seed=50, device=device),
                 randn(1, 1, 3, 2, seed=51, device=device))
    cache.append(0, randn(1, 1, 2, 2, seed=52, device=device),
                 randn(1, 1, 2, 2, seed=53, device=device))  # exactly max_len: fine
    assert len(cache) == 5
    with pytest.raises(ValueError):
        cache.append(0, randn(1, 1, 1, 2, seed=54, device=device),
                     randn(1, 1, 1, 2, seed=55, device=device))


def test_len_counts_tokens_held_by_every_layer(kata, device):
    cache = kata.KVCache(2, 1, 1, 4, 2, device=device)
    x = randn(1, 1, 2, 2, seed=56, device=device)
    cache.append(0, x, x)
    assert len(cache) == 0, (
        "len(cache) must count the tokens every layer holds: layer 1 holds none yet, so 0 "
        f"(got {len(cache)})")
    cache.append(1, x, x)
    assert len(cache) == 2, f"len(cache) is {len(cache)} with 2 tokens in both layers"


# ---------------------------------------------------------------------------------------------
# The model with and without a cache
# ---------------------------------------------------------------------------------------------


def test_model_without_cache_matches_the_reference_forward(kata, device):
    model = make_model(kata, device)
    toks = tokens(2, 9, seed=60, device=device)
    with torch.no_grad():
        got = model(toks)
    assert_close(got, reference_logits(model, toks),
                 what="TinyDecoder(tokens) without a cache (T == S: an ordinary causal mask; "
                      "token t sees tokens 0..t, itself included)")


def test_decoding_token_by_token_matches_the_full_forward(kata, device):
    model = make_model(kata, device, seed=1)
    toks = tokens(2, 9, seed=61, device=device)
    full = reference_logits(model, toks)
    cache = model.new_cache(2)
    with torch.no_grad():
        prefill = model(toks[:, :4], cache)
    assert len(cache) == 4, f"after a 4-token prefill len(cache) is {len(cache)}, expected 4"
    assert_close(prefill, full[:, :4], what="prefill logits of the first 4 tokens with a cache")
    for t in range(4, 9):
        logits = kata.decode_step(model, toks[:, t], cache)
        assert len(cache) == t + 1, (
            f"after the decode step of token {t} len(cache) is {len(cache)}, expected {t + 1}: "
            "each step must append exactly once per layer")
        assert_close(logits, full[:, t],
                     what=f"decode_step logits of token {t} (position {t}) with {t} cached tokens; "
                          "they must equal the full forward's. Check that positions continue "
                          "after the cache (not from 0) and that the new query sees every "
                          "cached key")


@pytest.mark.parametrize("chunks", [(3, 3, 1), (4, 2)], ids=["3-3-1", "4-2"])
def test_chunked_prefill_uses_a_bottom_right_causal_mask(kata, device, chunks):
    model = make_model(kata, device, seed=2)
    toks = tokens(1, sum(chunks), seed=62, device=device)
    full = reference_logits(model, toks)
    cache = model.new_cache(1)
    start = 0
    for T in chunks:
        with torch.no_grad():
            got = model(toks[:, start:start + T], cache)
        assert_close(got, full[:, start:start + T],
                     what=f"logits of a chunk of {T} tokens at positions {start}..{start + T - 1} "
                          f"after {start} cached tokens: {ALIGN}")
        start += T


def test_cache_follows_the_model_device_and_dtype(kata, device):
    model = make_model(kata, device)
    cache = model.new_cache(3, 7)
    assert tuple(cache.k.shape) == (N_LAYERS, 3, N_HEADS, 7, D_MODEL // N_HEADS)
    assert cache.k.device == device and cache.v.device == device


def test_decode_step_returns_next_token_logits_of_shape_batch_by_vocab(kata, device):
    model = make_model(kata, device, seed=3)
    toks = tokens(3, 5, seed=63, device=device)
    cache = model.new_cache(3)
    with torch.no_grad():
        model(toks[:, :4], cache)
    logits = kata.decode_step(model, toks[:, 4], cache)
    assert tuple(logits.shape) == (3, VOCAB), (
        f"decode_step returned shape {tuple(logits.shape)}; expected (B, vocab) = (3, {VOCAB})")
    assert_close(logits, reference_logits(model, toks)[:, 4], what="decode_step logits")


# ---------------------------------------------------------------------------------------------
# Greedy generation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_cache", [True, False], ids=["cached", "recompute"])
def test_generate_greedy_matches_a_reference_greedy_loop(kata, device, use_cache):
    model = make_model(kata, device, seed=4)
    prompt = tokens(2, 5, seed=64, device=device)
    got = kata.generate_greedy(model, prompt, 9, use_cache=use_cache)
    want = reference_greedy(model, prompt, 9)
    assert tuple(got.shape) == (2, 14), (
        f"generate_greedy(prompt (2, 5), n=9) returned shape {tuple(got.shape)}; expected "
        "(2, 14): the prompt followed by the 9 new tokens")
    assert torch.equal(got[:, :5], prompt), "the output must start with the prompt, unchanged"
    assert torch.equal(got, want), (
        f"generate_greedy(use_cache={use_cache}) gave {got.tolist()}; a greedy loop over the full "
        f"forward gives {want.tolist()}")


def test_generate_greedy_cached_equals_recompute_on_a_long_prompt(kata, device):
    model = make_model(kata, device, seed=5)
    prompt = tokens(1, 20, seed=65, device=device)
    cached = kata.generate_greedy(model, prompt, 12, use_cache=True)
    recompute = kata.generate_greedy(model, prompt, 12, use_cache=False)
    assert torch.equal(cached, recompute), (
        f"cached greedy decoding {cached[0, 20:].tolist()} differs from recompute "
        f"{recompute[0, 20:].tolist()}")


def test_generate_greedy_with_zero_new_tokens_returns_the_prompt(kata, device):
    model = make_model(kata, device, seed=6)
    prompt = tokens(2, 4, seed=66, device=device)
    for use_cache in (True, False):
        got = kata.generate_greedy(model, prompt, 0, use_cache=use_cache)
        assert torch.equal(got, prompt), f"n=0 (use_cache={use_cache}) must return the prompt"


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,expected", [
    ((32, 32, 128, 4096, 1, 2), 2 * 1024 ** 3),  # Llama-2-7B, fp16, 4k context: 2 GiB
    ((80, 8, 128, 4096, 1, 2), 1_342_177_280),  # Llama-2-70B (GQA, 8 kv heads), fp16: 1.25 GiB
    ((2, 3, 5, 7, 11, 4), 2 * 2 * 3 * 5 * 7 * 11 * 4),
], ids=["llama2-7b", "llama2-70b-gqa", "primes"])
def test_kv_cache_bytes_counts_keys_and_values(kata, args, expected):
    got = kata.kv_cache_bytes(*args)
    names = "layers, kv_heads, head_dim, seq, batch, dtype_bytes"
    hint = " (exactly half: keys AND values, the factor 2)" if got * 2 == expected else ""
    assert got == expected, f"kv_cache_bytes({names} = {args}) = {got}, expected {expected}{hint}"


def test_kv_cache_bytes_equals_the_buffers_of_a_cache(kata, device):
    cache = kata.KVCache(3, 2, 4, 10, 8, device=device)
    actual = cache.k.numel() * cache.k.element_size() + cache.v.numel() * cache.v.element_size()
    assert kata.kv_cache_bytes(3, 4, 8, 10, 2, 4) == actual == 2 * 3 * 4 * 8 * 10 * 2 * 4


# ---------------------------------------------------------------------------------------------
# Benchmark: cached greedy decoding vs recomputing the whole sequence every step
# ---------------------------------------------------------------------------------------------


def bench_setup(kata, device, benchmark):
    """At ~512 tokens of context when benchmarks run; tiny when they are disabled (plain tests)."""
    T0, n = (8, 8) if benchmark.disabled else (448, 64)  # context 512 when enabled
    model = make_model(kata, device, seed=7, vocab=256, d_model=128, n_heads=4, n_layers=2,
                       max_len=512)
    return model, tokens(1, T0, seed=70, device=device, vocab=256), n


@pytest.mark.benchmark(group="kv_cache-greedy")
def test_bench_generate_with_cache(kata, device, benchmark):
    model, prompt, n = bench_setup(kata, device, benchmark)

    def run():
        out = kata.generate_greedy(model, prompt, n, use_cache=True)
        synchronize(device)
        return out

    out = benchmark(run)
    assert torch.equal(out, kata.generate_greedy(model, prompt, n, use_cache=False)), (
        "cached and recomputed greedy decoding disagree")


@pytest.mark.benchmark(group="kv_cache-greedy")
def test_bench_generate_recompute(kata, device, benchmark):
    model, prompt, n = bench_setup(kata, device, benchmark)

    def run():
        out = kata.generate_greedy(model, prompt, n, use_cache=False)
        synchronize(device)
        return out

    out = benchmark(run)
    assert torch.equal(out, kata.generate_greedy(model, prompt, n, use_cache=True)), (
        "recomputed and cached greedy decoding disagree")
