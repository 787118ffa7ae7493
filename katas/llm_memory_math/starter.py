# Your attempt at the `llm_memory_math` kata: fill in every TODO, then run
#     nox -s kata -- llm_memory_math
# Generated from solutions/llm_memory_math.py; `dojo reset llm_memory_math` archives this file and starts over.
"""LLM back-of-the-envelope math: parameters, training memory, KV cache, FLOPs, Chinchilla.

Pure Python (ints and floats in, ints and floats out). Build:

    param_count(d_model, n_layers, vocab, ctx, mlp_ratio=4, tied=True, bias=True) -> int
    bytes_per_param(optimizer="adam", precision="mixed")       -> dict[str, int]
    training_memory_bytes(params, optimizer="adam", precision="mixed") -> int
    kv_cache_bytes(n_layers, n_kv_heads, head_dim, seq_len, batch=1, bytes_per_elem=2) -> int
    train_flops(params, tokens)                                  -> float, 6 N D
    chinchilla_tokens(params)                                    -> float, 20 N
    to_gb(n_bytes) / to_gib(n_bytes)                             -> float, / 1e9 and / 2**30

param_count: a GPT-2-shaped decoder. Token embedding vocab x d and learned position embedding
ctx x d; per layer two LayerNorms (weight + bias: 2 d each), attention (q, k, v and output
projections: 4 d^2 weights + 4 d biases) and an MLP d -> f -> d with f = mlp_ratio * d
(2 d f weights + f + d biases); a final LayerNorm (2 d); an LM head d x vocab without bias,
which is the token embedding when tied=True (counted once) and an extra vocab x d matrix
otherwise. bias=False drops every bias (Linear and LayerNorm; the LayerNorm weights stay).
GPT-2 small (768, 12, 50257, 1024) has 124,439,808 parameters; GPT-3 (12288, 96, 50257, 2048)
about 174.6e9.

Training memory counts the MODEL STATES only (no activations, no buffers), per parameter, as in
the ZeRO paper (Rajbhandari et al. 2020):
    adam, mixed: fp16 weights 2 + fp16 grads 2 + fp32 master weights 4 + Adam m 4 + v 4 = 16 B
    adam, fp32:  fp32 weights 4 + fp32 grads 4 + Adam m 4 + v 4                        = 16 B
                 (the fp32 weights ARE the master copy: no fifth term)
    sgd,  mixed: fp16 weights 2 + fp16 grads 2 + fp32 master weights 4 + momentum 4    = 12 B
    sgd,  fp32:  fp32 weights 4 + fp32 grads 4 + momentum 4                            = 12 B
("sgd" is SGD with momentum.) bytes_per_param returns that breakdown as a dict with the keys
"weights", "grads", "master" (mixed only), "adam_m" and "adam_v" (adam only), "momentum" (sgd
only); training_memory_bytes = params * the sum. A 7B model with Adam in mixed precision needs
112e9 bytes = 112 GB (about 104.3 GiB). Unknown optimizer or precision names raise ValueError.

kv_cache_bytes: a K and a V vector of head_dim per layer, per KV head (n_kv_heads <
n_heads with grouped-query attention), per token, per sequence:
2 * n_layers * n_kv_heads * head_dim * seq_len * batch * bytes_per_elem (2 for fp16).

train_flops: 6 N D (2 N D forward, 4 N D backward) for N parameters and D training tokens.
chinchilla_tokens: the compute-optimal data size, 20 tokens per parameter (Hoffmann et al.
2022: 70B parameters -> 1.4T tokens).

GB is 1e9 bytes, GiB is 2**30 bytes; the ZeRO figures are in GB.

Pitfalls an interviewer looks for:
- 12 L d^2 is only the blocks' matrices: embeddings (vocab x d is 31% of GPT-2 small),
  biases and LayerNorms are part of the count.
- The KV cache stores K AND V: the factor 2. With GQA it scales with n_kv_heads, not n_heads.
- The fp32 master copy exists only in mixed precision; in fp32 the weights are the master.
"""

_OPTIMIZERS = ("adam", "sgd")
_PRECISIONS = ("mixed", "fp32")


def param_count(d_model: int, n_layers: int, vocab: int, ctx: int, mlp_ratio: int = 4,
                tied: bool = True, bias: bool = True) -> int:
    """Parameters of a GPT-2-shaped decoder (see the module docstring)."""
    # TODO: embeddings + n_layers * (LayerNorms + attention + MLP) + final LayerNorm
    #       (+ an untied head)
    raise NotImplementedError('TODO: embeddings + n_layers * (LayerNorms + attention + MLP) + final LayerNorm')


def bytes_per_param(optimizer: str = "adam", precision: str = "mixed") -> dict[str, int]:
    """Bytes of model state per parameter, by component (see the module docstring)."""
    # TODO: validate the names; weights and grads at the training precision,
    #       an fp32 master copy in mixed precision only, then the optimizer's fp32 states
    raise NotImplementedError('TODO: validate the names; weights and grads at the training precision,')


def training_memory_bytes(params: int, optimizer: str = "adam", precision: str = "mixed") -> int:
    """Bytes of model states (weights, grads, master copy, optimizer states) for training."""
    # TODO: params times the bytes per parameter
    raise NotImplementedError('TODO: params times the bytes per parameter')


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, seq_len: int, batch: int = 1,
                   bytes_per_elem: int = 2) -> int:
    """Bytes of the K and V cache for `batch` sequences of seq_len tokens."""
    # TODO: one K and one V of head_dim per layer, per KV head, per token, per sequence
    raise NotImplementedError('TODO: one K and one V of head_dim per layer, per KV head, per token, per sequence')


def train_flops(params: float, tokens: float) -> float:
    """Training compute in FLOPs: 6 N D."""
    # TODO: forward 2 N D plus backward 4 N D
    raise NotImplementedError('TODO: forward 2 N D plus backward 4 N D')


def chinchilla_tokens(params: float) -> float:
    """Compute-optimal number of training tokens (Chinchilla): 20 per parameter."""
    # TODO: the Chinchilla rule of thumb
    raise NotImplementedError('TODO: the Chinchilla rule of thumb')


def to_gb(n_bytes: float) -> float:
    """Bytes -> GB (1e9 bytes)."""
    # TODO: decimal gigabytes
    raise NotImplementedError('TODO: decimal gigabytes')


def to_gib(n_bytes: float) -> float:
    """Bytes -> GiB (2**30 bytes)."""
    # TODO: binary gibibytes
    raise NotImplementedError('TODO: binary gibibytes')
