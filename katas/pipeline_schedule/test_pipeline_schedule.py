"""Tests for the pipeline_schedule kata.

Oracles: timelines worked out by hand for small pipelines (written below as text, one row per
tick), and an independent checker of any timeline: every op of every stage runs exactly once,
in the stage's order, one tick after the later of its stage's previous op and its dependency
(never in the same tick). The bubble fraction is measured on the timeline itself.
"""

import pytest

GRID = [(1, 1), (1, 4), (2, 1), (2, 3), (3, 2), (3, 4), (4, 4), (4, 8), (5, 3)]


def parse(rows):
    """'F0 .. B1' -> [Op F0, None, Op B1] per tick ('..' is an idle stage)."""
    return [[None if cell == ".." else (cell[0], int(cell[1:])) for cell in row.split()]
            for row in rows]


def plain(timeline):
    """The learner's timeline as (kind, mb) tuples and None, whatever Op type is used."""
    return [[None if op is None else (op[0], int(op[1])) for op in row] for row in timeline]


def show(timeline):
    return "\n".join(" ".join(".." if op is None else f"{op[0]}{op[1]}" for op in row)
                     for row in plain(timeline))


def dependency(stage, op, n):
    kind, mb = op
    if kind == "F":
        return (stage - 1, op) if stage > 0 else None
    return (stage + 1, op) if stage < n - 1 else (stage, ("F", mb))


def check_greedy_timeline(timeline, orders, n):
    """Brute-force checker: each stage runs its order, each op at the first tick after both
    its stage's previous op and its dependency."""
    timeline = plain(timeline)
    orders = [[(op[0], int(op[1])) for op in ops] for ops in orders]
    assert all(len(row) == n for row in timeline), "every tick must have one entry per stage"
    ran = {}
    for tick, row in enumerate(timeline):
        for s, op in enumerate(row):
            if op is not None:
                assert (s, op) not in ran, f"stage {s} runs {op} twice"
                ran[(s, op)] = tick
    for s, ops in enumerate(orders):
        got = [op for row in timeline for op in [row[s]] if op is not None]
        assert got == ops, f"stage {s} runs {got}, but its order is {ops}"
        prev = -1
        for op in ops:
            dep = dependency(s, op, n)
            earliest = max(prev, ran[dep] if dep else -1) + 1
            assert ran[(s, op)] == earliest, (
                f"stage {s} runs {op} at tick {ran[(s, op)]}, but it can run at tick "
                f"{earliest} (one tick after its dependency {dep} and its previous op)"
                + (": an op cannot run in the same tick as its dependency"
                   if ran[(s, op)] < earliest else "")
            )
            prev = ran[(s, op)]
    assert timeline and any(x is not None for x in timeline[-1]), \
        "the timeline must end with the tick in which the last op runs"


GPIPE_3x2 = [
    "F0 .. ..",
    "F1 F0 ..",
    ".. F1 F0",
    ".. .. F1",
    ".. .. B0",
    ".. B0 B1",
    "B0 B1 ..",
    "B1 .. ..",
]

ONE_F_ONE_B_3x4 = [
    "F0 .. ..",
    "F1 F0 ..",
    "F2 F1 F0",
    ".. .. B0",
    ".. B0 F1",
    "B0 F2 B1",
    "F3 B1 F2",
    "B1 F3 B2",
    ".. B2 F3",
    "B2 .. B3",
    ".. B3 ..",
    "B3 .. ..",
]


def test_gpipe_timeline_of_3_stages_and_2_microbatches(kata):
    got = kata.gpipe_schedule(3, 2)
    assert plain(got) == parse(GPIPE_3x2), (
        "GPipe timeline for 3 stages, 2 micro-batches:\n" + show(got)
        + "\nexpected:\n" + "\n".join(GPIPE_3x2)
    )


def test_one_f_one_b_timeline_of_3_stages_and_4_microbatches(kata):
    got = kata.one_f_one_b_schedule(3, 4)
    assert plain(got) == parse(ONE_F_ONE_B_3x4), (
        "1F1B timeline for 3 stages, 4 micro-batches:\n" + show(got)
        + "\nexpected:\n" + "\n".join(ONE_F_ONE_B_3x4)
    )


def test_gpipe_order_runs_every_forward_before_any_backward(kata):
    orders = kata.gpipe_order(3, 4)
    expected = [("F", m) for m in range(4)] + [("B", m) for m in range(4)]
    assert len(orders) == 3, f"one order per stage: got {len(orders)}"
    for s, ops in enumerate(orders):
        assert [(op[0], int(op[1])) for op in ops] == expected, f"GPipe order of stage {s}"


