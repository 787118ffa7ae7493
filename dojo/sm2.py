"""SM-2 spaced repetition (Wozniak, SuperMemo 2, 1987), pure and exact.

    review(schedule, quality, today) -> schedule

Pinned semantics (see the tests' golden vectors):
- ease starts at 2.5;
- quality q >= 3 (a correct recall): ease' = ease + (0.1 - (5-q)(0.08 + (5-q)0.02)), floored
  at 1.3; repetitions + 1; the interval is 1 day after the first repetition, 6 after the
  second, then ceil(previous interval x new ease);
- q < 3: repetitions = 0 and interval = 1 day; ease is unchanged;
- due = review day + interval.

Deviations from the paper, on purpose:
- The paper's I(n) = I(n-1) x EF leaves rounding open; we round *up*, and we use the ease as
  updated by this very review.
- The paper updates EF on failed reviews too; we leave ease alone below 3 (as the issue pins it),
  so one bad day does not make a kata permanently "hard".
- Ease is kept in hundredths (an int): with binary floats 2.5 + 0.1 + 0.1 + ... drifts, and
  five perfect reviews give 151 days instead of 150.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

INITIAL_EASE = 250  # hundredths
MIN_EASE = 130


@dataclass(frozen=True)
class Schedule:
    """Where a kata stands: ease (hundredths), interval (days), repetitions, next due date."""

    ease: int = INITIAL_EASE
    interval: int = 0
    repetitions: int = 0
    due: dt.date | None = None

    @property
    def ease_factor(self) -> float:
        return self.ease / 100

    @classmethod
    def from_ease_factor(cls, ease: float, interval: int, repetitions: int,
                         due: dt.date | None) -> Schedule:
        return cls(round(ease * 100), interval, repetitions, due)


def ease_change(quality: int) -> int:
    """The change of ease in hundredths: 100 x (0.1 - (5-q)(0.08 + (5-q)0.02))."""
    miss = 5 - quality
    return 10 - miss * (8 + 2 * miss)


def review(schedule: Schedule, quality: int, today: dt.date) -> Schedule:
    """The schedule after a review of the given quality (0..5) on `today`."""
    if not 0 <= quality <= 5 or int(quality) != quality:
        raise ValueError(f"SM-2 quality must be an integer 0..5, got {quality!r}")
    if quality < 3:
        return Schedule(schedule.ease, 1, 0, today + dt.timedelta(days=1))
    ease = max(MIN_EASE, schedule.ease + ease_change(quality))
    repetitions = schedule.repetitions + 1
    if repetitions == 1:
        interval = 1
    elif repetitions == 2:
        interval = 6
    else:
        # ceil(previous x ease / 100) in integers: -(-a // b)
        interval = -(-schedule.interval * ease // 100)
    return Schedule(ease, interval, repetitions, today + dt.timedelta(days=interval))
