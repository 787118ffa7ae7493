"""Tests for the flash-attention kata.

Oracle: torch.nn.functional.scaled_dot_product_attention (is_causal is top-left aligned, the
kata's convention), on seeded float32 inputs moved to the device under test. When a result is
wrong, the tests compare it with tiled implementations that carry one classic bug each (no
rescaling by exp(m_old - m_new), a causal mask in tile-local indices, a causal mask without its
diagonal, no 1/sqrt(D), the partial last key block dropped) and name the one it matches.

Memory: an AllocationTracker (a TorchDispatchMode) sees every tensor the call creates and keeps
the bytes of those still alive (weakref finalizers release them), which gives a peak on any
device; on CUDA the benchmarks use torch.cuda.max_memory_allocated instead.
"""

import math
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from dojo.testing import assert_close, forbid_builtins, synchronize


@pytest.fixture(autouse=True)
def one_intra_op_thread(request):
    """The tiles here are tiny: intra-op threads buy nothing, and on a busy machine each of the
    thousands of small ops of the tile loops waits for the thread pool. Benchmarks that really
    run keep torch's thread count."""
    if "benchmark" in request.fixturenames and not request.getfixturevalue("benchmark").disabled:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def randn(*shape, seed, device, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(device)


def qkv(B, H, N, D, seed, device, S=None, Dv=None, scale=1.0):
    S = N if S is None else S
    return (randn(B, H, N, D, seed=seed, device=device, scale=scale),
            randn(B, H, S, D, seed=seed + 1, device=device, scale=scale),
            randn(B, H, S, D if Dv is None else Dv, seed=seed + 2, device=device))


def oracle(q, k, v, causal=False):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


# ---------------------------------------------------------------------------------------------
# Classic wrong answers: a tiled attention with one bug each (used only to name the bug)
# ---------------------------------------------------------------------------------------------


def buggy_tiled(q, k, v, block, causal, *, rescale=True, local_mask=False, diagonal=True,
                scale=True, drop_partial=False):
    q, k, v = (t.detach().cpu().double() for t in (q, k, v))
    N, S, D = q.shape[-2], k.shape[-2], q.shape[-1]
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=torch.float64)
    S_used = S - S % block if drop_partial else S
    for i0 in range(0, N, block):
        qi = q[..., i0:i0 + block, :] / (math.sqrt(D) if scale else 1.0)
        bq = qi.shape[-2]
        m = torch.full((*qi.shape[:-1], 1), float("-inf"), dtype=torch.float64)
        l = torch.zeros_like(m)
        acc = torch.zeros(*qi.shape[:-1], v.shape[-1], dtype=torch.float64)
        j_end = min(S_used, i0 + bq) if causal else S_used  # skip blocks after the diagonal
        for j0 in range(0, j_end, block):
            kj, vj = k[..., j0:j0 + block, :], v[..., j0:j0 + block, :]
            s = qi @ kj.transpose(-2, -1)
            if causal:
                off = (0, 0) if local_mask else (i0, j0)
                rows = torch.arange(bq)[:, None] + off[0]
                cols = torch.arange(kj.shape[-2])[None, :] + off[1]
                s = s.masked_fill(cols > rows if diagonal else cols >= rows, float("-inf"))
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
            p = torch.exp(s - safe)
            alpha = torch.exp(m - safe) if rescale else torch.ones_like(m)
            l = alpha * l + p.sum(-1, keepdim=True)
            acc = alpha * acc + p @ vj
            m = m_new
        out[..., i0:i0 + bq, :] = acc / l
    return out.float()


def suspects(q, k, v, block, causal):
    out = [
        ("a running sum and output that are not rescaled by exp(m_old - m_new) when the "
         "running max grows", lambda: buggy_tiled(q, k, v, block, causal, rescale=False)),
        ("attention with unscaled scores: multiply q @ k^T by 1 / sqrt(D)",
         lambda: buggy_tiled(q, k, v, block, causal, scale=False)),
    ]
    if k.shape[-2] % block:
        out.append(("the partial last key block dropped: range(0, S, block_size) must include "
                    "it", lambda: buggy_tiled(q, k, v, block, causal, drop_partial=True)))
    if causal:
        out += [
            ("a causal mask in tile-local indices: compare the absolute row i0 + r with the "
             "absolute column j0 + c",
             lambda: buggy_tiled(q, k, v, block, causal, local_mask=True)),
            ("a causal mask without its diagonal: query i also sees key i (mask j > i, not "
             "j >= i)", lambda: buggy_tiled(q, k, v, block, causal, diagonal=False)),
        ]
    return out


def check_flash(kata, q, k, v, block, causal, what):
    actual = kata.flash_attention(q, k, v, block_size=block, causal=causal)
    expected = oracle(q, k, v, causal)
    try:
        assert_close(actual, expected, what=what)
    except AssertionError as err:
        for description, wrong in suspects(q, k, v, block, causal):
            try:
                assert_close(actual.cpu(), wrong(), what=description, rtol=1e-4, atol=1e-5)
            except Exception:
                continue
            raise AssertionError(f"{err}\nYour result matches {description}.") from None
        raise
    assert actual.dtype == q.dtype and actual.device == q.device, (
        f"{what}: result is {actual.dtype} on {actual.device}; expected q's dtype and device")
    return actual


