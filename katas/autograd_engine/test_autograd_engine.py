"""Tests for the autograd_engine kata: a scalar Value with + * ** tanh relu exp log and a
reverse-mode backward().

Oracle: torch.autograd on the very same expression built from float64 torch scalars (the test
programs below run unchanged on Value and on torch tensors: both have +, *, **, -, /, and the
methods tanh, relu, exp, log). Random expression DAGs reuse nodes on purpose, so that gradient
accumulation (+=) and the reverse topological order are both exercised. Where a wrong gradient
matches a classic bug (= instead of +=, 1 - x^2 for tanh, no seed), the message names it.
"""

import math

import numpy as np
import pytest
import torch

from dojo.testing import assert_close

# ----------------------------------------------------------------------------- programs
# An instruction is (op, i, arg): apply op to node i and arg (a node index for binary ops, a
# Python number for the constant ones, None for unary ops). The nodes are the leaves followed
# by the result of every instruction; the output is the last node.

UNARY = {
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "neg": lambda a: -a,
}
BINARY = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
    "div": lambda a, b: a / b,
}
CONST = {
    "pow": lambda a, k: a**k,
    "addc": lambda a, c: a + c,
    "radd": lambda a, c: c + a,
    "mulc": lambda a, c: a * c,
    "rmul": lambda a, c: c * a,
    "subc": lambda a, c: a - c,
    "rsub": lambda a, c: c - a,
    "divc": lambda a, c: a / c,
    "rdiv": lambda a, c: c / a,
}


def apply(op, nodes, i, arg):
    if op in UNARY:
        return UNARY[op](nodes[i])
    if op in BINARY:
        return BINARY[op](nodes[i], nodes[arg])
    return CONST[op](nodes[i], arg)


def run_value(kata, leaves, program):
    """The program on the learner's Value: (nodes, output) after output.backward()."""
    nodes = [kata.Value(x) for x in leaves]
    for op, i, arg in program:
        nodes.append(apply(op, nodes, i, arg))
    nodes[-1].backward()
    return nodes


def run_torch(leaves, program):
    """The program on float64 torch scalars: (values, grads) of every node, by autograd."""
    nodes = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in leaves]
    for op, i, arg in program:
        node = apply(op, nodes, i, arg)
        node.retain_grad()
        nodes.append(node)
    nodes[-1].backward()
    values = [n.item() for n in nodes]
    grads = [0.0 if n.grad is None else n.grad.item() for n in nodes]  # None: not on a path
    return values, grads


def _valid(op, a, b, arg):
    """Whether op keeps to its domain and to moderate values at these inputs."""
    if op == "log":
        return a > 0.05
    if op == "exp":
        return a < 3.0
    if op == "div":
        return abs(b) > 0.2
    if op == "rdiv":
        return abs(a) > 0.2
    if op == "pow":
        if arg != int(arg):
            return a > 0.05
        return arg > 0 or abs(a) > 0.2
    return True


def random_program(seed, n_leaves=4, n_ops=30):
    """A random expression DAG over n_leaves leaves: operands are drawn from every node built
    so far (so nodes are reused, some many times), and the last few nodes are summed so that
    most of the graph lies on a path to the output. Returns (leaves, program)."""
    rng = np.random.default_rng(seed)
    leaves = [float(v) for v in rng.uniform(-1.5, 1.5, n_leaves)]
    nodes = [torch.tensor(v, dtype=torch.float64) for v in leaves]
    ops = list(UNARY) + list(BINARY) * 2 + list(CONST)
    program = []
    while len(program) < n_ops:
        op = ops[rng.integers(len(ops))]
        i = int(rng.integers(len(nodes)))
        j = int(rng.integers(len(nodes)))
        if op in BINARY:
            arg = j
        elif op == "pow":
            arg = [2, 3, -1, 0.5, 1.5, -2][rng.integers(6)]
        elif op in CONST:
            arg = float(np.round(rng.uniform(-2, 2), 2)) or 0.5
        else:
            arg = None
        if not _valid(op, nodes[i].item(), nodes[j].item(), arg):
            continue
        out = apply(op, nodes, i, arg)
        if not math.isfinite(out.item()) or abs(out.item()) > 50:
            continue
        nodes.append(out)
        program.append((op, i, arg))
    last = len(leaves) + n_ops - 1
    for k in (2, 3, 4):  # out = node[-1] + node[-2] + ...: more of the DAG reaches the output
        program.append(("add", len(nodes) - 1, last - k))
        nodes.append(nodes[-1] + nodes[last - k])
    return leaves, program


