# Your attempt at the `distillation_contrastive` kata: fill in every TODO, then run
#     nox -s kata -- distillation_contrastive
# Generated from solutions/distillation_contrastive.py; `dojo reset distillation_contrastive` archives this file and starts over.
"""Knowledge distillation and contrastive (InfoNCE / CLIP) losses, from log_softmax (torch).

Build two losses that train a network against another network's outputs:

    kd_loss(student_logits, teacher_logits, T, alpha, labels)   -> 0-d tensor
    info_nce(a, b, temperature)                                 -> 0-d tensor

kd_loss (Hinton et al., 2015). student_logits and teacher_logits (N, C) float, labels (N,)
int64 class indices, T > 0 the distillation temperature, alpha in [0, 1] the weight of the
distillation term:

    p_t = softmax(teacher_logits / T),  log p_s = log_softmax(student_logits / T)
    KL  = sum_n sum_c p_t[n, c] * (log p_t[n, c] - log p_s[n, c]) / N     ("batchmean")
    CE  = mean_n -log_softmax(student_logits)[n, labels[n]]              (at T = 1)
    kd_loss = alpha * T**2 * KL + (1 - alpha) * CE

  The same number as alpha * T**2 * F.kl_div(log p_s, log p_t, log_target=True,
  reduction="batchmean") + (1 - alpha) * F.cross_entropy(student_logits, labels).
  The teacher is a fixed target: no gradient flows into teacher_logits (detach it).

info_nce (the symmetric CLIP loss). a and b (N, D) float, row n of a and row n of b a positive
pair, every other row of the batch a negative; temperature > 0:

    a_hat, b_hat = a / ||a||, b / ||b||          (rows L2-normalised inside the loss)
    logits = a_hat @ b_hat^T / temperature       (N, N); the positives are on the diagonal
    info_nce = (CE(logits, arange(N)) + CE(logits^T, arange(N))) / 2

  CE(logits, arange(N)) classifies, for each a_n, which b is its partner (rows); the transposed
  term classifies, for each b_n, which a is its partner (columns).

Both return a 0-d tensor in the dtype and on the device of the inputs, with gradients that
autograd computes through them. Allowed: log_softmax / softmax, exp, log, sum, mean, norm,
gather / indexing / diagonal. Not allowed (the tests switch them off): F.kl_div,
F.cross_entropy, F.nll_loss and nn's KLDivLoss / CrossEntropyLoss / NLLLoss.

Pitfalls an interviewer looks for:
- Multiply the KL term by T**2: the gradient of the softened KL scales like 1 / T**2, and T**2
  keeps it comparable with the hard-label term when T changes.
- KL(teacher || student), weighted by the teacher's probabilities, not the reverse.
- "batchmean" divides the summed KL by N (the batch), not by N * C as reduction="mean" does.
- Soften BOTH distributions by T in the KL term; the CE term uses the raw student logits.
- info_nce: normalise the embeddings (cosine similarity), divide by the temperature, and
  average the two directions; a one-sided loss trains only one encoder's view of the batch.
"""

import torch
from torch import Tensor


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, T: float, alpha: float,
            labels: Tensor) -> Tensor:
    """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) (batchmean) + (1 - alpha) * CE(s, labels).

    student_logits, teacher_logits (N, C); labels (N,) int64 -> 0-d tensor.
    """
    # TODO: softened log-probs of both; KL weighted by the teacher, summed over classes,
    #       averaged over the batch, times T^2; hard-label CE at T = 1; mix with alpha
    raise NotImplementedError('TODO: softened log-probs of both; KL weighted by the teacher, summed over classes,')


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE (CLIP): a, b (N, D), row n of each a positive pair -> 0-d tensor."""
    # TODO: L2-normalise the rows, (N, N) similarity logits / temperature, cross-entropy
    #       with the diagonal as the targets in both directions, averaged
    raise NotImplementedError('TODO: L2-normalise the rows, (N, N) similarity logits / temperature, cross-entropy')
