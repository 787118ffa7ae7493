"""Tests for the fx_passes kata.

Oracles: torch.fx.experimental.optimization.fuse (which folds with
torch.nn.utils.fusion.fuse_conv_bn_eval) for conv + BN folding, both for the outputs and for
the fused conv's weight and bias; the unmodified model in eval mode for every pass (numerical
equivalence on seeded inputs); an eager model written with the new op for replace_op. Graph
structure is checked by counting nodes in gm.graph.nodes, and every result must lint.
The passes are device independent, but the folding must create its tensors on the model's
device, so the tests run on every device.
"""

import copy
import operator
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from dojo.testing import assert_close

with warnings.catch_warnings():  # it imports torch.utils.mkldnn, which warns about torch.jit
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch.fx.experimental.optimization import fuse as torch_fuse

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def randomize_bn(bn, seed, var_range=(0.5, 2.0)):
    """Non-trivial running statistics and affine parameters (fresh BNs are the identity)."""
    g = torch.Generator().manual_seed(seed)
    c = bn.num_features
    lo, hi = var_range
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g))
        bn.running_var.copy_(lo + (hi - lo) * torch.rand(c, generator=g))
        if bn.affine:
            bn.weight.copy_(torch.randn(c, generator=g))
            bn.bias.copy_(torch.randn(c, generator=g))


def seeded(model, seed):
    torch.manual_seed(seed)  # conv / linear init
    m = model()
    for i, mod in enumerate(m.modules()):
        if isinstance(mod, BN_TYPES):
            randomize_bn(mod, seed + i, getattr(m, "var_range", (0.5, 2.0)))
    return m.eval()


def check_graph_module(gm, what):
    assert isinstance(gm, fx.GraphModule), f"{what} must return a torch.fx.GraphModule"
    gm.graph.lint()


def count(gm, pred):
    return sum(1 for n in gm.graph.nodes if pred(n))


def is_bn_node(gm):
    return lambda n: n.op == "call_module" and isinstance(gm.get_submodule(n.target), BN_TYPES)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class ConvBN2d(nn.Module):
    """Two conv -> BN pairs (the second depthwise), an activation between."""

    def __init__(self, bias=True, affine=True, eps=1e-5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(6, eps=eps, affine=affine)
        self.conv2 = nn.Conv2d(6, 6, 3, groups=6, bias=bias)
        self.bn2 = nn.BatchNorm2d(6, eps=eps, affine=affine)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(x))


class NestedConv1d(nn.Module):
    """Conv1d -> BN1d inside an nn.Sequential: dotted names such as "block.0"."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(4, 5, 3, bias=False), nn.BatchNorm1d(5), nn.ReLU())
        self.head = nn.Conv1d(5, 2, 1)

    def forward(self, x):
        return self.head(self.block(x))


class SharedConvOutput(nn.Module):
    """conv's output feeds the BN and a residual: folding would change the residual."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class LinearBN(nn.Module):
    """A BN that does not follow a conv: left alone."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.bn = nn.BatchNorm1d(5)
        self.conv = nn.Conv1d(1, 3, 2)
        self.bn2 = nn.BatchNorm1d(3)

    def forward(self, x):
        z = self.bn(torch.tanh(self.fc(x)))  # (N, 5)
        return self.bn2(self.conv(z[:, None, :]))


def make(cls, **kw):
    return lambda: cls(**kw)


def fold_variant(conv, bn, *, eps=True, conv_bias=True, in_dim=False):
    """A conv with W', b' computed with (or without) the classic mistakes; for messages."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0],
                                                                               dtype=w.dtype)
    s = 1 / torch.sqrt(bn.running_var.double() + (bn.eps if eps else 0.0))
    beta = torch.zeros_like(s)
    if bn.affine:
        s, beta = s * bn.weight.detach().double(), bn.bias.detach().double()
    shape = [1, -1] if in_dim else [-1, 1]
    w2 = w * s.reshape(*shape, *[1] * (w.dim() - 2)) if not in_dim or w.shape[1] == len(s) else w
    b2 = ((b if conv_bias else 0) - bn.running_mean.double()) * s + beta
    return w2, b2


SUSPECTS = {
    "s = gamma / sqrt(var) without eps: use sqrt(var + eps)": dict(eps=False),
    "the conv bias was dropped: b' = (b - mean) * s + beta": dict(conv_bias=False),
    "W scaled along the input channels: s is per OUTPUT channel (dim 0 of W)": dict(in_dim=True),
}


