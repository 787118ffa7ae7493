"""Tests for the normalization kata.

Oracles: torch.nn.functional.layer_norm (nn.LayerNorm), torch.nn.functional.rms_norm
(nn.RMSNorm) and torch.nn.BatchNorm1d with the same eps and momentum, driven through several
training steps (outputs, running_mean, running_var and gradients compared at every step) and
then in eval mode. Inputs are float32, drawn on CPU from seeded generators and moved to the
device under test. When a result is wrong, the tests also compare it with the classic wrong
answers (unbiased variance, eps outside the sqrt, batch-dim statistics, inverted momentum, ...)
and name the one it matches.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dojo.testing import assert_close, forbid_builtins


def randn(*shape, seed, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale + shift


def check(actual, expected, what, suspects=()):
    """assert_close, naming the classic mistake that `actual` matches, if any."""
    __tracebackhide__ = True
    assert_close(actual, expected, what=what, suspects=suspects)


def trailing(k):
    return tuple(range(-k, 0))


def ln_variant(x, weight, bias, eps, *, correction=0, eps_outside=False, dims=None):
    k = 1 if weight is None else weight.dim()
    dims = trailing(k) if dims is None else dims
    var, mean = torch.var_mean(x, dim=dims, correction=correction, keepdim=True)
    y = (x - mean) / (var.sqrt() + eps if eps_outside else (var + eps).sqrt())
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def ln_suspects(x, weight, bias, eps):
    return [
        ("a layer norm with the UNBIASED variance: torch normalises with the biased one "
         "(correction=0, divide by D)",
         lambda: ln_variant(x, weight, bias, eps, correction=1)),
        ("a layer norm with eps outside the sqrt: use sqrt(var + eps)",
         lambda: ln_variant(x, weight, bias, eps, eps_outside=True)),
        ("a layer norm whose statistics include the batch dim: each sample is normalised over "
         "its own features only",
         lambda: ln_variant(x, weight, bias, eps, dims=(0, *trailing(1 if weight is None
                                                                        else weight.dim())))),
    ]


def rms_variant(x, weight, eps, *, center=False, eps_outside=False):
    k = 1 if weight is None else weight.dim()
    z = x - x.mean(dim=trailing(k), keepdim=True) if center else x
    ms = z.pow(2).mean(dim=trailing(k), keepdim=True)
    y = x / (ms.sqrt() + eps if eps_outside else (ms + eps).sqrt())
    return y if weight is None else y * weight


def rms_suspects(x, weight, eps):
    return [
        ("an RMS norm that subtracts the mean: RMSNorm divides x by sqrt(mean(x^2) + eps), "
         "no centring",
         lambda: rms_variant(x, weight, eps, center=True)),
        ("an RMS norm with eps outside the sqrt: use sqrt(mean(x^2) + eps)",
         lambda: rms_variant(x, weight, eps, eps_outside=True)),
    ]


# ---------------------------------------------------------------------------- layer_norm


def test_layer_norm_matches_torch_over_the_last_dim(kata, device):
    B, T, D = 3, 4, 6
    x = randn(B, T, D, seed=0, scale=2.0, shift=0.5)
    w, b = randn(D, seed=1, shift=1.0), randn(D, seed=2)
    got = kata.layer_norm(x.to(device), w.to(device), b.to(device), eps=1e-5)
    check(got, F.layer_norm(x, (D,), w, b, eps=1e-5),
          "layer_norm of a (3, 4, 6) tensor with weight and bias (6,)",
          ln_suspects(x.to(device), w.to(device), b.to(device), 1e-5))
    assert got.dtype == torch.float32 and got.device.type == device.type, (
        f"layer_norm must keep x's dtype and device, got {got.dtype} on {got.device}")


def test_layer_norm_normalises_each_sample_not_the_batch(kata, device):
    # Samples of very different scale and offset: batch statistics would mix them up.
    x = torch.cat([randn(1, 5, seed=3), randn(1, 5, seed=4, scale=10.0, shift=50.0),
                   randn(1, 5, seed=5, scale=0.1, shift=-0.3)])
    w, b = torch.ones(5), torch.zeros(5)
    got = kata.layer_norm(x.to(device), w.to(device), b.to(device))
    check(got, F.layer_norm(x, (5,), w, b),
          "layer_norm of 3 samples with very different means and scales",
          ln_suspects(x.to(device), w.to(device), b.to(device), 1e-5))
    single = kata.layer_norm(x[1:2].to(device), w.to(device), b.to(device))
    assert_close(single, got[1:2], what="layer_norm of sample 1 alone vs. inside the batch: "
                                        "a sample's output must not depend on the others")


def test_layer_norm_uses_biased_variance(kata, device):
    # D = 3: the unbiased variance is 1.5 times the biased one.
    x = randn(4, 3, seed=6, scale=3.0)
    got = kata.layer_norm(x.to(device), torch.ones(3).to(device), torch.zeros(3).to(device),
                          eps=1e-6)
    check(got, F.layer_norm(x, (3,), eps=1e-6), "layer_norm with D = 3 features",
          ln_suspects(x.to(device), torch.ones(3).to(device), torch.zeros(3).to(device), 1e-6))


def test_layer_norm_eps_goes_inside_the_sqrt(kata, device):
    # Rows with a tiny spread and a large eps: sqrt(var + eps) and sqrt(var) + eps differ a lot.
    x = randn(4, 8, seed=7, scale=1e-2)
    w, b = randn(8, seed=8, shift=1.0), randn(8, seed=9)
    got = kata.layer_norm(x.to(device), w.to(device), b.to(device), eps=1e-3)
    check(got, F.layer_norm(x, (8,), w, b, eps=1e-3),
          "layer_norm with eps=1e-3 on rows whose variance is ~1e-4",
          ln_suspects(x.to(device), w.to(device), b.to(device), 1e-3))


def test_layer_norm_over_two_trailing_dims(kata, device):
    x = randn(2, 3, 4, 5, seed=10, shift=1.0)
    w, b = randn(4, 5, seed=11, shift=1.0), randn(4, 5, seed=12)
    got = kata.layer_norm(x.to(device), w.to(device), b.to(device), eps=1e-5)
    check(got, F.layer_norm(x, (4, 5), w, b, eps=1e-5),
          "layer_norm with weight (4, 5): normalise over the last weight.dim() = 2 dims",
          ln_suspects(x.to(device), w.to(device), b.to(device), 1e-5))


def test_layer_norm_without_affine(kata, device):
    x = randn(3, 7, seed=13, scale=4.0, shift=-1.0)
    check(kata.layer_norm(x.to(device)), F.layer_norm(x, (7,)),
          "layer_norm(x) with weight=None, bias=None: normalise the last dim, no scale/shift",
          ln_suspects(x.to(device), None, None, 1e-5))
    w = randn(7, seed=14, shift=1.0)
    check(kata.layer_norm(x.to(device), w.to(device)), F.layer_norm(x, (7,), w),
          "layer_norm(x, weight) with bias=None: scale but no shift")


def test_layer_norm_gradients_match_torch(kata, device):
    x = randn(3, 6, seed=15, scale=2.0).to(device).requires_grad_(True)
    w = randn(6, seed=16, shift=1.0).to(device).requires_grad_(True)
    b = randn(6, seed=17).to(device).requires_grad_(True)
    up = randn(3, 6, seed=18).to(device)
    got = torch.autograd.grad((kata.layer_norm(x, w, b) * up).sum(), (x, w, b))
    want = torch.autograd.grad((F.layer_norm(x, (6,), w, b) * up).sum(), (x, w, b))
    for name, g, e in zip(("x", "weight", "bias"), got, want, strict=True):
        assert_close(g, e, what=f"d(loss)/d{name} through layer_norm")


# ---------------------------------------------------------------------------- rms_norm


def test_rms_norm_matches_torch(kata, device):
    x = randn(2, 5, 8, seed=20, scale=2.0, shift=1.5)  # a mean far from 0: centring shows
    w = randn(8, seed=21, shift=1.0)
    got = kata.rms_norm(x.to(device), w.to(device), eps=1e-6)
    check(got, F.rms_norm(x, (8,), w, eps=1e-6), "rms_norm of a (2, 5, 8) tensor, eps=1e-6",
          rms_suspects(x.to(device), w.to(device), 1e-6))
    assert got.dtype == torch.float32 and got.device.type == device.type, (
        f"rms_norm must keep x's dtype and device, got {got.dtype} on {got.device}")


def test_rms_norm_eps_goes_inside_the_sqrt(kata, device):
    x = randn(4, 6, seed=22, scale=1e-2)  # mean(x^2) ~ 1e-4, comparable to eps
    w = randn(6, seed=23, shift=1.0)
    got = kata.rms_norm(x.to(device), w.to(device), eps=1e-3)
    check(got, F.rms_norm(x, (6,), w, eps=1e-3), "rms_norm with eps=1e-3 on inputs ~1e-2",
          rms_suspects(x.to(device), w.to(device), 1e-3))


def test_rms_norm_default_eps_is_the_dtype_eps(kata, device):
    # mean(x^2) ~ 1e-8: 1e-5 or 1e-6 would swamp it, float32 eps (1.2e-7) does not.
    x = randn(3, 4, seed=24, scale=1e-4)
    w = randn(4, seed=25, shift=1.0)
    got = kata.rms_norm(x.to(device), w.to(device))
    ref = nn.RMSNorm(4, eps=None)
    with torch.no_grad():
        ref.weight.copy_(w)
        want = ref(x)
    assert_close(got, want,
                          what="rms_norm with eps=None on inputs ~1e-4: eps must default to "
                      "torch.finfo(x.dtype).eps, as in nn.RMSNorm")


def test_rms_norm_over_two_trailing_dims_and_without_weight(kata, device):
    x = randn(3, 4, 5, seed=26, shift=0.5)
    w = randn(4, 5, seed=27, shift=1.0)
    check(kata.rms_norm(x.to(device), w.to(device), eps=1e-6),
          F.rms_norm(x, (4, 5), w, eps=1e-6),
          "rms_norm with weight (4, 5): normalise over the last 2 dims")
    check(kata.rms_norm(x.to(device), eps=1e-6), F.rms_norm(x, (5,), eps=1e-6),
          "rms_norm(x) with weight=None: the last dim, no scale")


def test_rms_norm_gradients_match_torch(kata, device):
    x = randn(3, 6, seed=28, scale=2.0).to(device).requires_grad_(True)
    w = randn(6, seed=29, shift=1.0).to(device).requires_grad_(True)
    up = randn(3, 6, seed=30).to(device)
    got = torch.autograd.grad((kata.rms_norm(x, w, eps=1e-6) * up).sum(), (x, w))
    want = torch.autograd.grad((F.rms_norm(x, (6,), w, eps=1e-6) * up).sum(), (x, w))
    for name, g, e in zip(("x", "weight"), got, want, strict=True):
        assert_close(g, e, what=f"d(loss)/d{name} through rms_norm")


# ---------------------------------------------------------------------------- BatchNorm1d


def bn_pair(kata, C, seed, device, **kw):
    """Our BatchNorm1d and torch's, with the same random weight and bias, on the device."""
    ours = kata.BatchNorm1d(C, **kw)
    ref = nn.BatchNorm1d(C, **kw)
    w, b = randn(C, seed=seed, scale=0.5, shift=1.0), randn(C, seed=seed + 1)
    with torch.no_grad():
        for mod in (ours, ref):
            mod.weight.copy_(w)
            mod.bias.copy_(b)
    return ours.to(device), ref.to(device)


