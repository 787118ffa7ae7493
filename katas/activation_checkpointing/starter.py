# Your attempt at the `activation_checkpointing` kata: fill in every TODO, then run
#     nox -s kata -- activation_checkpointing
# Generated from solutions/activation_checkpointing.py; `dojo reset activation_checkpointing` archives this file and starts over.
"""Activation checkpointing: trade compute for memory by recomputing the forward in backward.

Autograd keeps, for every op of the forward, the tensors its backward needs (the input of a
Linear, the output of a tanh, ...): memory grows with depth. Checkpointing runs a segment of
the network under `torch.no_grad()`, keeps only the segment's inputs, and re-runs the segment
with grad enabled inside the backward pass to get the gradients. Build, in torch, on whatever
device the inputs live on (cpu, cuda or mps):

1. `CheckpointFunction`, a `torch.autograd.Function`:
       out = CheckpointFunction.apply(run_fn, *inputs)
   `run_fn(*inputs)` returns one tensor; `inputs` are tensors (some may not require grad).
     - forward(ctx, run_fn, *inputs): save the inputs (ctx.save_for_backward) and run_fn,
       record the RNG state (`get_rng_state(device)`, given), and run `run_fn` under
       torch.no_grad(), so that nothing inside it is saved for backward.
     - backward(ctx, grad_out): detach the saved inputs into fresh leaves that keep their
       requires_grad, restore the RNG state recorded in forward (inside
       `torch.random.fork_rng`, so that the caller's RNG is untouched), re-run run_fn with
       grad enabled, and backpropagate grad_out through that recomputed graph with
       `torch.autograd.backward`. That also accumulates the gradients of the parameters used
       inside run_fn. Return None for run_fn, then each input's .grad (None for inputs that
       do not require grad).
2. `checkpoint(run_fn, *inputs)` -> CheckpointFunction.apply(run_fn, *inputs).
3. `checkpoint_sequential(layers, segments, x)`: `layers` a list (or nn.Sequential) of
   modules applied in order. Cut it into `segments` consecutive segments of
   size = len(layers) // segments (the last segment takes the remainder); checkpoint every
   segment except the last, which runs normally, as torch.utils.checkpoint does: its
   activations are needed by the backward right away anyway. 1 <= segments <= len(layers),
   else ValueError.

As with torch's own (reentrant) checkpoint, the output of a checkpointed segment requires grad
only if one of its tensor inputs does: give the network an input with requires_grad=True (or
make the first segment a plain one) so that the parameters inside get their gradients.

Gradients are exactly those of the plain forward. What is saved shrinks: with the network cut
into k segments, autograd keeps k - 1 segment inputs plus the last segment's activations.

Pitfalls an interviewer looks for:
- forgetting torch.no_grad() in forward: the segment's activations are saved anyway (no memory
  saved), and some of them would be saved twice;
- not restoring the RNG state: dropout draws a different mask in the recomputation, so the
  gradients do not match the forward that produced the loss;
- using the saved inputs themselves in the recomputation instead of detached copies: the
  recomputed graph then reaches back into the outer graph, and backward runs twice through it;
- returning the gradient of the output instead of the gradients of the inputs.
"""

from __future__ import annotations

import torch


def get_rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Given. The CPU RNG state, and the device's own when it has one (cuda, mps)."""
    if device.type == "cuda":
        return torch.get_rng_state(), torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.get_rng_state(), torch.mps.get_rng_state()
    return torch.get_rng_state(), None


def set_rng_state(device: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    """Given. Restore what get_rng_state recorded."""
    cpu, dev = state
    torch.set_rng_state(cpu)
    if device.type == "cuda":
        torch.cuda.set_rng_state(dev, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(dev)


def fork_rng(device: torch.device):
    """Given. A context in which RNG changes are undone on exit, for the CPU and the device."""
    if device.type in ("cuda", "mps"):
        return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [],
                                     device_type=device.type)
    return torch.random.fork_rng(devices=[])


class CheckpointFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, run_fn, *inputs):
        # TODO: remember run_fn, the device's RNG state and the inputs; run the
        # segment without building a graph
        raise NotImplementedError("TODO: remember run_fn, the device's RNG state and the inputs; run the")

    @staticmethod
    def backward(ctx, grad_out):
        # TODO: fresh leaves from the saved inputs; recompute under the recorded RNG
        # state with grad enabled; backprop grad_out; one gradient per forward argument
        raise NotImplementedError('TODO: fresh leaves from the saved inputs; recompute under the recorded RNG')


def checkpoint(run_fn, *inputs):
    return CheckpointFunction.apply(run_fn, *inputs)


def checkpoint_sequential(layers, segments: int, x: torch.Tensor) -> torch.Tensor:
    """Apply `layers` in order to x, checkpointing every segment but the last."""
    layers = list(layers)
    if not 1 <= segments <= len(layers):
        raise ValueError(f"segments must be in 1..{len(layers)}, got {segments}")

    def run(start: int, end: int):
        def segment(h):
            for layer in layers[start:end]:
                h = layer(h)
            return h
        return segment

    # TODO: cut into segments of len // segments layers; checkpoint all segments but
    # the last, which runs as usual
    raise NotImplementedError('TODO: cut into segments of len // segments layers; checkpoint all segments but')
