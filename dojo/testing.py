"""Comparison helpers for kata tests: one tolerance table, messages a learner can act on.

Kata tests call `assert_close(actual, expected, what="...")`. Both numpy arrays and torch
tensors are accepted; torch is only imported when a tensor is passed.
"""

from __future__ import annotations

import numpy as np

from dojo.devices import tolerance


def _to_numpy(x):
    if type(x).__module__.startswith("torch"):
        device = str(x.device)
        dtype = str(x.dtype).removeprefix("torch.")
        # bfloat16 has no numpy dtype; float32 holds it exactly.
        if dtype in ("bfloat16", "float16"):
            x = x.float()
        return x.detach().cpu().numpy(), device, dtype
    arr = np.asarray(x)
    return arr, "cpu", str(arr.dtype)


def assert_close(actual, expected, *, what: str, rtol: float | None = None,
                 atol: float | None = None, suspects=()) -> None:
    """Assert that `actual` matches `expected` in shape and value, within the tolerance for
    the device and dtype of `actual` (or the rtol/atol given).

    `what` names the quantity in the learner's words, e.g. "bce_grad dw".
    `suspects` are (description, wrong) pairs, `wrong` the answer a classic mistake gives
    (or a callable returning it, computed only on failure): when `actual` is not close to
    `expected`, the message also names the first mistake whose answer it matches, e.g.
    "Your result matches softmax over the queries instead of the keys."
    """
    __tracebackhide__ = True  # the learner needs the message, not this helper's frame
    try:
        _assert_close(actual, expected, what=what, rtol=rtol, atol=atol)
    except AssertionError as err:
        for description, wrong in suspects:
            try:
                _assert_close(actual, wrong() if callable(wrong) else wrong, what=description,
                              rtol=rtol, atol=atol)
            except Exception:  # not this mistake (or its answer cannot even be compared)
                continue
            raise AssertionError(f"{err}\nYour result matches {description}.") from None
        raise


def _assert_close(actual, expected, *, what: str, rtol: float | None,
                  atol: float | None) -> None:
    __tracebackhide__ = True
    if actual is None:
        raise AssertionError(f"{what}: got None; did you forget to return the result?")
    a, device, dtype = _to_numpy(actual)
    e, _, _ = _to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape}, expected {e.shape}")
    default_rtol, default_atol = tolerance(device, dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    a64 = a.astype(np.float64) if a.dtype.kind in "fc" else a
    e64 = e.astype(np.float64) if e.dtype.kind in "fc" else e
    if a.dtype.kind == "f" and not np.all(np.isfinite(a64) == np.isfinite(e64)):
        bad = np.argwhere(~np.isfinite(a64) & np.isfinite(e64))
        where = f" first at index {tuple(int(i) for i in bad[0])}" if bad.size else ""
        raise AssertionError(
            f"{what}: has NaN or inf where the expected value is finite{where}; "
            "look for an overflowing exp, a log of 0 or a division by 0"
        )
    if np.allclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True):
        return
    diff = np.abs(a64 - e64)
    # plain ints: numpy 2 would print the index as (np.int64(0), np.int64(1))
    idx = tuple(int(i) for i in np.unravel_index(np.nanargmax(diff), diff.shape)) \
        if diff.ndim else ()
    raise AssertionError(
        f"{what}: values differ (max abs error {np.nanmax(diff):.3g} at index {tuple(idx)}: "
        f"got {a64[idx].item()!r}, expected {e64[idx].item()!r}; rtol={rtol:g}, atol={atol:g} on "
        f"{device}/{dtype})"
    )


def forbid_builtins(monkeypatch, kata, forbidden: dict, advice: str) -> None:
    """Make the built-ins a kata asks the learner to write unusable for the rest of a test.

    forbidden: {"F.conv2d": (F, "conv2d"), ...}, a readable name -> (owner, attribute).
    A learner module that imported one of them by name fails at once; any call to one of
    them during the test raises "<name> is off limits in this kata: <advice>". The test's
    `monkeypatch` restores them afterwards.
    """
    __tracebackhide__ = True
    originals = [getattr(owner, attr) for owner, attr in forbidden.values()]
    imported = [name for name, obj in vars(kata).items() if any(obj is o for o in originals)]
    assert not imported, f"the kata module imports built-ins that are off limits: {imported}"
    for name, (owner, attr) in forbidden.items():
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"{_name} is off limits in this kata: {advice}")
        monkeypatch.setattr(owner, attr, refuse)

def synchronize(device) -> None:
    """Wait for the device's queued kernels, so that a benchmark times the work and not its
    launch. CUDA and MPS run asynchronously; CPU needs nothing."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch

        torch.cuda.synchronize(device)
    elif kind == "mps":
        import torch

        torch.mps.synchronize()
