"""Golden tests of dojo.scheduling: the scheduler choice, replay and the grade override."""

from __future__ import annotations

import datetime as dt

import pytest

from dojo import attempts, scheduling
from dojo.catalog import Kata
from dojo.progress import ProgressError


def passed(day: str, grade: int) -> dict:
    return {"at": dt.datetime.fromisoformat(f"{day}T10:00:00+00:00"), "seconds": 600,
            "failed_runs": 0, "hints": 0, "peeked": False, "grade": grade, "device": "cpu"}


# FSRS (py-fsrs defaults, no learning steps, no fuzz) for Easy, Good, Hard on these days.
GOLDEN_FSRS = (19, dt.date(2026, 12, 10))
HISTORY = [passed("2026-11-18", 5), passed("2026-11-19", 4), passed("2026-11-21", 2)]


def test_the_scheduler_is_sm2_unless_the_record_says_fsrs():
    assert scheduling.scheduler_of({}) == "sm2"
    assert scheduling.scheduler_of({"scheduler": "fsrs"}) == "fsrs"
    with pytest.raises(ProgressError, match="scheduler = 'anki' is not one of 'sm2', 'fsrs'"):
        scheduling.scheduler_of({"scheduler": "anki"})


def test_sm2_replay_golden():
    # 5 on the 18th: ease 2.6, 1 day; 4 on the 19th: ease 2.6, 6 days; 2 on the 21st: reset.
    assert scheduling.replay(HISTORY) == {
        "ease": 2.6, "interval": 1, "repetitions": 0, "due": dt.date(2026, 11, 22)}


def test_override_regrades_the_last_pass_and_replays_the_history():
    table = {"ease": 2.6, "interval": 1, "repetitions": 0, "due": dt.date(2026, 11, 22),
             "passes": [dict(p) for p in HISTORY]}
    previous, keys = scheduling.override_last_grade(table, 5)
    assert previous == 2
    # 5 on the 21st instead: ease 2.7, interval ceil(6 x 2.7) = 17 days.
    assert keys == {"ease": 2.7, "interval": 17, "repetitions": 3,
                    "due": dt.date(2026, 12, 8)}
    assert table["due"] == dt.date(2026, 12, 8) and table["interval"] == 17
    assert table["passes"][-1]["grade"] == 5
    assert table["passes"][-1]["measured_grade"] == 2
    # A second override keeps the grade the clock measured.
    scheduling.override_last_grade(table, 3)
    assert table["passes"][-1]["measured_grade"] == 2
    # 3: ease 2.6 - 0.14 = 2.46, interval ceil(6 x 2.46) = 15 days.
    assert (table["ease"], table["interval"], table["due"]) == (2.46, 15, dt.date(2026, 12, 6))


def test_override_without_a_pass_is_refused():
    with pytest.raises(ValueError, match="no pass"):
        scheduling.override_last_grade({"ease": 2.5}, 4)
    with pytest.raises(ValueError, match="0..5"):
        scheduling.override_last_grade({"passes": list(HISTORY)}, 6)


@pytest.mark.parametrize(("grade", "rating"), [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (5, 4)])
def test_grades_map_to_fsrs_ratings(grade, rating):
    assert scheduling.fsrs_rating(grade) == rating


def test_fsrs_replay_golden():
    pytest.importorskip("fsrs")
    keys = scheduling.replay(HISTORY, "fsrs")
    assert (keys["interval"], keys["due"]) == GOLDEN_FSRS


def test_close_attempt_with_fsrs_schedules_from_the_whole_history(tmp_path):
    pytest.importorskip("fsrs")
    kata = Kata("toy", "Toy", "classical-ml", ("numpy",), 1, 20, ("cpu",), ("hint",), tmp_path)
    table = {"ease": 2.6, "interval": 6, "repetitions": 2, "due": dt.date(2026, 11, 25),
             "passes": [dict(p) for p in HISTORY[:2]],
             "attempt_started": dt.datetime.fromisoformat("2026-11-21T09:50:00+00:00")}
    result = attempts.close_attempt(table, kata, dt.datetime.fromisoformat(
        "2026-11-21T10:00:00+00:00"), dt.date(2026, 11, 21), "cpu", scheduler="fsrs")
    assert result.grade == 5
    assert table["due"] == result.schedule.due
    assert table["due"] == scheduling.replay(
        [*HISTORY[:2], passed("2026-11-21", 5)], "fsrs")["due"]
    assert table["fsrs_stability"] > 0 and "fsrs_difficulty" in table
