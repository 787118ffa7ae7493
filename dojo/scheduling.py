"""Which spaced-repetition scheduler plans the next redo: SM-2 (default) or FSRS.

The choice lives in progress.toml, as a top-level key beside `schema`:

    schema = 1
    scheduler = "fsrs"     # or "sm2" (the default when the key is absent)

Both take the same measured grade (grading.py, 0..5) and write the same keys (`interval`,
`due`; SM-2 also `ease` and `repetitions`), so `dojo list`, `dojo due` and `--redo-due` read
either one the same way. FSRS (the py-fsrs package, an optional extra: `pip install -e
'.[fsrs]'`) keeps its memory state in two extra keys of the kata's table, `fsrs_stability`
and `fsrs_difficulty`, which it writes for information only: the FSRS state is always
replayed from the kata's whole pass history, so a hand-edited record cannot drift from it.

Grades map to FSRS ratings as 0-1 Again, 2-3 Hard, 4 Good, 5 Easy. Katas are practised at
the granularity of days, so the learning steps (minutes apart) are switched off and fuzzing
too: the same history always gives the same schedule.

    next_schedule(table, grade, today, scheduler)  the schedule after a new pass today
    replay(passes, scheduler)                      the schedule a whole pass history gives
    apply(table, schedule)                         write a schedule into a kata's table
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from dojo import sm2
from dojo.progress import ProgressError

SCHEDULERS = ("sm2", "fsrs")
DEFAULT = "sm2"


def scheduler_of(doc) -> str:
    """The scheduler a progress document asks for ("sm2" when it names none)."""
    name = doc.get("scheduler", DEFAULT)
    if name not in SCHEDULERS:
        raise ProgressError(
            f"progress.toml: scheduler = {name!r} is not one of "
            f"{', '.join(repr(s) for s in SCHEDULERS)}; write e.g. `scheduler = \"fsrs\"` "
            "beside `schema`, or delete the key for SM-2")
    return str(name)


def pass_day(record) -> dt.date:
    """The day a pass counts for: the date of its `at`, in the offset it was written with."""
    return record["at"].date()


# ---------------------------------------------------------------------------- SM-2


def _sm2_replay(reviews: Iterable[tuple[int, dt.date]]) -> sm2.Schedule:
    schedule = sm2.Schedule()
    for grade, day in reviews:
        schedule = sm2.review(schedule, grade, day)
    return schedule


# ---------------------------------------------------------------------------- FSRS


def fsrs_rating(grade: int) -> int:
    """SM-2 quality 0..5 -> FSRS rating 1..4 (Again, Hard, Good, Easy)."""
    if not 0 <= grade <= 5:
        raise ValueError(f"a grade is 0..5, got {grade!r}")
    return 1 if grade <= 1 else 2 if grade <= 3 else 3 if grade == 4 else 4


def _fsrs_module():
    try:
        import fsrs
    except ImportError:
        raise ProgressError(
            'progress.toml asks for scheduler = "fsrs", but the fsrs package is not '
            "installed: run `.venv/bin/pip install -e '.[fsrs]'` (or `pip install fsrs`), "
            "or delete the `scheduler` key to use SM-2") from None
    return fsrs


def _fsrs_replay(reviews: Iterable[tuple[int, dt.date]], ease: int = sm2.INITIAL_EASE):
    """(schedule, stability, difficulty) after a sequence of (grade, day) reviews."""
    fsrs = _fsrs_module()
    scheduler = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    card = fsrs.Card(card_id=1)
    schedule = sm2.Schedule(ease=ease)
    for grade, day in reviews:
        at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        card, _ = scheduler.review_card(card, fsrs.Rating(fsrs_rating(grade)),
                                        review_datetime=at)
        interval = max(1, (card.due.date() - day).days)
        repetitions = schedule.repetitions + 1 if grade >= 3 else 0
        schedule = sm2.Schedule(ease, interval, repetitions, day + dt.timedelta(days=interval))
    return schedule, card.stability, card.difficulty


# ---------------------------------------------------------------------------- the interface


def _history(table) -> list[tuple[int, dt.date]]:
    return [(int(p["grade"]), pass_day(p)) for p in table.get("passes", [])]


def next_schedule(table, grade: int, today: dt.date, scheduler: str = DEFAULT) -> dict:
    """The schedule after a pass graded `grade` today, as the keys to write (see apply).

    SM-2 goes on from the table's own state (which a learner may have edited by hand); FSRS
    replays the pass history and then this review.
    """
    if scheduler == "fsrs":
        ease = round(float(table.get("ease", sm2.INITIAL_EASE / 100)) * 100)
        schedule, stability, difficulty = _fsrs_replay([*_history(table), (grade, today)],
                                                       ease)
        return _keys(schedule, stability, difficulty)
    current = sm2.Schedule.from_ease_factor(
        float(table.get("ease", sm2.INITIAL_EASE / 100)), int(table.get("interval", 0)),
        int(table.get("repetitions", 0)), table.get("due"))
    return _keys(sm2.review(current, grade, today))


def replay(passes, scheduler: str = DEFAULT) -> dict:
    """The schedule a whole pass history gives (oldest first), as the keys to write."""
    reviews = [(int(p["grade"]), pass_day(p)) for p in passes]
    if scheduler == "fsrs":
        return _keys(*_fsrs_replay(reviews))
    return _keys(_sm2_replay(reviews))


def _keys(schedule: sm2.Schedule, stability: float | None = None,
          difficulty: float | None = None) -> dict:
    keys = {"ease": schedule.ease_factor, "interval": schedule.interval,
            "repetitions": schedule.repetitions, "due": schedule.due}
    if stability is not None:
        keys["fsrs_stability"] = round(float(stability), 4)
        keys["fsrs_difficulty"] = round(float(difficulty), 4)
    return keys


def as_schedule(keys: dict) -> sm2.Schedule:
    return sm2.Schedule.from_ease_factor(keys["ease"], keys["interval"], keys["repetitions"],
                                         keys["due"])


def apply(table, keys: dict) -> None:
    """Write a schedule (from next_schedule or replay) into a kata's table."""
    for key, value in keys.items():
        table[key] = value


def override_last_grade(table, grade: int, scheduler: str = DEFAULT) -> tuple[int, dict]:
    """Regrade the kata's last pass and recompute its schedule from the whole history, as it
    would have been with that grade. Returns (the previous grade, the new schedule keys).

    The measured grade is kept in the pass as `measured_grade` (the first time only), so an
    override never hides what the clock said. Raises ValueError when there is no pass.
    """
    if not 0 <= grade <= 5:
        raise ValueError(f"a grade is 0..5, got {grade}")
    passes = table.get("passes") if table is not None else None
    if not passes:
        raise ValueError("no pass to regrade")
    last = passes[-1]
    previous = int(last["grade"])
    if "measured_grade" not in last:
        last["measured_grade"] = previous
    last["grade"] = grade
    keys = replay(passes, scheduler)
    apply(table, keys)
    return previous, keys
