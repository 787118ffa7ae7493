"""Render the README's table of katas from the catalog, so that it never drifts.

    python scripts/katas_table.py            # print the table
    python scripts/katas_table.py --write    # replace the table in README.md
    python scripts/katas_table.py --check    # exit 1 if README.md's table is out of date

The table sits between the `<!-- katas:begin -->` and `<!-- katas:end -->` markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dojo.catalog import load_catalog  # noqa: E402

TOPICS = {  # README order and wording
    "classical-ml": "classical ML",
    "statistics": "statistics",
    "dl-fundamentals": "deep-learning fundamentals",
    "transformers": "transformers and LLMs",
    "systems": "systems",
    "retrieval": "retrieval",
}
BEGIN, END = "<!-- katas:begin -->", "<!-- katas:end -->"


def stack(kata) -> str:
    """What the learner writes with: torch (and on which devices), numpy, or plain Python."""
    if "torch" in kata.tags:
        return f"torch, {'/'.join(kata.devices)}"
    return "numpy" if "numpy" in kata.tags else "Python"


def table(root: Path = ROOT) -> str:
    katas = sorted(load_catalog(root).values(),
                   key=lambda k: (list(TOPICS).index(k.topic), k.slug))
    rows = ["| kata | topic | what you build | target |", "|---|---|---|---|"]
    rows += [f"| `{k.slug}` | {TOPICS[k.topic]} ({stack(k)}) | {k.title} | "
             f"{k.target_minutes} min |" for k in katas]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite README.md's table")
    mode.add_argument("--check", action="store_true", help="fail if README.md is stale")
    args = parser.parse_args(argv)
    text = table()
    if not (args.write or args.check):
        print(text)
        return 0
    readme = ROOT / "README.md"
    current = readme.read_text(encoding="utf-8")
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        print(f"README.md has no {BEGIN} marker", file=sys.stderr)
        return 2
    updated = f"{head}{BEGIN}\n{text}\n{END}{tail}"
    if args.check:
        if updated != current:
            print("README.md's table of katas is out of date: "
                  "run python scripts/katas_table.py --write", file=sys.stderr)
            return 1
        return 0
    readme.write_text(updated, encoding="utf-8")
    print(f"README.md: {len(text.splitlines()) - 2} katas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
