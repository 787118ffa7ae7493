"""Tests for the fx_graph kata: a node-by-node interpreter over a torch.fx graph that records
every node's shape and dtype, an op counter and per-node parameter bytes.

Oracles: torch.fx.symbolic_trace + torch.fx.passes.shape_prop.ShapeProp (the node list and
every node's tensor_meta), used here only; hand-counted ops of small known models; and
Tensor.nbytes of the parameters and buffers for the bytes. The learner's code runs with
ShapeProp and torch.fx.Interpreter switched off. Models mix call_module, call_function,
call_method and get_attr nodes, non-tensor values (x.shape[0], chunk), bool/int64/float16
results and shapes that change from node to node.
"""

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- models


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.layers(x)


class Mixed(nn.Module):
    """call_module, call_function, call_method and get_attr nodes, a non-tensor value and
    bool / int64 results."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.w = nn.Parameter(torch.randn(8, 4) / 3)
        self.register_buffer("shift", torch.arange(4, dtype=torch.float32))

    def forward(self, x):
        h = torch.relu(self.fc(x))  # (B, 8)
        a, b = h.chunk(2, dim=-1)  # a tuple, then two (B, 4) getitems
        z = F.linear(a, self.w[:4]) + b @ self.w[4:] + self.shift  # get_attr + slicing
        n = x.shape[0]  # a Python int
        z = z.view(n, 2, 2).transpose(1, 2).reshape(n, -1) * 0.5
        mask = z > 0  # bool
        idx = z.argmax(dim=-1, keepdim=True)  # int64
        return z.sum(-1, keepdim=True) + mask.sum(-1, keepdim=True) + idx


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, kernel_size=3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(4, 6, kernel_size=3))
        self.head = nn.Linear(6 * 2 * 2, 5)

    def forward(self, x):
        x = self.features(x)  # (B, 3, 8, 8) -> (B, 4, 8, 8) -> (B, 4, 4, 4) -> (B, 6, 2, 2)
        return self.head(torch.flatten(x, 1))


class TwoInputs(nn.Module):
    """Two positional inputs; a sub-module called twice (shared weights); a tuple output."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(5, 7)
        self.gate = nn.Sequential(nn.Linear(7, 7), nn.Sigmoid())

    def forward(self, x, y):
        px, py = self.proj(x), self.proj(y)  # (B, 7) and (B, T, 7)
        scores = torch.einsum("bd,btd->bt", px, py)
        out = self.gate(py * scores.softmax(-1).unsqueeze(-1)).mean(dim=1)
        return out, scores.to(torch.float16)


def example_for(name, device):
    g = torch.Generator().manual_seed({"mlp": 0, "mixed": 1, "conv": 2, "two": 3}[name])
    if name == "mlp":
        return torch.randn(4, 6, generator=g).to(device)
    if name == "mixed":
        return torch.randn(5, 6, generator=g).to(device)
    if name == "conv":
        return torch.randn(2, 3, 8, 8, generator=g).to(device)
    return (torch.randn(3, 5, generator=g).to(device), torch.randn(3, 4, 5, generator=g).to(device))


MODELS = {"mlp": MLP, "mixed": Mixed, "conv": ConvNet, "two": TwoInputs}

# The first trace and run in a process pay one-off lazy imports (seconds under load): pay them
# at collection, like the torch import, rather than inside the first test.
ShapeProp(fx.symbolic_trace(MLP())).propagate(torch.zeros(1, 6))


def model_for(name, device, seed=0):
    torch.manual_seed(seed)
    return MODELS[name]().to(device).eval()


# ----------------------------------------------------------------------------- oracle


def target_str(node):
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    return str(node.target)


def oracle_records(model, example):
    """(name, op, target, shape, dtype) per node, from symbolic_trace + ShapeProp."""
    gm = fx.symbolic_trace(model)
    ShapeProp(gm).propagate(*(example if isinstance(example, tuple) else (example,)))
    out = []
    for n in gm.graph.nodes:
        tm = n.meta.get("tensor_meta")
        tensor = isinstance(tm, TensorMetadata)
        out.append((n.name, n.op, target_str(n), tuple(tm.shape) if tensor else None,
                    tm.dtype if tensor else None))
    return out


@pytest.fixture
def no_shapeprop(monkeypatch):
    """A context manager that switches off ShapeProp and fx.Interpreter while the learner's
    code runs (the oracle needs them outside it)."""

    def refuse(*args, **kwargs):
        raise AssertionError("ShapeProp / torch.fx.Interpreter are off limits in this kata: "
                             "execute gm.graph.nodes yourself")

    @contextlib.contextmanager
    def guard():
        with monkeypatch.context() as m:
            for owner, attr in ((ShapeProp, "propagate"), (ShapeProp, "run_node"),
                                (fx.Interpreter, "run"), (fx.Interpreter, "run_node")):
                m.setattr(owner, attr, refuse)
            yield

    return guard


