"""Tests for the continuous_batching kata.

Oracles: hand traces (small request lists whose batches, step by step, are written out below
and were worked out on paper from the model of time in the statement), and a rule checker
that replays any run batch by batch and checks every rule of the model (token budget,
max_seqs, FCFS, no idle capacity while the head of the queue fits, exactly output_len
decodes per request) on seeded random workloads. Metrics are checked against numpy on the
latencies read off the batches, and continuous batching must beat static batching on
throughput and latency for a workload of mixed output lengths.
"""

import numpy as np
import pytest

from dojo.testing import assert_close


def req(kata, rid, arrival, prompt, output):
    return kata.Request(rid, arrival, prompt, output)


def run(kata, requests, max_batch_tokens, max_seqs, policy, max_steps=10_000):
    sched = kata.Scheduler(max_batch_tokens, max_seqs, policy)
    for r in requests:
        sched.add(r)
    batches = []
    while sched.has_work():
        batches.append(sched.step())
        assert len(batches) < max_steps, "the scheduler never finishes the requests"
    return batches


def as_tuple(b):
    return (list(b.prefill), list(b.decode), list(b.finished), b.n_tokens)


# ---------------------------------------------------------------------------------------------
# Hand traces: (policy, max_batch_tokens, max_seqs, [(id, arrival, prompt, output)],
#               [(prefill, decode, finished, n_tokens) for step 0, 1, ...], what it checks)
# ---------------------------------------------------------------------------------------------

TRACES = {
    "slot freed at once": (
        "continuous", 10, 2, [("A", 0, 4, 2), ("B", 0, 5, 1), ("C", 1, 3, 1)],
        [(["A", "B"], [], [], 9),
         ([], ["A", "B"], ["B"], 2),  # C has arrived but both slots are taken
         (["C"], ["A"], ["A"], 4),  # B finished at step 1: its slot is free at step 2
         ([], ["C"], ["C"], 1)],
        "a request finishing at step t frees its slot for the admission at step t + 1"),
    "head of line blocks": (
        "continuous", 8, 4, [("A", 0, 6, 3), ("B", 0, 4, 1), ("C", 0, 1, 1)],
        [(["A"], [], [], 6),  # B does not fit in the 2 tokens left, and C may not overtake B
         (["B", "C"], ["A"], [], 6),
         ([], ["A", "B", "C"], ["B", "C"], 3),
         ([], ["A"], ["A"], 1)],
        "admission is FCFS: a smaller later request never jumps over a head that does not fit"),
    "budget filled exactly": (
        "continuous", 6, 3, [("A", 0, 3, 2), ("B", 0, 3, 2), ("C", 0, 2, 1)],
        [(["A", "B"], [], [], 6),  # 3 + 3 = 6 fills the budget exactly; C (2) must wait
         (["C"], ["A", "B"], [], 4),  # decodes take 2 of the budget, C's 2 fit
         ([], ["A", "B", "C"], ["A", "B", "C"], 3)],
        "a prompt may fill the budget exactly, decodes count against the budget"),
    "max_seqs": (
        "continuous", 100, 2, [("A", 0, 1, 1), ("B", 0, 1, 3), ("C", 0, 1, 1), ("D", 1, 1, 1)],
        [(["A", "B"], [], [], 2),
         ([], ["A", "B"], ["A"], 2),
         (["C"], ["B"], [], 2),
         ([], ["B", "C"], ["B", "C"], 2),
         (["D"], [], [], 1),
         ([], ["D"], ["D"], 1)],
        "at most max_seqs requests run (or are admitted) at a time"),
    "FCFS by arrival, not by add order": (
        "continuous", 5, 4, [("X", 0, 5, 2), ("A", 2, 5, 1), ("B", 1, 5, 1)],
        [(["X"], [], [], 5),
         ([], ["X"], [], 1),  # B has arrived, but 5 > 5 - 1
         ([], ["X"], ["X"], 1),
         (["B"], [], [], 5),  # B arrived before A, though A was added first
         ([], ["B"], ["B"], 1),
         (["A"], [], [], 5),
         ([], ["A"], ["A"], 1)],
        "the queue is ordered by arrival_step (ties: add order)"),
    "idle steps before arrivals": (
        "continuous", 4, 2, [("A", 3, 2, 1), ("B", 1, 3, 2)],
        [([], [], [], 0),
         (["B"], [], [], 3),
         ([], ["B"], [], 1),
         (["A"], ["B"], ["B"], 3),
         ([], ["A"], ["A"], 1)],
        "a request is not admitted before its arrival_step; empty steps still advance time"),
    "static waits for the batch": (
        "static", 10, 2, [("A", 0, 4, 2), ("B", 0, 5, 1), ("C", 1, 3, 1)],
        [(["A", "B"], [], [], 9),
         ([], ["A", "B"], ["B"], 2),
         ([], ["A"], ["A"], 1),  # static: B's free slot stays empty while A runs
         (["C"], [], [], 3),
         ([], ["C"], ["C"], 1)],
        "static batching admits only when no request is running"),
    "static with room to spare": (
        "static", 100, 4, [("A", 0, 2, 3), ("B", 1, 2, 1)],
        [(["A"], [], [], 2),
         ([], ["A"], [], 1),
         ([], ["A"], [], 1),
         ([], ["A"], ["A"], 1),
         (["B"], [], [], 2),
         ([], ["B"], ["B"], 1)],
        "static batching admits only when no request is running, even with budget left"),
}


