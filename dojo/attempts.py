"""Open, count, close and reset attempts.

The record functions are pure: they change one kata's table of progress.toml (a tomlkit table
or a plain dict) and return what happened. `archive` and `reset` are the only ones that touch
files, and they archive before they overwrite anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from dojo import grading, scheduling, sm2
from dojo.catalog import Kata
from dojo.starters import pristine


@dataclass(frozen=True)
class Pass:
    seconds: int
    grade: int
    schedule: sm2.Schedule


def kata_table(doc, slug: str):
    """The table of one kata in a progress document, created when missing."""
    katas = doc.setdefault("katas", tomlkit.table(is_super_table=True))
    if slug not in katas:
        # The schedule first, so that a new table reads in the order the README shows.
        table = tomlkit.table()
        table["ease"] = sm2.INITIAL_EASE / 100
        table["interval"] = 0
        table["repetitions"] = 0
        katas[slug] = table
    return katas[slug]


def schedule_of(table) -> sm2.Schedule:
    return sm2.Schedule.from_ease_factor(
        float(table.get("ease", sm2.INITIAL_EASE / 100)),
        int(table.get("interval", 0)),
        int(table.get("repetitions", 0)),
        table.get("due"),
    )


def is_open(table) -> bool:
    return table is not None and "attempt_started" in table


def status(table, today: dt.date) -> str:
    """new | in progress | due | scheduled."""
    if table is None or (not table.get("passes") and not is_open(table)):
        return "new"
    if is_open(table):
        return "in progress"
    due = table.get("due")
    return "due" if due is not None and due <= today else "scheduled"


def open_attempt(table, now: dt.datetime) -> None:
    table["attempt_started"] = now
    table["failed_runs"] = 0
    table["hints"] = 0
    table["peeked"] = False


def record_failed_run(table) -> None:
    table["failed_runs"] = int(table.get("failed_runs", 0)) + 1


def elapsed_seconds(table, now: dt.datetime) -> int:
    started = table["attempt_started"]
    if started.tzinfo is None:  # a hand-written local time
        started = started.astimezone()
    return max(0, round((now - started).total_seconds()))


def close_attempt(table, kata: Kata, now: dt.datetime, today: dt.date, device: str,
                  scheduler: str = scheduling.DEFAULT) -> Pass:
    """Close the open attempt with a pass: grade it, review the schedule (SM-2, or FSRS when
    progress.toml says `scheduler = "fsrs"`: pass scheduling.scheduler_of(doc)), log the pass.
    """
    seconds = elapsed_seconds(table, now)
    failed_runs = int(table.get("failed_runs", 0))
    hints = int(table.get("hints", 0))
    peeked = bool(table.get("peeked", False))
    grade = grading.grade(seconds, kata.target_minutes, failed_runs, hints, peeked)
    keys = scheduling.next_schedule(table, grade, today, scheduler)
    scheduling.apply(table, keys)
    schedule = scheduling.as_schedule(keys)
    del table["attempt_started"]
    table["failed_runs"] = 0
    table["hints"] = 0
    table["peeked"] = False
    record = {
        "at": now,
        "seconds": seconds,
        "failed_runs": failed_runs,
        "hints": hints,
        "peeked": peeked,
        "grade": grade,
        "device": device,
    }
    if "passes" not in table:
        table.add(tomlkit.nl())  # a blank line between the kata's keys and its passes
        table["passes"] = tomlkit.aot()
    table["passes"].append(record)
    return Pass(seconds, grade, schedule)


def attempts_dir(progress_path: Path) -> Path:
    """Archived attempts live beside the record they belong to."""
    return Path(progress_path).parent / "attempts"


def archive(kata: Kata, progress_path: Path, now: dt.datetime) -> Path | None:
    """Copy the learner's starter to attempts/<slug>/<timestamp>.py; None when there is
    nothing worth keeping (no file, or an untouched pristine starter)."""
    try:
        current = kata.starter_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if current == pristine_text(kata):
        return None
    folder = attempts_dir(progress_path) / kata.slug
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y-%m-%dT%H-%M-%S")
    target = folder / f"{stamp}.py"
    n = 1
    while target.exists():  # two resets in one second must not overwrite each other
        n += 1
        target = folder / f"{stamp}-{n}.py"
    target.write_text(current, encoding="utf-8")
    return target


def pristine_text(kata: Kata) -> str:
    return pristine(kata.solution_path.read_text(encoding="utf-8"), kata.slug)


def is_pristine(kata: Kata) -> bool:
    try:
        return kata.starter_path.read_text(encoding="utf-8") == pristine_text(kata)
    except FileNotFoundError:
        return False


def write_pristine(kata: Kata) -> None:
    """Overwrite the starter with its pristine version (callers archive first)."""
    tmp = kata.starter_path.with_suffix(".py.tmp")
    tmp.write_text(pristine_text(kata), encoding="utf-8")
    tmp.replace(kata.starter_path)


def reset(kata: Kata, store, now: dt.datetime) -> Path | None:
    """Archive the learner's file, open a fresh attempt, and write the pristine starter.

    The order matters: the archive exists before the record changes, and the record changes
    before the file is overwritten, so an interruption at any point loses nothing.
    """
    with store.transaction() as doc:  # a malformed record stops us before anything moves
        archived = archive(kata, store.path, now)
        open_attempt(kata_table(doc, kata.slug), now)
    write_pristine(kata)
    return archived
