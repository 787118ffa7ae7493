"""`dojo new SLUG`: the four files of a new kata, ready to fill in.

    solutions/<slug>.py          a fenced reference solution (a tiny worked example)
    katas/<slug>/kata.toml       metadata with every required key
    katas/<slug>/test_<slug>.py  tests through the `kata` fixture against an oracle
    katas/<slug>/starter.py      generated from the solution (dojo.starters.pristine)

The example is a real kata (centre a vector), so the scaffold passes the quality gate
(`python -m dojo.gate SLUG`) as written: the author replaces it part by part, lines marked
`AUTHOR:` first, and runs the gate again. `files()` is pure (text in, text out); `write()`
refuses an existing kata and never overwrites anything.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from dojo.starters import pristine

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
TOPICS = ("classical-ml", "statistics", "dl-fundamentals", "transformers", "systems",
          "retrieval")  # as docs/authoring.md lists them (the gate checks the same list)


class ScaffoldError(ValueError):
    """A slug or an option `dojo new` cannot use; the message says why."""


def check_slug(slug: str, root: Path | None = None) -> None:
    if not SLUG.match(slug) or slug.endswith("_") or "__" in slug:
        raise ScaffoldError(
            f"{slug!r} is not a valid kata slug: use 2-40 lowercase letters, digits and single "
            "underscores, starting with a letter (e.g. `softmax`, `kl_divergence`); it names "
            "a folder, a test file and a Python function")
    if keyword.iskeyword(slug) or slug in ("test", "starter", "kata", "conftest"):
        raise ScaffoldError(f"{slug!r} is reserved; choose another slug")
    if root is not None:
        taken = [p for p in (root / "katas" / slug, root / "solutions" / f"{slug}.py")
                 if p.exists()]
        if taken:
            where = ", ".join(str(p.relative_to(root)) for p in taken)
            raise ScaffoldError(f"a kata called {slug!r} already exists ({where}); choose "
                                "another slug, or edit that kata in place")


def _title(slug: str) -> str:
    return slug.replace("_", " ").capitalize()


def solution_text(slug: str, title: str) -> str:
    return f'''"""{title}.

AUTHOR: the statement. Say exactly what to build, with shapes, dtypes and conventions, and
the pitfall an interviewer looks for. The worked example below (centring a vector) passes
the quality gate; replace it, keeping a `# >>> TODO:` ... `# <<<` fence around each part the
learner writes.
"""

import numpy as np


def {slug}(x):
    """(n,) array-like -> (n,) float64: x minus its mean. AUTHOR: the real contract."""
    # >>> TODO: subtract the mean (AUTHOR: a one-line nudge the learner sees)
    x = np.asarray(x, dtype=np.float64)
    return x - x.mean()
    # <<<
'''


def tests_text(slug: str) -> str:
    return f'''"""Tests for the {slug} kata. They reach the code only through the `kata` fixture.

AUTHOR: compare with an independent oracle on seeded random inputs, plus edge cases and the
classic bugs of the topic; name each test as a requirement (docs/authoring.md).
"""

import numpy as np

from dojo.testing import assert_close


def test_{slug}_matches_the_oracle_on_random_inputs(kata):
    x = np.random.default_rng(0).normal(size=50)
    assert_close(kata.{slug}(x), x - np.mean(x), what="{slug}(x)")


def test_{slug}_result_has_zero_mean(kata):
    x = np.random.default_rng(1).normal(loc=3.0, size=20)
    assert abs(np.mean(kata.{slug}(x))) < 1e-12, "the result must have mean 0"


def test_{slug}_accepts_a_list(kata):
    assert_close(kata.{slug}([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0]), what="{slug}(list)")
'''


def kata_toml_text(slug: str, title: str, topic: str, target_minutes: int,
                   difficulty: int) -> str:
    return f'''title = "{title}"
topic = "{topic}"            # one of: {", ".join(TOPICS)}
tags = ["numpy"]             # AUTHOR: what a learner would filter by
difficulty = {difficulty}               # 1..5
target_minutes = {target_minutes}          # the interview target
devices = ["cpu"]            # torch katas: ["cpu", "cuda", "mps"]
hints = [                    # 2 to 4, progressive: a nudge first, the key idea last
    "AUTHOR: a nudge. (Example: what does centring do to the mean?)",
    "AUTHOR: the key idea. (Example: x - x.mean(), as float64.)",
]
'''


def files(slug: str, *, title: str | None = None, topic: str = "classical-ml",
          target_minutes: int = 20, difficulty: int = 2) -> dict[str, str]:
    """{path relative to the repository root: text} for a new kata. Pure."""
    check_slug(slug)
    if topic not in TOPICS:
        raise ScaffoldError(f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    if not 1 <= difficulty <= 5:
        raise ScaffoldError("difficulty is 1..5")
    if target_minutes <= 0:
        raise ScaffoldError("the target is a positive number of minutes")
    title = title or _title(slug)
    if '"' in title or "\\" in title:
        raise ScaffoldError("keep quotes and backslashes out of the title")
    solution = solution_text(slug, title)
    return {
        f"solutions/{slug}.py": solution,
        f"katas/{slug}/kata.toml": kata_toml_text(slug, title, topic, target_minutes,
                                                  difficulty),
        f"katas/{slug}/test_{slug}.py": tests_text(slug),
        f"katas/{slug}/starter.py": pristine(solution, slug),
    }


def write(root: Path, slug: str, **options) -> list[Path]:
    """Create the files of a new kata under root; ScaffoldError if the slug is taken."""
    check_slug(slug, root)
    written = []
    for rel, text in files(slug, **options).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": never overwrite
            f.write(text)
        written.append(path)
    return written