@pytest.mark.parametrize("name", list(TRACES))
def test_scheduler_follows_the_hand_trace(kata, name):
    policy, budget, max_seqs, reqs, expected, rule = TRACES[name]
    requests = [req(kata, *r) for r in reqs]
    sched = kata.Scheduler(budget, max_seqs, policy)
    for r in requests:
        sched.add(r)
    for t, want in enumerate(expected):
        batch = sched.step()
        assert batch is not None, "step() must return a Batch"
        assert batch.step == t, f"batch.step = {batch.step} at the step numbered {t}"
        got = as_tuple(batch)
        assert got == want, (
            f"trace '{name}' ({policy}, max_batch_tokens={budget}, max_seqs={max_seqs}), "
            f"step {t}: got (prefill, decode, finished, n_tokens) = {got}, expected {want}. "
            f"Rule: {rule}")
    assert not sched.has_work(), f"trace '{name}': work is left after the last expected step"


# ---------------------------------------------------------------------------------------------
# A rule checker for any run: replays the batches against the model of time
# ---------------------------------------------------------------------------------------------


def check_rules(requests, batches, budget, max_seqs, policy):
    by_id = {r.id: r for r in requests}
    # FCFS order: arrival, then add order (a stable sort of the list as added)
    queue = sorted(requests, key=lambda r: r.arrival_step)
    running = []  # ids in admission order
    decoded = dict.fromkeys(by_id, 0)
    admitted_at = {}
    for t, b in enumerate(batches):
        assert b.step == t, f"batch {t} says step {b.step}"
        assert list(b.decode) == running, (
            f"step {t}: decode = {list(b.decode)}, but the running requests (admitted before "
            f"step {t}, not finished) are {running}; every running request decodes exactly one "
            "token per step, and a request prefilled at step t decodes from t + 1")
        n_prompt = sum(by_id[i].prompt_len for i in b.prefill)
        assert b.n_tokens == n_prompt + len(b.decode), (
            f"step {t}: n_tokens = {b.n_tokens}, but the prompts ({n_prompt}) plus the decodes "
            f"({len(b.decode)}) make {n_prompt + len(b.decode)}")
        assert b.n_tokens <= budget, (
            f"step {t}: {b.n_tokens} tokens > max_batch_tokens = {budget}: admitted beyond the "
            "token budget (the decodes of the running requests use budget too)")
        assert len(running) + len(b.prefill) <= max_seqs, (
            f"step {t}: {len(running) + len(b.prefill)} sequences > max_seqs = {max_seqs}")
        if b.prefill:
            assert policy == "continuous" or not running, (
                f"step {t}: static batching admitted {list(b.prefill)} while {running} still "
                "run; static admits only when the whole batch has finished")
        head = [r.id for r in queue[:len(b.prefill)]]
        assert list(b.prefill) == head, (
            f"step {t}: prefilled {list(b.prefill)}, but FCFS the next in line are {head} "
            "(by arrival_step, ties in add order); a request must not jump the queue")
        for i in b.prefill:
            assert by_id[i].arrival_step <= t, (
                f"step {t}: request {i!r} admitted before its arrival_step "
                f"{by_id[i].arrival_step}")
            admitted_at[i] = t
        queue = queue[len(b.prefill):]
        # no idle capacity: the next in line must have been left out for a reason
        if queue and queue[0].arrival_step <= t and (policy == "continuous" or not running):
            nxt = queue[0]
            fits = (nxt.prompt_len <= budget - b.n_tokens
                    and len(running) + len(b.prefill) < max_seqs)
            assert not fits, (
                f"step {t}: request {nxt.id!r} (prompt {nxt.prompt_len}) waits although it "
                f"fits ({budget - b.n_tokens} tokens and "
                f"{max_seqs - len(running) - len(b.prefill)} slots left); a finished request "
                "frees its slot for the very next step, and admission fills the budget")
        done = []
        for i in b.decode:
            decoded[i] += 1
            if decoded[i] == by_id[i].output_len:
                done.append(i)
        assert sorted(map(str, b.finished)) == sorted(map(str, done)), (
            f"step {t}: finished = {list(b.finished)}, expected {done} (a request finishes "
            "with its output_len-th decode; the prefill produces no output token)")
        running = [i for i in running if i not in done] + list(b.prefill)
    assert not running and not queue, "the run ended with requests unfinished"
    return admitted_at


def workload(kata, seed, n=12, max_prompt=12, spread=8):
    rng = np.random.default_rng(seed)
    arrivals = np.sort(rng.integers(0, spread, n))
    return [req(kata, f"r{i}", int(a), int(rng.integers(1, max_prompt + 1)),
                int(rng.integers(1, 9))) for i, a in enumerate(arrivals)]


