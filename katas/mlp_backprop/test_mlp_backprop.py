"""Tests for the mlp_backprop kata: a ReLU MLP with hand-written backprop, softmax
cross-entropy and a central-difference gradient checker.

Oracles: torch.autograd (float64, CPU) on the very same weights for the forward pass, the loss
and every gradient; closed forms for the checker (the central difference of sum(x^3) is exactly
3x^2 + eps^2; that of a quadratic is exact). Where a wrong value matches a classic bug
(transposed dW, bias summed over the wrong axis, ReLU mask from the wrong tensor, a summed
loss, a one-sided difference), the failure message names it.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dojo.testing import assert_close

# (sizes, n): no square layer and n different from every width, so a transposed dW or a bias
# gradient summed over the batch axis has the wrong shape, not just the wrong values.
ARCHS = [([5, 7, 3], 11), ([4, 9, 6, 3], 13), ([6, 2], 8)]
ARCH_IDS = ["one-hidden", "two-hidden", "linear"]


# ----------------------------------------------------------------------------- references


def _weights(sizes, seed, scale=0.8):
    """Test weights with non-zero biases (zero biases would hide a missing + b)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        params += [rng.normal(0.0, scale, size=(fan_in, fan_out)), rng.normal(0.0, 0.5, fan_out)]
    return params


def _net(kata, sizes, seed):
    """The learner's net carrying the test weights (forward/backward read self.params)."""
    net = kata.MLP(sizes, np.random.default_rng(1000 + seed))
    net.params = [p.copy() for p in _weights(sizes, seed)]
    return net


def _torch(params, X, *, y=None, G=None):
    """Forward and autograd in float64: (logits, loss, [param grads], dX, dlogits).
    The loss is the mean cross-entropy against y, or sum(logits * G) (so dlogits = G)."""
    tp = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    a, n_layers = tx, len(tp) // 2
    for i in range(n_layers):
        a = a @ tp[2 * i] + tp[2 * i + 1]
        if i < n_layers - 1:
            a = torch.relu(a)
    a.retain_grad()
    if y is not None:
        loss = F.cross_entropy(a, torch.tensor(y, dtype=torch.int64))
    else:
        loss = (a * torch.tensor(G, dtype=torch.float64)).sum()
    loss.backward()
    return (a.detach().numpy(), loss.item(), [p.grad.numpy() for p in tp], tx.grad.numpy(),
            a.grad.numpy())


def _numpy_backward(params, X, G, relu_grad="mask"):
    """Backprop with a chosen (possibly wrong) ReLU derivative, to name the bug."""
    n_layers = len(params) // 2
    inputs, pre, a = [], [], X
    for i in range(n_layers):
        inputs.append(a)
        z = a @ params[2 * i] + params[2 * i + 1]
        pre.append(z)
        a = np.maximum(z, 0) if i < n_layers - 1 else z
    grads, dz = [None] * len(params), G
    for i in reversed(range(n_layers)):
        grads[2 * i], grads[2 * i + 1] = inputs[i].T @ dz, dz.sum(axis=0)
        dz = dz @ params[2 * i].T
        if i > 0:
            if relu_grad == "mask":
                dz = dz * (pre[i - 1] > 0)
            elif relu_grad == "activation":
                dz = dz * inputs[i]
    return grads, dz


