"""Pipeline-parallel schedules: GPipe and 1F1B, as timelines you can check by hand.

A model is cut into N stages (one per GPU) and a batch into M micro-batches. Stage s runs the
forward of micro-batch m, written F(m), after stage s - 1 has run F(m); it runs the backward
B(m) after stage s + 1 has run B(m) (the last stage: after its own F(m)). Every F and every B
takes one tick, and a stage runs at most one op per tick.

Build, in plain Python:

1. `gpipe_order(stages, microbatches)` and `one_f_one_b_order(stages, microbatches)`: for
   each stage, the list of its ops in the order it runs them. An op is `Op("F", m)` or
   `Op("B", m)` (given below).
     - GPipe: every forward, then every backward: F(0) .. F(M-1), B(0) .. B(M-1).
     - 1F1B (PipeDream-flush, Megatron's non-interleaved schedule): stage s first runs
       w = min(N - 1 - s, M) warm-up forwards F(0) .. F(w-1); then, while forwards remain,
       one forward and one backward in turn, F(w), B(0), F(w+1), B(1), ...; then the
       remaining backwards. The last stage therefore alternates F(0) B(0) F(1) B(1) ...
2. `simulate(orders)` -> timeline: a list of ticks, each a list of N entries (an Op, or None
   when that stage idles). At each tick every stage runs the next op of its order if that
   op's dependency ran at an EARLIER tick, and idles otherwise. The timeline ends with the
   tick in which the last op runs. If no stage can move while ops remain, raise ValueError
   (the orders deadlock).
3. `gpipe_schedule(stages, microbatches)` and `one_f_one_b_schedule(stages, microbatches)`:
   simulate the orders above.
4. `bubble_fraction(stages, microbatches)` = (N - 1) / (M + N - 1): the idle share of each
   stage's time, for both schedules when F and B take the same time.
5. `peak_in_flight(timeline)` -> list of N ints: for each stage, the largest number of
   micro-batches whose F has run and whose B has not yet run, at the end of any tick. Each of
   them holds its activations in memory: GPipe keeps all M, 1F1B at most N - s on stage s.

Pitfalls an interviewer looks for:
- the bubble is (N - 1) / (M + N - 1), not (N - 1) / M (that is the bubble over the ideal
  time, not over the total) and not 1 / N;
- 1F1B does not make the pipeline faster than GPipe when F and B take the same time: the
  total is 2 (M + N - 1) ticks for both. What it saves is activation memory;
- an op may start only at the tick after its dependency, not in the same tick.
"""

from __future__ import annotations

from typing import NamedTuple


class Op(NamedTuple):
    """Given. One unit of work on a stage: kind "F" (forward) or "B" (backward) of a
    micro-batch."""

    kind: str
    mb: int

    def __repr__(self) -> str:
        return f"{self.kind}{self.mb}"


def gpipe_order(stages: int, microbatches: int) -> list[list[Op]]:
    """Per stage: all forwards, then all backwards, in micro-batch order."""
    # >>> TODO: the same op list on every stage
    ops = [Op("F", m) for m in range(microbatches)] + [Op("B", m) for m in range(microbatches)]
    return [list(ops) for _ in range(stages)]
    # <<<


def one_f_one_b_order(stages: int, microbatches: int) -> list[list[Op]]:
    """Per stage: warm-up forwards, then one forward / one backward in turn, then backwards."""
    orders = []
    for s in range(stages):
        # >>> TODO: warm-up forwards (how many on stage s?), steady 1F1B pairs, cool-down
        warmup = min(stages - 1 - s, microbatches)
        ops = [Op("F", m) for m in range(warmup)]
        for i in range(microbatches - warmup):
            ops += [Op("F", warmup + i), Op("B", i)]
        ops += [Op("B", m) for m in range(microbatches - warmup, microbatches)]
        orders.append(ops)
        # <<<
    return orders


def simulate(orders: list[list[Op]]) -> list[list[Op | None]]:
    """Run each stage's ops in order, one per tick, as soon as their dependency is done."""
    n = len(orders)
    # >>> TODO: keep each stage's position in its order and the tick at which each
    # >>> (stage, op) finished; a tick runs every op whose dependency finished earlier
    done: dict[tuple[int, Op], int] = {}  # (stage, op) -> tick it ran in
    pos = [0] * n
    timeline: list[list[Op | None]] = []
    # Every tick runs at least one op (or we raise), so there are at most as many ticks as
    # ops: a bounded loop, never an endless one.
    for tick in range(sum(len(ops) for ops in orders)):
        if all(pos[s] == len(orders[s]) for s in range(n)):
            break
        row: list[Op | None] = [None] * n
        for s in range(n):
            if pos[s] == len(orders[s]):
                continue
            op = orders[s][pos[s]]
            if op.kind == "F":
                dep = (s - 1, op) if s > 0 else None
            else:
                dep = (s + 1, op) if s < n - 1 else (s, Op("F", op.mb))
            if dep is None or done.get(dep, tick) < tick:
                row[s] = op
        if not any(row):
            raise ValueError(f"deadlock at tick {tick}: no stage can run its next op")
        for s, op in enumerate(row):
            if op is not None:
                done[(s, op)] = tick
                pos[s] += 1
        timeline.append(row)
    return timeline
    # <<<


def gpipe_schedule(stages: int, microbatches: int) -> list[list[Op | None]]:
    return simulate(gpipe_order(stages, microbatches))


def one_f_one_b_schedule(stages: int, microbatches: int) -> list[list[Op | None]]:
    return simulate(one_f_one_b_order(stages, microbatches))


def bubble_fraction(stages: int, microbatches: int) -> float:
    """Idle share of a stage's time: (N - 1) / (M + N - 1)."""
    # >>> TODO: N - 1 idle F-ticks and N - 1 idle B-ticks out of 2 (M + N - 1)
    return (stages - 1) / (microbatches + stages - 1)
    # <<<


def peak_in_flight(timeline: list[list[Op | None]]) -> list[int]:
    """Per stage, the most micro-batches forwarded but not yet backwarded at once."""
    n = len(timeline[0]) if timeline else 0
    # >>> TODO: walk the ticks, counting +1 per F and -1 per B on each stage
    live, peak = [0] * n, [0] * n
    for row in timeline:
        for s, op in enumerate(row):
            if op is not None:
                live[s] += 1 if op.kind == "F" else -1
                peak[s] = max(peak[s], live[s])
    return peak
    # <<<