def batch(shape, seed, step):
    """Batches whose channel means and scales drift from step to step."""
    C = shape[1]
    bshape = (1, C) + (1,) * (len(shape) - 2)
    x = randn(*shape, seed=seed + step)
    return x * (1.0 + 0.5 * step + torch.arange(C).view(bshape)) + (2.0 * step - 1.0)


def running_suspects(prev_mean, prev_var, x, momentum):
    """Wrong running statistics, from the previous ones and this batch."""
    dims = [0] if x.dim() == 2 else [0, 2]
    bm = x.mean(dim=dims)
    bv_biased = x.var(dim=dims, correction=0)
    m = momentum
    return {
        "var": [
            ("a running_var updated with the BIASED batch variance: torch stores the unbiased "
             "one (times n / (n - 1)) in running_var",
             lambda: (1 - m) * prev_var + m * bv_biased),
            ("the inverted momentum convention: new = (1 - m) * old + m * batch, so m weighs "
             "the NEW batch", lambda: m * prev_var + (1 - m) * x.var(dim=dims)),
        ],
        "mean": [
            ("the inverted momentum convention: new = (1 - m) * old + m * batch, so m weighs "
             "the NEW batch", lambda: m * prev_mean + (1 - m) * bm),
            ("running_mean replaced by the batch mean: blend it with momentum",
             lambda: bm),
        ],
    }