def _case(sizes, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    G = rng.normal(size=(n, sizes[-1]))
    return X, y, G


def _names(sizes):
    out = []
    for i in range(1, len(sizes)):
        out += [f"dW{i}", f"db{i}"]
    return out


def _check_grads(got, want, sizes, n, context, suspects=()):
    assert isinstance(got, (list, tuple)) and len(got) == len(want), (
        f"net.grads must be a list [dW1, db1, dW2, db2, ...] of {len(want)} arrays, "
        f"got {type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}"
    )
    for k, (g, w, name) in enumerate(zip(got, want, _names(sizes), strict=False)):
        assert g is not None, f"{name} is None after backward: fill every entry of net.grads"
        g = np.asarray(g)
        if name.startswith("dW") and g.shape == w.T.shape:
            raise AssertionError(
                f"{name} has shape {g.shape}, the transpose of W's {w.shape}: the weight "
                "gradient is a_in.T @ dz (in, out), not dz.T @ a_in."
            )
        if name.startswith("db") and g.shape == (n,):
            raise AssertionError(
                f"{name} has shape {g.shape}: the bias gradient sums dz over the batch "
                "(axis=0), giving one entry per output unit."
            )
        if g.shape == w.shape and not np.allclose(g, w, rtol=1e-7, atol=1e-9):
            for wrong, message in suspects:
                if np.allclose(g, wrong[k], rtol=1e-7, atol=1e-9):
                    raise AssertionError(f"{name} ({context}): {message}")
        assert_close(g, w, what=f"{name} ({context}, torch.autograd on the same weights)")


# ----------------------------------------------------------------------------- init


@pytest.mark.parametrize("sizes", [[5, 7, 3], [4, 9, 6, 3], [6, 2]], ids=ARCH_IDS)
def test_init_makes_W_in_by_out_and_b_out_per_layer_with_zero_grads(kata, sizes):
    net = kata.MLP(sizes, np.random.default_rng(0))
    want = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        want += [(fan_in, fan_out), (fan_out,)]
    shapes = [np.shape(p) for p in net.params]
    assert shapes == want, (
        f"params shapes {shapes}, expected {want}: [W1, b1, W2, b2, ...] with W_i of shape "
        "(in, out) and b_i of shape (out,)"
    )
    assert all(np.asarray(p).dtype == np.float64 for p in net.params), "params must be float64"
    assert [np.shape(g) for g in net.grads] == want, "grads must have the shapes of params"
    for g, name in zip(net.grads, _names(sizes), strict=False):
        assert_close(g, np.zeros(np.shape(g)), what=f"{name} before any backward (zeros)")


def test_init_draws_he_normal_weights_in_layer_order_and_zero_biases(kata):
    sizes = [6, 10, 4, 3]
    net = kata.MLP(sizes, np.random.default_rng(42))

    def draws(std_of, transposed=False):
        rng, out = np.random.default_rng(42), []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
            shape = (fan_out, fan_in) if transposed else (fan_in, fan_out)
            w = rng.standard_normal(shape) * std_of(fan_in, fan_out)
            out.append(w.T if transposed else w)
        return out

    he = draws(lambda i, o: np.sqrt(2.0 / i))
    suspects = [
        (draws(lambda i, o: np.sqrt(1.0 / i)), "std is sqrt(1 / fan_in) (LeCun); He uses "
                                               "sqrt(2 / fan_in) for ReLU"),
        (draws(lambda i, o: np.sqrt(2.0 / o)), "std uses fan_out; He uses sqrt(2 / fan_in)"),
        (draws(lambda i, o: np.sqrt(2.0 / (i + o))), "std is Glorot's sqrt(2 / (in + out)); "
                                                     "He uses sqrt(2 / fan_in)"),
        (draws(lambda i, o: 2.0 / i), "std is 2 / fan_in; it is the square root, "
                                      "sqrt(2 / fan_in)"),
        (draws(lambda i, o: np.sqrt(2.0 / i), transposed=True),
         "the weights were drawn as (out, in) and transposed; draw size=(fan_in, fan_out)"),
    ]
    for i, (W, want) in enumerate(zip(net.params[::2], he, strict=False), start=1):
        if np.shape(W) == want.shape and not np.allclose(W, want, rtol=1e-12):
            for cands, message in suspects:
                if np.allclose(W, cands[i - 1], rtol=1e-12):
                    raise AssertionError(f"W{i}: {message}.")
        assert_close(W, want, what=f"W{i} (rng.normal(0, sqrt(2 / fan_in), size=(fan_in, "
                                   "fan_out)), one call per layer in order)", rtol=1e-12)
    for i, b in enumerate(net.params[1::2], start=1):
        assert_close(b, np.zeros(sizes[i]), what=f"b{i} at initialisation (zeros)")


def test_init_with_another_seed_gives_other_weights(kata):
    a = kata.MLP([3, 5, 2], np.random.default_rng(1)).params[0]
    b = kata.MLP([3, 5, 2], np.random.default_rng(2)).params[0]
    assert not np.allclose(a, b), "two seeds gave the same W1: draw the weights from rng"


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize("sizes, n", ARCHS, ids=ARCH_IDS)
def test_forward_matches_torch_with_relu_between_layers_only(kata, sizes, n):
    X, _, _ = _case(sizes, n, seed=1)
    net = _net(kata, sizes, seed=2)
    logits = net.forward(X)
    want = _torch(net.params, X, G=np.zeros((n, sizes[-1])))[0]
    assert logits is not None, "forward returned None; return the logits"
    assert np.shape(logits) == want.shape, f"logits shape {np.shape(logits)}, expected {want.shape}"
    if np.allclose(logits, np.maximum(want, 0)) and (want < 0).any():
        raise AssertionError("the logits are never negative: the last layer has no ReLU; "
                             "the logits are the raw output of the last Linear.")
    assert_close(logits, want, what=f"logits of MLP{sizes} (torch: Linear, ReLU, ..., Linear)")


def test_forward_reads_the_current_params(kata):
    sizes, n = [5, 7, 3], 11
    X, _, _ = _case(sizes, n, seed=3)
    net = _net(kata, sizes, seed=4)
    net.forward(X)
    net.params = [p * 1.5 for p in _weights(sizes, seed=5)]
    assert_close(net.forward(X), _torch(net.params, X, G=np.zeros((n, 3)))[0],
                 what="logits after replacing net.params (read self.params in forward)")


# ----------------------------------------------------------------------------- backward


@pytest.mark.parametrize("sizes, n", ARCHS, ids=ARCH_IDS)
def test_backward_fills_weight_and_bias_grads_matching_torch_autograd(kata, sizes, n):
    X, _, G = _case(sizes, n, seed=6)
    net = _net(kata, sizes, seed=7)
    net.forward(X)
    net.backward(G.copy())
    want = _torch(net.params, X, G=G)[2]
    suspects = [
        (_numpy_backward(net.params, X, G, "activation")[0],
         "the ReLU gradient multiplies by the activation; it is the 0/1 mask (z > 0)"),
        (_numpy_backward(net.params, X, G, "none")[0],
         "the ReLU gradient is missing: mask the gradient by (z > 0) of the layer below"),
    ]
    _check_grads(net.grads, want, sizes, n, f"MLP{sizes}", suspects)


@pytest.mark.parametrize("sizes, n", ARCHS, ids=ARCH_IDS)
def test_backward_returns_dX_matching_torch_autograd(kata, sizes, n):
    X, _, G = _case(sizes, n, seed=8)
    net = _net(kata, sizes, seed=9)
    net.forward(X)
    dX = net.backward(G.copy())
    want = _torch(net.params, X, G=G)[3]
    assert dX is not None, "backward returned None; return dL/dX, shape (n, d_in)"
    if np.shape(dX) == want.shape and np.allclose(dX, want * (X > 0)) and not np.allclose(
            dX, want):
        raise AssertionError("dX was masked by (X > 0): the input layer has no ReLU below it.")
    assert_close(dX, want, what=f"dX of MLP{sizes} (torch: X.grad)")


def test_backward_masks_by_the_sign_of_the_pre_activation_not_its_value(kata):
    # A wide hidden layer with large biases of both signs: many units dead, many alive, and
    # the alive ones far from 1, so multiplying by the activation is visibly wrong.
    sizes, n = [3, 12, 4], 9
    X, _, G = _case(sizes, n, seed=10)
    net = _net(kata, sizes, seed=11)
    net.params[1] = np.linspace(-3.0, 3.0, 12)
    net.forward(X)
    net.backward(G.copy())
    want = _torch(net.params, X, G=G)[2]
    suspects = [(_numpy_backward(net.params, X, G, "activation")[0],
                 "the ReLU gradient multiplies by the activation; it is the 0/1 mask (z > 0)"),
                (_numpy_backward(net.params, X, G, "none")[0],
                 "dead units pass gradient: multiply by the mask (z > 0)")]
    _check_grads(net.grads, want, sizes, n, "dead and alive hidden units", suspects)


def test_backward_overwrites_grads_instead_of_accumulating(kata):
    sizes, n = [4, 9, 6, 3], 13
    X, _, G = _case(sizes, n, seed=12)
    net = _net(kata, sizes, seed=13)
    net.forward(X)
    net.backward(G.copy())
    net.backward(G.copy())
    want = _torch(net.params, X, G=G)[2]
    doubled = [2 * w for w in want]
    for g, w, d, name in zip(net.grads, want, doubled, _names(sizes), strict=False):
        if np.shape(g) == w.shape and np.allclose(g, d):
            raise AssertionError(f"{name} doubled after two backward calls: overwrite "
                                 "net.grads, do not add to it.")
        assert_close(g, w, what=f"{name} after calling backward twice on one forward")


def test_backward_uses_the_cache_of_the_latest_forward(kata):
    sizes, n = [5, 7, 3], 11
    X1, _, _ = _case(sizes, n, seed=14)
    X2, _, G = _case(sizes, n, seed=15)
    net = _net(kata, sizes, seed=16)
    net.forward(X1)
    net.forward(X2)
    dX = net.backward(G.copy())
    _, _, want, want_dX, _ = _torch(net.params, X2, G=G)
    _check_grads(net.grads, want, sizes, n, "after forward(X1), forward(X2): X2's cache")
    assert_close(dX, want_dX, what="dX after two forwards (the latest one counts)")


# ----------------------------------------------------------------------------- loss


@pytest.mark.parametrize("seed, n, C", [(17, 10, 4), (18, 33, 7), (19, 1, 3)])
def test_softmax_cross_entropy_loss_is_the_batch_mean_like_torch(kata, seed, n, C):
    rng = np.random.default_rng(seed)
    logits, y = rng.normal(scale=2.0, size=(n, C)), rng.integers(0, C, size=n)
    loss, _ = kata.softmax_cross_entropy(logits.copy(), y)
    want = _torch([np.eye(C), np.zeros(C)], logits, y=y)[1]  # one identity layer: logits
    assert np.ndim(loss) == 0, f"loss must be a scalar, got shape {np.shape(loss)}"
    if n > 1 and np.isclose(loss, n * want, rtol=1e-9):
        raise AssertionError(f"the loss is n = {n} times too large: average over the batch.")
    if np.isclose(loss, -want, rtol=1e-9):
        raise AssertionError("the loss has the wrong sign: it is MINUS the mean log-softmax "
                             "of the true class.")
    assert_close(loss, want, what="softmax cross-entropy (torch F.cross_entropy, mean)")


@pytest.mark.parametrize("seed, n, C", [(20, 10, 4), (21, 33, 7)])
def test_dlogits_is_softmax_minus_onehot_over_n(kata, seed, n, C):
    rng = np.random.default_rng(seed)
    logits, y = rng.normal(scale=2.0, size=(n, C)), rng.integers(0, C, size=n)
    _, dlogits = kata.softmax_cross_entropy(logits.copy(), y)
    want = _torch([np.eye(C), np.zeros(C)], logits, y=y)[4]
    assert dlogits is not None and np.shape(dlogits) == (n, C), (
        f"dlogits must have the shape of the logits {(n, C)}, got {np.shape(dlogits)}")
    if np.allclose(dlogits, n * want):
        raise AssertionError(f"dlogits is n = {n} times too large: the loss is a mean, so "
                             "dlogits = (softmax - onehot) / n.")
    if np.allclose(dlogits, -want):
        raise AssertionError("dlogits has the wrong sign: it is softmax - onehot, not "
                             "onehot - softmax.")
    assert_close(dlogits, want, what="dlogits (torch autograd of the mean cross-entropy)")


def test_softmax_cross_entropy_is_stable_for_logits_around_1e3(kata):
    rng = np.random.default_rng(22)
    logits = rng.normal(scale=3.0, size=(6, 5)) + np.array([[1000.0], [-1000.0], [800.0],
                                                          [0.0], [1e3], [-800.0]])
    logits[3] = [1000.0, -1000.0, 0.0, 999.0, 5.0]  # a row spanning +-1e3
    y = np.array([0, 1, 2, 3, 4, 0])
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            loss, dlogits = kata.softmax_cross_entropy(logits.copy(), y)
    except FloatingPointError as err:
        raise AssertionError(f"softmax overflowed for logits ~1e3 ({err}): subtract each "
                             "row's max before exp.") from None
    _, want_loss, _, _, want_d = _torch([np.eye(5), np.zeros(5)], logits, y=y)
    assert_close(loss, want_loss, what="loss for logits ~1e3 (shift by the row max)")
    assert_close(dlogits, want_d, what="dlogits for logits ~1e3")


def test_softmax_cross_entropy_does_not_modify_the_logits(kata):
    rng = np.random.default_rng(23)
    logits, y = rng.normal(size=(7, 3)), rng.integers(0, 3, size=7)
    before = logits.copy()
    kata.softmax_cross_entropy(logits, y)
    assert_close(logits, before, what="the logits passed in (do not modify them in place)")


@pytest.mark.parametrize("sizes, n", ARCHS, ids=ARCH_IDS)
def test_forward_loss_backward_gives_torch_gradients_end_to_end(kata, sizes, n):
    X, y, _ = _case(sizes, n, seed=24)
    net = _net(kata, sizes, seed=25)
    loss, dlogits = kata.softmax_cross_entropy(net.forward(X), y)
    dX = net.backward(dlogits)
    _, want_loss, want, want_dX, _ = _torch(net.params, X, y=y)
    assert_close(loss, want_loss, what="mean cross-entropy of the net")
    _check_grads(net.grads, want, sizes, n, "cross-entropy loss")
    assert_close(dX, want_dX, what="dX of the cross-entropy loss")


# ----------------------------------------------------------------------------- grad check


def _cube(x):
    return float(np.sum(x**3))


@pytest.mark.parametrize("eps", [1e-3, 0.1])
def test_numerical_gradient_is_the_central_difference(kata, eps):
    # For f = sum(x^3) the central difference is exactly 3x^2 + eps^2.
    x = np.random.default_rng(26).normal(size=6)
    g = kata.numerical_gradient(_cube, x.copy(), eps)
    want = 3 * x**2 + eps**2
    assert g is not None and np.shape(g) == x.shape, f"expected shape {x.shape}, got {g!r}"
    suspects = [
        (want + 3 * x * eps, "a forward difference (f(x+eps) - f(x)) / eps; use the central "
                             "(f(x+eps) - f(x-eps)) / (2 eps)"),
        (want - 3 * x * eps, "a backward difference (f(x) - f(x-eps)) / eps; use the central "
                             "(f(x+eps) - f(x-eps)) / (2 eps)"),
        (2 * want, "the central difference divided by eps, not 2 eps"),
        (2 * want / eps, "the central difference divided by eps^2, not 2 eps"),
    ]
    for wrong, message in suspects:
        if np.allclose(g, wrong, rtol=1e-7) and not np.allclose(g, want, rtol=1e-7):
            raise AssertionError(f"numerical_gradient with eps={eps} is {message}.")
    assert_close(g, want, what=f"central difference of sum(x^3), eps={eps} (3x^2 + eps^2)",
                 rtol=1e-6)


def test_numerical_gradient_perturbs_x_in_place_and_restores_it(kata):
    # f ignores its argument and reads the array through a closure, as a loss that reads
    # net.params does: only an in-place perturbation of x moves it.
    rng = np.random.default_rng(27)
    A, x = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    before = x.copy()

    def f(_):
        return float(np.sum(A * x) + 0.5 * np.sum(x**2))

    g = kata.numerical_gradient(f, x, 1e-4)
    assert_close(x, before, what="x after numerical_gradient (restore every element)",
                 rtol=0.0, atol=0.0)
    assert_close(g, A + x, what="numerical gradient of a closure over a 2-D x (perturb x "
                                "in place, one element at a time)", rtol=1e-6, atol=1e-8)


def test_grad_check_is_tiny_for_a_correct_gradient(kata):
    x = np.random.default_rng(28).normal(size=(4, 3))
    err = kata.grad_check(lambda z: (float(np.sum(np.sin(z))), np.cos(z)), x, 1e-5)
    assert err is not None and np.ndim(err) == 0, f"grad_check must return a float, got {err!r}"
    assert 0.0 <= err < 1e-8, (
        f"grad_check gave {err:.3g} for sin with its exact gradient cos; expected ~1e-10 "
        "(a one-sided difference gives ~1e-5)")


def test_grad_check_returns_the_documented_relative_error(kata):
    # f = 0.5 * ||x||^2: the central difference is exactly x. The analytic gradient is off
    # by 0.5 in the first entry: max|a - g| = 0.5, max(|a| + |g|) = 4.
    x = np.array([1.0, 2.0])
    err = kata.grad_check(lambda z: (0.5 * float(z @ z), np.array([1.5, 2.0])), x, 1e-3)
    suspects = [(0.2, "an elementwise ratio |a_i - g_i| / (|a_i| + |g_i|); the documented "
                      "error divides the max difference by one scale, max(|a| + |g|)"),
                (0.25, "a scale of max(|a|, |g|); use max(|a| + |g|)"),
                (0.5, "the absolute error; divide by max(max(|a| + |g|), 1e-12)")]
    for wrong, message in suspects:
        if np.isclose(err, wrong, rtol=1e-6):
            raise AssertionError(f"grad_check returned {err:.6g}: {message}.")
    assert_close(err, 0.125, what="grad_check: max|a - g| / max(max(|a| + |g|), 1e-12)",
                 rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-6, 1e3])
