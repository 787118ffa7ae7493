"""The `dojo` command: a thin shell over the catalog, the record and the attempts.

Commands that run no tests never import torch (nor pytest): keep imports here light.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dojo import attempts, clock, scheduling, starters, stats
from dojo import catalog as catalog_mod
from dojo.progress import ProgressError, ProgressStore, default_path
from dojo.starters import FenceError


class UsageError(Exception):
    """Bad input from the command line: exit status 2."""


def _context():
    root = catalog_mod.find_root()
    return root, catalog_mod.load_catalog(root), ProgressStore(default_path(root))


def _read(store: ProgressStore) -> dict:
    """The record for commands that only read it: tomllib is several times faster than the
    round-tripping tomlkit, which only writes need. A file with problems goes through
    store.read(), whose error names the line and the fix."""
    import tomllib

    from dojo import progress

    try:
        text = store.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"schema": progress.SCHEMA, "katas": {}}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = None
    if data is None or progress.validate(data, text):
        store.read()  # raises ProgressError with the file, the line and the fix
    data.setdefault("katas", {})
    return data


def _one_kata(catalog, name: str) -> catalog_mod.Kata:
    slug = name.strip().lower().replace("-", "_")
    if slug not in catalog:
        raise UsageError(catalog_mod.unknown_kata_message(name, catalog))
    return catalog[slug]


def _console(stderr: bool = False):
    """A rich console: colour and styles only on a terminal (and never with NO_COLOR)."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # piped into grep or a file: no truncated cells
    return console


def _table(title: str, columns: list[str], rows: list[list[str]], caption: str | None = None,
           justify: dict[str, str] | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, header_style="bold", caption=caption,
                  show_header=any(columns))
    for column in columns:
        table.add_column(column, no_wrap=(column == columns[0]),
                         justify=(justify or {}).get(column, "left"))
    for row in rows:
        table.add_row(*row)
    _console().print(table)


STATUS_STYLE = {"new": "dim", "in progress": "yellow", "due": "bold red", "scheduled": "green"}


def _minutes(seconds: float | None, target_minutes: int) -> str:
    """A time in minutes, coloured against the target (green on target, red over 2.5x)."""
    if seconds is None:
        return "-"
    r = seconds / (60 * target_minutes)
    style = "green" if r <= 1 else "yellow" if r <= 1.5 else "dark_orange" if r <= 2.5 else "red"
    minutes = int(round(seconds / 60))
    shown = f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
    return f"[{style}]{shown}[/]"


def _due_cell(due, today) -> str:
    if due is None:
        return "-"
    days = (due - today).days
    if days <= 0:
        return f"[bold red]{due}[/]"
    return str(due)


def cmd_list(args) -> int:
    root, catalog, store = _context()
    names = [*args.filter, *args.topic, *args.tag]
    katas = list(catalog.values())
    if args.filter:
        katas = catalog_mod.select(catalog, args.filter)
    if args.topic:
        topics = {_norm(t) for t in args.topic}
        _known(topics, {_norm(k.topic) for k in catalog.values()}, "topic", catalog)
        katas = [k for k in katas if _norm(k.topic) in topics]
    if args.tag:
        tags = {_norm(t) for t in args.tag}
        _known(tags, {_norm(t) for k in catalog.values() for t in k.tags}, "tag", catalog)
        katas = [k for k in katas if tags & {_norm(t) for t in k.tags}]
    doc = _read(store)
    today = clock.today()
    rows = []
    for kata in katas:
        table = doc["katas"].get(kata.slug)
        status = attempts.status(table, today)
        if args.status and status not in args.status:
            continue
        passes = list(table.get("passes", [])) if table else []
        best = min((p["seconds"] for p in passes), default=None)
        last = passes[-1]["seconds"] if passes else None
        due = table.get("due") if table is not None else None
        rows.append([kata.slug, kata.topic, str(kata.difficulty),
                     f"[{STATUS_STYLE[status]}]{status}[/]",
                     _minutes(best, kata.target_minutes), _minutes(last, kata.target_minutes),
                     f"{kata.target_minutes}m", _due_cell(due, today)])
    shown = f"{len(rows)} of {len(catalog)} katas" if names or args.status else \
        f"{len(rows)} katas"
    _table("ML Katas", ["kata", "topic", "diff", "status", "best", "last", "target", "due"],
           rows, caption=f"{shown}; times are green within the target, red past 2.5x",
           justify={"diff": "right", "best": "right", "last": "right", "target": "right"})
    return 0


