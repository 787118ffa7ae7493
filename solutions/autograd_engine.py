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
        # >>> TODO: the sum node, and a backward rule that passes its grad to both operands
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad  # += : self and other may be the same node (x + x)
            other.grad += out.grad

        out._backward = _backward
        return out
        # <<<

    def __mul__(self, other):
        """self * other; other: Value or number."""
        # >>> TODO: the product node, and a backward rule (each operand gets the other's value)
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out
        # <<<

    def __pow__(self, k):
        """self ** k for a constant int or float k."""
        assert isinstance(k, (int, float)), "only constant (int/float) exponents are supported"
        # >>> TODO: the power node, and its backward rule (power rule)
        out = Value(self.data**k, (self,), f"**{k}")

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out
        # <<<

    def tanh(self):
        """tanh(self)."""
        # >>> TODO: the tanh node, and its backward rule (in terms of the output)
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out
        # <<<

    def relu(self):
        """max(self, 0); its derivative at 0 is 0."""
        # >>> TODO: the relu node, and its backward rule (a 0/1 gate)
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out
        # <<<

    def exp(self):
        """e ** self."""
        # >>> TODO: the exp node, and its backward rule
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out
        # <<<

    def log(self):
        """Natural log of self (self > 0)."""
        # >>> TODO: the log node, and its backward rule
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data

        out._backward = _backward
        return out
        # <<<

    # ----------------------------------------------------------------- derived ops
    def __neg__(self):  # -self
        # >>> TODO: compose the primitives
        return self * -1
        # <<<

    def __radd__(self, other):  # other + self
        # >>> TODO: compose the primitives
        return self + other
        # <<<

    def __sub__(self, other):  # self - other
        # >>> TODO: compose the primitives
        return self + (-other)
        # <<<

    def __rsub__(self, other):  # other - self
        # >>> TODO: compose the primitives
        return other + (-self)
        # <<<

    def __rmul__(self, other):  # other * self
        # >>> TODO: compose the primitives
        return self * other
        # <<<

    def __truediv__(self, other):  # self / other
        # >>> TODO: compose the primitives
        return self * other**-1  # a number other gives a float other**-1: fine too
        # <<<

    def __rtruediv__(self, other):  # other / self
        # >>> TODO: compose the primitives
        return other * self**-1
        # <<<

    # ----------------------------------------------------------------- backward
    def backward(self):
        """Fill .grad of every node of the graph with d(self)/d(node)."""
        # >>> TODO: order the graph topologically (each node after its operands), seed
        # >>>       self.grad, then run each node's _backward from the output down
        topo, seen = [], set()

        def build(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)  # after all of its operands

        build(self)
        self.grad = 1.0
        for v in reversed(topo):  # each node's grad is complete before it is propagated
            v._backward()
        # <<<