def test_one_f_one_b_order_warms_up_with_n_minus_1_minus_s_forwards(kata):
    orders = kata.one_f_one_b_order(4, 6)
    got = [[f"{op[0]}{op[1]}" for op in ops] for ops in orders]
    assert got[3] == ["F0", "B0", "F1", "B1", "F2", "B2", "F3", "B3", "F4", "B4", "F5", "B5"], (
        f"the last stage has no warm-up and alternates F/B: {got[3]}"
    )
    assert got[0] == ["F0", "F1", "F2", "F3", "B0", "F4", "B1", "F5", "B2", "B3", "B4", "B5"], (
        f"stage 0 of 4 warms up with 3 forwards, alternates, then drains: {got[0]}"
    )
    assert got[1][:3] == ["F0", "F1", "F2"] and got[1][3] == "B0", (
        f"stage 1 of 4 warms up with exactly 2 forwards: {got[1]}"
    )


def test_one_f_one_b_warm_up_is_capped_by_the_number_of_microbatches(kata):
    orders = kata.one_f_one_b_order(5, 2)
    got = [f"{op[0]}{op[1]}" for op in orders[0]]
    assert got == ["F0", "F1", "B0", "B1"], (
        f"stage 0 of 5 with only 2 micro-batches: {got}; warm-up is min(N - 1 - s, M)"
    )


@pytest.mark.parametrize(("n", "m"), GRID)
@pytest.mark.parametrize("schedule", ["gpipe", "one_f_one_b"])
def test_every_op_runs_once_as_soon_as_its_dependency_allows(kata, schedule, n, m):
    orders = getattr(kata, f"{schedule}_order")(n, m)
    timeline = getattr(kata, f"{schedule}_schedule")(n, m)
    check_greedy_timeline(timeline, orders, n)


@pytest.mark.parametrize(("n", "m"), GRID)
def test_both_schedules_take_2_times_m_plus_n_minus_1_ticks(kata, n, m):
    for name in ("gpipe", "one_f_one_b"):
        ticks = len(getattr(kata, f"{name}_schedule")(n, m))
        assert ticks == 2 * (m + n - 1), (
            f"{name} with {n} stages and {m} micro-batches takes {ticks} ticks; with unit F "
            f"and B both schedules take 2 (M + N - 1) = {2 * (m + n - 1)}"
        )


@pytest.mark.parametrize(("n", "m"), GRID + [(8, 32)])
def test_bubble_fraction_is_the_idle_share_of_each_stage(kata, n, m):
    got = kata.bubble_fraction(n, m)
    timeline = plain(kata.gpipe_schedule(n, m)) if n * m <= 64 else None
    expected = (n - 1) / (m + n - 1)
    if timeline is not None:
        idle = sum(row[0] is None for row in timeline) / len(timeline)
        assert abs(idle - expected) < 1e-12  # the formula, measured on the timeline
    assert got == pytest.approx(expected, rel=1e-12), (
        f"bubble_fraction({n}, {m}) = {got}, expected (N-1)/(M+N-1) = {expected}"
        + (f"; {got} is (N-1)/M, the bubble over the ideal time, not over the total"
           if m and got == pytest.approx((n - 1) / m) else "")
    )


@pytest.mark.parametrize(("n", "m"), GRID)
def test_gpipe_keeps_all_microbatches_in_flight_and_1f1b_at_most_n_minus_s(kata, n, m):
    g = kata.peak_in_flight(kata.gpipe_schedule(n, m))
    o = kata.peak_in_flight(kata.one_f_one_b_schedule(n, m))
    assert list(g) == [m] * n, f"GPipe peak in-flight micro-batches per stage {g}, expected {m}"
    assert list(o) == [min(n - s, m) for s in range(n)], (
        f"1F1B peak in-flight per stage {o}, expected min(N - s, M) = "
        f"{[min(n - s, m) for s in range(n)]}"
    )


def test_peak_in_flight_counts_live_microbatches_on_a_hand_timeline(kata):
    op = type(kata.gpipe_order(1, 1)[0][0])
    F, B = (lambda m: op("F", m)), (lambda m: op("B", m))  # noqa: E731
    timeline = [[F(0), None, None], [F(1), F(0), None], [B(0), B(0), None],
                [F(2), F(1), None], [None, F(2), None]]
    got = list(kata.peak_in_flight(timeline))
    assert got == [2, 2, 0], f"peak in flight {got}, expected [2, 2, 0] (stage 2 never runs)"


def test_simulate_raises_on_orders_that_deadlock(kata):
    op = type(kata.gpipe_order(1, 1)[0][0])
    orders = [[op("B", 0), op("F", 0)], [op("F", 0), op("B", 0)]]
    with pytest.raises(ValueError):
        kata.simulate(orders)


def test_simulate_follows_a_custom_order(kata):
    op = type(kata.gpipe_order(1, 1)[0][0])
    orders = [[op("F", 1), op("F", 0), op("B", 1), op("B", 0)],
              [op("F", 0), op("F", 1), op("B", 0), op("B", 1)]]
    got = plain(kata.simulate(orders))
    assert got == parse(["F1 ..", "F0 ..", ".. F0", ".. F1", ".. B0", ".. B1", "B1 ..",
                         "B0 .."]), "simulate must wait for dependencies:\n" + show(got)