def bn_output_suspects(x, mod_weight, mod_bias, eps, running_mean, running_var):
    dims = [0] if x.dim() == 2 else [0, 2]
    shape = (1, -1) + (1,) * (x.dim() - 2)

    def norm(mean, var, eps_outside=False):
        denom = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
        return ((x - mean.view(shape)) / denom.view(shape) * mod_weight.view(shape)
                + mod_bias.view(shape))

    return [
        ("batch norm with the UNBIASED batch variance: normalise with the biased one "
         "(correction=0); only running_var is unbiased",
         lambda: norm(x.mean(dim=dims), x.var(dim=dims))),
        ("batch norm with eps outside the sqrt: use sqrt(var + eps)",
         lambda: norm(x.mean(dim=dims), x.var(dim=dims, correction=0), eps_outside=True)),
        ("batch norm in train mode with the RUNNING statistics: train mode uses the batch's",
         lambda: norm(running_mean, running_var)),
        ("batch norm in eval mode with the BATCH statistics: eval mode uses running_mean and "
         "running_var", lambda: norm(x.mean(dim=dims), x.var(dim=dims, correction=0))),
    ]


def test_batchnorm_starts_like_torch(kata, device):
    ours = kata.BatchNorm1d(4)
    assert isinstance(ours, nn.Module), "BatchNorm1d must be an nn.Module"
    params = dict(ours.named_parameters())
    assert set(params) == {"weight", "bias"}, (
        f"BatchNorm1d's parameters are {sorted(params)}; expected exactly weight and bias "
        "(running stats are buffers, not trained parameters: register_buffer)")
    buffers = dict(ours.named_buffers())
    assert {"running_mean", "running_var"} <= set(buffers), (
        f"BatchNorm1d's buffers are {sorted(buffers)}; running_mean and running_var must be "
        "registered buffers (register_buffer), so that .to(device) and state_dict see them")
    ref = nn.BatchNorm1d(4)
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert_close(getattr(ours, name).detach(), getattr(ref, name).detach(),
                     what=f"BatchNorm1d(4).{name} at construction (as torch: weight 1, bias 0, "
                          "running_mean 0, running_var 1)")
    assert ours.training, "a new BatchNorm1d must start in train mode"


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 6)], ids=["N,C", "N,C,L"])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batchnorm_train_steps_match_torch(kata, device, shape, momentum):
    C = shape[1]
    ours, ref = bn_pair(kata, C, seed=40, device=device, momentum=momentum, eps=1e-5)
    for step in range(3):
        x = batch(shape, seed=41, step=step).to(device)
        prev_mean, prev_var = ref.running_mean.clone(), ref.running_var.clone()
        got = ours(x)
        want = ref(x)
        tag = f"BatchNorm1d train step {step + 1} on {tuple(shape)}, momentum={momentum}"
        check(got, want, f"{tag}: output",
              bn_output_suspects(x, ref.weight.detach(), ref.bias.detach(), 1e-5, prev_mean,
                                 prev_var)[:3])
        sus = running_suspects(prev_mean, prev_var, x, momentum)
        check(ours.running_mean, ref.running_mean, f"{tag}: running_mean", sus["mean"])
        check(ours.running_var, ref.running_var, f"{tag}: running_var", sus["var"])