def records_of(kata, guard, model, example):
    with guard():
        got = kata.extract_graph(model, example)
    assert isinstance(got, list), f"extract_graph must return a list, got {type(got).__name__}"
    return got


def as_tuples(records):
    out = []
    for r in records:
        for field in ("name", "op", "target", "shape", "dtype"):
            assert hasattr(r, field), f"a node record must have .{field} (got {r!r})"
        shape = None if r.shape is None else tuple(r.shape)
        out.append((r.name, r.op, r.target, shape, r.dtype))
    return out


def check_records(kata, guard, name, device):
    model = model_for(name, device)
    example = example_for(name, device)
    want = oracle_records(model, example)
    got = as_tuples(records_of(kata, guard, model, example))
    want_names = [w[0] for w in want]
    got_names = [g[0] for g in got]
    missing = [n for n in want_names if n not in got_names]
    assert not missing, (
        f"{name}: nodes missing from extract_graph's list: {missing} (ops "
        f"{sorted({w[1] for w in want if w[0] in missing})}); every node gets a record, "
        "get_attr, call_module, placeholder and output included")
    assert got_names == want_names, (
        f"{name}: the records must follow gm.graph.nodes in order: got {got_names}, "
        f"expected {want_names}")
    input_shapes = {w[3] for w in want if w[1] == "placeholder"}
    for g, w in zip(got, want, strict=True):
        assert g[1:3] == w[1:3], (
            f"{name}: node {w[0]}: (op, target) = {g[1:3]}, expected {w[1:3]} (target as "
            "target_name(node))")
        if g[3] != w[3] and g[3] in input_shapes and w[1] != "placeholder":
            raise AssertionError(
                f"{name}: node {w[0]} ({w[1]} {w[2]}) has the INPUT's shape {g[3]}, expected "
                f"{w[3]}: record each node's own value, computed from its args")
        assert g[3] == w[3], (
            f"{name}: node {w[0]} ({w[1]} {w[2]}): shape {g[3]}, expected {w[3]} "
            "(ShapeProp; None for a value that is not a tensor)")
        assert g[4] == w[4], (
            f"{name}: node {w[0]} ({w[1]} {w[2]}): dtype {g[4]}, expected {w[4]} "
            "(the dtype of the node's own value; None if it is not a tensor)")


# ----------------------------------------------------------------------------- extract_graph


@pytest.mark.parametrize("name", list(MODELS))
def test_extract_graph_matches_shapeprop_on_every_node(kata, device, no_shapeprop, name):
    check_records(kata, no_shapeprop, name, device)


def test_records_carry_tensor_shapes_as_tuples_and_none_for_other_values(kata, device,
                                                                         no_shapeprop):
    model, x = model_for("mixed", device), example_for("mixed", device)
    records = records_of(kata, no_shapeprop, model, x)
    by_name = {r.name: r for r in records}
    assert by_name["getattr_1"].shape is None and by_name["getattr_1"].dtype is None, (
        "x.shape is not a tensor: its record has shape None and dtype None")
    assert by_name["chunk"].shape is None, "chunk returns a tuple: shape None"
    assert by_name["w"].op == "get_attr" and by_name["w"].shape == (8, 4), (
        "the get_attr node 'w' must carry the shape of the parameter it fetches, (8, 4)")
    assert by_name["gt"].dtype == torch.bool, "z > 0 is a bool tensor"
    assert by_name["argmax"].dtype == torch.int64, "argmax gives int64"
    out = records[-1]
    assert out.op == "output" and out.shape == (5, 1), (
        f"the output record carries the shape of what the model returns, (5, 1); got {out!r}")
    assert all(isinstance(r.target, str) for r in records), "target must be a str"
    assert all(r.shape is None or type(r.shape) is tuple for r in records), (
        "shape must be a plain tuple of ints (tuple(value.shape)), not a torch.Size")


def test_extract_graph_runs_the_nodes_on_the_example(kata, device, no_shapeprop):
    # Another batch size: shapes must come from running the nodes on this example.
    model = model_for("conv", device)
    x = torch.randn(7, 3, 8, 8, generator=torch.Generator().manual_seed(9)).to(device)
    records = records_of(kata, no_shapeprop, model, x)
    want = oracle_records(model, x)
    assert [r.shape for r in records] == [w[3] for w in want], (
        "shapes for a batch of 7 differ from ShapeProp's: propagate from the example given")
    assert records[-1].shape == (7, 5), "the output record has the model output's shape"


def test_extract_graph_accepts_a_graph_module(kata, device, no_shapeprop):
    model = model_for("mlp", device)
    gm = fx.symbolic_trace(model)
    x = example_for("mlp", device)
    got = as_tuples(records_of(kata, no_shapeprop, gm, x))
    assert got == oracle_records(model, x), "a GraphModule must be used as is"


