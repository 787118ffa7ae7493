"""The one place that knows about devices: resolving --device, and tolerances.

`auto` means the best device that is present and that the kata supports: mps, then cuda, then
cpu. Asking explicitly for a device that is not present is an error, never a silent skip, so
that a CUDA job on a machine without CUDA fails loudly. torch is imported lazily: numpy katas
and commands that run no tests never pay for it.
"""

from __future__ import annotations

import os

CHOICES = ("auto", "cpu", "cuda", "mps")
AUTO_ORDER = ("mps", "cuda", "cpu")


class DeviceError(Exception):
    """A device was asked for that this machine does not have."""


def requested(option: str | None) -> str:
    """The device asked for: the --device option, else $DOJO_DEVICE, else auto."""
    choice = (option or os.environ.get("DOJO_DEVICE") or "auto").lower()
    if choice not in CHOICES:
        raise DeviceError(
            f"Unknown device {choice!r} (from --device or DOJO_DEVICE); use one of {CHOICES}."
        )
    return choice


def available() -> dict[str, bool]:
    """Which devices this machine really has (imports torch)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps and mps.is_available() and mps.is_built()),
    }


def why_absent(name: str) -> str:
    import torch

    if name == "cuda":
        built = torch.version.cuda
        detail = "no GPU is visible" if built else "this torch build has no CUDA support"
        return (
            f"--device cuda was asked for, but CUDA is not available here ({detail}; torch "
            f"{torch.__version__}). Use --device cpu, or --device auto to pick what is present."
        )
    return (
        "--device mps was asked for, but Apple MPS is not available here (it needs an "
        "Apple-silicon Mac and a torch build with MPS). Use --device cpu or --device auto."
    )


def check_present(choice: str, present: dict[str, bool]) -> None:
    if choice in ("cuda", "mps") and not present[choice]:
        raise DeviceError(why_absent(choice))


def resolve(choice: str, kata_devices: tuple[str, ...], present: dict[str, bool]) -> str | None:
    """The device a kata runs on, or None when it does not support the one asked for."""
    if choice == "auto":
        return next(d for d in AUTO_ORDER if present.get(d) and d in kata_devices)
    return choice if choice in kata_devices else None


# (rtol, atol) per device and dtype name. GPU kernels reorder reductions and may use TF32, so
# they get looser bounds than CPU float32; float16/bfloat16 are bounded by their mantissas.
_TOLERANCES = {
    ("cpu", "float64"): (1e-7, 1e-9),
    ("cpu", "float32"): (1e-5, 1e-6),
    ("cuda", "float32"): (1e-4, 1e-5),
    ("mps", "float32"): (1e-4, 1e-5),
    ("any", "float16"): (1e-3, 1e-3),
    ("any", "bfloat16"): (1.6e-2, 1e-2),
}


def tolerance(device: str, dtype: str) -> tuple[float, float]:
    """(rtol, atol) for comparing results of `dtype` computed on `device`."""
    device = device.split(":")[0]
    for key in ((device, dtype), ("any", dtype), ("cuda" if device != "cpu" else "cpu", dtype)):
        if key in _TOLERANCES:
            return _TOLERANCES[key]
    return (0.0, 0.0)  # integer and bool results must match exactly
