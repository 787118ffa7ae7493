"""Graph extraction with torch.fx: run the traced graph node by node to propagate shapes.

torch.fx.symbolic_trace(model) turns an nn.Module into a GraphModule `gm` whose gm.graph.nodes
list the program in execution order. Each node has a name (unique), an op and a target:

    op              target                              what it computes
    placeholder     the argument's name, e.g. "x"       the next positional input
    get_attr        a dotted attribute path, e.g. "w"   the tensor stored at gm.<path>
    call_function   a callable, e.g. torch.relu,        target(*args, **kwargs)
                    operator.add, operator.getitem
    call_method     a method name, e.g. "view"          args[0].<target>(*args[1:], **kwargs)
    call_module     a submodule path, e.g. "layers.0"   gm.get_submodule(target)(*args, **kwargs)
    output          "output"                            its value is args[0]

node.args / node.kwargs hold other Nodes (possibly nested in tuples, lists and dicts) mixed
with constants; torch.fx.node.map_arg(a, fn) replaces every Node inside `a` by fn(node).

Build:

    extract_graph(model, example) -> list[NodeRecord]
        Trace model (an nn.Module; a GraphModule is used as is), then execute gm.graph.nodes
        one by one with the example inputs (a tensor, or a tuple of tensors for several
        positional inputs), under torch.no_grad(), keeping every node's value in an
        environment keyed by node name. Return one NodeRecord per node, in graph order,
        placeholders and output included.
    count_ops(gm) -> dict[str, int]
        How many nodes of each kind do work: call_module nodes count under the class name of
        the submodule ("Linear", "Conv2d"), call_function and call_method nodes under
        target_name(node) ("relu", "add", "view"). placeholder, get_attr and output nodes are
        not ops and are not counted. Kinds that do not occur are absent.
    param_bytes_per_node(gm) -> dict[str, int]
        For every call_module node: the bytes of the submodule's parameters and buffers
        (recursively; e.g. BatchNorm's running stats and its int64 num_batches_tracked); for
        every get_attr node: the bytes of the tensor it fetches (0 if it is not a tensor).
        Bytes = numel * element_size, with each tensor's own dtype. Keyed by node name; other
        nodes are absent; a parameterless module (nn.ReLU) gives 0.

NodeRecord fields: name (node.name), op (node.op), target (target_name(node), a str),
shape (tuple of ints) and dtype (torch.dtype) of the node's value when that value is a
torch.Tensor, else None for both (a Python int from x.shape[0], a tuple from chunk, an output
that returns a tuple). The output node's value is what the model returns.

Not allowed (the tests switch them off): torch.fx.passes.shape_prop.ShapeProp and
torch.fx.Interpreter; executing the graph is the exercise. The solution must not move
anything to another device: values stay where the model and the example live.

Pitfalls an interviewer looks for:
- Every node gets a record: get_attr and call_module nodes too, and the shapes change from
  node to node (the input's shape is not everybody's shape).
- call_method's object is args[0]; call_module's target is a path into gm, not an attribute
  of the model's top level ("layers.0.conv").
- placeholder and output nodes (and get_attr: a fetch) are not ops.
- Bytes are numel * element_size: float16 is 2 bytes, int64 buffers 8, not a flat 4.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import fx, nn


@dataclass(frozen=True)
class NodeRecord:
    """One node of the traced graph and the shape/dtype of its value (None if not a tensor)."""

    name: str
    op: str
    target: str
    shape: tuple[int, ...] | None
    dtype: torch.dtype | None


def target_name(node: fx.Node) -> str:
    """node.target as a string: a callable's __name__ for call_function ("relu", "add",
    "getitem"), the target itself for every other op ("x", "layers.0", "view", "output")."""
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    return str(node.target)


def _trace(model: nn.Module) -> fx.GraphModule:
    return model if isinstance(model, fx.GraphModule) else fx.symbolic_trace(model)


def _fetch_attr(gm: fx.GraphModule, path: str):
    """gm.<path> for a dotted path such as "block.0.weight"."""
    return functools.reduce(getattr, path.split("."), gm)


def extract_graph(model: nn.Module, example) -> list[NodeRecord]:
    """Trace model, run its graph node by node on example, and record every node's value
    shape and dtype. example: a tensor or a tuple of tensors (positional inputs)."""
    gm = _trace(model)
    inputs = iter(example if isinstance(example, (tuple, list)) else (example,))
    # >>> TODO: walk gm.graph.nodes in order; compute each node's value from its (looked-up)
    # >>>       args by op kind; store it by name; record name, op, target, shape and dtype
    env = {}
    records = []
    with torch.no_grad():
        for node in gm.graph.nodes:
            args = fx.node.map_arg(node.args, lambda n: env[n.name])  # Nodes -> their values
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n.name])
            if node.op == "placeholder":
                value = next(inputs)
            elif node.op == "get_attr":
                value = _fetch_attr(gm, node.target)
            elif node.op == "call_function":
                value = node.target(*args, **kwargs)
            elif node.op == "call_method":
                obj, *rest = args
                value = getattr(obj, node.target)(*rest, **kwargs)
            elif node.op == "call_module":
                value = gm.get_submodule(node.target)(*args, **kwargs)
            else:  # output
                value = args[0]
            env[node.name] = value
            is_tensor = isinstance(value, torch.Tensor)
            records.append(NodeRecord(node.name, node.op, target_name(node),
                                      tuple(value.shape) if is_tensor else None,
                                      value.dtype if is_tensor else None))
    return records
    # <<<


def count_ops(gm: fx.GraphModule) -> dict[str, int]:
    """{kind: number of nodes}: call_module by the submodule's class name, call_function and
    call_method by target_name. placeholder, get_attr and output nodes are not counted."""
    # >>> TODO: count the nodes that do work, keyed by module class or target name
    counts = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            kind = type(gm.get_submodule(node.target)).__name__
        elif node.op in ("call_function", "call_method"):
            kind = target_name(node)
        else:  # placeholder, get_attr, output
            continue
        counts[kind] = counts.get(kind, 0) + 1
    return counts
    # <<<


def param_bytes_per_node(gm: fx.GraphModule) -> dict[str, int]:
    """{node name: bytes} for call_module nodes (parameters + buffers of the submodule) and
    get_attr nodes (the fetched tensor). Bytes = numel * element_size."""
    # >>> TODO: for call_module and get_attr nodes, sum numel * element_size of their tensors
    out = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            tensors = [*mod.parameters(), *mod.buffers()]
        elif node.op == "get_attr":
            value = _fetch_attr(gm, node.target)
            tensors = [value] if isinstance(value, torch.Tensor) else []
        else:
            continue
        out[node.name] = sum(t.numel() * t.element_size() for t in tensors)
    return out
    # <<<