def _norm(s: str) -> str:
    return s.strip().lower().replace("-", "_")


def _known(wanted: set[str], vocabulary: set[str], what: str, catalog) -> None:
    import difflib

    for name in sorted(wanted - vocabulary):
        close = difflib.get_close_matches(name, sorted(vocabulary), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"No kata has the {what} {name!r}.{hint} `dojo list` shows them all.")


def cmd_due(args) -> int:
    root, catalog, store = _context()
    doc = _read(store)
    today = clock.today()
    katas = {slug: t for slug, t in doc["katas"].items() if slug in catalog}
    days = stats.forecast(katas, today, args.days + 1)
    now = days[0][1]
    if now:
        late = [f"{slug} ({(today - katas[slug]['due']).days}d late)"
                if katas[slug]["due"] < today else slug for slug in now]
        print(f"Due today ({today}): {', '.join(late)}. Run: pytest --redo-due")
    else:
        print(f"Nothing is due today ({today}).")
    upcoming = days[1:]
    total = sum(len(slugs) for _, slugs in upcoming)
    _table(f"Forecast: the next {args.days} days", ["date", "day", "due"],
           [[str(day), day.strftime("%a"), ", ".join(slugs) if slugs else "[dim]-[/]"]
            for day, slugs in upcoming],
           caption=f"{total} redo{'s' if total != 1 else ''} ahead")
    return 0


def cmd_start(args) -> int:
    root, catalog, store = _context()
    kata = _one_kata(catalog, args.kata)
    now = clock.now()
    with store.transaction() as doc:
        table = attempts.kata_table(doc, kata.slug)
        if attempts.is_open(table):
            print(f"An attempt at {kata.slug} is already open since "
                  f"{table['attempt_started']}; `dojo reset {kata.slug}` starts over.")
            return 0
        attempts.open_attempt(table, now)
    _print_started(root, kata)
    return 0


def cmd_reset(args) -> int:
    root, catalog, store = _context()
    if args.all:
        katas = list(catalog.values())
    elif args.kata:
        katas = [_one_kata(catalog, args.kata)]
    else:
        raise UsageError("name a kata to reset, or pass --all")
    now = clock.now()
    for kata in katas:
        archived = attempts.reset(kata, store, now)
        if archived:
            shown = archived.relative_to(Path.cwd()) if archived.is_relative_to(Path.cwd()) \
                else archived
            print(f"{kata.slug}: your previous attempt is archived in {shown}")
        _print_started(root, kata)
    return 0


def _print_started(root: Path, kata: catalog_mod.Kata) -> None:
    print(f"Started {kata.slug} ({kata.title}); target {kata.target_minutes} minutes.\n"
          f"  edit: {kata.starter_path.relative_to(root)}\n"
          f"  run:  nox -s kata -- {kata.slug}   (or: pytest --kata {kata.slug}; "
          f"dojo watch {kata.slug} re-runs on every save)\n"
          f"  stuck: dojo hint {kata.slug}   ({len(kata.hints)} hints, each costs a grade "
          "point)")


def cmd_starters(args) -> int:
    root, catalog, store = _context()
    katas = catalog_mod.select(catalog, args.kata) if args.kata else list(catalog.values())
    stale, broken = [], []
    for kata in katas:
        try:
            expected = attempts.pristine_text(kata)
        except (FenceError, FileNotFoundError) as err:
            print(f"{kata.slug}: {err}", file=sys.stderr)
            broken.append(kata.slug)
            continue
        current = kata.starter_path.read_text(encoding="utf-8") \
            if kata.starter_path.exists() else None
        if current == expected:
            continue
        if args.write:
            archived = attempts.archive(kata, store.path, clock.now())
            attempts.write_pristine(kata)
            kept = f" (the old file is kept in {archived})" if archived else ""
            print(f"{kata.slug}: wrote {kata.starter_path.relative_to(root)}{kept}")
        else:
            stale.append(kata.slug)
    if broken:
        return 1
    if stale:
        print("Out of date with their solutions: " + ", ".join(stale) +
              "\nRegenerate them with `dojo starters --write` (solutions/ is the source).",
              file=sys.stderr)
        return 1
    if not args.write:
        print(f"{len(katas)} starters are in sync with their solutions.")
    return 0


