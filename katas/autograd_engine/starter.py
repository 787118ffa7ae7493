# Your attempt at the `autograd_engine` kata: fill in every TODO, then run
#     nox -s kata -- autograd_engine
# Generated from solutions/autograd_engine.py; `dojo reset autograd_engine` archives this file and starts over.
"""A scalar reverse-mode autograd engine (micrograd-style), in pure Python.

Build a class `Value` that wraps one Python float and records the expression it came from, so
that `out.backward()` fills `.grad` of every node with d(out)/d(node):

    Value(data)                  a leaf: .data = float(data), .grad = 0.0
    a + b, a * b                 the two binary primitives (b: a Value or a Python number)
    a ** k                       power with a CONSTANT exponent k (int or float, not a Value)
    a.tanh(), a.relu(), a.exp(), a.log()
    -a, a - b, a / b, and the reflected 2 + a, 2 * a, 2 - a, 2 / a
                                 derived ops: compose the primitives (a / b is a * b ** -1),
                                 so they need no backward rule of their own
    out.backward()               seed out.grad = 1.0, then apply every node's local rule in
                                 reverse topological order

Conventions (those of torch.autograd, the oracle in the tests):
- Every op returns a new Value; a Python number operand is wrapped as a leaf Value.
- Local derivatives: d(a+b) = 1, 1; d(a*b) = b, a; d(a**k)/da = k a^(k-1);
  d tanh(a) = 1 - tanh(a)^2; d relu(a) = 1 if a > 0 else 0 (0 at a == 0, as torch);
  d exp(a) = exp(a); d log(a) = 1 / a (natural log, a > 0).
- Gradients ACCUMULATE: a node used several times (x * x, a shared subexpression) receives
  the sum of the contributions of all its uses.
- backward() assumes the graph is fresh (every .grad is 0.0, as after construction); it sets
  the output's grad to 1.0 and leaves d(out)/d(node) in .grad of every node of the graph,
  leaves and intermediates alike. Graphs may be a few hundred nodes deep.

Pitfalls an interviewer looks for:
- `other.grad = ...` instead of `+=`: x * x then gets x.grad = x instead of 2x, and a
  subexpression used twice keeps only its last contribution.
- Propagating a node's grad before all of its consumers have added theirs: walk the nodes in
  reverse topological order (children before parents in the topological sort), once each.
- Forgetting to seed out.grad = 1.0 (every grad stays 0).
- The tanh rule uses the OUTPUT t: 1 - t**2, not 1 - a**2; the pow rule is k * a**(k - 1).
"""

from __future__ import annotations

import math


class Value:
    """A scalar node of an expression graph: .data (float), .grad (float, d out / d self)."""

    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None  # adds this node's grad into its children's grads
        self._prev = tuple(_children)  # the operands this node was computed from
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    # ----------------------------------------------------------------- primitives
    def __add__(self, other):
        """self + other; other: Value or number."""
        # TODO: the sum node, and a backward rule that passes its grad to both operands
        raise NotImplementedError('TODO: the sum node, and a backward rule that passes its grad to both operands')

    def __mul__(self, other):
        """self * other; other: Value or number."""
        # TODO: the product node, and a backward rule (each operand gets the other's value)
        raise NotImplementedError("TODO: the product node, and a backward rule (each operand gets the other's value)")

    def __pow__(self, k):
        """self ** k for a constant int or float k."""
        assert isinstance(k, (int, float)), "only constant (int/float) exponents are supported"
        # TODO: the power node, and its backward rule (power rule)
        raise NotImplementedError('TODO: the power node, and its backward rule (power rule)')

    def tanh(self):
        """tanh(self)."""
        # TODO: the tanh node, and its backward rule (in terms of the output)
        raise NotImplementedError('TODO: the tanh node, and its backward rule (in terms of the output)')

    def relu(self):
        """max(self, 0); its derivative at 0 is 0."""
        # TODO: the relu node, and its backward rule (a 0/1 gate)
        raise NotImplementedError('TODO: the relu node, and its backward rule (a 0/1 gate)')

    def exp(self):
        """e ** self."""
        # TODO: the exp node, and its backward rule
        raise NotImplementedError('TODO: the exp node, and its backward rule')

    def log(self):
        """Natural log of self (self > 0)."""
        # TODO: the log node, and its backward rule
        raise NotImplementedError('TODO: the log node, and its backward rule')

    # ----------------------------------------------------------------- derived ops
    def __neg__(self):  # -self
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    def __radd__(self, other):  # other + self
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    def __sub__(self, other):  # self - other
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    def __rsub__(self, other):  # other - self
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    def __rmul__(self, other):  # other * self
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    def __truediv__(self, other):  # self / other
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    def __rtruediv__(self, other):  # other / self
        # TODO: compose the primitives
        raise NotImplementedError('TODO: compose the primitives')

    # ----------------------------------------------------------------- backward
    def backward(self):
        """Fill .grad of every node of the graph with d(self)/d(node)."""
        # TODO: order the graph topologically (each node after its operands), seed
        #       self.grad, then run each node's _backward from the output down
        raise NotImplementedError('TODO: order the graph topologically (each node after its operands), seed')