def test_batchnorm_eval_uses_running_stats_and_updates_nothing(kata, device):
    shape = (6, 4, 3)
    ours, ref = bn_pair(kata, 4, seed=50, device=device, momentum=0.2)
    for step in range(3):
        x = batch(shape, seed=51, step=step).to(device)
        ours(x)
        ref(x)
    ours.eval()
    ref.eval()
    x = batch(shape, seed=52, step=5).to(device)
    mean, var = ref.running_mean.clone(), ref.running_var.clone()
    check(ours(x), ref(x), "BatchNorm1d output in eval mode after 3 training steps",
          bn_output_suspects(x, ref.weight.detach(), ref.bias.detach(), 1e-5, mean, var)[3:])
    assert_close(ours.running_mean, mean,
                 what="running_mean after an eval-mode forward (eval must not update it)")
    assert_close(ours.running_var, var,
                 what="running_var after an eval-mode forward (eval must not update it)")
    ours.train()
    ref.train()
    x = batch(shape, seed=53, step=1).to(device)
    check(ours(x), ref(x), "BatchNorm1d output back in train mode (batch statistics again)")


def test_batchnorm_eps_goes_inside_the_sqrt(kata, device):
    # One channel is nearly constant: its variance (~1e-4) is comparable to eps = 1e-3. Its
    # mean stays near 0, so float32 computes that variance without cancellation.
    x = randn(16, 3, seed=60)
    x[:, 1] = 1e-2 * x[:, 1]
    ours, ref = bn_pair(kata, 3, seed=61, device=device, eps=1e-3)
    x = x.to(device)
    check(ours(x), ref(x), "BatchNorm1d(eps=1e-3) on a nearly constant channel",
          bn_output_suspects(x, ref.weight.detach(), ref.bias.detach(), 1e-3,
                             torch.zeros(3, device=device), torch.ones(3, device=device))[:3])
    ours.eval()
    ref.eval()
    check(ours(x), ref(x), "BatchNorm1d(eps=1e-3) in eval mode")


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)], ids=["N,C", "N,C,L"])
def test_batchnorm_train_gradients_flow_through_batch_stats(kata, device, shape):
    ours, ref = bn_pair(kata, 4, seed=70, device=device)
    x = batch(shape, seed=71, step=1).to(device).requires_grad_(True)
    up = randn(*shape, seed=72).to(device)
    got = torch.autograd.grad((ours(x) * up).sum(), (x, ours.weight, ours.bias))
    want = torch.autograd.grad((ref(x) * up).sum(), (x, ref.weight, ref.bias))
    for name, g, e in zip(("x", "weight", "bias"), got, want, strict=True):
        assert_close(g, e, what=f"d(loss)/d{name} through BatchNorm1d in train mode "
                                "(the batch mean and variance depend on x too)")