def check_fused_params(ours, theirs, original, what):
    """Each conv fused by torch must exist under the same name in ours, with W' and b'."""
    for name, mod in theirs.named_modules():
        if not isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            continue
        got = ours.get_submodule(name)
        assert got.bias is not None, f"fused conv {name!r} has no bias: b' = (b - mean) * s + beta"
        try:
            assert_close(got.weight, mod.weight.detach(), what=f"fused weight of conv {name!r}")
            assert_close(got.bias, mod.bias.detach(), what=f"fused bias of conv {name!r}")
        except AssertionError as err:
            conv = original.get_submodule(name)
            bn_name = {"conv1": "bn1", "conv2": "bn2", "block.0": "block.1"}.get(name)
            if bn_name is not None:
                bn = original.get_submodule(bn_name)
                for hint, kw in SUSPECTS.items():
                    w2, b2 = fold_variant(conv.cpu(), bn.cpu(), **kw)
                    if (torch.allclose(got.weight.detach().cpu().double(), w2, atol=1e-5)
                            and torch.allclose(got.bias.detach().cpu().double(), b2, atol=1e-5)):
                        raise AssertionError(f"{err}\nLikely bug: {hint}") from None
            raise


# ---------------------------------------------------------------------------------------------
# fuse_conv_bn
# ---------------------------------------------------------------------------------------------

FUSE_CASES = {
    "conv2d with bias": (make(ConvBN2d), (2, 3, 7, 7)),
    "conv2d without bias": (make(ConvBN2d, bias=False), (2, 3, 7, 7)),
    "BN without affine": (make(ConvBN2d, affine=False), (2, 3, 7, 7)),
    "large eps": (make(ConvBN2d, eps=0.5), (2, 3, 7, 7)),
    "nested conv1d": (make(NestedConv1d), (3, 4, 9)),
}


@pytest.mark.parametrize("case", list(FUSE_CASES))
def test_fuse_conv_bn_matches_torch_fuse(kata, device, case):
    factory, shape = FUSE_CASES[case]
    model = seeded(factory, seed=1)
    theirs = torch_fuse(copy.deepcopy(model))
    x = randn(*shape, seed=2)
    expected = model(x).detach()
    gm = kata.fuse_conv_bn(copy.deepcopy(model).to(device))
    check_graph_module(gm, "fuse_conv_bn")
    n_bn = count(gm, is_bn_node(gm))
    assert n_bn == 0, (
        f"{case}: {n_bn} BatchNorm nodes left in the fused graph: erase each BN node after "
        "pointing its users at the conv node (replace_all_uses_with)")
    assert not any(isinstance(m, BN_TYPES) for m in gm.modules()), (
        f"{case}: BatchNorm submodules are still attached to the fused GraphModule")
    check_fused_params(gm, theirs, model, case)
    assert_close(gm(x.to(device)).detach(), expected,
                 what=f"fuse_conv_bn ({case}) output vs the original model in eval mode "
                      "(did you call gm.recompile()?)")


def test_fused_graph_calls_each_conv_once_and_nothing_else_changes(kata, device):
    model = seeded(make(ConvBN2d), seed=3).to(device)
    gm = kata.fuse_conv_bn(model)
    ops = [(n.op, n.target) for n in gm.graph.nodes]
    assert ops == [("placeholder", "x"), ("call_module", "conv1"),
                   ("call_function", torch.relu), ("call_module", "conv2"),
                   ("output", "output")], (
        f"fused graph is {ops}; expected x -> conv1 -> relu -> conv2 -> output, with the fused "
        "convs under the original conv names")


def test_fuse_conv_bn_leaves_the_input_model_untouched(kata, device):
    model = seeded(make(ConvBN2d, bias=False), seed=4).to(device)
    traced = fx.symbolic_trace(model)
    w_before = model.conv1.weight.detach().clone()
    x = randn(2, 3, 6, 6, seed=5).to(device)
    expected = traced(x).detach()
    kata.fuse_conv_bn(traced)
    assert count(traced, is_bn_node(traced)) == 2, (
        "fuse_conv_bn modified the GraphModule passed in: work on a copy")
    assert torch.equal(model.conv1.weight.detach(), w_before) and model.conv1.bias is None, (
        "fuse_conv_bn changed the original conv's parameters: build a new conv module")
    assert_close(traced(x).detach(), expected, what="the input model's output after fusing")


def test_conv_whose_output_has_another_user_is_not_fused(kata, device):
    model = seeded(make(SharedConvOutput), seed=6).to(device)
    x = randn(2, 4, 5, 5, seed=7).to(device)
    gm = kata.fuse_conv_bn(model)
    check_graph_module(gm, "fuse_conv_bn")
    assert_close(gm(x).detach(), model(x).detach(),
                 what="fuse_conv_bn on conv -> (BN + residual): the conv's output is also used "
                      "by the residual, so this BN must not be folded")


