"""Backpropagation by hand: a ReLU multilayer perceptron, softmax cross-entropy, grad check.

Build, with numpy only:

    MLP(sizes, rng)                     a fully connected net: Linear, ReLU, Linear, ..., Linear
        .params                         [W1, b1, W2, b2, ...], W_i (in, out), b_i (out,)
        .grads                          same shapes as .params, written by backward
        .forward(X)                     (n, d_in) -> logits (n, C), caching what backward needs
        .backward(dlogits)              (n, C) -> dX (n, d_in); fills .grads
    softmax_cross_entropy(logits, y)    -> (loss, dlogits): mean loss (a float) and its gradient
    numerical_gradient(f, x, eps)       central differences of a scalar function f at x
    grad_check(f, x, eps)               max relative error between f's gradient and the numeric one

Shapes and dtypes: X is (n, d_in) float64, y is (n,) int class labels in [0, C), logits and
dlogits are (n, C) float64. `sizes = [d_in, h1, ..., C]`: len(sizes) - 1 linear layers, ReLU
after every layer but the last (the logits are not activated). `sizes = [d_in, C]` is a
linear model.

Conventions
-----------
- Layer i computes z_i = a_{i-1} @ W_i + b_i with W_i of shape (in, out) (so a batch is a row
  block), a_0 = X, a_i = relu(z_i) for every hidden layer, logits = z_L.
- Initialisation (He normal, for ReLU): for each layer in order, one call
      W_i = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
  and b_i = np.zeros(fan_out). The biases draw nothing from rng, so a seed fixes the weights.
  .grads starts as zeros of the same shapes.
- forward and backward read self.params when called. backward uses the cache of the latest
  forward and OVERWRITES .grads (no accumulation across calls): grads[2i] = dL/dW_i,
  grads[2i + 1] = dL/db_i, for the loss L whose gradient w.r.t. the logits is `dlogits`.
- softmax_cross_entropy averages over the batch:
      loss = -(1/n) sum_r log softmax(logits)[r, y_r],   dlogits = (softmax(logits) - onehot(y)) / n
  It is stable: logits of size 1e3 give finite, exact results (shift each row by its max).
- numerical_gradient(f, x, eps=1e-6): f maps an array like x to a float. For every element
  x[idx], g[idx] = (f(x + eps e_idx) - f(x - eps e_idx)) / (2 eps). x is perturbed IN PLACE
  and restored, so x may be one of net.params and f may read it through the net.
- grad_check(f, x, eps=1e-6): here f maps x to (value, analytic_gradient). With a = the
  analytic gradient at x and g = numerical_gradient of the value, it returns the float
      max_i |a_i - g_i| / max( max_i (|a_i| + |g_i|), 1e-12 )
  (one scale for the whole array, so near-zero entries do not blow up the ratio; 0.0 when
  both gradients are 0). Below ~1e-7 in float64 means the backward pass is right.

Pitfalls an interviewer looks for
---------------------------------
- dW_i = a_{i-1}.T @ dz_i, shape (in, out); dz_i.T @ a_{i-1} is its transpose. db_i sums
  dz_i over the batch (axis 0). The gradient that flows down is dz_i @ W_i.T.
- The ReLU gradient is dz = da * (z > 0), masked by the pre-activation of THAT layer (or,
  equivalently, its output), never multiplied by the activation itself.
- The loss is a mean, so dlogits carries 1/n; exp of raw logits overflows at ~710.
- Gradient checking uses central differences, (f(x+eps) - f(x-eps)) / (2 eps): a one-sided
  difference has an O(eps) error that hides small bugs.
"""

from __future__ import annotations

import numpy as np


class MLP:
    """ReLU multilayer perceptron with manual backpropagation. See the module docstring."""

    def __init__(self, sizes, rng):
        """sizes: [d_in, h1, ..., C] (at least two entries); rng: np.random.Generator."""
        # >>> TODO: He-normal weights (fan_in, fan_out) drawn layer by layer, zero biases,
        # >>>       and zero grads of the same shapes
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            self.params += [W, np.zeros(fan_out)]
        self.grads = [np.zeros_like(p) for p in self.params]
        # <<<

    def forward(self, X):
        """X: (n, d_in) -> logits (n, C). Caches each layer's input for backward."""
        # >>> TODO: Linear then ReLU for each hidden layer, a plain Linear at the end;
        # >>>       remember what backward will need
        n_layers = len(self.params) // 2
        self._inputs = []  # a_{i-1} for each layer i: (n, in)
        a = np.asarray(X, dtype=np.float64)
        for i in range(n_layers):
            W, b = self.params[2 * i], self.params[2 * i + 1]
            self._inputs.append(a)
            z = a @ W + b  # (n, out)
            a = np.maximum(z, 0.0) if i < n_layers - 1 else z
        return a
        # <<<

    def backward(self, dlogits):
        """dlogits: (n, C), the gradient of the loss w.r.t. the last forward's logits.
        Overwrites self.grads with dL/dW_i, dL/db_i and returns dL/dX, shape (n, d_in)."""
        # >>> TODO: walk the layers backwards: weight and bias gradients, then the gradient
        # >>>       for the layer below, through the ReLU
        dz = np.asarray(dlogits, dtype=np.float64)  # (n, out) of the last layer
        for i in reversed(range(len(self.params) // 2)):
            a_in = self._inputs[i]  # (n, in)
            self.grads[2 * i] = a_in.T @ dz  # (in, out)
            self.grads[2 * i + 1] = dz.sum(axis=0)  # (out,)
            dz = dz @ self.params[2 * i].T  # (n, in): gradient w.r.t. a_in
            if i > 0:
                dz = dz * (a_in > 0)  # a_in = relu(z_{i-1}); a_in > 0 exactly where z_{i-1} > 0
        return dz
        # <<<


def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy. logits: (n, C) float64, y: (n,) ints in [0, C).
    Returns (loss, dlogits): loss a Python float, dlogits (n, C) = (softmax - onehot) / n."""
    # >>> TODO: a stable log-softmax, the mean negative log-likelihood and its gradient
    logits = np.asarray(logits, dtype=np.float64)
    n = logits.shape[0]
    rows = np.arange(n)
    z = logits - logits.max(axis=1, keepdims=True)  # (n, C), max 0 per row: exp cannot overflow
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # (n, C) log-softmax
    loss = -logp[rows, y].mean()
    dlogits = np.exp(logp)  # softmax
    dlogits[rows, y] -= 1.0
    return float(loss), dlogits / n
    # <<<


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference gradient of a scalar function f at x (any shape, float64).
    x is perturbed in place, one element at a time, and restored. Returns an array like x."""
    # >>> TODO: nudge each element by +eps and -eps in place, difference, restore
    g = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        f_plus = f(x)
        x[idx] = old - eps
        f_minus = f(x)
        x[idx] = old  # restore before the next element
        g[idx] = (f_plus - f_minus) / (2.0 * eps)
    return g
    # <<<


def grad_check(f, x, eps=1e-6):
    """f: x -> (value, analytic gradient like x). Returns the float
    max|a - g| / max(max(|a| + |g|), 1e-12), g the central-difference gradient of the value."""
    # >>> TODO: the analytic gradient at x, the numeric one, and one relative error
    a = np.asarray(f(x)[1], dtype=np.float64)
    g = numerical_gradient(lambda z: f(z)[0], x, eps)
    scale = max(float(np.max(np.abs(a) + np.abs(g))), 1e-12)
    return float(np.max(np.abs(a - g))) / scale
    # <<<