# ---------------------------------------------------------------------------------------------
# Allocation tracking
# ---------------------------------------------------------------------------------------------


class AllocationTracker(TorchDispatchMode):
    """Tracks the tensors created while active: `peak` is the largest number of bytes of them
    alive at once, `largest` the element count of the biggest one. Storages are counted once,
    however many views share them; the storages of `inputs` are not counted."""

    def __init__(self, *inputs):
        super().__init__()
        self.external = {t.untyped_storage().data_ptr() for t in inputs}
        self.refs = {}  # storage data_ptr -> [nbytes, live tensors on it]
        self.live = self.peak = self.largest = 0

    @classmethod
    def _should_skip_dynamo(cls):
        # Else the first dispatch imports torch._dynamo (seconds); nothing is compiled here.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out

    def _track(self, t):
        storage = t.untyped_storage()
        ptr, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes == 0 or ptr in self.external:
            return
        entry = self.refs.get(ptr)
        if entry is None:
            entry = self.refs[ptr] = [nbytes, 0]
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            self.largest = max(self.largest, nbytes // t.element_size())
        entry[1] += 1
        weakref.finalize(t, self._release, ptr)

    def _release(self, ptr):
        entry = self.refs.get(ptr)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live -= entry[0]
            del self.refs[ptr]


def peak_bytes(fn, device, inputs):
    """(peak bytes allocated during fn(), its result). CUDA: the caching allocator's peak;
    elsewhere: the AllocationTracker."""
    with torch.no_grad():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            out = fn()
            torch.cuda.synchronize(device)
            return torch.cuda.max_memory_allocated(device) - base, out
        with AllocationTracker(*inputs) as tracker:
            out = fn()
        return tracker.peak, out


def naive_attention(q, k, v, causal=False):
    """softmax(q k^T / sqrt(D)) v with the full (N, S) score matrix: the memory baseline."""
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        keep = torch.ones(s.shape[-2:], dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~keep, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


# ---------------------------------------------------------------------------------------------
# Correctness against SDPA
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_matches_sdpa(kata, device, causal):
    q, k, v = qkv(2, 3, 64, 8, seed=1, device=device, Dv=5)
    check_flash(kata, q, k, v, 16, causal,
                f"flash_attention (B=2, H=3, N=64, D=8, block_size=16, causal={causal})")


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("N,block", [(50, 16), (33, 8), (7, 64), (9, 1)],
                         ids=["50/16", "33/8", "block>N", "block=1"])
def test_partial_and_odd_blocks(kata, device, N, block, causal):
    q, k, v = qkv(1, 2, N, 4, seed=2, device=device)
    check_flash(kata, q, k, v, block, causal,
                f"flash_attention with N={N}, block_size={block}, causal={causal} (the last "
                "block of queries and of keys is partial)")


@pytest.mark.parametrize("N,S,causal", [(20, 37, False), (37, 20, True), (20, 37, True)])
def test_keys_of_another_length(kata, device, N, S, causal):
    q, k, v = qkv(2, 1, N, 8, seed=3, device=device, S=S, Dv=3)
    check_flash(kata, q, k, v, 8, causal,
                f"flash_attention with N={N} queries, S={S} keys, causal={causal} (top-left: "
                "query i sees keys j <= i)")


def test_rescales_when_the_running_max_grows(kata, device):
    # Scores grow from key block to key block, so every new block raises the running max: an
    # online softmax that does not rescale l and acc by exp(m_old - m_new) is far off here.
    q = randn(1, 1, 8, 8, seed=4, device=device).abs() + 0.5
    ramp = torch.linspace(0.0, 3.0, 32)[:, None]  # (32, 1): key j grows with j
    u = randn(8, seed=5, device="cpu").abs()
    k = (ramp * u)[None, None].to(device)  # (1, 1, 32, 8): q . k_j rises with j
    v = randn(1, 1, 32, 4, seed=6, device=device)
    check_flash(kata, q, k, v, 8, False,
                "flash_attention with scores that rise across key blocks")


def test_scales_scores_by_inverse_sqrt_head_dim(kata, device):
    q, k, v = qkv(1, 2, 24, 16, seed=7, device=device, scale=0.7)
    check_flash(kata, q, k, v, 8, True, "flash_attention with head_dim 16 (scale 1/4)")


def test_is_stable_for_huge_scores(kata, device):
    # Integer q, k with D = 16 make every score exact, with magnitudes ~1e4: exp overflows
    # unless each tile subtracts the running max.
    g = torch.Generator().manual_seed(8)
    q = torch.randint(-100, 101, (1, 2, 24, 16), generator=g).float().to(device)
    k = torch.randint(-100, 101, (1, 2, 24, 16), generator=g).float().to(device)
    v = randn(1, 2, 24, 4, seed=9, device=device)
    assert (q @ k.transpose(-2, -1) / 4).abs().max() > 5e3
    check_flash(kata, q, k, v, 8, False, "flash_attention with scores ~1e4")
    check_flash(kata, -q, k, v, 8, True, "causal flash_attention with scores ~1e4")


def test_gradients_match_sdpa(kata, device):
    leaves = [t.requires_grad_(True) for t in qkv(1, 2, 19, 4, seed=10, device=device)]
    w = randn(1, 2, 19, 4, seed=11, device=device)
    out = kata.flash_attention(*leaves, block_size=8, causal=True)
    grads = torch.autograd.grad((out * w).sum(), leaves)
    expected = torch.autograd.grad((oracle(*leaves, causal=True) * w).sum(), leaves)
    for name, got, want in zip("qkv", grads, expected, strict=True):
        assert_close(got, want, what=f"d(loss)/d{name} through causal flash_attention")


def test_keeps_float64(kata, device):
    if device.type != "cpu":
        pytest.skip("float64 is checked on CPU only (MPS has no float64)")
    q, k, v = (t.double() for t in qkv(1, 1, 21, 4, seed=12, device=device))
    out = kata.flash_attention(q, k, v, block_size=8, causal=True)
    assert out.dtype == torch.float64, f"flash_attention returned {out.dtype} for float64 inputs"
    assert_close(out, oracle(q, k, v, causal=True), what="flash_attention in float64")


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_never_materializes_the_full_score_matrix(kata, device, causal):
    N, block = 256, 32
    q, k, v = qkv(1, 1, N, 16, seed=13, device=device)
    with torch.no_grad(), AllocationTracker(q, k, v) as tracker:
        out = kata.flash_attention(q, k, v, block_size=block, causal=causal)
    assert_close(out, oracle(q, k, v, causal), what="flash_attention (N=256, block_size=32)")
    assert tracker.largest < N * N, (
        f"flash_attention allocated a tensor of {tracker.largest} elements, as big as the full "
        f"(N, N) = ({N}, {N}) score matrix or mask; only (block, block) tiles are allowed")
    assert tracker.peak < N * N * 4, (
        f"flash_attention had {tracker.peak} bytes of tensors alive at once, more than one "
        f"float32 ({N}, {N}) score matrix ({N * N * 4} bytes); keep only the current tile")


def test_no_builtin_softmax_or_attention(kata, device, monkeypatch):
    forbidden = {
        "torch.softmax": (torch, "softmax"),
        "torch.nn.functional.softmax": (F, "softmax"),
        "Tensor.softmax": (torch.Tensor, "softmax"),
        "torch.log_softmax": (torch, "log_softmax"),
        "Tensor.log_softmax": (torch.Tensor, "log_softmax"),
        "F.scaled_dot_product_attention": (F, "scaled_dot_product_attention"),
    }
    forbid_builtins(monkeypatch, kata, forbidden, "the online softmax is the point")
    q, k, v = qkv(1, 1, 10, 4, seed=14, device=device)
    kata.flash_attention(q, k, v, block_size=4, causal=True)


# ---------------------------------------------------------------------------------------------
# Benchmark: peak memory of tiled vs naive attention (N = 4096 when benchmarks run)
# ---------------------------------------------------------------------------------------------

BENCH_BLOCK = 128


def bench_inputs(benchmark, device):
    N = 256 if benchmark.disabled else 4096
    return qkv(1, 1, N, 64, seed=20, device=device)


@pytest.mark.benchmark(group="flash_attention-peak-memory")
def test_bench_flash_attention(kata, device, benchmark):
    q, k, v = bench_inputs(benchmark, device)

    def run():
        with torch.no_grad():
            out = kata.flash_attention(q, k, v, block_size=BENCH_BLOCK, causal=True)
        synchronize(device)
        return out

    out = benchmark(run)
    assert_close(out, oracle(q, k, v, causal=True), what="flash_attention in the benchmark")
    peak, _ = peak_bytes(run, device, (q, k, v))
    naive_peak, _ = peak_bytes(lambda: naive_attention(q, k, v, causal=True), device, (q, k, v))
    benchmark.extra_info["peak_bytes"] = peak
    benchmark.extra_info["naive_peak_bytes"] = naive_peak
    benchmark.extra_info["N"] = q.shape[-2]
    assert peak < naive_peak, (
        f"tiled flash_attention peaks at {peak} bytes, naive attention at {naive_peak}: the "
        "tiled version must not hold the (N, N) scores")


@pytest.mark.no_todo  # the naive baseline is written in this file
@pytest.mark.benchmark(group="flash_attention-peak-memory")
def test_bench_naive_attention(device, benchmark):
    q, k, v = bench_inputs(benchmark, device)

    def run():
        with torch.no_grad():
            out = naive_attention(q, k, v, causal=True)
        synchronize(device)
        return out

    out = benchmark(run)
    assert_close(out, oracle(q, k, v, causal=True), what="naive attention in the benchmark")
    peak, _ = peak_bytes(run, device, (q, k, v))
    benchmark.extra_info["peak_bytes"] = peak
    benchmark.extra_info["N"] = q.shape[-2]
    N = q.shape[-2]
    assert peak >= N * N * 4, (
        f"naive attention peaked at {peak} bytes, less than one float32 (N, N) score matrix")
