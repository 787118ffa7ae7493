"""From what an attempt measured to an SM-2 quality (0..5). One function, on purpose."""

from __future__ import annotations

# A pass that needed more failing runs than this was found by trial and error, not recalled.
THRASH_RUNS = 8


def grade(seconds: float, target_minutes: float, failed_runs: int = 0, hints: int = 0,
          peeked: bool = False) -> int:
    """The SM-2 quality of a passed attempt.

    r = elapsed / target time:
        r <= 1   -> 5   (interview-ready)
        r <= 1.5 -> 4
        r <= 2.5 -> 3
        slower   -> 2   (it passed, but recall failed: SM-2 restarts the intervals)
    then minus 1 per hint taken, minus 1 if more than THRASH_RUNS runs failed first;
    a peek at the solution caps the grade at 2; a pass never grades below 1.
    """
    if target_minutes <= 0:
        raise ValueError("target_minutes must be positive")
    r = seconds / (60 * target_minutes)
    if r <= 1:
        quality = 5
    elif r <= 1.5:
        quality = 4
    elif r <= 2.5:
        quality = 3
    else:
        quality = 2
    quality -= hints
    if failed_runs > THRASH_RUNS:
        quality -= 1
    if peeked:
        quality = min(quality, 2)
    return max(1, min(5, quality))
