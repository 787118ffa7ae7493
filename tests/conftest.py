"""Fixtures for the engine's integration tests: a miniature kata repository in a tmp dir.

`kata_repo` builds, in pytester's folder, a repository with its own pyproject.toml and a
conftest.py that switches the dojo plugin on, plus two toy numpy katas:

    toy    (topic classical-ml, tags numpy + arithmetic): `add(a, b)`, 3 tests, one of which
           only checks that `add` exists (so the pristine starter fails 2 of 3);
    other  (topic statistics, tags numpy + averages): `mean(x)`, 2 tests.

More katas can be added with `kata_repo.add_kata(slug, ...)`. Every DOJO_* variable is cleared,
then DOJO_ROOT, DOJO_PROGRESS, DOJO_NOW and DOJO_TODAY are set for the test; `kata_repo.at()`
moves the clock.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy  # noqa: F401  (imported once here: pytester's in-process runs cannot reload it)
import pytest

from dojo.starters import pristine

pytest_plugins = ["pytester"]

DOJO_ENV = ("DOJO_PROGRESS", "DOJO_ROOT", "DOJO_NOW", "DOJO_TODAY", "DOJO_DEVICE")
TODAY = "2026-11-21"

PYPROJECT = """\
[tool.pytest.ini_options]
testpaths = ["katas"]
addopts = ["--import-mode=importlib"]
"""

CONFTEST = 'pytest_plugins = ["dojo.plugin"]\n'

ADD_SOLUTION = '''\
"""Add two arrays elementwise."""

import numpy as np


def add(a, b):
    """(n,) + (n,) -> (n,); scalars work too."""
    # >>> TODO: return the elementwise sum
    return np.add(a, b)
    # <<<
'''

ADD_TESTS = '''\
import numpy as np


def test_add_exists(kata):
    assert callable(kata.add)


def test_add_scalars(kata):
    assert kata.add(2, 3) == 5


def test_add_arrays(kata):
    np.testing.assert_array_equal(kata.add(np.arange(3), np.ones(3)), [1.0, 2.0, 3.0])
'''

ADD_WRONG = '''\
def add(a, b):
    return a - b
'''

MEAN_SOLUTION = '''\
"""The mean of a vector."""

import numpy as np


def mean(x):
    """(n,) -> float."""
    # >>> TODO: sum and divide by the length
    x = np.asarray(x, dtype=float)
    return x.sum() / len(x)
    # <<<
'''

MEAN_TESTS = '''\
import numpy as np


def test_mean_small(kata):
    assert kata.mean([1.0, 2.0, 3.0]) == 2.0


def test_mean_random(kata):
    x = np.random.default_rng(0).normal(size=10)
    np.testing.assert_allclose(kata.mean(x), x.mean())
'''

MEAN_WRONG = '''\
def mean(x):
    return sum(x) / (len(x) - 1)
'''


def kata_toml(title: str, topic: str, tags: list[str], target_minutes: int = 20) -> str:
    return textwrap.dedent(f"""\
        title = {title!r}
        topic = {topic!r}
        tags = {tags!r}
        difficulty = 1
        target_minutes = {target_minutes}
        devices = ["cpu"]
        hints = ["Read the docstring.", "numpy has a function for it."]
        """)


class KataRepo:
    """A miniature ML Katas repository, with helpers to play the learner."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
        self.pytester = pytester
        self.monkeypatch = monkeypatch
        self.root: Path = pytester.path
        self.progress: Path = self.root / "progress.toml"
        self.solutions: dict[str, str] = {}
        self.wrong: dict[str, str] = {}
        (self.root / "pyproject.toml").write_text(PYPROJECT)
        (self.root / "conftest.py").write_text(CONFTEST)
        (self.root / "katas").mkdir()
        (self.root / "solutions").mkdir()
        self.add_kata("toy", topic="classical-ml", tags=["numpy", "arithmetic"])
        self.add_kata("other", topic="statistics", tags=["numpy", "averages"],
                      solution=MEAN_SOLUTION, tests=MEAN_TESTS, wrong=MEAN_WRONG)
        for name in DOJO_ENV:
            monkeypatch.delenv(name, raising=False)
        # Runs nested in an xdist worker must not think they are one.
        for name in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
                     "PYTEST_XDIST_TESTRUNUID"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DOJO_ROOT", str(self.root))
        monkeypatch.setenv("DOJO_PROGRESS", str(self.progress))
        self.at("10:00:00")

    # ------------------------------------------------------------------ building
    def add_kata(self, slug: str, *, topic: str = "classical-ml",
                 tags: list[str] | None = None, target_minutes: int = 20,
                 solution: str = ADD_SOLUTION, tests: str = ADD_TESTS,
                 wrong: str = ADD_WRONG) -> None:
        folder = self.root / "katas" / slug
        folder.mkdir()
        (folder / "kata.toml").write_text(
            kata_toml(slug.replace("_", " ").title(), topic, tags or ["numpy"], target_minutes))
        (folder / f"test_{slug}.py").write_text(tests)
        (self.root / "solutions" / f"{slug}.py").write_text(solution)
        (folder / "starter.py").write_text(pristine(solution, slug))
        self.solutions[slug] = solution
        self.wrong[slug] = wrong

    def starter(self, slug: str) -> Path:
        return self.root / "katas" / slug / "starter.py"

    def pristine(self, slug: str) -> str:
        """The pristine starter of a kata's original solution."""
        return pristine(self.solutions[slug], slug)

    @staticmethod
    def pristine_of(solution: str, slug: str) -> str:
        return pristine(solution, slug)

    def solve(self, slug: str) -> str:
        """The learner writes the right implementation (the solution, fences and all)."""
        return self.write_starter(slug, self.solutions[slug])

    def break_(self, slug: str) -> str:
        """The learner writes a wrong implementation."""
        return self.write_starter(slug, self.wrong[slug])

    def write_starter(self, slug: str, text: str) -> str:
        self.starter(slug).write_text(text)
        return text

    # ------------------------------------------------------------------ the clock
    def at(self, time: str, day: str = TODAY) -> None:
        """Set DOJO_NOW (UTC) and DOJO_TODAY."""
        self.monkeypatch.setenv("DOJO_NOW", f"{day}T{time}+00:00")
        self.monkeypatch.setenv("DOJO_TODAY", day)

    @staticmethod
    def when(time: str, day: str = TODAY) -> dt.datetime:
        return dt.datetime.fromisoformat(f"{day}T{time}+00:00")

    # ------------------------------------------------------------------ the record
    def record(self) -> dict:
        return self.tomllib_load(self.progress)

    @staticmethod
    def tomllib_load(path: Path) -> dict:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))

    def kata_record(self, slug: str) -> dict:
        return self.record().get("katas", {}).get(slug, {})

    def write_record(self, text: str) -> None:
        self.progress.write_text(textwrap.dedent(text), encoding="utf-8")

    # ------------------------------------------------------------------ running
    def run(self, *args: str) -> pytest.RunResult:
        """pytest in this process (fast)."""
        return self.pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)

    def run_subprocess(self, *args: str, timeout: float = 120) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args,
                                                  timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=self.root, env=dict(os.environ), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """The `dojo` command in a subprocess, pointed at this repository."""
        return subprocess.run([sys.executable, "-m", "dojo.cli", *args], cwd=self.root,
                              env=dict(os.environ), capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture
def kata_repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> KataRepo:
    return KataRepo(pytester, monkeypatch)
