"""`dojo plot`: learning curves and a review calendar, as one PNG.

matplotlib is an optional extra (`pip install -e '.[plot]'`) and is imported only here, inside
render(), so no other command pays for it. The numbers come from dojo.stats.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dojo import stats


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(
            "`dojo plot` needs matplotlib, an optional extra: run "
            "`.venv/bin/pip install -e '.[plot]'` (or `pip install matplotlib`), then try "
            "again.") from None
    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def calendar_grid(per_day, today: dt.date, weeks: int):
    """(rows: 7 weekdays Mon..Sun, columns: weeks ending with today's week) of pass counts;
    None for days after today. Pure, for the heatmap."""
    last_monday = today - dt.timedelta(days=today.weekday())
    first = last_monday - dt.timedelta(weeks=weeks - 1)
    grid = [[None] * weeks for _ in range(7)]
    for w in range(weeks):
        for d in range(7):
            day = first + dt.timedelta(weeks=w, days=d)
            grid[d][w] = None if day > today else per_day.get(day, 0)
    return first, grid


def render(katas, targets: dict[str, int], today: dt.date, out: Path) -> Path:
    """Write the PNG and return its path."""
    plt = _pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap

    curves = stats.learning_curves(katas, targets)
    per_day = stats.passes_per_day(katas)
    first_day = min(per_day, default=today)
    weeks = max(13, min(53, (today - first_day).days // 7 + 2))

    fig, (ax, cal) = plt.subplots(
        2, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [3, 1.25]},
        layout="constrained")
    fig.suptitle(f"ML Katas progress, {today}", fontsize=15, fontweight="bold")

    # Learning curves: time over target per attempt, one line per kata.
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
    for i, (slug, points) in enumerate(sorted(curves.items())):
        xs = list(range(1, len(points) + 1))
        ys = [ratio for _, ratio in points]
        colour = colours(i % colours.N)
        ax.plot(xs, ys, marker="o", lw=2, ms=5, color=colour, label=slug)
        ax.annotate(f"{ys[-1]:.1f}x", (xs[-1], ys[-1]), textcoords="offset points",
                    xytext=(6, 0), va="center", fontsize=9, color=colour)
    ax.axhline(1.0, color="green", ls="--", lw=1.5)
    ax.axhspan(0, 1.0, color="green", alpha=0.06)
    ax.text(1.0, 1.0, " target ", transform=ax.get_yaxis_transform(), ha="right",
            va="bottom", color="green", fontsize=10)
    ax.set_yscale("log")
    ratios = [r for points in curves.values() for _, r in points] or [1.0]
    ticks = [t for t in (0.25, 0.35, 0.5, 0.7, 1, 1.5, 2, 3, 4, 6, 8, 12, 16)
             if min(ratios) / 1.3 <= t <= max(ratios) * 1.3]
    ax.set_yticks(ticks, [f"{t:g}x" for t in ticks])
    ax.yaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_ylabel("time / target (log scale; below 1x is on target)")
    ax.set_xlabel("attempt (each pass of the kata, oldest first)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Learning curves", loc="left", fontsize=12)
    ax.grid(True, which="both", alpha=0.3)
    if curves:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False,
                  ncols=2 if len(curves) > 20 else 1)
    else:
        ax.text(0.5, 0.5, "No pass yet: pass a kata and its curve starts here.",
                transform=ax.transAxes, ha="center", va="center", fontsize=12)

    # Review calendar: one square per day, darker = more passes.
    first, grid = calendar_grid(per_day, today, weeks)
    top = max(per_day.values(), default=0)
    colours_cal = ListedColormap(["#ebedf0", "#9be9a8", "#40c463", "#30a14e", "#216e39"])
    bounds = [-0.5, 0.5, 1.5, 2.5, 3.5, max(4.5, top + 0.5)]
    masked = [[-1 if v is None else v for v in row] for row in grid]
    import numpy as np

    data = np.ma.masked_less(np.array(masked, dtype=float), 0)
    image = cal.imshow(data, cmap=colours_cal, norm=BoundaryNorm(bounds, colours_cal.N),
                       aspect="auto")
    cal.set_yticks(range(7), ["Mon", "", "Wed", "", "Fri", "", "Sun"], fontsize=8)
    ticks = [w for w in range(weeks) if (first + dt.timedelta(weeks=w)).day <= 7]
    cal.set_xticks(ticks, [(first + dt.timedelta(weeks=w)).strftime("%b") for w in ticks],
                   fontsize=8)
    cal.set_xticks(np.arange(-0.5, weeks, 1), minor=True)
    cal.set_yticks(np.arange(-0.5, 7, 1), minor=True)
    cal.grid(which="minor", color="white", lw=2)
    cal.tick_params(which="minor", length=0)
    for side in cal.spines.values():
        side.set_visible(False)
    n_days = sum(1 for v in per_day.values() if v)
    streak = stats.streak(per_day, today)
    cal.set_title(f"Review calendar: {sum(per_day.values())} passes on {n_days} days, "
                  f"streak {streak} day{'s' if streak != 1 else ''}", loc="left", fontsize=12)
    bar = fig.colorbar(image, ax=cal, ticks=[0, 1, 2, 3, 4], shrink=0.8, pad=0.01)
    bar.set_label("passes", fontsize=8)
    bar.ax.set_yticklabels(["0", "1", "2", "3", "4+"], fontsize=8)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
