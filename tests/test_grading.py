import pytest

from dojo.grading import THRASH_RUNS, grade

TARGET = 20  # minutes


@pytest.mark.parametrize("minutes, expected", [
    (5, 5), (20, 5), (20.1, 4), (30, 4), (30.1, 3), (50, 3), (50.1, 2), (300, 2),
])
def test_time_against_target(minutes, expected):
    assert grade(minutes * 60, TARGET) == expected


def test_each_hint_costs_one():
    assert [grade(600, TARGET, hints=h) for h in range(6)] == [5, 4, 3, 2, 1, 1]


def test_thrashing_costs_one():
    assert grade(600, TARGET, failed_runs=THRASH_RUNS) == 5
    assert grade(600, TARGET, failed_runs=THRASH_RUNS + 1) == 4


def test_a_peek_caps_below_a_correct_recall():
    assert grade(60, TARGET, peeked=True) == 2
    assert grade(60, TARGET, hints=3, peeked=True) == 2
    assert grade(60, TARGET, hints=4, peeked=True) == 1


def test_target_must_be_positive():
    with pytest.raises(ValueError):
        grade(60, 0)