def check_program(kata, leaves, program, what, suspects=()):
    """Compare the learner's data and grads (leaves, then every intermediate) with torch."""
    nodes = run_value(kata, leaves, program)
    values, grads = run_torch(leaves, program)
    assert all(isinstance(n, kata.Value) for n in nodes), (
        f"{what}: every op must return a Value")
    assert_close(np.array([n.data for n in nodes]), np.array(values), what=f"{what}: .data")
    assert nodes[-1].grad == 1.0, (
        f"{what}: the output's grad is {nodes[-1].grad!r} after backward(); backward() seeds "
        "d(out)/d(out) = 1.0")
    got = np.array([n.grad for n in nodes], dtype=np.float64)
    want = np.array(grads)
    n = len(leaves)
    try:
        assert_close(got[:n], want[:n], what=f"{what}: leaf grads (torch.autograd)")
    except AssertionError as err:
        for description, wrong in suspects:
            if np.allclose(got[:n], wrong, rtol=1e-7, atol=1e-9):
                raise AssertionError(f"{err}\nYour grads match {description}.") from None
        raise
    assert_close(got[n:], want[n:], what=f"{what}: intermediate nodes' grads "
                                         "(d out / d node, torch retain_grad)")


# ----------------------------------------------------------------------------- basics


def test_value_holds_its_data_as_a_float_and_starts_with_zero_grad(kata):
    v = kata.Value(3)
    assert isinstance(v.data, float) and v.data == 3.0, "Value(3).data must be the float 3.0"
    assert v.grad == 0.0, f"a new Value has grad 0.0, got {v.grad!r}"
    w = v * 2
    assert isinstance(w, kata.Value), "an op must return a new Value"
    assert w.grad == 0.0 and v.data == 3.0, "building an expression must not change operands"


def test_backward_seeds_the_output_grad_with_one(kata):
    x = kata.Value(0.7)
    x.backward()
    assert x.grad == 1.0, (
        f"x.backward() on a leaf gave x.grad = {x.grad!r}; d x / d x = 1: did you seed "
        "out.grad = 1.0 before propagating?")
    x, y = kata.Value(0.7), kata.Value(-1.3)  # a fresh graph: backward assumes zero grads
    out = x * y
    out.backward()
    assert out.grad == 1.0 and x.grad != 1.0, "backward() sets the output's own grad to 1.0"
    if x.grad == 0.0 and y.grad == 0.0:
        raise AssertionError("every grad is 0 after backward(): the output's grad must be "
                             "seeded with 1.0 before the local rules run")
    assert_close(np.array([x.grad, y.grad]), np.array([-1.3, 0.7]),
                 what="grads of x * y (x.grad = y, y.grad = x)")


def test_each_op_computes_its_forward_value(kata):
    x, y = 0.8, -1.7
    X, Y = kata.Value(x), kata.Value(y)
    cases = [
        ("x + y", X + Y, x + y), ("x * y", X * Y, x * y), ("x ** 3", X**3, x**3),
        ("x ** -1.5", X**-1.5, x**-1.5), ("tanh(y)", Y.tanh(), math.tanh(y)),
        ("relu(x)", X.relu(), x), ("relu(y)", Y.relu(), 0.0), ("exp(y)", Y.exp(), math.exp(y)),
        ("log(x)", X.log(), math.log(x)), ("-x", -X, -x), ("x - y", X - Y, x - y),
        ("x / y", X / Y, x / y), ("2 + x", 2 + X, 2 + x), ("3 * y", 3 * Y, 3 * y),
        ("1 - y", 1 - Y, 1 - y), ("2 / y", 2 / Y, 2 / y), ("y - 4", Y - 4, y - 4),
        ("y / 4", Y / 4, y / 4),
    ]
    for name, got, want in cases:
        assert isinstance(got, kata.Value), f"{name} must return a Value"
        assert_close(got.data, want, what=f"({name}).data with x={x}, y={y}")