def test_batchnorm_state_dict_round_trips_into_torch(kata, device):
    ours, ref = bn_pair(kata, 3, seed=80, device=device, momentum=0.5)
    for step in range(2):
        ours(batch((5, 3), seed=81, step=step).to(device))
    loaded = copy.deepcopy(ref)
    loaded.load_state_dict(ours.state_dict(), strict=False)
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert_close(getattr(loaded, name).detach(), getattr(ours, name).detach(),
                     what=f"{name} loaded from BatchNorm1d.state_dict() into nn.BatchNorm1d")
    loaded.eval()
    ours.eval()
    x = batch((5, 3), seed=82, step=3).to(device)
    assert_close(ours(x), loaded(x), what="eval output of nn.BatchNorm1d loaded with your "
                                          "state_dict vs. your own eval output")


def test_no_builtin_normalization(kata, device, monkeypatch):
    """The point of the kata is to write these: the built-ins are switched off here."""
    forbidden = {
        "F.layer_norm": (F, "layer_norm"), "F.rms_norm": (F, "rms_norm"),
        "F.batch_norm": (F, "batch_norm"), "F.group_norm": (F, "group_norm"),
        "F.instance_norm": (F, "instance_norm"), "torch.layer_norm": (torch, "layer_norm"),
        "torch.batch_norm": (torch, "batch_norm"), "torch.rms_norm": (torch, "rms_norm"),
        "nn.LayerNorm.forward": (nn.LayerNorm, "forward"),
        "nn.RMSNorm.forward": (nn.RMSNorm, "forward"),
        "nn.BatchNorm1d.forward": (nn.BatchNorm1d, "forward"),
    }
    forbid_builtins(monkeypatch, kata, forbidden, "write it with mean, var and sqrt")
    x = randn(4, 3, 5, seed=90).to(device)
    kata.layer_norm(x, torch.ones(5, device=device), torch.zeros(5, device=device))
    kata.rms_norm(x, torch.ones(5, device=device))
    bn = kata.BatchNorm1d(3).to(device)
    bn(x)
    bn.eval()
    bn(x)
