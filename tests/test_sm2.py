"""Golden vectors for SM-2 as pinned in dojo/sm2.py."""

import datetime as dt

import pytest

from dojo.sm2 import Schedule, ease_change, review

DAY0 = dt.date(2026, 11, 1)


def run(grades):
    schedule, day, trail = Schedule(), DAY0, []
    for q in grades:
        schedule = review(schedule, q, day)
        trail.append(schedule)
        day = schedule.due
    return trail


def test_five_perfect_reviews_give_1_6_17_50_150_days():
    # Binary floats give 151 for the last one (50 * 3.0000000000000004, rounded up).
    assert [s.interval for s in run([5] * 5)] == [1, 6, 17, 50, 150]
    assert [s.ease for s in run([5] * 5)] == [260, 270, 280, 290, 300]


def test_five_good_reviews_give_1_6_15_38_95_days():
    assert [s.interval for s in run([4] * 5)] == [1, 6, 15, 38, 95]
    assert {s.ease for s in run([4] * 5)} == {250}


def test_due_date_is_review_day_plus_interval():
    trail = run([5, 5, 5])
    assert [s.due for s in trail] == [dt.date(2026, 11, 2), dt.date(2026, 11, 8),
                                      dt.date(2026, 11, 25)]


@pytest.mark.parametrize("q, change", [(5, 10), (4, 0), (3, -14), (2, -32), (1, -54), (0, -80)])
def test_ease_change_matches_the_paper(q, change):
    assert ease_change(q) == change


def test_grade_3_lowers_ease_and_floors_at_1_3():
    trail = run([3] * 12)
    assert trail[0].ease == 236
    assert trail[-1].ease == 130
    assert min(s.ease for s in trail) == 130


def test_failed_review_restarts_intervals_but_keeps_ease():
    before = run([5, 5, 5])[-1]
    after = review(before, 2, dt.date(2026, 12, 1))
    assert (after.ease, after.interval, after.repetitions) == (before.ease, 1, 0)
    assert after.due == dt.date(2026, 12, 2)
    again = review(after, 5, dt.date(2026, 12, 2))
    assert (again.interval, again.repetitions) == (1, 1)


def test_mixed_history():
    # 5, 4, 3, 5: ease 260, 260, 246, 256; intervals 1, 6, ceil(6*2.46)=15, ceil(15*2.56)=39
    trail = run([5, 4, 3, 5])
    assert [s.ease for s in trail] == [260, 260, 246, 256]
    assert [s.interval for s in trail] == [1, 6, 15, 39]


@pytest.mark.parametrize("q", [-1, 6, 2.5])
def test_quality_out_of_range_is_rejected(q):
    with pytest.raises(ValueError):
        review(Schedule(), q, DAY0)


def test_ease_factor_round_trips_through_progress_floats():
    s = Schedule.from_ease_factor(2.6, 6, 2, None)
    assert s.ease == 260 and s.ease_factor == 2.6