# ----------------------------------------------------------------------------- local rules


@pytest.mark.parametrize("x", [-1.3, 0.4, 2.1])
def test_tanh_backward_is_one_minus_tanh_squared(kata, x):
    v = kata.Value(x)
    v.tanh().backward()
    want = 1 - math.tanh(x) ** 2
    if abs(v.grad - (1 - x * x)) < 1e-9:
        raise AssertionError(f"tanh'({x}) = {v.grad!r} = 1 - x^2: the rule is 1 - t^2 with "
                             "t = tanh(x), the OUTPUT of the node")
    check_program(kata, [x], [("tanh", 0, None)], f"tanh at x={x}")
    assert_close(v.grad, want, what=f"d tanh(x)/dx at x={x}")


@pytest.mark.parametrize("x, k", [(1.7, 2), (-1.3, 3), (0.6, -1), (-0.8, -2), (2.5, 0.5),
                                  (0.7, 1.5), (1.9, 1), (1.2, 0)])
def test_pow_backward_is_k_times_x_to_the_k_minus_one(kata, x, k):
    v = kata.Value(x)
    (v**k).backward()
    want = k * x ** (k - 1)
    for wrong, name in ((k * x**k, "k * x**k (the exponent must drop by one)"),
                        (x ** (k - 1), "x**(k-1) (the factor k is missing)"),
                        ((k - 1) * x ** (k - 1), "(k-1) * x**(k-1)")):
        if abs(want - wrong) > 1e-6 and abs(v.grad - wrong) < 1e-9:
            raise AssertionError(f"d(x**{k})/dx at x={x} is {v.grad!r} = {name}; "
                                 f"expected k * x**(k-1) = {want!r}")
    check_program(kata, [x], [("pow", 0, k)], f"x ** {k} at x={x}")


@pytest.mark.parametrize("x", [-0.9, 0.0, 0.5, 1.4])
def test_relu_backward_is_one_above_zero_and_zero_at_or_below(kata, x):
    v = kata.Value(x)
    out = v.relu()
    out.backward()
    assert out.data == max(x, 0.0), f"relu({x}).data = {out.data!r}, expected {max(x, 0.0)}"
    assert v.grad == (1.0 if x > 0 else 0.0), (
        f"d relu(x)/dx at x={x} is {v.grad!r}; torch's convention is 1 for x > 0, else 0 "
        "(0 at x == 0 too)")


@pytest.mark.parametrize("x", [-2.0, 0.3, 1.8])
def test_exp_and_log_backward_match_torch(kata, x):
    check_program(kata, [x], [("exp", 0, None)], f"exp at x={x}")
    check_program(kata, [abs(x)], [("log", 0, None)], f"log at x={abs(x)}")


def test_add_and_mul_route_the_grad_to_both_operands(kata):
    check_program(kata, [1.5, -0.4], [("add", 0, 1), ("mul", 2, 1)], "(x + y) * y")
    check_program(kata, [1.5, -0.4], [("mul", 0, 1), ("mul", 2, 0)], "(x * y) * x")


@pytest.mark.parametrize("op, c", [("addc", 2.5), ("radd", 2.5), ("mulc", -3.0),
                                   ("rmul", -3.0), ("subc", 1.5), ("rsub", 1.5),
                                   ("divc", 4.0), ("rdiv", 2.0), ("neg", None)])
def test_number_operands_work_on_either_side(kata, op, c):
    names = {"addc": "x + c", "radd": "c + x", "mulc": "x * c", "rmul": "c * x",
             "subc": "x - c", "rsub": "c - x", "divc": "x / c", "rdiv": "c / x", "neg": "-x"}
    check_program(kata, [0.75], [(op, 0, c), ("mul", 1, 1)],
                  f"({names[op]})^2 with x=0.75, c={c}")