def test_bn_after_a_non_conv_is_left_alone(kata, device):
    model = seeded(make(LinearBN), seed=8).to(device)
    x = randn(4, 6, seed=9).to(device)
    gm = kata.fuse_conv_bn(model)
    check_graph_module(gm, "fuse_conv_bn")
    assert count(gm, is_bn_node(gm)) == 1, (
        "only the BN after the conv may be folded; the BN after the linear layer stays")
    assert_close(gm(x).detach(), model(x).detach(), what="fuse_conv_bn on linear -> BN, conv -> BN")


# ---------------------------------------------------------------------------------------------
# replace_op
# ---------------------------------------------------------------------------------------------


class Acts(nn.Module):
    def __init__(self, act=torch.relu, add=operator.add):
        super().__init__()
        self.act, self.add = act, add

    def forward(self, x, y):
        a = self.add(self.act(x), y)
        b = self.act(a * 2)
        return self.add(F.relu(b), torch.sigmoid(a))  # F.relu is not torch.relu


def targets(gm):
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


@pytest.mark.parametrize("old,new,eager", [
    (torch.relu, F.gelu, dict(act=F.gelu)),
    (operator.add, operator.sub, dict(add=operator.sub)),
    (operator.add, torch.add, dict(add=torch.add)),
], ids=["relu->gelu", "add->sub", "add->torch.add"])
def test_replace_op_swaps_call_function_targets(kata, device, old, new, eager):
    gm_in = fx.symbolic_trace(Acts())
    before = targets(gm_in)
    gm = kata.replace_op(gm_in, old, new)
    check_graph_module(gm, "replace_op")
    after = targets(gm)
    expected_targets = [new if t is old else t for t in before]
    assert after == expected_targets, (
        f"call_function targets after replace_op: {after}, expected {expected_targets} (every "
        f"node calling {old} calls {new}; the others are unchanged)")
    x, y = randn(3, 5, seed=10).to(device), randn(3, 5, seed=11).to(device)
    assert_close(gm(x, y), Acts(**eager)(x, y),
                 what="replace_op output vs the model written with the new op "
                      "(did you call gm.recompile()?)")
    assert targets(gm_in) == before, "replace_op modified the GraphModule passed in"


# ---------------------------------------------------------------------------------------------
# remove_dropout
# ---------------------------------------------------------------------------------------------


class DropNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.drop = nn.Dropout(0.5)
        self.conv = nn.Conv1d(1, 2, 3)
        self.drop2d = nn.Dropout1d(0.4)
        self.fc2 = nn.Linear(28, 4)
        self.alpha = nn.AlphaDropout(0.2)

    def forward(self, x):
        h = self.drop(torch.relu(self.fc1(x)))  # (N, 16)
        h = F.dropout(h, 0.3, self.training)
        h = self.drop2d(self.conv(h[:, None, :]))  # (N, 2, 14)
        return self.alpha(self.fc2(h.flatten(1)))  # a dropout as the very last node


def is_dropout_node(gm):
    def pred(n):
        if n.op == "call_module":
            return isinstance(gm.get_submodule(n.target), nn.modules.dropout._DropoutNd)
        return n.op == "call_function" and "dropout" in getattr(n.target, "__name__", "")
    return pred


def test_remove_dropout_removes_every_dropout_and_keeps_the_eval_output(kata, device):
    torch.manual_seed(12)
    model = DropNet().to(device).eval()
    x = randn(5, 8, seed=13).to(device)
    expected = model(x).detach()
    gm = kata.remove_dropout(model.train())
    check_graph_module(gm, "remove_dropout")
    left = count(gm, is_dropout_node(gm))
    assert left == 0, f"{left} dropout nodes left (nn.Dropout*, F.dropout) after remove_dropout"
    assert not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in gm.modules()), (
        "dropout submodules are still attached to the GraphModule")
    n_nodes = len(list(gm.graph.nodes))
    assert n_nodes == len(list(fx.symbolic_trace(model).graph.nodes)) - 4, (
        f"remove_dropout left {n_nodes} nodes; exactly the 4 dropout nodes must go")
    # even in train mode nothing is dropped any more: the output is the eval output
    assert_close(gm.train()(x).detach(), expected,
                 what="remove_dropout output (train mode) vs the original in eval mode "
                      "(did you call gm.recompile()?)")
    assert_close(gm.eval()(x).detach(), expected, what="remove_dropout output in eval mode")


def test_remove_dropout_without_dropout_changes_nothing(kata, device):
    model = seeded(make(ConvBN2d), seed=14).to(device)
    gm = kata.remove_dropout(model)
    check_graph_module(gm, "remove_dropout")
    assert [n.op for n in gm.graph.nodes] == [n.op for n in fx.symbolic_trace(model).graph.nodes]
    x = randn(1, 3, 6, 6, seed=15).to(device)
    assert_close(gm(x).detach(), model(x).detach(), what="remove_dropout on a model without any")
