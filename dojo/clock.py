"""Now and today, overridable with DOJO_NOW (ISO datetime) and DOJO_TODAY (YYYY-MM-DD), so
that timings and schedules can be tested and tried without waiting."""

from __future__ import annotations

import datetime as dt
import os


class ClockError(ValueError):
    pass


def now() -> dt.datetime:
    """The current time, timezone-aware (a naive DOJO_NOW is read as local time)."""
    raw = os.environ.get("DOJO_NOW")
    if not raw:
        return dt.datetime.now().astimezone().replace(microsecond=0)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ClockError(
            f"DOJO_NOW={raw!r} is not an ISO datetime; use e.g. 2026-11-21T10:00:00"
        ) from None
    return value if value.tzinfo else value.astimezone()


def today() -> dt.date:
    """DOJO_TODAY, else the date of now()."""
    raw = os.environ.get("DOJO_TODAY")
    if not raw:
        return now().date()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ClockError(f"DOJO_TODAY={raw!r} is not a date; use e.g. 2026-11-21") from None
