"""Find katas and read their kata.toml; select them by slug, topic or tag.

A kata is a folder `katas/<slug>/` holding kata.toml, starter.py and test_<slug>.py, with its
reference solution at `solutions/<slug>.py`. This module reads files but never imports torch.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEVICES = ("cpu", "cuda", "mps")
REQUIRED_KEYS = {
    "title": str,
    "topic": str,
    "tags": list,
    "difficulty": int,
    "target_minutes": int,
    "devices": list,
    "hints": list,
}


class CatalogError(Exception):
    """A kata folder or a selection that the catalog cannot make sense of."""


@dataclass(frozen=True)
class Kata:
    slug: str
    title: str
    topic: str
    tags: tuple[str, ...]
    difficulty: int
    target_minutes: int
    devices: tuple[str, ...]
    hints: tuple[str, ...]
    root: Path = field(repr=False)

    @property
    def folder(self) -> Path:
        return self.root / "katas" / self.slug

    @property
    def starter_path(self) -> Path:
        return self.folder / "starter.py"

    @property
    def test_path(self) -> Path:
        return self.folder / f"test_{self.slug}.py"

    @property
    def solution_path(self) -> Path:
        return self.root / "solutions" / f"{self.slug}.py"

    @property
    def uses_torch(self) -> bool:
        return any(d != "cpu" for d in self.devices)


def find_root(start: Path | None = None) -> Path:
    """The repository root: $DOJO_ROOT, else the nearest folder above `start` with katas/."""
    if env := os.environ.get("DOJO_ROOT"):
        root = Path(env).resolve()
        if not (root / "katas").is_dir():
            raise CatalogError(f"DOJO_ROOT={env} has no katas/ folder; point it at the "
                               "ML Katas repository, or unset it")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "katas").is_dir() and (folder / "solutions").is_dir():
            return folder
    # An installed (non-editable) dojo still knows where it came from.
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "katas").is_dir():
        return package_parent
    raise CatalogError(
        f"No katas/ folder found in {here} or above it. Run this from inside the ML Katas "
        "repository, or set DOJO_ROOT to its path."
    )


def validate_meta(slug: str, meta: dict) -> list[str]:
    """Every problem with one kata's kata.toml, as sentences (empty when it is valid)."""
    problems = []
    for key, kind in REQUIRED_KEYS.items():
        if key not in meta:
            problems.append(f"katas/{slug}/kata.toml: missing `{key}`")
        elif not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            problems.append(
                f"katas/{slug}/kata.toml: `{key}` must be a {kind.__name__}, "
                f"got {meta[key]!r}"
            )
    if problems:
        return problems
    if not 1 <= meta["difficulty"] <= 5:
        problems.append(f"katas/{slug}/kata.toml: `difficulty` must be 1-5")
    if meta["target_minutes"] <= 0:
        problems.append(f"katas/{slug}/kata.toml: `target_minutes` must be positive")
    if not meta["devices"] or any(d not in DEVICES for d in meta["devices"]):
        problems.append(
            f"katas/{slug}/kata.toml: `devices` must be a non-empty subset of {list(DEVICES)}"
        )
    if "cpu" not in meta["devices"]:
        problems.append(f"katas/{slug}/kata.toml: every kata must run on cpu")
    if not meta["hints"] or not all(isinstance(h, str) and h.strip() for h in meta["hints"]):
        problems.append(f"katas/{slug}/kata.toml: give at least one non-empty hint")
    if not all(isinstance(t, str) for t in meta["tags"]):
        problems.append(f"katas/{slug}/kata.toml: `tags` must be strings")
    return problems


def load_kata(root: Path, slug: str) -> Kata:
    path = root / "katas" / slug / "kata.toml"
    try:
        meta = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path} is missing") from None
    except tomllib.TOMLDecodeError as err:
        raise CatalogError(f"{path}: {err}") from None
    if problems := validate_meta(slug, meta):
        raise CatalogError("; ".join(problems))
    return Kata(
        slug=slug,
        title=meta["title"],
        topic=meta["topic"],
        tags=tuple(meta["tags"]),
        difficulty=meta["difficulty"],
        target_minutes=meta["target_minutes"],
        devices=tuple(meta["devices"]),
        hints=tuple(meta["hints"]),
        root=root,
    )


def load_catalog(root: Path) -> dict[str, Kata]:
    """All katas under root/katas, by slug, in alphabetical order."""
    folders = sorted(p.parent.name for p in (root / "katas").glob("*/kata.toml"))
    return {slug: load_kata(root, slug) for slug in folders}


def select(catalog: dict[str, Kata], names: list[str]) -> list[Kata]:
    """Katas whose slug, topic or tag matches any name (case-insensitive, - and _ alike).

    A name that is a kata's slug selects that kata alone, even if another kata carries the
    same word as a tag: `--kata sampling` means the sampling kata.

    Raises CatalogError naming the closest matches when a name matches nothing.
    """

    def norm(s: str) -> str:
        return s.strip().lower().replace("-", "_")

    chosen: dict[str, Kata] = {}
    for name in names:
        wanted = norm(name)
        if wanted in catalog:
            chosen[wanted] = catalog[wanted]
            continue
        hits = [
            k
            for k in catalog.values()
            if wanted in (norm(k.slug), norm(k.topic), *(norm(t) for t in k.tags))
        ]
        if not hits:
            raise CatalogError(unknown_kata_message(name, catalog))
        chosen.update((k.slug, k) for k in hits)
    return [catalog[s] for s in sorted(chosen)]


def unknown_kata_message(name: str, catalog: dict[str, Kata]) -> str:
    vocabulary = set(catalog)
    for kata in catalog.values():
        vocabulary.add(kata.topic)
        vocabulary.update(kata.tags)
    close = difflib.get_close_matches(name.lower().replace("-", "_"), sorted(vocabulary), n=3)
    close += [w for w in sorted(vocabulary) if name.lower() in w and w not in close][:3]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"No kata, topic or tag is called {name!r}.{hint} `dojo list` shows them all."


def kata_of_path(root: Path, path: Path) -> str | None:
    """The slug of the kata a path lies in, or None."""
    try:
        rel = Path(path).resolve().relative_to(root / "katas")
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None
