"""Tests for the llm_memory_math kata: parameter counts, training memory, KV cache, FLOPs.

Oracles: published figures (GPT-2 small/medium/large/XL totals 124,439,808 / 354,823,168 /
774,030,080 / 1,557,611,200; GPT-3 174.6e9 parameters and 3.14e23 training FLOPs (Brown et
al. 2020, table D.1); the ZeRO paper's 16 bytes per parameter, "a 7.5B model needs 120 GB" and
"GPT-2 1.5B needs 24 GB" of model states; Chinchilla's 70B parameters / 1.4T tokens; a Llama-2
7B fp16 KV cache of 2 GiB for 4096 tokens), and brute force: the parameter tensors of a
GPT-2 state dict enumerated shape by shape, and the KV cache's elements counted one by one.
"""

import itertools
import math

import pytest

from dojo.testing import assert_close

GPT2_VOCAB, GPT2_CTX = 50257, 1024


def state_dict_shapes(d, L, V, ctx, r=4, tied=True, bias=True):
    """The parameter tensors of a GPT-2 checkpoint (Hugging Face names), as {name: shape}."""
    shapes = {"wte.weight": (V, d), "wpe.weight": (ctx, d)}

    def ln(name):
        shapes[f"{name}.weight"] = (d,)
        if bias:
            shapes[f"{name}.bias"] = (d,)

    def linear(name, n_in, n_out):
        shapes[f"{name}.weight"] = (n_in, n_out)
        if bias:
            shapes[f"{name}.bias"] = (n_out,)

    for i in range(L):
        ln(f"h.{i}.ln_1")
        linear(f"h.{i}.attn.c_attn", d, 3 * d)
        linear(f"h.{i}.attn.c_proj", d, d)
        ln(f"h.{i}.ln_2")
        linear(f"h.{i}.mlp.c_fc", d, r * d)
        linear(f"h.{i}.mlp.c_proj", r * d, d)
    ln("ln_f")
    if not tied:
        shapes["lm_head.weight"] = (V, d)  # no bias; tied: it is wte.weight
    return shapes


def brute_force_params(*args, **kwargs):
    return sum(math.prod(s) for s in state_dict_shapes(*args, **kwargs).values())


def param_suspects(d, L, V, ctx, r, tied, bias):
    right = brute_force_params(d, L, V, ctx, r, tied, bias)
    b = 1 if bias else 0
    out = [
        ("12 L d^2 (only the blocks' matrices): embeddings, biases and LayerNorms are missing",
         L * (4 + 2 * r) * d * d),
        ("12 L d^2 + embeddings: biases and LayerNorms are missing",
         L * (4 + 2 * r) * d * d + V * d + ctx * d),
        ("a count without the position embedding ctx * d", right - ctx * d),
        ("a count without the final LayerNorm", right - (1 + b) * d),
        ("a count with one LayerNorm per block instead of two", right - L * (1 + b) * d),
    ]
    if tied:
        out.append(("the tied LM head counted twice (it is the token embedding)", right + V * d))
    else:
        out.append(("tied=False without the separate LM head matrix", right - V * d))
    return out


def check_params(kata, d, L, V, ctx, r=4, tied=True, bias=True):
    got = kata.param_count(d, L, V, ctx, mlp_ratio=r, tied=tied, bias=bias)
    want = brute_force_params(d, L, V, ctx, r, tied, bias)
    assert isinstance(got, int), f"param_count must return an int, got {type(got).__name__}"
    if got != want:
        msg = (f"param_count(d_model={d}, n_layers={L}, vocab={V}, ctx={ctx}, mlp_ratio={r}, "
               f"tied={tied}, bias={bias}) = {got:,}, expected {want:,} (off by "
               f"{got - want:+,}).")
        for description, wrong in param_suspects(d, L, V, ctx, r, tied, bias):
            if got == wrong:
                msg += f" That is {description}."
                break
        raise AssertionError(msg)


# ---------------------------------------------------------------------------------------------
# param_count
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, d, L, total", [
    ("GPT-2 small", 768, 12, 124_439_808),
    ("GPT-2 medium", 1024, 24, 354_823_168),
    ("GPT-2 large", 1280, 36, 774_030_080),
    ("GPT-2 XL", 1600, 48, 1_557_611_200),
])
def test_param_count_gives_the_published_gpt2_totals(kata, name, d, L, total):
    assert brute_force_params(d, L, GPT2_VOCAB, GPT2_CTX) == total  # oracle vs publication
    check_params(kata, d, L, GPT2_VOCAB, GPT2_CTX)


