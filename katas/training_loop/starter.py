# Your attempt at the `training_loop` kata: fill in every TODO, then run
#     nox -s kata -- training_loop
# Generated from solutions/training_loop.py; `dojo reset training_loop` archives this file and starts over.
"""A training loop with gradient accumulation, global-norm clipping and dynamic loss scaling.

Build two functions:

    clip_grad_norm(params, max_norm) -> Tensor
        Scale the gradients of `params` in place so that their GLOBAL L2 norm is at most
        max_norm, as torch.nn.utils.clip_grad_norm_ does (norm_type 2):
            total = sqrt(sum over all params of sum(p.grad ** 2))      one norm for all of them
            p.grad *= min(1, max_norm / (total + 1e-6))                 never scaled UP
        params: a tensor or an iterable of tensors (possibly a generator, like
        model.parameters()); those whose .grad is None are skipped. Returns `total`, the norm
        BEFORE clipping, as a 0-dim tensor (tensor(0.) when no parameter has a gradient).

    train(model, data, opt, accum_steps, max_grad_norm, scaler=None) -> list[float]
        model(x, y) returns the scalar loss of a micro-batch (a mean over its samples).
        data is an iterable of (x, y) micro-batches. Each optimizer step consumes up to
        accum_steps consecutive micro-batches (a trailing incomplete group makes a last, smaller
        step): with k micro-batches in the group, the gradient of the step is the gradient of
        the MEAN of their k losses, the same gradient as one big batch of all of them (for
        equal-sized micro-batches). Per step:
            zero the gradients (stale gradients, from before train or the last step, must not
            leak in); backward each micro-batch loss / k; clip the global norm to max_grad_norm
            (None: no clipping); optimizer step.
        Returns one float per optimizer step: the mean of its k micro-batch losses, i.e. the
        big-batch loss (unscaled, undivided, detached).

    Dynamic loss scaling: scaler is None or a torch.amp.GradScaler-like object with
        scaler.scale(loss) -> loss times the current scale (backward that instead);
        scaler.unscale_(opt)  divides the gradients of opt's params by the scale (once per step);
        scaler.step(opt)      opt.step() unless the gradients hold inf/NaN (then skips it);
        scaler.update()       adjusts the scale for the next step (halves it after an overflow).
    With a scaler, per step: backward scaler.scale(loss / k) for each micro-batch, then
    unscale_, then clip, then scaler.step(opt) (never opt.step() directly: it must be able to
    skip), then update().

Pitfalls an interviewer looks for:
- Not dividing each micro-batch loss by the number of micro-batches: the step's gradient is k
  times too large (k times the lr, and a clipping threshold that means something else).
- zero_grad inside the micro-batch loop: only the last micro-batch's gradient survives.
- Clipping before unscale_: the norm of the SCALED gradients (scale ~ 2^16) is compared to
  max_norm, so every step is clipped to a tiny norm once unscaled.
- Clipping each tensor to max_norm on its own instead of the global norm; scaling the
  gradients UP when the norm is already below max_norm; consuming a generator of parameters
  while computing the norm, so that nothing is left to clip.
"""

import itertools

import torch


def clip_grad_norm(params, max_norm):
    """Clip the global L2 norm of the gradients of params (in place) to max_norm.

    params: a tensor or an iterable of tensors; max_norm: float > 0.
    Returns the total norm before clipping, a 0-dim tensor.
    """
    if isinstance(params, torch.Tensor):
        params = [params]
    # TODO: collect the gradients (params may be a generator), one global norm, then scale
    #       every gradient by the same coefficient (at most 1)
    raise NotImplementedError('TODO: collect the gradients (params may be a generator), one global norm, then scale')


def train(model, data, opt, accum_steps, max_grad_norm, scaler=None):
    """Train on micro-batches (x, y) from data, one optimizer step per accum_steps of them.

    model(x, y) -> scalar loss; opt: a torch.optim.Optimizer over model's parameters;
    max_grad_norm: float or None; scaler: None or a GradScaler-like object.
    Returns the loss of every optimizer step (mean of its micro-batch losses), as floats.
    """
    # TODO: group the micro-batches; per group: zero the grads, backward each (scaled) loss
    #       divided by the group size, unscale, clip, step (through the scaler if any)
    raise NotImplementedError('TODO: group the micro-batches; per group: zero the grads, backward each (scaled) loss')
