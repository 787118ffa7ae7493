"""`dojo watch KATA`: re-run a kata's tests on every save, and show where it stands.

Each save runs `python -m pytest -x -q --kata SLUG --no-record` in a fresh subprocess (a fresh
interpreter is the only way to see the edited module without stale imports), clears the
screen, and prints the test summary and the first failure. When a run passes, the kata runs
once more, recorded and in full, so the plugin closes the attempt, grades it and schedules
the next redo exactly as `nox -s kata` would.

Saves are not counted as failing runs: an editor that saves on every keystroke must not cost
the learner a grade point for trial and error (grading.THRASH_RUNS). Starting to watch a kata
that is new or untouched opens its attempt, as the first run of `nox -s kata` would.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WATCHED_SUFFIXES = (".py", ".toml")


class WatchUnavailable(Exception):
    """watchfiles is not installed."""


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def pytest_args(slug: str, record: bool, color: bool = False) -> list[str]:
    # anyio (a dependency of watchfiles) registers a pytest plugin we never use.
    args = ["--kata", slug, "-p", "no:cacheprovider", "-p", "no:anyio", "--no-header", "-q",
            f"--color={'yes' if color else 'no'}", "--tb=short"]
    return args if record else [*args, "-x", "--no-record"]


# A pre-started interpreter that has imported what the kata's tests need and waits for its
# pytest arguments on stdin: a save costs only collection and the tests, not the imports
# (torch alone takes seconds). It imports nothing from the kata itself, so every run sees
# the file as saved. One is always kept ready for the next save.
_WARM = """\
import gc, importlib, importlib.metadata, json, os, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
for entry in importlib.metadata.entry_points(group="pytest11"):  # pytest's own plugins
    try:
        entry.load()
    except Exception:
        pass
import pytest
gc.freeze()  # pytest's teardown collects garbage; do not walk torch's objects every time
args = sys.stdin.readline()
code = pytest.main(json.loads(args)) if args else 0
sys.stdout.flush()
os._exit(int(code))  # the result is out: skip tearing down torch
"""


def modules_to_warm(*sources: str) -> list[str]:
    """The absolute imports of the given Python sources (test file, solution), plus pytest
    and the dojo plugin. Pure."""
    names = {"pytest", "dojo.plugin"}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return sorted(names)


class WarmRunner:
    """Runs the kata's tests in a pre-started interpreter, keeping the next one warming."""

    def __init__(self, root: Path, slug: str, modules: list[str], color: bool = False):
        self.root, self.slug, self.modules, self.color = root, slug, modules, color
        self.proc: subprocess.Popen | None = None

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", _WARM, *self.modules], cwd=self.root,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=dict(os.environ))

    def run(self, record: bool = False) -> Run:
        proc = self.proc or self._spawn()
        started = time.perf_counter()
        out, _ = proc.communicate(json.dumps(pytest_args(self.slug, record, self.color)) + "\n")
        seconds = time.perf_counter() - started
        self.proc = self._spawn()
        return Run(proc.returncode, out, seconds)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def run_tests(root: Path, slug: str, record: bool = False) -> Run:
    """One cold run in a fresh interpreter (what the warm runner saves time on)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args(slug, record)],
                          cwd=root, capture_output=True, text=True, env=dict(os.environ))
    return Run(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - started)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def digest(output: str, max_lines: int = 40) -> str:
    """From a `pytest -q --tb=short` run's output: the first failure's short traceback, the
    dojo lines (elapsed time, or the recorded pass) and the final count line."""
    lines = output.rstrip("\n").splitlines()
    plain = [_ANSI.sub("", line) for line in lines]

    def section_end(i: int) -> int:
        return next((j for j in range(i, len(plain)) if plain[j][:4] in ("____", "====", "----")
                     or plain[j].startswith("!!!")), len(plain))

    keep: list[str] = []
    first = next((i for i, p in enumerate(plain) if p.startswith("____")), None)
    if first is not None:
        failure = lines[first:section_end(first + 1)]
        if len(failure) > max_lines:
            failure = failure[:max_lines] + [f"... ({len(failure) - max_lines} more lines)"]
        keep += failure + [""]
    dojo = next((i for i, p in enumerate(plain) if p.startswith("---") and " dojo " in p), None)
    if dojo is not None:
        keep += lines[dojo + 1:section_end(dojo + 1)]
    counts = [line for line, p in zip(lines, plain, strict=True)
              if re.search(r"\d+ (passed|failed|errors?|skipped)\b", p) and " in " in p]
    keep += counts[-1:] if counts else lines[-5:]
    return "\n".join(keep)


def watch(root: Path, kata, console, *, on_start=None) -> int:
    """Loop until Ctrl-C. `on_start` is called once before the first run (opens the attempt)."""
    from rich.text import Text

    try:
        from watchfiles import watch as watch_files
    except ImportError:
        raise WatchUnavailable(
            "`dojo watch` needs watchfiles, an optional extra: run "
            "`.venv/bin/pip install -e '.[watch]'` (or `pip install watchfiles`).") from None

    sources = [p.read_text(encoding="utf-8") for p in (kata.test_path, kata.solution_path)
               if p.exists()]
    color = console.is_terminal and console.color_system is not None
    runner = WarmRunner(root, kata.slug, modules_to_warm(*sources), color)

    def show(reason: str) -> None:
        saved = time.perf_counter()
        run = runner.run()
        if run.passed:
            recorded = runner.run(record=True)
            run = Run(recorded.returncode, recorded.output, run.seconds + recorded.seconds)
        if console.is_terminal:
            console.clear()
        verdict = "[bold green]PASS[/]" if run.passed else "[bold red]FAIL[/]"
        console.print(f"{verdict} {kata.slug}  ({reason}; result in "
                      f"{time.perf_counter() - saved:.2f}s)  "
                      f"[dim]watching {kata.folder.relative_to(root)}/ - Ctrl-C stops[/]")
        # Failing saves run with --no-record on purpose (see the module docstring).
        console.print(Text.from_ansi(digest(run.output).replace(" (starter; not recorded)",
                                                                "")))

    if on_start is not None:
        on_start()
    try:
        show("first run")
        for changes in watch_files(kata.folder, step=30, debounce=400,
                                   watch_filter=lambda _, path: path.endswith(WATCHED_SUFFIXES)
                                   and not path.endswith(".tmp"),
                                   raise_interrupt=True):
            names = sorted({Path(p).name for _, p in changes})
            show(f"saved {', '.join(names)}")
    except KeyboardInterrupt:
        console.print("\nStopped watching.")
    finally:
        runner.close()
    return 0
