"""Tests for the int4_weight_only kata.

Oracles: a byte-by-byte Python packer (pure ints, no torch bit ops) for pack_int4 and an
exhaustive round trip over all 16 codes (and all 256 bytes) for unpack_int4; the closed-form
group-wise min-max qparams in float64 on CPU for quantize_int4, plus the per-group error
bound |w - dq| <= scale / 2; F.linear (float64, CPU) with the dequantized weight for
Int4Linear, and against the float nn.Linear the rigorous bound
|y - y_float| <= sum_j |x_j| * scale_g(j) / 2.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def rand_codes(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-8, 8, shape, generator=g, dtype=torch.int8)


def py_pack(q):
    """Reference packer on Python ints: byte = (q[2i] & 0xF) | ((q[2i+1] & 0xF) << 4)."""
    rows = q.reshape(-1, q.shape[-1]).tolist()
    out = [[(r[2 * i] & 0xF) | ((r[2 * i + 1] & 0xF) << 4) for i in range(len(r) // 2)]
           for r in rows]
    return torch.tensor(out, dtype=torch.uint8).reshape(*q.shape[:-1], q.shape[-1] // 2)


def oracle_qparams(w, group_size):
    """(scales, zeros) in float64, (out, G): min/max widened to 0, 15 steps, lo -> -8."""
    out_f, in_f = w.shape
    wg = w.double().reshape(out_f, in_f // group_size, group_size)
    lo = wg.amin(dim=-1).clamp(max=0.0)
    hi = wg.amax(dim=-1).clamp(min=0.0)
    scales = ((hi - lo) / 15).clamp(min=torch.finfo(torch.float32).eps)
    zeros = -8 - torch.round(lo / scales)
    return scales, zeros


def py_unpack(packed):
    """Reference unpacker: low nibble first, nibble >= 8 is negative."""
    rows = packed.reshape(-1, packed.shape[-1]).tolist()
    out = [[v for b in r for v in ((b & 0xF) - 16 * ((b & 0xF) >= 8),
                                   (b >> 4) - 16 * ((b >> 4) >= 8))] for r in rows]
    return torch.tensor(out, dtype=torch.int8).reshape(*packed.shape[:-1], -1)


def test_pack_int4_matches_the_bytewise_reference(kata, device):
    q = rand_codes(3, 5, 8, seed=0)
    got = kata.pack_int4(q.to(device))
    assert got is not None and got.dtype == torch.uint8, (
        f"pack_int4 must return torch.uint8, got {getattr(got, 'dtype', got)}")
    assert tuple(got.shape) == (3, 5, 4), f"pack_int4 shape {tuple(got.shape)}, expected (3, 5, 4)"
    want = py_pack(q)
    if not torch.equal(got.cpu(), want):
        swapped = py_pack(q.flip(-1)).flip(-1)
        hint = (" [nibbles swapped: the LOW nibble holds the EVEN index]"
                if torch.equal(got.cpu(), swapped) else "")
        raise AssertionError(f"pack_int4 bytes differ from (q[2i] & 0xF) | (q[2i+1] & 0xF) << 4"
                             f"{hint}; first bytes {got.cpu().flatten()[:6].tolist()}, expected "
                             f"{want.flatten()[:6].tolist()}")


def test_every_pair_of_codes_round_trips(kata, device):
    # all 16 x 16 (even, odd) pairs: 256 bytes, each value in each nibble position
    a, b = torch.meshgrid(torch.arange(-8, 8), torch.arange(-8, 8), indexing="ij")
    q = torch.stack([a.flatten(), b.flatten()], dim=-1).flatten().to(torch.int8)[None]  # (1, 512)
    packed = kata.pack_int4(q.to(device))
    assert sorted(set(packed.cpu().flatten().tolist())) == list(range(256)), (
        "packing all 256 pairs of int4 codes must give all 256 byte values")
    back = kata.unpack_int4(packed)
    assert back is not None and back.dtype == torch.int8, (
        f"unpack_int4 must return torch.int8, got {getattr(back, 'dtype', back)}")
    if not torch.equal(back.cpu(), q):
        bad = (back.cpu() != q).nonzero()[0, 1]
        got_v, want_v = int(back.cpu()[0, bad]), int(q[0, bad])
        hint = (" [sign extension lost: nibbles 8..15 are the codes -8..-1]"
                if got_v == want_v + 16 else "")
        raise AssertionError(f"unpack_int4(pack_int4(q)) != q: at index {int(bad)} got "
                             f"{got_v}, expected {want_v}{hint}")


def test_unpack_int4_matches_the_reference_on_every_byte(kata, device):
    packed = torch.arange(256, dtype=torch.uint8).reshape(4, 64)
    got = kata.unpack_int4(packed.to(device))
    want = py_unpack(packed)
    assert tuple(got.shape) == (4, 128), f"unpack_int4 shape {tuple(got.shape)}, expected (4, 128)"
    if not torch.equal(got.cpu(), want):
        i = int((got.cpu() != want).flatten().nonzero()[0])
        g, w = int(got.cpu().flatten()[i]), int(want.flatten()[i])
        hint = (" [sign extension lost: a nibble >= 8 is negative]" if g == w + 16 else
                " [nibbles swapped: the low nibble is the even index]"
                if torch.equal(got.cpu(), want.reshape(4, 64, 2).flip(-1).reshape(4, 128))
                else "")
        raise AssertionError(f"unpack_int4 byte {i // 2} gives {g} at index {i}, expected "
                             f"{w}{hint}")


def test_random_codes_round_trip(kata, device):
    q = rand_codes(7, 2, 30, seed=1)
    assert torch.equal(kata.unpack_int4(kata.pack_int4(q.to(device))).cpu(), q), (
        "unpack_int4(pack_int4(q)) != q on random codes of shape (7, 2, 30)")


@pytest.mark.parametrize("bad", ["odd", "too big", "too small"])
def test_pack_int4_rejects_bad_codes(kata, device, bad):
    q = {"odd": rand_codes(2, 5, seed=2),
         "too big": torch.tensor([[0, 8]], dtype=torch.int8),
         "too small": torch.tensor([[-9, 0]], dtype=torch.int8)}[bad]
    with pytest.raises(ValueError):
        kata.pack_int4(q.to(device))


# ---------------------------------------------------------------------------------------------
# quantize_int4 / dequantize_int4
# ---------------------------------------------------------------------------------------------


def group_outliers(out_f, in_f, group_size, seed):
    """Weights whose groups have very different ranges (one large outlier per row), so that a
    per-row scale is far from the per-group ones."""
    w = randn(out_f, in_f, seed=seed) * 0.05
    w[:, 1] += 3.0  # group 0 of every row has a big outlier
    w[0] = w[0].abs()  # a row of non-negative weights: lo widens to 0
    w[1, :group_size] = 0.0  # an all-zero group
    return w


def quantize(kata, w, group_size, device):
    got = kata.quantize_int4(w.to(device), group_size)
    assert got is not None and len(got) == 3, "quantize_int4 returns (packed, scales, zeros)"
    return got


@pytest.mark.parametrize("group_size", [4, 16])
def test_scales_and_zeros_are_per_group(kata, device, group_size):
    w = group_outliers(6, 32, group_size, seed=10)
    packed, scales, zeros = quantize(kata, w, group_size, device)
    G = 32 // group_size
    assert tuple(scales.shape) == (6, G), (
        f"scales shape {tuple(scales.shape)}, expected (out, in // group_size) = (6, {G})"
        + (": one scale per row instead of one per group" if scales.numel() == 6 else ""))
    assert tuple(zeros.shape) == (6, G), f"zeros shape {tuple(zeros.shape)}, expected (6, {G})"
    assert zeros.dtype == torch.int8, f"zeros dtype {zeros.dtype}, expected int8"
    assert packed.dtype == torch.uint8 and tuple(packed.shape) == (6, 16), (
        f"packed: {packed.dtype} {tuple(packed.shape)}, expected uint8 (6, 16)")
    want_s, want_z = oracle_qparams(w, group_size)
    assert_close(scales, want_s.float(),
                 what="scales = (max(w_g.max(), 0) - min(w_g.min(), 0)) / 15 per group")
    assert torch.equal(zeros.cpu().long(), want_z.long()), (
        f"zeros differ from -8 - round(lo / scale): got {zeros.cpu()[:2].tolist()}, expected "
        f"{want_z[:2].long().tolist()} (first two rows)")


@pytest.mark.parametrize("group_size", [2, 8, 32])
def test_codes_match_the_closed_form(kata, device, group_size):
    w = randn(5, 64, seed=20 + group_size)
    packed, _, _ = quantize(kata, w, group_size, device)
    scales, zeros = oracle_qparams(w, group_size)
    t = w.double().reshape(5, -1, group_size) / scales[..., None]
    want = (torch.round(t) + zeros[..., None]).clamp(-8, 7).reshape(5, 64)
    got = py_unpack(packed.cpu()).long()
    # a code may differ by one where w / scale is within 1e-3 of a .5 tie (float32 vs float64)
    near_tie = ((t - t.floor() - 0.5).abs() < 1e-3).reshape(5, 64)
    bad = (got != want.long()) & ~(near_tie & ((got - want.long()).abs() <= 1))
    if bad.any():
        r, c = (int(i) for i in bad.nonzero()[0])
        hint = ""
        if int(want[r, c]) == -8 and int(got[r, c]) == -7:
            hint = " [clamped to [-7, 7]: the group minimum needs the code -8]"
        raise AssertionError(
            f"{int(bad.sum())} codes differ from clamp(round(w / scale) + zero, -8, 7) "
            f"(group_size={group_size}); first at ({r}, {c}): got {int(got[r, c])}, expected "
            f"{int(want[r, c])}{hint}")


def test_min_and_max_of_each_group_use_codes_minus_8_and_7(kata, device):
    w = randn(4, 16, seed=30)
    packed, _, _ = quantize(kata, w, 8, device)
    q = py_unpack(packed.cpu()).reshape(4, 2, 8)
    lo_codes = q.gather(-1, w.reshape(4, 2, 8).argmin(-1, keepdim=True))
    hi_codes = q.gather(-1, w.reshape(4, 2, 8).argmax(-1, keepdim=True))
    assert (lo_codes == -8).all(), (
        f"the minimum of each group (all groups here span 0) must get code -8, got "
        f"{lo_codes.flatten().tolist()}: clamp to [-8, 7], not [-7, 7]")
    assert (hi_codes == 7).all(), (
        f"the maximum of each group must get code 7, got {hi_codes.flatten().tolist()}")


@pytest.mark.parametrize("group_size", [4, 16])
def test_dequantized_weights_are_within_half_a_step(kata, device, group_size):
    w = group_outliers(6, 32, group_size, seed=40 + group_size)
    packed, scales, zeros = quantize(kata, w, group_size, device)
    dq = kata.dequantize_int4(packed, scales, zeros, group_size)
    assert dq is not None and tuple(dq.shape) == (6, 32), (
        f"dequantize_int4 shape {tuple(getattr(dq, 'shape', ()))}, expected (6, 32)")
    assert dq.dtype == torch.float32, f"dequantize_int4 dtype {dq.dtype}, expected float32"
    want_s, _ = oracle_qparams(w, group_size)
    err = (w.double() - dq.cpu().double()).reshape(6, -1, group_size).abs()
    bound = want_s[..., None] / 2 * (1 + 1e-5) + 1e-7  # float32 rounding of w / scale
    if (err > bound).any():
        r, g = (int(i) for i in (err > bound).any(-1).nonzero()[0])
        raise AssertionError(
            f"|w - dequantize(quantize(w))| = {float(err[r, g].max()):.4g} in row {r}, group "
            f"{g}, above scale / 2 = {float(want_s[r, g] / 2):.4g}: check the per-group scale, "
            "round(w / scale) (divide first, then round), the zero point and the clamp")
    assert (dq.cpu()[1, :group_size] == 0).all(), "an all-zero group must dequantize to zeros"


def test_dequantize_is_q_minus_zero_times_scale(kata, device):
    q = rand_codes(3, 12, seed=50)
    scales = torch.rand(3, 3, generator=torch.Generator().manual_seed(51)) + 0.1
    zeros = rand_codes(3, 3, seed=52)
    got = kata.dequantize_int4(kata.pack_int4(q.to(device)), scales.to(device),
                               zeros.to(device), 4)
    want = ((q.double().reshape(3, 3, 4) - zeros.double()[..., None])
            * scales.double()[..., None]).reshape(3, 12)
    assert_close(got, want.float(), what="dequantize_int4 = (q - zero) * scale per group")


@pytest.mark.parametrize("group_size", [3, 5, 12])
def test_quantize_rejects_group_sizes_that_do_not_fit(kata, device, group_size):
    # 3 and 5: odd (or not dividing 20); 12 does not divide 20
    with pytest.raises(ValueError):
        kata.quantize_int4(randn(2, 20, seed=60).to(device), group_size)


# ---------------------------------------------------------------------------------------------
# Int4Linear
# ---------------------------------------------------------------------------------------------


def make_linear(n_in, n_out, seed, bias=True):
    lin = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        lin.weight.copy_(randn(n_out, n_in, seed=seed) / n_in ** 0.5)
        if bias:
            lin.bias.copy_(randn(n_out, seed=seed + 1))
    return lin


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_int4_linear_matches_f_linear_with_the_dequantized_weight(kata, device, bias):
    lin = make_linear(64, 24, seed=70, bias=bias)
    ql = kata.Int4Linear.from_linear(lin.to(device), 16)
    assert ql.packed.dtype == torch.uint8 and tuple(ql.packed.shape) == (24, 32), (
        f"Int4Linear.packed: {ql.packed.dtype} {tuple(ql.packed.shape)}, expected uint8 "
        "(24, 32): two 4-bit codes per byte")
    w_dq = ((py_unpack(ql.packed.cpu()).double().reshape(24, 4, 16)
             - ql.zeros.cpu().double()[..., None]) * ql.scales.cpu().double()[..., None])
    x = randn(3, 5, 64, seed=72)
    b = None if not bias else lin.bias.detach().cpu().double()
    want = F.linear(x.double(), w_dq.reshape(24, 64), b)
    got = ql(x.to(device))
    assert got.dtype == torch.float32, f"Int4Linear output dtype {got.dtype}, expected float32"
    assert_close(got, want.float(),
                 what=f"Int4Linear(x) vs F.linear(x, dequantized weight, bias) (bias={bias})")


def test_int4_linear_is_within_the_quantization_bound_of_the_float_layer(kata, device):
    lin = make_linear(128, 32, seed=80)
    x = randn(6, 128, seed=81)
    y = lin(x).detach().double()
    ql = kata.Int4Linear.from_linear(lin.to(device), 32)
    got = ql(x.to(device)).cpu().double()
    scales, _ = oracle_qparams(lin.weight.detach().cpu(), 32)  # (32, 4)
    per_col = scales.repeat_interleave(32, dim=1)  # (out, in): the scale of each weight
    bound = x.double().abs() @ (per_col / 2).T  # (6, out): sum_j |x_j| * scale_j / 2
    excess = (got - y).abs() - bound * (1 + 1e-4) - 1e-5
    assert (excess <= 0).all(), (
        f"|Int4Linear(x) - nn.Linear(x)| exceeds sum_j |x_j| * scale_j / 2 by up to "
        f"{float(excess.max()):.3g}: the weights are not within half a step of the float ones")
    assert (got - y).abs().max() > 0, "the output equals the float layer exactly: not quantized?"


def test_int4_linear_stores_a_copy_of_the_bias(kata, device):
    lin = make_linear(16, 8, seed=90).to(device)
    ql = kata.Int4Linear.from_linear(lin, 8)
    want = lin.bias.detach().clone()
    with torch.no_grad():
        lin.bias.zero_()
    assert_close(ql.bias, want, what="Int4Linear.bias after the source layer's bias was zeroed "
                                     "(from_linear must copy it)")
    nobias = kata.Int4Linear.from_linear(make_linear(16, 8, seed=91, bias=False).to(device), 8)
    assert nobias.bias is None, "a layer without bias gives Int4Linear.bias = None"
