"""The `dojo` command: a thin shell over the catalog, the record and the attempts.

Commands that run no tests never import torch (nor pytest): keep imports here light.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dojo import attempts, clock
from dojo import catalog as catalog_mod
from dojo.progress import ProgressError, ProgressStore, default_path
from dojo.starters import FenceError, pristine


class UsageError(Exception):
    """Bad input from the command line: exit status 2."""


def _context():
    root = catalog_mod.find_root()
    return root, catalog_mod.load_catalog(root), ProgressStore(default_path(root))


def _one_kata(catalog, name: str) -> catalog_mod.Kata:
    slug = name.strip().lower().replace("-", "_")
    if slug not in catalog:
        raise UsageError(catalog_mod.unknown_kata_message(name, catalog))
    return catalog[slug]


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=(column == columns[0]))
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def cmd_list(args) -> int:
    root, catalog, store = _context()
    katas = catalog_mod.select(catalog, args.filter) if args.filter else list(catalog.values())
    doc = store.read()
    today = clock.today()
    rows = []
    for kata in katas:
        table = doc["katas"].get(kata.slug)
        status = attempts.status(table, today)
        if args.status and status != args.status:
            continue
        passes = list(table.get("passes", [])) if table else []
        best = min((p["seconds"] for p in passes), default=None)
        last = passes[-1]["seconds"] if passes else None

        def minutes(s):
            return "-" if s is None else f"{s / 60:.0f}m"

        due = str(table["due"]) if table is not None and "due" in table else "-"
        rows.append([kata.slug, kata.topic, str(kata.difficulty), status, minutes(best),
                     minutes(last), f"{kata.target_minutes}m", due])
    _table("ML Katas", ["kata", "topic", "diff", "status", "best", "last", "target", "due"],
           rows)
    return 0


def cmd_due(args) -> int:
    root, catalog, store = _context()
    doc = store.read()
    today = clock.today()
    due = sorted((t["due"], slug) for slug, t in doc["katas"].items()
                 if slug in catalog and "due" in t)
    now = [slug for when, slug in due if when <= today]
    if now:
        print(f"Due today ({today}): {', '.join(now)}. Run: pytest --redo-due")
    else:
        print(f"Nothing is due today ({today}).")
    soon = [(when, slug) for when, slug in due if today < when <= today.fromordinal(
        today.toordinal() + args.days)]
    if soon:
        _table(f"Due in the next {args.days} days", ["date", "kata"],
               [[str(when), slug] for when, slug in soon])
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
          f"  run:  nox -s kata -- {kata.slug}   (or: pytest --kata {kata.slug})")


def cmd_starters(args) -> int:
    root, catalog, store = _context()
    katas = catalog_mod.select(catalog, args.kata) if args.kata else list(catalog.values())
    stale, broken = [], []
    for kata in katas:
        try:
            expected = pristine(kata.solution_path.read_text(encoding="utf-8"), kata.slug)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dojo", description="ML Katas: practise ML from scratch, timed and spaced.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="every kata with its status, times and due date")
    p.add_argument("filter", nargs="*", help="slugs, topics or tags")
    p.add_argument("--status", choices=["new", "in progress", "due", "scheduled"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("due", help="what is due today, and what comes next")
    p.add_argument("--days", type=int, default=14, help="forecast horizon (default 14)")
    p.set_defaults(func=cmd_due)

    p = sub.add_parser("start", help="open a timed attempt at a kata")
    p.add_argument("kata")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("reset", help="archive your attempt, restore the pristine starter, "
                                     "and open a new timed attempt")
    p.add_argument("kata", nargs="?")
    p.add_argument("--all", action="store_true", help="reset every kata")
    p.set_defaults(func=cmd_reset)

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


if __name__ == "__main__":
    sys.exit(main())