def test_param_count_of_gpt3_is_174_6_billion(kata):
    got = kata.param_count(12288, 96, GPT2_VOCAB, 2048)
    assert round(got / 1e9, 1) == 174.6, (
        f"GPT-3 175B has ~174.6e9 parameters, got {got / 1e9:.2f}e9")
    check_params(kata, 12288, 96, GPT2_VOCAB, 2048)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("d, L, V, ctx, r", [(64, 3, 1000, 128, 4), (40, 5, 77, 9, 2),
                                             (16, 1, 10, 4, 3)])
def test_param_count_matches_a_state_dict_enumeration(kata, d, L, V, ctx, r, tied, bias):
    check_params(kata, d, L, V, ctx, r, tied, bias)


def test_param_count_with_no_layers_is_embeddings_and_final_norm(kata):
    assert kata.param_count(8, 0, 5, 3) == 5 * 8 + 3 * 8 + 2 * 8, (
        "n_layers=0 leaves the two embeddings and the final LayerNorm")


# ---------------------------------------------------------------------------------------------
# bytes_per_param and training_memory_bytes
# ---------------------------------------------------------------------------------------------

BREAKDOWN = {
    ("adam", "mixed"): {"weights": 2, "grads": 2, "master": 4, "adam_m": 4, "adam_v": 4},
    ("adam", "fp32"): {"weights": 4, "grads": 4, "adam_m": 4, "adam_v": 4},
    ("sgd", "mixed"): {"weights": 2, "grads": 2, "master": 4, "momentum": 4},
    ("sgd", "fp32"): {"weights": 4, "grads": 4, "momentum": 4},
}


@pytest.mark.parametrize("optimizer, precision", list(BREAKDOWN))
def test_bytes_per_param_breaks_down_the_model_states(kata, optimizer, precision):
    got = kata.bytes_per_param(optimizer, precision)
    want = BREAKDOWN[optimizer, precision]
    assert got == want, (
        f"bytes_per_param({optimizer!r}, {precision!r}) = {got}, expected {want}"
        + (": the fp32 weights are the master copy, there is no separate one"
           if precision == "fp32" and got and "master" in got else "")
        + (": mixed precision keeps fp16 weights and grads (2 B) plus an fp32 master (4 B)"
           if precision == "mixed" and got and got.get("weights") != 2 else ""))


def test_bytes_per_param_defaults_to_adam_mixed(kata):
    assert kata.bytes_per_param() == BREAKDOWN["adam", "mixed"]


@pytest.mark.parametrize("optimizer, precision, per_param", [
    ("adam", "mixed", 16), ("adam", "fp32", 16), ("sgd", "mixed", 12), ("sgd", "fp32", 12)])
def test_training_memory_is_params_times_bytes_per_param(kata, optimizer, precision, per_param):
    params = 123_456_789
    got = kata.training_memory_bytes(params, optimizer, precision)
    assert got == params * per_param, (
        f"training_memory_bytes({params}, {optimizer!r}, {precision!r}) = {got}, expected "
        f"{per_param} B/param = {params * per_param}"
        + (" (20 B/param: the master weights were counted twice; in fp32 the weights are the "
           "master copy)" if got == params * 20 else ""))


def test_training_a_7b_model_with_adam_mixed_needs_112_gb(kata):
    got = kata.training_memory_bytes(7_000_000_000)
    assert got == 112_000_000_000, f"7e9 params x 16 B = 112e9 bytes, got {got}"
    assert kata.to_gb(got) == 112.0, (  # exact: 112e9 / 1e9 is 112.0 in floating point
        f"to_gb(112e9 bytes) = {kata.to_gb(got)!r}, expected exactly 112.0 (GB = 1e9 bytes)")
    assert_close(kata.to_gib(got), 112e9 / 2**30, what="to_gib(7B model states)")
    assert round(kata.to_gib(got), 1) == 104.3, "112 GB is 104.3 GiB (GiB = 2**30 bytes)"


@pytest.mark.parametrize("params, gb", [(7.5e9, 120.0), (1.5e9, 24.0)])
def test_zero_paper_model_state_figures(kata, params, gb):
    # ZeRO (Rajbhandari et al. 2020): 7.5B params -> 120 GB; GPT-2 1.5B -> 24 GB
    assert_close(kata.to_gb(kata.training_memory_bytes(params, "adam", "mixed")), gb,
                 what=f"GB of model states for {params:.1e} parameters (Adam, mixed precision)")


