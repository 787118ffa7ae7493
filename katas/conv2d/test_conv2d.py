"""Tests for the conv2d kata.

Oracles: torch.nn.functional.conv2d and torch.nn.functional.max_pool2d, evaluated in float64
on CPU (so that no TF32 kernel blurs the reference), and their autograd gradients. Inputs are
float32, drawn on CPU from seeded generators and moved to the device under test. When a
result is wrong, the tests also compare it with the classic wrong answers (flipped kernel,
dilation ignored, channel/spatial axes mixed up, ...) and name the one it matches.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close, forbid_builtins


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def oracle_conv(x, w, b, stride, padding, dilation):
    return F.conv2d(x.double().cpu(), w.double().cpu(), None if b is None else b.double().cpu(),
                    stride=stride, padding=padding, dilation=dilation).float()


def conv_suspects(x, w, b, stride, padding, dilation):
    x, w = x.double().cpu(), w.double().cpu()
    b = None if b is None else b.double().cpu()

    def mixed_axes():
        # im2col columns ordered (kH, kW, C_in) while the kernel is flattened (C_in, kH, kW)
        C_out, C_in, kh, kw = w.shape
        w_wrong = w.reshape(C_out, kh, kw, C_in).permute(0, 3, 1, 2)
        return F.conv2d(x, w_wrong, b, stride=stride, padding=padding, dilation=dilation)

    out = [
        ("a convolution with a FLIPPED kernel: conv2d in torch is a cross-correlation, do not "
         "flip w", lambda: F.conv2d(x, w.flip(-2, -1), b, stride=stride, padding=padding,
                                    dilation=dilation)),
        ("im2col columns ordered (kH, kW, C_in) instead of (C_in, kH, kW), as "
         "w.reshape(C_out, -1) flattens the kernel", mixed_axes),
        ("a convolution with the kernel's H and W swapped", lambda: F.conv2d(
            x, w.transpose(-2, -1), b, stride=stride, padding=padding, dilation=dilation))
        if w.shape[-1] == w.shape[-2] else None,
        ("a convolution without the bias", lambda: F.conv2d(
            x, w, None, stride=stride, padding=padding, dilation=dilation))
        if b is not None else None,
    ]
    return [s for s in out if s is not None]


def check_conv(kata, device, x, w, b=None, stride=1, padding=0, dilation=1, what="conv2d"):
    expected = oracle_conv(x, w, b, stride, padding, dilation)
    got = kata.conv2d(x.to(device), w.to(device), None if b is None else b.to(device),
                      stride=stride, padding=padding, dilation=dilation)
    assert got is not None, f"{what}: conv2d returned None"
    if tuple(got.shape) != tuple(expected.shape):
        hint = ""
        (H, W), (kh, kw) = x.shape[-2:], w.shape[-2:]
        (s, t), (p, q) = pair(stride), pair(padding)
        if tuple(got.shape[-2:]) == (out_size(H, kh, s, p, 1), out_size(W, kw, t, q, 1)):
            hint = " That is the size with dilation ignored: a dilated kernel spans d*(k-1)+1."
        raise AssertionError(
            f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}: per spatial "
            f"dim the output size is floor((H + 2p - d(k - 1) - 1) / s) + 1.{hint}")
    try:
        assert_close(got, expected, what=what)
    except AssertionError as err:
        for description, wrong in conv_suspects(x, w, b, stride, padding, dilation):
            if torch.allclose(got.detach().double().cpu(), wrong(), rtol=1e-4, atol=1e-5):
                raise AssertionError(f"{err}\nYour result matches {description}.") from None
        raise
    assert got.dtype == torch.float32 and got.device.type == device.type, (
        f"{what}: the result must keep x's dtype and device, got {got.dtype} on {got.device}")
    return got


# ------------------------------------------------------------------------------ conv2d


def test_conv2d_matches_torch_with_bias(kata, device):
    x = randn(2, 3, 7, 9, seed=0)  # H != W and C_in != C_out: axes cannot be confused
    w = randn(4, 3, 3, 3, seed=1)
    b = randn(4, seed=2)
    check_conv(kata, device, x, w, b, what="conv2d of (2, 3, 7, 9) with a (4, 3, 3, 3) kernel "
                                           "and bias")


def test_conv2d_non_square_kernel_without_bias(kata, device):
    x = randn(2, 2, 6, 8, seed=3)
    w = randn(5, 2, 2, 3, seed=4)
    check_conv(kata, device, x, w, None, what="conv2d with a (5, 2, 2, 3) kernel, b=None")


@pytest.mark.parametrize("stride", [2, 3, (2, 1), (1, 3)])
def test_conv2d_stride_floors_the_output_size(kata, device, stride):
    # H = 8, W = 10 with k = 3: (8 - 3) / 2 + 1 = 3.5 -> 3; a ceil or a missing +1 is caught.
    x = randn(2, 3, 8, 10, seed=5)
    w = randn(4, 3, 3, 3, seed=6)
    check_conv(kata, device, x, w, randn(4, seed=7), stride=stride,
               what=f"conv2d with stride={stride} on an 8 x 10 input")


@pytest.mark.parametrize("padding", [1, 2, (1, 0), (0, 2)])
def test_conv2d_zero_padding(kata, device, padding):
    x = randn(1, 2, 5, 6, seed=8, scale=2.0) + 1.0  # a non-zero mean: the pad value matters
    w = randn(3, 2, 3, 3, seed=9)
    check_conv(kata, device, x, w, randn(3, seed=10), padding=padding,
               what=f"conv2d with padding={padding} (zeros on both sides of H and W)")


@pytest.mark.parametrize("dilation", [2, (2, 3), (1, 2)])
def test_conv2d_dilation(kata, device, dilation):
    x = randn(2, 2, 11, 12, seed=11)
    w = randn(3, 2, 3, 3, seed=12)
    check_conv(kata, device, x, w, randn(3, seed=13), dilation=dilation,
               what=f"conv2d with dilation={dilation}: kernel taps d pixels apart")


@pytest.mark.parametrize("stride,padding,dilation", [
    (2, 1, 2), ((2, 3), (1, 2), (3, 1)), (3, 2, 1), (1, (0, 3), 2)])
def test_conv2d_stride_padding_dilation_together(kata, device, stride, padding, dilation):
    x = randn(2, 3, 13, 11, seed=14)
    w = randn(4, 3, 3, 2, seed=15)
    check_conv(kata, device, x, w, randn(4, seed=16), stride=stride, padding=padding,
               dilation=dilation,
               what=f"conv2d with stride={stride}, padding={padding}, dilation={dilation}")


@pytest.mark.parametrize("H,W,k,s,p,d", [
    (7, 7, 3, 1, 0, 1), (7, 7, 3, 2, 0, 1), (8, 8, 3, 2, 1, 1), (9, 6, 2, 3, 0, 1),
    (10, 10, 3, 1, 0, 3), (10, 9, 3, 2, 2, 2), (5, 5, 5, 1, 0, 1), (4, 4, 3, 4, 1, 1)])
def test_conv2d_output_size_formula(kata, device, H, W, k, s, p, d):
    x = randn(1, 1, H, W, seed=17)
    w = randn(2, 1, k, k, seed=18)
    got = kata.conv2d(x.to(device), w.to(device), None, stride=s, padding=p, dilation=d)
    expected = (1, 2, out_size(H, k, s, p, d), out_size(W, k, s, p, d))
    assert got is not None and tuple(got.shape) == expected, (
        f"conv2d of a {H} x {W} input, k={k}, stride={s}, padding={p}, dilation={d}: shape "
        f"{None if got is None else tuple(got.shape)}, expected {expected} = "
        "floor((H + 2p - d(k - 1) - 1) / s) + 1 per dim")
    assert_close(got, oracle_conv(x, w, None, s, p, d),
                 what=f"conv2d values for H={H}, W={W}, k={k}, s={s}, p={p}, d={d}")


def test_conv2d_1x1_is_a_matmul_over_channels(kata, device):
    x = randn(2, 5, 3, 4, seed=19)
    w = randn(6, 5, 1, 1, seed=20)
    b = randn(6, seed=21)
    got = kata.conv2d(x.to(device), w.to(device), b.to(device))
    expected = torch.einsum("nchw,oc->nohw", x.double(), w[:, :, 0, 0].double()) + \
        b.double().view(1, -1, 1, 1)
    assert_close(got, expected.float(), what="a 1 x 1 conv2d: out[n, o] = sum_c w[o, c] x[n, c]"
                                              " + b[o] at every pixel")


def test_conv2d_kernel_is_not_flipped(kata, device):
    # A single asymmetric 2 x 2 kernel on an impulse: cross-correlation reads it back flipped.
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 2, 2] = 1.0
    w = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    check_conv(kata, device, x, w, what="conv2d of an impulse with the kernel [[1, 2], [3, 4]]")


def test_conv2d_gradients_match_torch(kata, device):
    x = randn(2, 3, 7, 6, seed=22).to(device).requires_grad_(True)
    w = randn(4, 3, 3, 2, seed=23).to(device).requires_grad_(True)
    b = randn(4, seed=24).to(device).requires_grad_(True)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    out = kata.conv2d(x, w, b, **kw)
    up = randn(*out.shape, seed=25).to(device)
    got = torch.autograd.grad((out * up).sum(), (x, w, b))
    xd, wd, bd = (t.detach().double().cpu().requires_grad_(True) for t in (x, w, b))
    want = torch.autograd.grad((F.conv2d(xd, wd, bd, **kw) * up.double().cpu()).sum(),
                               (xd, wd, bd))
    for name, g, e in zip(("x", "w", "b"), got, want, strict=True):
        assert_close(g, e.float(), what=f"d(loss)/d{name} through conv2d")


# ------------------------------------------------------------------------------ max_pool2d


def check_pool(kata, device, x, k, stride=None, what="max_pool2d"):
    got = kata.max_pool2d(x.to(device), k) if stride is None else \
        kata.max_pool2d(x.to(device), k, stride)
    expected = F.max_pool2d(x.double(), k, stride).float()
    if got is not None and tuple(got.shape) != tuple(expected.shape):
        ones = F.max_pool2d(x.double(), k, 1)
        hint = (" That is the shape with stride 1: stride defaults to k."
                if stride is None and got.shape == ones.shape else "")
        raise AssertionError(f"{what}: shape {tuple(got.shape)}, expected "
                             f"{tuple(expected.shape)}.{hint}")
    assert_close(got, expected, what=what)


def test_max_pool2d_stride_defaults_to_kernel_size(kata, device):
    x = randn(2, 3, 8, 6, seed=30)
    check_pool(kata, device, x, 2, what="max_pool2d(x, 2): non-overlapping 2 x 2 windows")
    check_pool(kata, device, x, 3, what="max_pool2d(x, 3) on 8 x 6: stride 3, floor sizes")


@pytest.mark.parametrize("k,stride", [(3, 2), (2, 1), ((2, 3), (1, 2)), ((3, 1), 2)])
def test_max_pool2d_matches_torch(kata, device, k, stride):
    x = randn(2, 2, 9, 7, seed=31)
    check_pool(kata, device, x, k, stride, what=f"max_pool2d(x, k={k}, stride={stride})")


def test_max_pool2d_of_negative_inputs(kata, device):
    x = -randn(1, 2, 6, 6, seed=32).abs() - 1.0  # every value < -1: a max seeded at 0 shows
    check_pool(kata, device, x, 2, what="max_pool2d of all-negative inputs (the max is < 0)")


def test_max_pool2d_gradient_goes_to_the_max(kata, device):
    x = randn(2, 3, 6, 7, seed=33).to(device).requires_grad_(True)
    out = kata.max_pool2d(x, 3, 2)
    up = randn(*out.shape, seed=34).to(device)
    (got,) = torch.autograd.grad((out * up).sum(), x)
    (want,) = torch.autograd.grad((F.max_pool2d(x, 3, 2) * up).sum(), x)
    assert_close(got, want, what="d(loss)/dx through max_pool2d(x, 3, 2): each window's "
                                 "gradient goes to its max")


def test_no_builtin_conv_or_pool(kata, device, monkeypatch):
    """The point of the kata is to write these: the built-ins are switched off here."""
    forbidden = {
        "F.conv2d": (F, "conv2d"), "torch.conv2d": (torch, "conv2d"),
        "torch.convolution": (torch, "convolution"), "F.unfold": (F, "unfold"),
        "F.fold": (F, "fold"), "F.max_pool2d": (F, "max_pool2d"),
        "F.max_pool2d_with_indices": (F, "max_pool2d_with_indices"),
        "torch.max_pool2d": (torch, "max_pool2d"),
        "nn.Conv2d.forward": (nn.Conv2d, "forward"),
        "nn.MaxPool2d.forward": (nn.MaxPool2d, "forward"),
    }
    forbid_builtins(monkeypatch, kata, forbidden,
                    "build the im2col with F.pad and Tensor.unfold, then one matmul")
    x = randn(1, 2, 6, 6, seed=40).to(device)
    kata.conv2d(x, randn(3, 2, 3, 3, seed=41).to(device), None, stride=2, padding=1,
                dilation=2)
    kata.max_pool2d(x, 2)