def test_grad_check_is_scale_free(kata, scale):
    # The same mismatch as above on scale * f: the relative error does not change, even when
    # every gradient entry is far below 1 (the 1e-12 floor only guards 0 / 0).
    x = np.array([1.0, 2.0])
    err = kata.grad_check(lambda z: (scale * 0.5 * float(z @ z), scale * np.array([1.5, 2.0])),
                          x, 1e-3)
    assert_close(err, 0.125, what=f"grad_check of {scale:g} * f (a relative error ignores the "
                                  "scale of f)", rtol=1e-5)


def test_grad_check_uses_the_eps_given(kata):
    x = np.array([0.5, -1.0, 2.0])
    eps = 0.1
    err = kata.grad_check(lambda z: (_cube(z), 3 * z**2), x, eps)
    want = eps**2 / np.max(6 * x**2 + eps**2)  # g = 3x^2 + eps^2 exactly
    assert_close(err, want, what="grad_check of sum(x^3) with eps=0.1", rtol=1e-6)


def test_grad_check_of_zero_gradients_is_zero_not_nan(kata):
    with np.errstate(all="ignore"):
        err = kata.grad_check(lambda z: (0.0, np.zeros_like(z)), np.ones(3), 1e-6)
    assert err == 0.0, f"grad_check with a = g = 0 gave {err}: the scale is max(..., 1e-12)"


def test_grad_check_restores_x(kata):
    x = np.random.default_rng(29).normal(size=5)
    before = x.copy()
    kata.grad_check(lambda z: (_cube(z), 3 * z**2), x, 1e-3)
    assert_close(x, before, what="x after grad_check", rtol=0.0, atol=0.0)


def test_grad_check_confirms_backprop_on_every_param_of_the_net(kata):
    sizes, n = [4, 6, 5, 3], 7
    X, y, _ = _case(sizes, n, seed=30)
    net = _net(kata, sizes, seed=31)

    for k, name in enumerate(_names(sizes)):
        def f(_, k=k):  # reads net.params[k], which grad_check perturbs in place
            loss, dlogits = kata.softmax_cross_entropy(net.forward(X), y)
            net.backward(dlogits)
            return loss, net.grads[k].copy()

        err = kata.grad_check(f, net.params[k], 1e-6)
        assert err < 1e-6, f"grad_check of {name} on the net gave {err:.3g}; expected < 1e-6"
    for p, w, name in zip(net.params, _weights(sizes, seed=31), _names(sizes), strict=False):
        assert_close(p, w, what=f"{name[1:]} after grad_check (restored exactly)", rtol=0.0,
                     atol=0.0)