# --------------------------------------------------------------------- hints, solution, diff
def _no_attempt(kata, table, wanted: str) -> int:
    """Explain why `wanted` needs an open attempt; exit status 1, nothing changed."""
    if table is not None and table.get("passes"):
        after = (f"You have passed it: `dojo diff {kata.slug}` shows your attempt against the "
                 f"reference, free, and `dojo reset {kata.slug}` starts a timed redo.")
    else:
        after = (f"Start one with `dojo start {kata.slug}` (or the first run of "
                 f"`nox -s kata -- {kata.slug}`).")
    print(f"No attempt at {kata.slug} is open, so there is nothing to record {wanted} on. "
          f"{after}", file=sys.stderr)
    return 1


def cmd_hint(args) -> int:
    root, catalog, store = _context()
    kata = _one_kata(catalog, args.kata)
    table = store.read()["katas"].get(kata.slug)  # read first: with no attempt, change nothing
    if not attempts.is_open(table):
        return _no_attempt(kata, table, "a hint")
    with store.transaction() as doc:
        table = doc["katas"][kata.slug]
        used = int(table.get("hints", 0))
        if used < len(kata.hints):
            table["hints"] = used + 1
    console = _console()
    total = len(kata.hints)
    if used >= total:
        console.print(f"All {total} hints of {kata.slug} are used; here they are again, at no "
                      "further cost:")
        for n, hint in enumerate(kata.hints, start=1):
            console.print(f"  {n}. {hint}", markup=False)
        console.print(f"Still stuck? `dojo solution {kata.slug}` shows the reference (it caps "
                      "this attempt's grade at 2).")
        return 0
    console.print(f"[bold]Hint {used + 1} of {total}[/] for {kata.slug} (each hint costs one "
                  f"grade point; this attempt has used {used + 1}):")
    console.print(f"  {kata.hints[used]}", markup=False)
    if used + 1 == total:
        console.print("[dim]That was the last hint.[/]")
    return 0


def _unfenced(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if not (starters.OPEN.match(line.rstrip("\n"))
                           or starters.MORE.match(line.rstrip("\n"))
                           or starters.CLOSE.match(line)))


def reference_text(kata: catalog_mod.Kata) -> str:
    """The reference solution as a learner reads it: without the TODO fence markers."""
    return _unfenced(kata.solution_path.read_text(encoding="utf-8"))