@pytest.mark.parametrize("policy", ["continuous", "static"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_step_obeys_the_rules_on_random_workloads(kata, seed, policy):
    budget, max_seqs = [(16, 4), (12, 3), (40, 2), (20, 6)][seed]
    requests = workload(kata, seed)
    rng = np.random.default_rng(100 + seed)
    requests = [requests[i] for i in rng.permutation(len(requests))]  # add order != arrival
    batches = run(kata, requests, budget, max_seqs, policy)
    check_rules(requests, batches, budget, max_seqs, policy)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [(0, 3), (3, 0), (11, 1)], ids=["prompt 0", "output 0",
                                                                  "prompt > budget"])
def test_add_refuses_requests_that_can_never_run(kata, bad):
    prompt, output = bad
    sched = kata.Scheduler(10, 4)
    with pytest.raises(ValueError):
        sched.add(req(kata, "x", 0, prompt, output))
    sched.add(req(kata, "ok", 0, 10, 1))  # a prompt of exactly the budget is fine
    assert sched.step().prefill == ["ok"]


def test_unknown_policy_is_refused(kata):
    with pytest.raises(ValueError):
        kata.simulate([req(kata, "a", 0, 1, 1)], "greedy", 8, 2)


# ---------------------------------------------------------------------------------------------
# simulate and its metrics
# ---------------------------------------------------------------------------------------------


def test_simulate_metrics_on_the_hand_trace(kata):
    requests = [req(kata, *r) for r in TRACES["slot freed at once"][3]]
    m = kata.simulate(requests, "continuous", 10, 2)
    assert m is not None, "simulate must return a dict of metrics"
    assert m["total_steps"] == 4, f"total_steps = {m['total_steps']}, expected 4 (steps 0..3)"
    assert m["output_tokens"] == 4, (
        f"output_tokens = {m['output_tokens']}, expected 2 + 1 + 1 = 4"
        + (": prefill tokens are not output tokens" if m["output_tokens"] == 16 else ""))
    assert m["latency"] == {"A": 3, "B": 2, "C": 3}, (
        f"latency = {m['latency']}, expected A: 3, B: 2, C: 3 (finish step + 1 - arrival)")
    assert_close(m["throughput"], 1.0, what="throughput = output tokens / total steps")
    assert_close(m["mean_latency"], 8 / 3, what="mean_latency")
    assert_close(m["p50_latency"], 3.0, what="p50_latency")
    assert_close(m["max_latency"], 3.0, what="max_latency")


@pytest.mark.parametrize("policy", ["continuous", "static"])
def test_metrics_match_numpy_on_a_random_workload(kata, policy):
    requests = workload(kata, 7, n=10)  # an even count: the median averages the middle two
    batches = run(kata, requests, 16, 3, policy)
    finish = {i: b.step for b in batches for i in b.finished}
    lat = {r.id: finish[r.id] + 1 - r.arrival_step for r in requests}
    values = np.array(list(lat.values()), dtype=float)
    out = sum(r.output_len for r in requests)
    prompts = sum(r.prompt_len for r in requests)
    m = kata.simulate(requests, policy, 16, 3)
    assert m["total_steps"] == len(batches), (
        f"total_steps = {m['total_steps']}, the run takes {len(batches)} steps "
        "(last finish step + 1)")
    assert m["latency"] == lat, f"latency = {m['latency']}, expected {lat}"
    assert m["output_tokens"] == out, (
        f"output_tokens = {m['output_tokens']}, expected {out}"
        + (": prefill tokens are not output" if m["output_tokens"] == out + prompts else ""))
    want = out / len(batches)
    hint = (" [prefill tokens counted as output: throughput counts decode tokens only]"
            if np.isclose(m["throughput"], (out + prompts) / len(batches)) else "")
    assert_close(m["throughput"], want, what="throughput = output tokens / total_steps" + hint)
    assert_close(m["mean_latency"], values.mean(), what="mean_latency")
    assert_close(m["p50_latency"], np.median(values),
                 what="p50_latency (median; even count: mean of the two middle values)")
    assert_close(m["max_latency"], values.max(), what="max_latency")


def test_continuous_beats_static_batching(kata):
    # Mixed output lengths: static batching keeps short requests' slots empty until the
    # longest in the batch is done.
    rng = np.random.default_rng(11)
    requests = [req(kata, i, int(i // 4), int(rng.integers(2, 9)),
                    int(rng.choice([1, 2, 16]))) for i in range(24)]
    cont = kata.simulate(requests, "continuous", 32, 4)
    stat = kata.simulate(requests, "static", 32, 4)
    assert cont["output_tokens"] == stat["output_tokens"]
    assert cont["throughput"] > 1.3 * stat["throughput"], (
        f"continuous throughput {cont['throughput']:.3g} tokens/step is not clearly above "
        f"static {stat['throughput']:.3g}: continuous batching must refill freed slots at "
        "every step")
    assert cont["mean_latency"] < stat["mean_latency"], (
        f"continuous mean latency {cont['mean_latency']:.3g} >= static "
        f"{stat['mean_latency']:.3g}")