@pytest.mark.parametrize("op", ["sub", "div"])
def test_sub_and_div_of_two_values_match_torch(kata, op):
    check_program(kata, [1.3, -0.6], [(op, 0, 1), ("tanh", 2, None)],
                  f"tanh(x {'-' if op == 'sub' else '/'} y)")
    check_program(kata, [1.3, -0.6], [(op, 1, 0), ("exp", 2, None)],
                  f"exp(y {'-' if op == 'sub' else '/'} x)")


# ----------------------------------------------------------------------------- the graph


def test_a_node_used_twice_accumulates_its_gradient(kata):
    x = kata.Value(3.0)
    (x * x).backward()
    if x.grad == 3.0:
        raise AssertionError("d(x * x)/dx = 3.0 = x at x = 3, expected 2x = 6: the two uses of "
                             "x overwrote each other; use += in _backward, not =")
    assert x.grad == 6.0, f"d(x * x)/dx at x = 3 is {x.grad!r}, expected 6.0"
    y = kata.Value(-2.0)
    (y + y).backward()
    assert y.grad == 2.0, f"d(y + y)/dy is {y.grad!r}, expected 2.0 (accumulate with +=)"
    check_program(kata, [1.2], [("mul", 0, 0), ("mul", 1, 0)], "x * x * x")


def test_a_shared_subexpression_gets_every_consumer_contribution(kata):
    # a = x * y feeds three consumers at different depths: out = a + exp(a) * tanh(a) + a*a
    program = [("mul", 0, 1), ("exp", 2, None), ("tanh", 2, None), ("mul", 3, 4),
               ("add", 2, 5), ("mul", 2, 2), ("add", 6, 7)]
    leaves = [0.6, -0.9]
    check_program(kata, leaves, program,
                  "a + exp(a) * tanh(a) + a * a with a = x * y (a feeds three consumers: "
                  "its grad is the SUM of their contributions (+=), complete before a "
                  "propagates it (reverse topological order))")


@pytest.mark.parametrize("order", ["consumer first", "consumer last"])
def test_backward_waits_for_all_consumers_before_propagating(kata, order):
    # a = 3x feeds the output directly and through b = exp(a). A node propagated before b has
    # added its part passes on an incomplete grad (x.grad = 3 instead of 3 (1 + e^a)).
    program = [("mulc", 0, 3.0), ("exp", 1, None)]
    program.append(("add", 1, 2) if order == "consumer first" else ("add", 2, 1))
    x = 0.4
    premature = [3.0]  # only the direct path a -> out
    check_program(kata, [x], program, f"a + exp(a), a = 3x ({order})",
                  suspects=[("a's grad propagated before exp(a) added its part: run the "
                             "_backward rules in reverse topological order", premature)])


@pytest.mark.parametrize("seed", range(6))
def test_random_expression_dag_with_reuse_matches_torch(kata, seed):
    leaves, program = random_program(seed)
    check_program(kata, leaves, program,
                  f"random expression DAG (seed {seed}, {len(program)} ops, nodes reused): if "
                  "only this fails, check += accumulation and the reverse topological order")


def test_leaves_off_the_path_to_the_output_get_zero_grad(kata):
    x, y, z = kata.Value(0.5), kata.Value(-1.0), kata.Value(2.0)
    _ = z * 3  # built, but not part of out
    out = (x * y).tanh()
    out.backward()
    assert z.grad == 0.0, f"z is not in out's graph, yet z.grad = {z.grad!r}"
    assert_close(np.array([x.grad, y.grad]),
                 np.array([-1.0, 0.5]) * (1 - math.tanh(-0.5) ** 2), what="grads of tanh(x*y)")


def test_backward_handles_a_deep_chain(kata):
    # 80 steps of v = tanh(0.9 v) + x: about 250 nodes deep, x reused at every step.
    program, last = [], 0
    for _ in range(80):
        program += [("mulc", last, 0.9), ("tanh", len(program) + 1, None),
                    ("add", len(program) + 2, 0)]
        last = len(program)
    check_program(kata, [0.3], program, "80 steps of v = tanh(0.9 v) + x")