def _learner_text(kata: catalog_mod.Kata, path: Path | None = None) -> str:
    """A learner's file without the generated header, so a diff shows only their work."""
    try:
        text = (path or kata.starter_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    # A file copied from solutions/ keeps its fences: they are not the learner's code either.
    return _unfenced(text.removeprefix(starters.header(kata.slug)))


def _print_code(text: str, lexer: str) -> None:
    console = _console()
    if console.is_terminal and console.color_system is not None:
        from rich.syntax import Syntax

        console.print(Syntax(text, lexer, theme="ansi_dark", background_color="default"))
    else:
        sys.stdout.write(text)


def cmd_solution(args) -> int:
    root, catalog, store = _context()
    kata = _one_kata(catalog, args.kata)
    table = store.read()["katas"].get(kata.slug)
    if not attempts.is_open(table):
        return _no_attempt(kata, table, "a look at the solution")
    if not table.get("peeked", False) and not args.yes:
        if not sys.stdin.isatty():
            print(f"`dojo solution {kata.slug}` asks before it shows the reference, and this "
                  "input is not a terminal; pass --yes to look anyway (it caps this attempt's "
                  "grade at 2). Nothing was recorded.", file=sys.stderr)
            return 1
        remaining = len(kata.hints) - int(table.get("hints", 0))
        nudge = f" ({remaining} hints left: `dojo hint {kata.slug}`)" if remaining > 0 else ""
        try:
            answer = input(f"Looking at the solution caps this attempt's grade at 2{nudge}. "
                           "Show it? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Not shown; nothing was recorded.")
            return 0
    with store.transaction() as doc:
        doc["katas"][kata.slug]["peeked"] = True
    print(f"# solutions/{kata.slug}.py (this attempt is recorded as peeked: grade at most 2)",
          file=sys.stderr)
    _print_code(reference_text(kata), "python")
    return 0


def archived_attempts(progress_path: Path, slug: str) -> list[Path]:
    """attempts/<slug>/*.py, oldest first (`<stamp>-2.py` after `<stamp>.py`)."""
    folder = attempts.attempts_dir(progress_path) / slug

    def key(path: Path):  # <YYYY-MM-DDTHH-MM-SS>[-n]
        n = path.stem[20:]
        return path.stem[:19], int(n) if n.isdigit() else 1

    return sorted(folder.glob("*.py"), key=key) if folder.is_dir() else []


def _show_diff(old: str, new: str, old_name: str, new_name: str) -> bool:
    import difflib

    lines = list(difflib.unified_diff(old.splitlines(keepends=True),
                                      new.splitlines(keepends=True), old_name, new_name))
    if not lines:
        return False
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    _print_code(text, "diff")
    return True


def cmd_diff(args) -> int:
    root, catalog, store = _context()
    kata = _one_kata(catalog, args.kata)
    table = store.read()["katas"].get(kata.slug)
    current = kata.starter_path.relative_to(root).as_posix()
    if args.previous:
        archived = archived_attempts(store.path, kata.slug)
        if not archived:
            print(f"No previous attempt at {kata.slug} is archived in "
                  f"{attempts.attempts_dir(store.path) / kata.slug}. An attempt is archived "
                  f"when you start over (`dojo reset {kata.slug}`, `pytest --redo-due`).",
                  file=sys.stderr)
            return 1
        previous = archived[-1]
        shown = previous.relative_to(root).as_posix() if previous.is_relative_to(root) \
            else str(previous)
        if not _show_diff(_learner_text(kata, previous), _learner_text(kata), shown, current):
            print(f"{current} is the same as your previous attempt, {shown}.")
        return 0
    if attempts.is_open(table):
        print(f"An attempt at {kata.slug} is open, so the reference would be a peek. "
              f"`dojo diff {kata.slug} --previous` compares your file with your previous "
              f"attempt (free); `dojo solution {kata.slug}` shows the reference and records "
              "the peek (grade at most 2).", file=sys.stderr)
        return 1
    if table is None or not table.get("passes"):
        print(f"You have not passed {kata.slug} yet: the reference is shown as a diff only "
              f"after a pass. Keep going (`dojo hint {kata.slug}` if stuck), or "
              f"`dojo solution {kata.slug}` during an attempt, which caps its grade at 2.",
              file=sys.stderr)
        return 1
    if not _show_diff(_learner_text(kata), reference_text(kata), current,
                      f"solutions/{kata.slug}.py"):
        print(f"{current} is the reference solution, line for line.")
    return 0


# --------------------------------------------------------------------- stats, plot
def _targets(catalog) -> tuple[dict[str, int], dict[str, str]]:
    return ({s: k.target_minutes for s, k in catalog.items()},
            {s: k.topic for s, k in catalog.items()})


def cmd_stats(args) -> int:
    root, catalog, store = _context()
    katas = {s: t for s, t in _read(store)["katas"].items() if s in catalog}
    targets, topics = _targets(catalog)
    today = clock.today()
    summary = stats.summary(katas, targets, topics, today)
    reviews = stats.review_grades(katas)
    retention = "-" if summary.retention is None else (
        f"{summary.retention:.0%} ({sum(g >= stats.RECALLED for g in reviews)} of "
        f"{len(reviews)} reviews graded 3 or more)")
    _table(f"ML Katas, {today}", ["", ""], [
        ["katas passed", f"{summary.katas_passed} of {len(catalog)}"],
        ["passes", f"{summary.passes} ({summary.reviews} of them reviews: redos from memory)"],
        ["streak", f"{summary.streak} day{'s' if summary.streak != 1 else ''} "
                   "(days in a row with a pass)"],
        ["retention", retention],
    ])
    if summary.by_topic:
        _table("Time against target, by topic", ["topic", "passes", "mean time / target"],
               [[topic, str(n), f"{mean:.2f}x"] for topic, (mean, n) in
                summary.by_topic.items()],
               caption="1.00x is on target; lower is faster",
               justify={"passes": "right", "mean time / target": "right"})
    return 0


def cmd_plot(args) -> int:
    root, catalog, store = _context()
    from dojo import plot

    katas = {s: t for s, t in _read(store)["katas"].items() if s in catalog}
    try:
        out = plot.render(katas, _targets(catalog)[0], clock.today(), Path(args.out))
    except plot.PlotUnavailable as err:
        print(f"dojo: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {out}: learning curves (time over target per attempt) and a review "
          "calendar.")
    return 0


# --------------------------------------------------------------------- watch, new, grade
def cmd_watch(args) -> int:
    root, catalog, store = _context()
    kata = _one_kata(catalog, args.kata)
    from dojo import watch

    def open_if_fresh() -> None:
        now = clock.now()
        with store.transaction() as doc:
            table = doc["katas"].get(kata.slug)
            fresh = attempts.status(table, clock.today()) == "new" or attempts.is_pristine(kata)
            if not attempts.is_open(table) and fresh:
                attempts.open_attempt(attempts.kata_table(doc, kata.slug), now)
                print(f"Started {kata.slug}: the clock runs from now (target "
                      f"{kata.target_minutes} minutes).")

    try:
        return watch.watch(root, kata, _console(), on_start=open_if_fresh)
    except watch.WatchUnavailable as err:
        print(f"dojo: {err}", file=sys.stderr)
        return 1


def cmd_new(args) -> int:
    root = catalog_mod.find_root()
    from dojo import scaffold

    try:
        written = scaffold.write(root, args.slug, title=args.title, topic=args.topic,
                                 target_minutes=args.target, difficulty=args.difficulty)
    except scaffold.ScaffoldError as err:
        raise UsageError(str(err)) from None
    print(f"Created the {args.slug} kata:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(f"It is a worked example that passes the gate. Replace it (the lines marked AUTHOR: "
          f"first), keeping the TODO fences in solutions/{args.slug}.py, then:\n"
          f"  dojo starters --write {args.slug}   # regenerate the starter\n"
          f"  python -m dojo.gate {args.slug}     # prove the kata honest\n"
          f"See docs/authoring.md.")
    return 0


def cmd_grade(args) -> int:
    root, catalog, store = _context()
    kata = _one_kata(catalog, args.kata)
    with store.transaction() as doc:
        table = doc["katas"].get(kata.slug)
        if table is None or not table.get("passes"):
            raise UsageError(f"{kata.slug} has no pass to regrade yet; `dojo grade` changes "
                             "the grade of the last pass.")
        before = table.get("due")
        previous, keys = scheduling.override_last_grade(table, args.grade,
                                                        scheduling.scheduler_of(doc))
        when = table["passes"][-1]["at"].date()
    print(f"{kata.slug}: the pass of {when} is now graded {args.grade} (was {previous}); "
          f"next due {keys['due']} (was {before}), every {keys['interval']} day"
          f"{'s' if keys['interval'] != 1 else ''}.")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dojo", description="ML Katas: practise ML from scratch, timed and spaced.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="every kata with its status, times and due date",
                       description="Every kata with its topic, difficulty, status (new, in "
                       "progress, due, scheduled), best and last time against its target, and "
                       "next due date. Never imports torch.")
    p.add_argument("filter", nargs="*", help="slugs, topics or tags")
    p.add_argument("--topic", action="append", default=[], metavar="TOPIC",
                   help="only this topic (repeatable)")
    p.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only katas with this tag (repeatable)")
    p.add_argument("--status", action="append", default=[],
                   choices=["new", "in progress", "due", "scheduled"],
                   help="only katas with this status (repeatable)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("due", help="what is due today, and a day-by-day forecast",
                       description="What is due today (overdue katas included), then the "
                       "katas due on each of the next days.")
    p.add_argument("--days", type=_positive, default=14, help="forecast horizon (default 14)")
    p.set_defaults(func=cmd_due)

    p = sub.add_parser("start", help="open a timed attempt at a kata",
                       description="Open a timed attempt: the clock runs from now. Prints "
                       "the file to edit, the target time and how to run the tests.")
    p.add_argument("kata")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("reset", help="archive your attempt, restore the pristine starter, "
                                     "and open a new timed attempt",
                       description="Archive your file to attempts/<kata>/, restore the "
                       "pristine starter, and open a new timed attempt.")
    p.add_argument("kata", nargs="?")
    p.add_argument("--all", action="store_true", help="reset every kata")
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("hint", help="the next hint of a kata (costs a grade point)",
                       description="Show the next hint from the kata's kata.toml, one at a "
                       "time, and record it on the open attempt: each hint lowers its grade "
                       "by one.")
    p.add_argument("kata")
    p.set_defaults(func=cmd_hint)

    p = sub.add_parser("solution", help="the reference solution (caps the grade at 2)",
                       description="Show the reference solution during an open attempt, "
                       "recorded as a peek that caps the attempt's grade at 2. Asks first. "
                       "After a pass, `dojo diff KATA` shows it free, as a diff.")
    p.add_argument("kata")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_solution)

    p = sub.add_parser("diff", help="your attempt against the reference, or your previous "
                                    "attempt",
                       description="After a pass (no attempt open): your file against the "
                       "reference solution. With --previous, any time: your file against "
                       "your previous attempt, archived in attempts/<kata>/.")
    p.add_argument("kata")
    p.add_argument("--previous", action="store_true",
                   help="compare with your previous archived attempt instead")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("stats", help="passes, reviews, streak, retention, time by topic",
                       description="Katas passed, reviews done, streak (days in a row with a "
                       "pass), retention (share of reviews graded 3 or more) and mean time "
                       "against target per topic, all from progress.toml.")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("plot", help="learning curves and a review calendar, as a PNG",
                       description="Write a PNG with a learning curve per kata (time over "
                       "target, per attempt) and a calendar of the days you passed katas. "
                       "Needs matplotlib (pip install -e '.[plot]').")
    p.add_argument("--out", default="progress.png", help="the PNG to write (default "
                                                         "progress.png)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("watch", help="re-run a kata's tests on every save",
                       description="Re-run the kata's tests on every save, clear the screen, "
                       "and show the summary and the first failure. A pass is recorded as "
                       "usual; failing saves are not counted as failed runs. Ctrl-C stops. "
                       "Needs watchfiles (pip install -e '.[watch]').")
    p.add_argument("kata")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("new", help="(authors) scaffold a new kata",
                       description="Create solutions/SLUG.py, katas/SLUG/kata.toml, a test "
                       "file and the generated starter: a worked example that passes the "
                       "quality gate, to replace with the real kata.")
    p.add_argument("slug")
    p.add_argument("--title", help="the kata's title (default: from the slug)")
    p.add_argument("--topic", default="classical-ml", help="one of the topics of "
                                                           "docs/authoring.md")
    p.add_argument("--target", type=_positive, default=20, help="target minutes (default 20)")
    p.add_argument("--difficulty", type=int, default=2, choices=range(1, 6), metavar="1-5")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("grade", help="override the grade of your last pass",
                       description="Override the grade of the kata's last pass and recompute "
                       "its schedule from its whole pass history, as it would have been. "
                       "The measured grade is kept as `measured_grade`.")
    p.add_argument("kata")
    p.add_argument("grade", type=int, choices=range(0, 6), metavar="GRADE",
                   help="0-5 (0-1 forgotten, 2 passed but slow, 3 hard, 4 good, 5 easy)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("starters", help="(maintainers) check or regenerate starters from "
                                        "solutions/")
    p.add_argument("kata", nargs="*")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if any is out of date "
                                                           "(the default)")
    mode.add_argument("--write", action="store_true", help="regenerate out-of-date starters "
                                                           "(archiving edited ones first)")
    p.set_defaults(func=cmd_starters)

    sub.add_parser("gate", add_help=False, help="(maintainers) the kata quality gate: "
                                                "dojo gate --help")
    sub.add_parser("mutate", add_help=False, help="(maintainers) mutation testing of the kata "
                                                  "tests: dojo mutate --help")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["gate"], ["mutate"]):
        # The maintainer tools own their arguments (argparse's REMAINDER would eat options).
        from dojo import gate, mutation

        return (gate if argv[0] == "gate" else mutation).main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, catalog_mod.CatalogError) as err:
        print(f"dojo: {err}", file=sys.stderr)
        return 2
    except (ProgressError, clock.ClockError) as err:
        print(f"dojo: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `dojo list | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
