"""The learner's record, progress.toml: validate, read, and write it safely.

Layout (schema 1):

    schema = 1

    [katas.logistic_regression]
    ease = 2.6                # SM-2 ease factor
    interval = 1              # days
    repetitions = 1
    due = 2026-11-22          # absent until the first pass
    attempt_started = 2026-11-21T10:00:00+01:00   # present only while an attempt is open
    failed_runs = 0           # of the open attempt
    hints = 0
    peeked = false

    [[katas.logistic_regression.passes]]
    at = 2026-11-21T10:17:32+01:00
    seconds = 1052
    failed_runs = 2
    hints = 0
    peeked = false
    grade = 5
    device = "cpu"

Writes are read-modify-write under a file lock, and atomic (temp file, fsync, os.replace), so
concurrent pytest processes never lose an update and a crash never leaves half a file. A file
that does not parse or validate is never written: ProgressError names the file, the line and
the fix. tomlkit keeps comments, key order and unknown keys through every write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import tomlkit
from filelock import FileLock, Timeout
from tomlkit.exceptions import ParseError

SCHEMA = 1
HEADER = """\
# Your ML Katas record: SM-2 schedule, open attempts and every pass, one table per kata.
# Written by the pytest plugin and the `dojo` command. Safe to edit by hand (comments and
# unknown keys are kept); a file that does not validate is never overwritten.
"""

# key -> (python types, description used in error messages)
_KATA_KEYS = {
    "ease": ((int, float), "a number >= 1.3, e.g. ease = 2.5"),
    "interval": ((int,), "a whole number of days >= 0, e.g. interval = 6"),
    "repetitions": ((int,), "a whole number >= 0, e.g. repetitions = 2"),
    "due": ((dt.date,), "a TOML date, e.g. due = 2026-11-27 (no quotes)"),
    "attempt_started": ((dt.datetime,), "a TOML datetime, e.g. 2026-11-21T10:00:00+00:00"),
    "failed_runs": ((int,), "a whole number >= 0"),
    "hints": ((int,), "a whole number >= 0"),
    "peeked": ((bool,), "true or false"),
    "passes": ((list,), "an array of [[katas.<slug>.passes]] tables"),
}
_PASS_KEYS = {
    "at": ((dt.datetime,), "a TOML datetime, e.g. 2026-11-21T10:17:32+00:00"),
    "seconds": ((int, float), "a number of seconds >= 0"),
    "failed_runs": ((int,), "a whole number >= 0"),
    "hints": ((int,), "a whole number >= 0"),
    "peeked": ((bool,), "true or false"),
    "grade": ((int,), "an SM-2 quality, a whole number 0..5"),
    "device": ((str,), 'a device name in quotes, e.g. device = "cpu"'),
}


class ProgressError(Exception):
    """progress.toml cannot be used as it is; the message says where and how to fix it."""


def _is(value, types) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    if dt.datetime in types:
        return isinstance(value, dt.datetime)
    if dt.date in types and isinstance(value, dt.datetime):
        return False
    return isinstance(value, types)


def _line_of(text: str, header: str, key: str | None, nth: int = 0) -> int:
    """1-based line of `key` inside the table `header` (the nth of an array of tables)."""
    lines = text.splitlines()
    pattern = re.compile(r"^\s*\[\[?\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*") +
                         r"\s*\]\]?\s*(#.*)?$")
    seen = -1
    for i, line in enumerate(lines):
        if pattern.match(line):
            seen += 1
            if seen < nth:
                continue
            if key is None:
                return i + 1
            for j in range(i + 1, len(lines)):
                if lines[j].lstrip().startswith("["):
                    break
                if re.match(r"^\s*" + re.escape(key) + r"\s*=", lines[j]):
                    return j + 1
            return i + 1
    return 1


def validate(data: dict, text: str = "") -> list[tuple[int, str]]:
    """Problems with a parsed progress document, as (line, message) pairs."""
    problems: list[tuple[int, str]] = []
    schema = data.get("schema")
    if schema != SCHEMA:
        problems.append((_schema_line(text),
                         f"`schema` must be {SCHEMA} (found {schema!r}); add `schema = 1` "
                         "at the top"))
    katas = data.get("katas", {})
    if not isinstance(katas, dict):
        return problems + [(1, "`katas` must be a table of [katas.<slug>] tables")]
    for slug, table in katas.items():
        header = f"katas.{slug}"
        if not isinstance(table, dict):
            problems.append((_line_of(text, header, None), f"`katas.{slug}` must be a table"))
            continue
        for key, (types, want) in _KATA_KEYS.items():
            if key in table and not _is(table[key], types):
                problems.append((_line_of(text, header, key),
                                 f"katas.{slug}.{key} = {table[key]!r}: must be {want}"))
        if _is(table.get("ease"), (int, float)) and table["ease"] < 1.3:
            problems.append((_line_of(text, header, "ease"),
                             f"katas.{slug}.ease = {table['ease']}: SM-2 ease is at least 1.3"))
        for key in ("interval", "repetitions", "failed_runs", "hints"):
            if _is(table.get(key), (int,)) and table[key] < 0:
                problems.append((_line_of(text, header, key),
                                 f"katas.{slug}.{key} = {table[key]}: must not be negative"))
        for n, record in enumerate(table.get("passes", []) if _is(table.get("passes"), (list,))
                                   else []):
            pheader = f"katas.{slug}.passes"
            if not isinstance(record, dict):
                problems.append((_line_of(text, pheader, None, n),
                                 f"katas.{slug}.passes[{n}] must be a table"))
                continue
            for key, (types, want) in _PASS_KEYS.items():
                if key not in record:
                    problems.append((_line_of(text, pheader, None, n),
                                     f"katas.{slug}.passes[{n}] lacks `{key}` ({want})"))
                elif not _is(record[key], types):
                    problems.append((_line_of(text, pheader, key, n),
                                     f"katas.{slug}.passes[{n}].{key} = {record[key]!r}: "
                                     f"must be {want}"))
            if _is(record.get("grade"), (int,)) and not 0 <= record["grade"] <= 5:
                problems.append((_line_of(text, pheader, "grade", n),
                                 f"katas.{slug}.passes[{n}].grade must be 0..5"))
    return problems


def _schema_line(text: str) -> int:
    for i, line in enumerate(text.splitlines()):
        if re.match(r"^\s*schema\s*=", line):
            return i + 1
    return 1


def parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    """Parse and validate progress text; ProgressError on any problem, naming path:line."""
    try:
        doc = tomlkit.parse(text)
    except ParseError as err:
        raise ProgressError(
            f"{path}:{err.line}: this is not valid TOML ({err}). Fix that line by hand "
            "(a value in quotes, a missing `]`, a duplicated key are the usual suspects), "
            "then run again; nothing was recorded and the file was left as it is."
        ) from None
    problems = validate(doc.unwrap(), text)
    if problems:
        listed = "\n".join(f"  {path}:{line}: {msg}" for line, msg in sorted(problems))
        raise ProgressError(
            f"{path} does not follow the progress schema:\n{listed}\n"
            "Fix these by hand, then run again; nothing was recorded and the file was left "
            "as it is."
        )
    return doc


def empty_document() -> tomlkit.TOMLDocument:
    doc = tomlkit.parse(HEADER)
    doc.add("schema", SCHEMA)
    doc.add(tomlkit.nl())
    doc.add("katas", tomlkit.table(is_super_table=True))
    return doc


class ProgressStore:
    """progress.toml on disk: read it, or change it in a locked, atomic transaction."""

    def __init__(self, path: Path, lock_timeout: float = 30.0):
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def read(self) -> tomlkit.TOMLDocument:
        """The validated document (an empty record when the file does not exist)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return empty_document()
        doc = parse(text, self.path)
        if "katas" not in doc:  # an empty super-table is not written out, so adding it is free
            doc.add("katas", tomlkit.table(is_super_table=True))
        return doc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[tomlkit.TOMLDocument]:
        """Yield the current document under the lock; write it back if the block succeeds.

        The document is re-read inside the lock, so a change made by another process (or by
        hand) since this run started is the base of this write, never overwritten.
        """
        try:
            self.lock.acquire()
        except Timeout:
            raise ProgressError(
                f"{self.lock.lock_file} has been held for {self.lock.timeout:.0f}s by another "
                "run. If no other pytest or dojo is running, delete that lock file."
            ) from None
        try:
            doc = self.read()
            before = doc.as_string()
            yield doc
            after = tomlkit.dumps(doc)
            problems = validate(tomlkit.parse(after).unwrap(), after)
            if problems:  # a bug of ours: refuse to write rather than corrupt the record
                raise ProgressError(f"refusing to write an invalid {self.path}: {problems}")
            if after != before or not self.path.exists():
                self._write_atomically(after)
        finally:
            self.lock.release()

    def _write_atomically(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, self.path.stat().st_mode & 0o777)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def default_path(root: Path) -> Path:
    return Path(os.environ.get("DOJO_PROGRESS") or root / "progress.toml")