@pytest.mark.parametrize("optimizer, precision", [("adamw", "mixed"), ("adam", "fp16"),
                                                  ("Adam", "mixed"), ("sgd", "bf16")])
def test_unknown_optimizer_or_precision_raises(kata, optimizer, precision):
    with pytest.raises(ValueError):
        kata.bytes_per_param(optimizer, precision)
    with pytest.raises(ValueError):
        kata.training_memory_bytes(1000, optimizer, precision)


# ---------------------------------------------------------------------------------------------
# kv_cache_bytes
# ---------------------------------------------------------------------------------------------


def brute_force_kv(n_layers, n_kv_heads, head_dim, seq_len, batch, bytes_per_elem):
    """Count every cached element: (K or V, layer, head, token, sequence) x head_dim."""
    cells = itertools.product(("K", "V"), range(n_layers), range(n_kv_heads), range(seq_len),
                              range(batch))
    return sum(1 for _ in cells) * head_dim * bytes_per_elem


@pytest.mark.parametrize("args", [(3, 2, 8, 5, 4, 2), (2, 4, 16, 7, 1, 4), (1, 1, 1, 1, 1, 1),
                                  (4, 3, 5, 6, 2, 2)])
def test_kv_cache_counts_k_and_v_for_every_layer_head_token_and_sequence(kata, args):
    got = kata.kv_cache_bytes(*args)
    want = brute_force_kv(*args)
    assert got == want, (
        f"kv_cache_bytes{args} = {got}, expected {want}"
        + (": K and V are both cached (the factor 2)" if got * 2 == want else ""))


def test_kv_cache_of_llama2_7b_is_2_gib_at_4096_tokens(kata):
    got = kata.kv_cache_bytes(32, 32, 128, 4096)  # batch 1, fp16 by default
    assert got == 2 * 2**30, f"Llama-2 7B, 4096 tokens, fp16: 2 GiB, got {got} bytes"
    assert kata.to_gib(got) == 2.0


def test_kv_cache_with_grouped_query_attention_uses_the_kv_heads(kata):
    # Llama-2 70B: 80 layers, 64 query heads but 8 KV heads of 128: 320 KiB per token in fp16
    per_token = kata.kv_cache_bytes(80, 8, 128, 1)
    assert per_token == 327_680, f"Llama-2 70B KV cache per token is 327,680 bytes, got {per_token}"
    assert kata.kv_cache_bytes(80, 8, 128, 4096, batch=8, bytes_per_elem=1) == 327_680 * 4096 * 4


# ---------------------------------------------------------------------------------------------
# train_flops, chinchilla_tokens, units
# ---------------------------------------------------------------------------------------------


def test_train_flops_of_gpt3_is_3_14e23(kata):
    got = kata.train_flops(174.6e9, 300e9)
    assert_close(got, 3.1428e23, what="train_flops(GPT-3 174.6B params, 300B tokens)")
    assert f"{got:.2e}" == "3.14e+23", "GPT-3's published training compute is 3.14e23 FLOPs"


@pytest.mark.parametrize("n, d", [(1, 1), (125e6, 2.5e9), (7e9, 2e12)])
def test_train_flops_is_six_n_d(kata, n, d):
    got = kata.train_flops(n, d)
    assert_close(got, 6.0 * n * d, what=f"train_flops({n:g}, {d:g})")
    if got == 2 * n * d:
        raise AssertionError("2 N D is the forward pass only; training adds 4 N D for backward")


def test_chinchilla_tokens_for_70b_is_1_4_trillion(kata):
    assert_close(kata.chinchilla_tokens(70e9), 1.4e12, what="chinchilla_tokens(70e9)")
    assert_close(kata.chinchilla_tokens(1), 20.0, what="chinchilla_tokens(1)")


def test_gb_and_gib_are_different_units(kata):
    assert_close(kata.to_gb(1.5e9), 1.5, what="to_gb(1.5e9 bytes)")
    assert_close(kata.to_gib(3 * 2**30), 3.0, what="to_gib(3 * 2**30 bytes)")
    assert_close(kata.to_gib(1e9), 1e9 / 2**30, what="to_gib(1e9 bytes)")
