"""Tests for the lstm kata.

Oracles: torch.nn.LSTMCell for the cell and torch.nn.LSTM(batch_first=True) for the module,
with the same weights, run in float64 on CPU (so that no device kernel, cuDNN or TF32 stands
between the learner's result and the reference); gradients via torch.autograd through both.
Inputs are float32, drawn on CPU from seeded generators, then moved to the device under test.
When a result is wrong, the tests compare it with the classic wrong cells (gate order, tanh on
a gate, old c in h, (c, h) returned, a bias dropped) and name the one it matches.
"""

import pytest
import torch
from torch import nn

from dojo.testing import assert_close

I, H = 5, 4  # input size, hidden size (I != H != 4H: transposed weights cannot line up)


def randn(*shape, seed, scale=1.0):
    """float32 on CPU from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def cell_params(seed, input_size=I, hidden=H, scale=0.5):
    """W_ih (4H, I), W_hh (4H, H), b_ih (4H,), b_hh (4H,), all random and distinct."""
    return (randn(4 * hidden, input_size, seed=seed, scale=scale),
            randn(4 * hidden, hidden, seed=seed + 1, scale=scale),
            randn(4 * hidden, seed=seed + 2, scale=scale),
            randn(4 * hidden, seed=seed + 3, scale=scale))


def oracle_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """(h_new, c_new) from nn.LSTMCell in float64 on CPU."""
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).double()
    with torch.no_grad():
        for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                        (W_ih, W_hh, b_ih, b_hh), strict=True):
            p.copy_(v.detach().cpu().double())
    return cell(x.detach().cpu().double(), (h.detach().cpu().double(),
                                            c.detach().cpu().double()))


def wrong_cell(x, h, c, W_ih, W_hh, b_ih, b_hh, *, order="ifgo", act="ssts", old_c=False,
               swap_out=False, biases=(1.0, 1.0)):
    """An LSTM cell with a classic mistake, in float64 on CPU: `order` the order in which the
    chunks of the stacked weights are read as i, f, g, o; `act` the activation of i, f, g, o
    (s = sigmoid, t = tanh)."""
    x, h, c, W_ih, W_hh, b_ih, b_hh = (t.detach().cpu().double()
                                       for t in (x, h, c, W_ih, W_hh, b_ih, b_hh))
    gates = x @ W_ih.T + biases[0] * b_ih + h @ W_hh.T + biases[1] * b_hh
    chunks = dict(zip("ifgo", gates.chunk(4, dim=1), strict=True))
    fn = {"s": torch.sigmoid, "t": torch.tanh}
    i, f, g, o = (fn[a](chunks[name]) for a, name in zip(act, order, strict=True))
    c_new = f * c + i * g
    h_new = o * torch.tanh(c if old_c else c_new)
    return (c_new, h_new) if swap_out else (h_new, c_new)


CELL_SUSPECTS = [
    ("gates read in the order i, f, o, g: torch stacks them i, f, g, o", {"order": "ifog"}),
    ("gates read in the order f, i, g, o: torch stacks them i, f, g, o", {"order": "figo"}),
    ("gates read in the order o, i, f, g: torch stacks them i, f, g, o", {"order": "oifg"}),
    ("tanh on the input gate: i is a sigmoid", {"act": "tsts"}),
    ("tanh on the forget gate: f is a sigmoid", {"act": "stts"}),
    ("tanh on the output gate: o is a sigmoid", {"act": "sstt"}),
    ("sigmoid on the candidate g: g is a tanh", {"act": "ssss"}),
    ("h computed from the OLD cell state: h_new = o * tanh(c_new)", {"old_c": True}),
    ("(c, h) returned instead of (h, c)", {"swap_out": True}),
    ("b_ih dropped: both biases are added", {"biases": (0.0, 1.0)}),
    ("b_hh dropped: both biases are added", {"biases": (1.0, 0.0)}),
]


def check_cell(got, args, what):
    """got == nn.LSTMCell(args); on failure, name the classic wrong cell that got matches."""
    assert isinstance(got, tuple) and len(got) == 2, (
        f"{what}: lstm_cell must return a tuple (h_new, c_new), got {type(got).__name__}")
    expected = oracle_cell(*args)
    try:
        for name, a, e in zip(("h_new", "c_new"), got, expected, strict=True):
            assert_close(a, e, what=f"{what}: {name}")
    except AssertionError as err:
        for description, kw in CELL_SUSPECTS:
            wrong = wrong_cell(*args, **kw)
            try:
                for a, w in zip(got, wrong, strict=True):
                    assert_close(a, w, what=description)
            except AssertionError:
                continue
            raise AssertionError(f"{err}\nYour cell matches the classic bug: {description}.") \
                from None
        raise


def cell_inputs(seed, B=3, device="cpu", input_size=I, hidden=H):
    x = randn(B, input_size, seed=seed)
    h = randn(B, hidden, seed=seed + 10)
    c = randn(B, hidden, seed=seed + 20, scale=2.0)
    return [t.to(device) for t in (x, h, c, *cell_params(seed + 30, input_size, hidden))]


# ---------------------------------------------------------------------------------- the cell


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cell_matches_torch_lstm_cell(kata, device, seed):
    args = cell_inputs(seed, device=device)
    check_cell(kata.lstm_cell(*args), args, f"lstm_cell (B=3, I={I}, H={H}, seed {seed})")


@pytest.mark.parametrize("input_size,hidden", [(3, 7), (6, 1), (2, 10)])
def test_cell_matches_torch_for_other_sizes(kata, device, input_size, hidden):
    args = cell_inputs(5, B=2, device=device, input_size=input_size, hidden=hidden)
    check_cell(kata.lstm_cell(*args), args,
               f"lstm_cell (B=2, I={input_size}, H={hidden}): split the (B, 4H) gates into "
               "4 blocks of H")


def test_cell_with_one_row_and_zero_state(kata, device):
    x = randn(1, I, seed=40).to(device)
    zeros = torch.zeros(1, H, device=device)
    args = [x, zeros, zeros.clone(), *(p.to(device) for p in cell_params(41))]
    check_cell(kata.lstm_cell(*args), args, "lstm_cell on one row from h = c = 0")


def test_cell_saturates_without_nan(kata, device):
    # Pre-activations in the hundreds: every gate is 0 or 1 to float32 precision, and a cell
    # that builds sigmoid from exp(-z) by hand overflows to inf / inf.
    args = cell_inputs(50, device=device)
    args[0] = args[0] * 300.0
    h_new, c_new = kata.lstm_cell(*args)
    assert torch.isfinite(h_new).all() and torch.isfinite(c_new).all(), (
        "lstm_cell gives NaN/inf for large pre-activations: use torch.sigmoid and torch.tanh")
    check_cell((h_new, c_new), args, "lstm_cell with saturated gates")


def test_cell_keeps_dtype_and_device(kata, device):
    args = cell_inputs(55, device=device)
    h_new, c_new = kata.lstm_cell(*args)
    for name, t in (("h_new", h_new), ("c_new", c_new)):
        assert t.dtype == torch.float32 and t.device.type == device.type, (
            f"{name} is {t.dtype} on {t.device}; expected float32 on {device}")
    if device.type == "cpu":  # MPS has no float64
        args64 = [t.double() for t in args]
        got = kata.lstm_cell(*args64)
        assert got[0].dtype == torch.float64, "lstm_cell must keep float64 inputs in float64"
        for name, a, e in zip(("h_new", "c_new"), got, oracle_cell(*args64), strict=True):
            assert_close(a, e, what=f"lstm_cell in float64: {name}")


def test_cell_gradients_match_torch(kata, device):
    args = [t.requires_grad_(True) for t in cell_inputs(60, device=device)]
    w_h, w_c = randn(3, H, seed=61).to(device), randn(3, H, seed=62).to(device)
    h_new, c_new = kata.lstm_cell(*args)
    grads = torch.autograd.grad((h_new * w_h).sum() + (c_new * w_c).sum(), args)
    ref = [t.detach().cpu().double().requires_grad_(True) for t in args]
    # Differentiate through nn.LSTMCell w.r.t. its weights too: pass them in functionally.
    cell = nn.LSTMCell(I, H).double()
    params = {"weight_ih": ref[3], "weight_hh": ref[4], "bias_ih": ref[5], "bias_hh": ref[6]}
    h_ref, c_ref = torch.func.functional_call(cell, params, (ref[0], (ref[1], ref[2])))
    loss = (h_ref * w_h.cpu().double()).sum() + (c_ref * w_c.cpu().double()).sum()
    expected = torch.autograd.grad(loss, ref)
    names = ("x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh")
    for name, got, want in zip(names, grads, expected, strict=True):
        assert_close(got, want, what=f"d(loss)/d{name} through lstm_cell")


# ---------------------------------------------------------------------------------- the module

B, T = 3, 6  # B != T != 1, so a stack along the wrong dim changes the shape


def torch_lstm(seed, input_size=I, hidden=H):
    """nn.LSTM(batch_first=True) with every parameter random and distinct."""
    lstm = nn.LSTM(input_size, hidden, batch_first=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return lstm


def oracle_lstm(lstm, x, state=None):
    """nn.LSTM in float64 on CPU: (output, (h_n, c_n))."""
    ref = torch_lstm(0, lstm.input_size, lstm.hidden_size).double()
    ref.load_state_dict({k: v.detach().cpu().double() for k, v in lstm.state_dict().items()})
    if state is not None:
        state = tuple(s.detach().cpu().double() for s in state)
    with torch.no_grad():
        return ref(x.detach().cpu().double(), state)


def check_lstm(got, expected, what):
    assert isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], tuple), (
        f"{what}: forward must return (output, (h_n, c_n)) like nn.LSTM")
    out, (h_n, c_n) = got
    exp_out, (exp_h, exp_c) = expected
    assert tuple(out.shape) == tuple(exp_out.shape), (
        f"{what}: output shape {tuple(out.shape)}, expected {tuple(exp_out.shape)} = (B, T, H) "
        "(batch_first: stack the h of every step along dim 1)")
    assert tuple(h_n.shape) == tuple(exp_h.shape) and tuple(c_n.shape) == tuple(exp_c.shape), (
        f"{what}: h_n {tuple(h_n.shape)} and c_n {tuple(c_n.shape)}, expected "
        f"{tuple(exp_h.shape)} = (num_layers=1, B, H) each")
    try:
        assert_close(h_n, exp_h, what=f"{what}: h_n")
    except AssertionError as err:
        try:
            assert_close(h_n, exp_c, what="c_n")
        except AssertionError:
            raise err from None
        raise AssertionError(f"{err}\nh_n equals torch's c_n: return (h, c), not (c, h).") \
            from None
    assert_close(c_n, exp_c, what=f"{what}: c_n")
    assert_close(out, exp_out, what=f"{what}: output (B, T, H)")


def pair(kata, seed, device, input_size=I, hidden=H):
    lstm = torch_lstm(seed, input_size, hidden)
    ours = kata.LSTM.from_torch(lstm)
    assert isinstance(ours, nn.Module), "from_torch must return an LSTM module"
    return ours.to(device), lstm


def test_lstm_from_zero_state_matches_torch(kata, device):
    ours, lstm = pair(kata, seed=100, device=device)
    x = randn(B, T, I, seed=101).to(device)
    with torch.no_grad():
        check_lstm(ours(x), oracle_lstm(lstm, x), "LSTM(x) with state=None (zeros)")


def test_lstm_with_given_state_matches_torch(kata, device):
    ours, lstm = pair(kata, seed=110, device=device)
    x = randn(B, T, I, seed=111).to(device)
    state = (randn(1, B, H, seed=112).to(device), randn(1, B, H, seed=113, scale=2.0).to(device))
    with torch.no_grad():
        got = ours(x, state)
        check_lstm(got, oracle_lstm(lstm, x, state), "LSTM(x, (h_0, c_0))")
        swapped = oracle_lstm(lstm, x, state[::-1])
        assert not torch.allclose(got[0].cpu().double(), swapped[0], atol=1e-4), (
            "the output matches torch's with h_0 and c_0 swapped: state is (h_0, c_0)")


def test_lstm_single_step_and_single_row(kata, device):
    ours, lstm = pair(kata, seed=120, device=device)
    for shape in ((1, 1, I), (1, 4, I), (4, 1, I)):
        x = randn(*shape, seed=121).to(device)
        with torch.no_grad():
            check_lstm(ours(x), oracle_lstm(lstm, x), f"LSTM on x of shape {shape}")


def test_lstm_state_carries_across_calls(kata, device):
    # Running the sequence in two halves, feeding the first half's (h_n, c_n) into the second,
    # must give the second half of the one-shot output.
    ours, _ = pair(kata, seed=130, device=device)
    x = randn(B, T, I, seed=131).to(device)
    with torch.no_grad():
        full, (h_full, c_full) = ours(x)
        _, state = ours(x[:, :3])
        second, (h_n, c_n) = ours(x[:, 3:], state)
    assert_close(second, full[:, 3:], what="output of the second half given the first half's "
                                           "state (the state must be used, not reset to zeros)")
    assert_close(h_n, h_full, what="h_n after two halves")
    assert_close(c_n, c_full, what="c_n after two halves")


def test_lstm_gradients_match_torch(kata, device):
    ours, lstm = pair(kata, seed=140, device=device)
    x = randn(B, T, I, seed=141).to(device).requires_grad_(True)
    h0 = randn(1, B, H, seed=142).to(device).requires_grad_(True)
    c0 = randn(1, B, H, seed=143).to(device).requires_grad_(True)
    w_out, w_h, w_c = (randn(*s, seed=144 + k).to(device)
                       for k, s in enumerate(((B, T, H), (1, B, H), (1, B, H))))
    out, (h_n, c_n) = ours(x, (h0, c0))
    params = [ours.weight_ih, ours.weight_hh, ours.bias_ih, ours.bias_hh]
    grads = torch.autograd.grad((out * w_out).sum() + (h_n * w_h).sum() + (c_n * w_c).sum(),
                                [x, h0, c0, *params])

    ref = torch_lstm(0).double()
    ref.load_state_dict({k: v.double() for k, v in lstm.state_dict().items()})
    leaves = [t.detach().cpu().double().requires_grad_(True) for t in (x, h0, c0)]
    r_out, (r_h, r_c) = ref(leaves[0], (leaves[1], leaves[2]))
    loss = ((r_out * w_out.cpu().double()).sum() + (r_h * w_h.cpu().double()).sum()
            + (r_c * w_c.cpu().double()).sum())
    ref_params = [ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0]
    expected = torch.autograd.grad(loss, [*leaves, *ref_params])
    names = ("input", "h_0", "c_0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
    for name, got, want in zip(names, grads, expected, strict=True):
        assert_close(got, want, what=f"d(loss)/d{name} through LSTM")


def test_lstm_has_torch_parameter_layout(kata, device):
    ours = kata.LSTM(I, H)
    shapes = {n: tuple(p.shape) for n, p in ours.named_parameters()}
    assert shapes == {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H), "bias_ih": (4 * H,),
                      "bias_hh": (4 * H,)}, f"LSTM({I}, {H}) parameters: {shapes}"
    x = randn(2, 3, I, seed=150).to(device)
    with torch.no_grad():
        out, (h_n, c_n) = ours.to(device)(x)
    assert tuple(out.shape) == (2, 3, H) and tuple(h_n.shape) == (1, 2, H)
    assert_close(h_n[0], out[:, -1], what="h_n[0] vs the last step of output")


def test_from_torch_copies_the_weights(kata, device):
    lstm = torch_lstm(seed=160)
    ours = kata.LSTM.from_torch(lstm)
    with torch.no_grad():  # a copy must not see later changes to the source module
        for p in lstm.parameters():
            p.zero_()
    x = randn(B, T, I, seed=161).to(device)
    with torch.no_grad():
        check_lstm(ours.to(device)(x), oracle_lstm(torch_lstm(seed=160), x),
                   "LSTM after its source nn.LSTM was zeroed in place (from_torch must copy "
                   "the weights, not share their storage)")


def test_from_torch_keeps_dtype(kata, device):
    if device.type != "cpu":
        pytest.skip("float64 check runs on CPU only (MPS has no float64)")
    lstm = torch_lstm(seed=170).double()
    ours = kata.LSTM.from_torch(lstm)
    assert ours.weight_ih.dtype == torch.float64, (
        "from_torch must build the copy in the source module's dtype (float64 here)")
    x = randn(B, T, I, seed=171).double()
    with torch.no_grad():
        check_lstm(ours(x), oracle_lstm(lstm, x), "LSTM.from_torch of a float64 nn.LSTM")


def test_no_builtin_lstm(kata, device, monkeypatch):
    """The point of the kata is to write the recurrence: the built-ins are switched off here."""
    forbidden = {
        "nn.LSTM.forward": (nn.LSTM, "forward"),
        "nn.LSTMCell.forward": (nn.LSTMCell, "forward"),
        "torch.lstm": (torch, "lstm"),
        "torch.lstm_cell": (torch, "lstm_cell"),
        "torch._VF.lstm": (torch._VF, "lstm"),
        "torch._VF.lstm_cell": (torch._VF, "lstm_cell"),
    }
    for name, (owner, attr) in forbidden.items():
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"{_name} is off limits in this kata: write the gates with "
                                 "matmul, sigmoid and tanh")
        monkeypatch.setattr(owner, attr, refuse)
    args = cell_inputs(180, device=device)
    kata.lstm_cell(*args)
    ours = kata.LSTM(I, H).to(device)
    with torch.no_grad():
        ours(randn(2, 3, I, seed=181).to(device))
