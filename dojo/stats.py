"""Statistics over the record, pure: progress data and the catalog's targets in, numbers out.

No I/O, no clock: every function takes `today` when it needs one. `katas` is the `katas`
table of progress.toml as plain dicts (a tomlkit table works too); `targets` maps a slug to
its target minutes and `topics` a slug to its topic, for the katas the catalog still has.

Words, as the learner reads them:
- a *pass* is one closed attempt (a row of `[[katas.<slug>.passes]]`);
- a *review* is a pass that was not the kata's first: a re-implementation from memory, the
  thing spaced repetition schedules. The first pass is learning, not recall;
- *retention* is the share of reviews graded 3 or more (SM-2's "correct recall");
- the *streak* is the number of consecutive days with at least one pass, ending today, or
  yesterday when nothing has been passed yet today (a streak is not lost before the day ends);
- *time against target* is seconds / (60 x target minutes): 1.0 is on target, 0.8 faster.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

RECALLED = 3  # SM-2: a grade of 3 or more is a correct recall


@dataclass(frozen=True)
class PassRow:
    slug: str
    day: dt.date
    seconds: float
    grade: int
    review: bool  # not the kata's first pass


def pass_rows(katas) -> list[PassRow]:
    """Every pass of every kata, oldest first (ties by slug)."""
    rows = []
    for slug, table in katas.items():
        for n, record in enumerate(table.get("passes", [])):
            rows.append(PassRow(slug, record["at"].date(), float(record["seconds"]),
                                int(record["grade"]), n > 0))
    return sorted(rows, key=lambda r: (r.day, r.slug))


def katas_passed(katas) -> int:
    """Katas with at least one pass."""
    return sum(1 for table in katas.values() if table.get("passes"))


def reviews_done(katas) -> int:
    return sum(max(0, len(table.get("passes", [])) - 1) for table in katas.values())


def streak(days, today: dt.date) -> int:
    """Consecutive days with a pass, ending today (or yesterday, if today has none yet)."""
    done = set(days)
    day = today if today in done else today - dt.timedelta(days=1)
    n = 0
    while day in done:
        n += 1
        day -= dt.timedelta(days=1)
    return n


def retention(grades) -> float | None:
    """The share of grades >= 3, or None with no grade at all."""
    grades = list(grades)
    if not grades:
        return None
    return sum(1 for g in grades if g >= RECALLED) / len(grades)


def review_grades(katas) -> list[int]:
    return [r.grade for r in pass_rows(katas) if r.review]


def time_ratio(seconds: float, target_minutes: float) -> float:
    return seconds / (60 * target_minutes)


def mean_ratio_by_topic(katas, targets: dict[str, int], topics: dict[str, str]
                        ) -> dict[str, tuple[float, int]]:
    """Per topic: (mean time against target over all its passes, number of passes).
    Katas the catalog no longer has are left out."""
    ratios: dict[str, list[float]] = defaultdict(list)
    for row in pass_rows(katas):
        if row.slug in targets and row.slug in topics:
            ratios[topics[row.slug]].append(time_ratio(row.seconds, targets[row.slug]))
    return {topic: (sum(r) / len(r), len(r)) for topic, r in sorted(ratios.items())}


def passes_per_day(katas) -> Counter:
    """day -> number of passes that day (the review calendar)."""
    return Counter(r.day for r in pass_rows(katas))


def forecast(katas, today: dt.date, days: int = 14) -> list[tuple[dt.date, list[str]]]:
    """The katas due on each day from today to today + days - 1; anything overdue counts
    for today."""
    by_day: dict[dt.date, list[str]] = {today + dt.timedelta(days=i): [] for i in range(days)}
    for slug, table in sorted(katas.items()):
        due = table.get("due")
        if due is None:
            continue
        day = max(due, today)
        if day in by_day:
            by_day[day].append(slug)
    return list(by_day.items())


def learning_curves(katas, targets: dict[str, int]) -> dict[str, list[tuple[dt.date, float]]]:
    """Per kata with passes: (day, time against target) of each pass, oldest first."""
    curves: dict[str, list[tuple[dt.date, float]]] = defaultdict(list)
    for row in pass_rows(katas):
        if row.slug in targets:
            curves[row.slug].append((row.day, time_ratio(row.seconds, targets[row.slug])))
    return dict(curves)


@dataclass(frozen=True)
class Summary:
    katas_passed: int
    passes: int
    reviews: int
    streak: int
    retention: float | None
    by_topic: dict[str, tuple[float, int]]


def summary(katas, targets: dict[str, int], topics: dict[str, str], today: dt.date) -> Summary:
    rows = pass_rows(katas)
    return Summary(
        katas_passed=katas_passed(katas),
        passes=len(rows),
        reviews=reviews_done(katas),
        streak=streak((r.day for r in rows), today),
        retention=retention(r.grade for r in rows if r.review),
        by_topic=mean_ratio_by_topic(katas, targets, topics),
    )
