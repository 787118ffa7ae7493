"""Golden tests of dojo.stats: numbers a learner reads in `dojo stats`, from a fixed record."""

from __future__ import annotations

import datetime as dt

import pytest

from dojo import stats


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


def passed(day: str, seconds: int, grade: int) -> dict:
    return {"at": at(day), "seconds": seconds, "failed_runs": 0, "hints": 0, "peeked": False,
            "grade": grade, "device": "cpu"}


KATAS = {
    "toy": {"due": dt.date(2026, 11, 22), "passes": [
        passed("2026-11-18", 1200, 5), passed("2026-11-19", 1500, 4),
        passed("2026-11-21", 3600, 2)]},
    "other": {"due": dt.date(2026, 11, 26), "passes": [passed("2026-11-20", 600, 5)]},
    "fresh": {"attempt_started": at("2026-11-21")},
}
TARGETS = {"toy": 20, "other": 10, "fresh": 30}
TOPICS = {"toy": "classical-ml", "other": "statistics", "fresh": "statistics"}
TODAY = dt.date(2026, 11, 21)


def test_summary_golden():
    assert stats.summary(KATAS, TARGETS, TOPICS, TODAY) == stats.Summary(
        katas_passed=2, passes=4, reviews=2, streak=4, retention=0.5,
        by_topic={"classical-ml": (1.75, 3), "statistics": (1.0, 1)})


@pytest.mark.parametrize(("today", "expected"), [
    ("2026-11-21", 4),   # a pass today: 18, 19, 20, 21
    ("2026-11-22", 4),   # nothing yet today: the streak still ends yesterday
    ("2026-11-23", 0),   # a day missed
    ("2026-11-19", 2),
])
def test_streak_ends_today_or_yesterday(today, expected):
    days = [dt.date(2026, 11, d) for d in (18, 19, 20, 21, 21)]
    assert stats.streak(days, dt.date.fromisoformat(today)) == expected


def test_streak_with_a_gap_counts_only_the_last_run():
    days = [dt.date(2026, 11, d) for d in (10, 11, 12, 15, 16)]
    assert stats.streak(days, dt.date(2026, 11, 16)) == 2
    assert stats.streak([], TODAY) == 0


def test_retention_is_the_share_of_grades_of_3_or_more():
    assert stats.retention([5, 4, 3, 2]) == 0.75
    assert stats.retention([2, 1]) == 0.0
    assert stats.retention([]) is None
    # Only reviews count: the first pass of a kata is learning, not recall.
    assert stats.review_grades(KATAS) == [4, 2]


def test_katas_passed_and_reviews_done():
    assert stats.katas_passed(KATAS) == 2
    assert stats.reviews_done(KATAS) == 2
    assert stats.katas_passed({}) == 0


def test_mean_time_against_target_leaves_out_katas_the_catalog_lost():
    katas = {**KATAS, "gone": {"passes": [passed("2026-11-21", 60, 5)]}}
    assert stats.mean_ratio_by_topic(katas, TARGETS, TOPICS) == {
        "classical-ml": (1.75, 3), "statistics": (1.0, 1)}


def test_forecast_counts_overdue_katas_today():
    days = stats.forecast(KATAS, dt.date(2026, 11, 23), 4)
    assert days == [(dt.date(2026, 11, 23), ["toy"]), (dt.date(2026, 11, 24), []),
                    (dt.date(2026, 11, 25), []), (dt.date(2026, 11, 26), ["other"])]


def test_learning_curves_and_calendar():
    assert stats.learning_curves(KATAS, TARGETS) == {
        "toy": [(dt.date(2026, 11, 18), 1.0), (dt.date(2026, 11, 19), 1.25),
                (dt.date(2026, 11, 21), 3.0)],
        "other": [(dt.date(2026, 11, 20), 1.0)]}
    assert stats.passes_per_day(KATAS) == {dt.date(2026, 11, d): 1 for d in (18, 19, 20, 21)}