def test_extract_graph_does_not_record_gradients_or_change_the_model(kata, device,
                                                                     no_shapeprop):
    model = model_for("conv", device)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = example_for("conv", device).requires_grad_(True)
    with no_shapeprop():
        kata.extract_graph(model, x)
    for k, v in model.state_dict().items():
        assert_close(v, before[k], what=f"model state {k} after extract_graph (eval mode)")
    assert x.grad is None and all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------- count_ops


EXPECTED_OPS = {
    "mlp": {"Linear": 2, "ReLU": 1},
    "conv": {"Conv2d": 2, "BatchNorm2d": 1, "ReLU": 1, "MaxPool2d": 1, "flatten": 1,
             "Linear": 1},
    "mixed": {"Linear": 1, "relu": 1, "chunk": 1, "getitem": 5, "linear": 1, "matmul": 1,
              "add": 4, "getattr": 1, "view": 1, "transpose": 1, "reshape": 1, "mul": 1,
              "gt": 1, "argmax": 1, "sum": 2},
    "two": {"Linear": 3, "einsum": 1, "softmax": 1, "unsqueeze": 1, "mul": 1, "Sigmoid": 1,
            "mean": 1, "to": 1},
}


@pytest.mark.parametrize("name", list(EXPECTED_OPS))
def test_count_ops_counts_only_nodes_that_do_work(kata, device, name):
    gm = fx.symbolic_trace(model_for(name, device))
    got = kata.count_ops(gm)
    want = EXPECTED_OPS[name]
    assert got is not None, "count_ops must return a dict"
    got = dict(got)
    for not_op in ("x", "y", "output", "w", "shift", "placeholder", "get_attr"):
        assert not_op not in got, (
            f"count_ops counted {not_op!r}: placeholder, get_attr and output nodes are not ops")
    assert got == want, f"count_ops on {name}: got {got}, expected {want}"
    assert sum(got.values()) == sum(
        n.op in ("call_module", "call_function", "call_method") for n in gm.graph.nodes)


# ----------------------------------------------------------------------------- param bytes


def nbytes(*tensors):
    return sum(t.nbytes for t in tensors)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["float32", "float16"])
def test_param_bytes_per_node_uses_each_tensors_element_size(kata, device, dtype):
    model = model_for("conv", device).to(dtype)
    gm = fx.symbolic_trace(model)
    assert [n.name for n in gm.graph.nodes] == [  # the node names fx gives (the keys below)
        "x", "features_0", "features_1", "features_2", "features_3", "features_4", "flatten",
        "head", "output"]
    got = kata.param_bytes_per_node(gm)
    size = torch.tensor([], dtype=dtype).element_size()
    bn = model.features[1]
    want = {
        "features_0": (4 * 3 * 3 * 3 + 4) * size,
        "features_1": 4 * 4 * size + 8,  # weight, bias, running mean/var; int64 counter
        "features_2": 0,
        "features_3": 0,
        "features_4": (6 * 4 * 3 * 3 + 6) * size,
        "head": (5 * 24 + 5) * size,
    }
    assert want["features_1"] == nbytes(*bn.parameters(), *bn.buffers())
    assert got is not None, "param_bytes_per_node must return a dict"
    got = dict(got)
    if got.get("head") == (5 * 24 + 5) * 4 and size != 4:
        raise AssertionError("a float16 Linear counted 4 bytes per element: use "
                             "numel * element_size() of each tensor")
    if got.get("features_1") == 4 * 2 * size:
        raise AssertionError("BatchNorm2d counted without its buffers (running_mean, "
                             "running_var, num_batches_tracked)")
    if got.get("features_1") == 4 * 4 * size + size:
        raise AssertionError("num_batches_tracked is int64: 8 bytes, whatever the float dtype")
    assert got == want, f"param_bytes_per_node on ConvNet ({dtype}): got {got}, expected {want}"


def test_param_bytes_per_node_covers_get_attr_and_shared_modules(kata, device):
    model = model_for("mixed", device)
    gm = fx.symbolic_trace(model)
    got = dict(kata.param_bytes_per_node(gm))
    want = {"fc": nbytes(*model.fc.parameters()), "w": nbytes(model.w),
            "shift": nbytes(model.shift)}
    assert got == want, (
        f"param_bytes_per_node on Mixed: got {got}, expected {want} (call_module nodes: the "
        "submodule's parameters and buffers; get_attr nodes: the tensor fetched)")
    two = model_for("two", device)
    got = dict(kata.param_bytes_per_node(fx.symbolic_trace(two)))
    proj = nbytes(*two.proj.parameters())
    want = {"proj": proj, "proj_1": proj, "gate_0": nbytes(*two.gate[0].parameters()),
            "gate_1": 0}
    assert got == want, (
        f"param_bytes_per_node on TwoInputs: got {got}, expected {want} (a module called twice "
        "has two nodes, each with the module's bytes)")
