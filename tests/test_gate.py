"""The kata quality gate on a miniature repository: each check catches its failure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dojo import gate
from dojo.starters import pristine

SOLUTION = '''\
"""Add two arrays elementwise."""

import numpy as np


def add(a, b):
    """(n,) + (n,) -> (n,)."""
    # >>> TODO: return the elementwise sum
    return np.add(a, b)
    # <<<
'''

TESTS = '''\
import numpy as np
import pytest


def test_add_scalars(kata):
    assert kata.add(2, 3) == 5


def test_add_arrays(kata):
    np.testing.assert_array_equal(kata.add(np.arange(3), np.ones(3)), [1.0, 2.0, 3.0])
'''

# A test that reads the answer from the solution instead of the `kata` fixture.
PEEKING_TESTS = '''\
from solutions.peeks import add as reference


def test_add_matches_the_reference(kata):
    assert kata.add(2, 3) == reference(2, 3)
'''

# Two tests that pass whatever the learner writes: one says so with the mark, one does not.
LAZY_TESTS = TESTS + '''

@pytest.mark.no_todo
def test_numpy_adds():
    assert np.add(1, 1) == 2


def test_add_exists(kata):
    assert callable(kata.add)
'''

SLOW_TESTS = TESTS + '''

def test_add_slowly(kata):
    import time

    time.sleep(1.0)
    assert kata.add(1, 1) == 2
'''

# The fence swallows a whole function: the starter loses `double` (and fails on import).
HIDDEN_SOLUTION = SOLUTION + '''

# >>> TODO: write double(x)
def double(x):
    return 2 * x
# <<<
'''


def kata_toml(hints: str = 'hints = ["numpy has a function for it."]') -> str:
    return textwrap.dedent('''\
        title = "Add"
        topic = "classical-ml"
        tags = ["numpy"]
        difficulty = 1
        target_minutes = 5
        devices = ["cpu"]
        ''') + hints + "\n"


def add_kata(root: Path, slug: str, *, solution: str = SOLUTION, tests: str = TESTS,
             meta: str | None = None, starter: str | None = None) -> None:
    folder = root / "katas" / slug
    folder.mkdir(parents=True)
    (root / "solutions").mkdir(exist_ok=True)
    (root / "solutions" / f"{slug}.py").write_text(solution)
    (folder / "kata.toml").write_text(meta or kata_toml())
    (folder / f"test_{slug}.py").write_text(tests)
    (folder / "starter.py").write_text(starter or pristine(solution, slug))


def make_repo(root: Path) -> Path:
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = ["--import-mode=importlib"]\n')
    (root / "conftest.py").write_text('pytest_plugins = ["dojo.plugin"]\n')
    (root / "katas").mkdir()
    return root


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict[str, gate.KataGate]:
    """One gate run over six katas: one sound, five each broken in one way."""
    root = make_repo(tmp_path_factory.mktemp("repo"))
    add_kata(root, "good")
    add_kata(root, "stale", starter=pristine(SOLUTION, "stale").replace("elementwise sum",
                                                                        "sum"))
    add_kata(root, "peeks", tests=PEEKING_TESTS)
    add_kata(root, "lazy", tests=LAZY_TESTS)
    add_kata(root, "hidden", solution=HIDDEN_SOLUTION)
    add_kata(root, "slow", tests=SLOW_TESTS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJO_ROOT", str(root))
        return {g.slug: g for g in gate.run_gate(root, max_test_seconds=0.8)}


def failing(verdict: gate.KataGate) -> dict[str, list[str]]:
    return {check: reasons for check, reasons in verdict.results.items() if reasons != []}


def test_a_sound_kata_passes_every_check(verdicts):
    assert verdicts["good"].ok, failing(verdicts["good"])


def test_a_stale_starter_is_caught(verdicts):
    assert list(failing(verdicts["stale"])) == ["starter"]
    assert "dojo starters --write" in failing(verdicts["stale"])["starter"][0]


def test_a_test_that_imports_the_solution_is_caught(verdicts):
    problems = failing(verdicts["peeks"])
    assert list(problems) == ["tests"]
    assert problems["tests"] == [
        "katas/peeks/test_peeks.py:1: `from solutions.peeks import ...`; tests reach the code "
        "only through the `kata` fixture"]


def test_a_test_passing_on_the_pristine_starter_without_the_mark_is_caught(verdicts):
    problems = failing(verdicts["lazy"])
    assert list(problems) == ["pristine"]
    assert "test_add_exists" in problems["pristine"][0]
    assert "test_numpy_adds" not in problems["pristine"][0]  # it carries @pytest.mark.no_todo


def test_an_api_mismatch_is_caught(verdicts):
    problems = failing(verdicts["hidden"])
    assert list(problems) == ["api"]
    assert "the starter lacks `double`" in problems["api"][0]


def test_a_slow_test_is_caught(verdicts):
    problems = failing(verdicts["slow"])
    assert list(problems) == ["speed"]
    assert problems["speed"][0].startswith("test_add_slowly takes")


def test_a_kata_toml_without_hints_fails_and_stops_the_pytest_checks(tmp_path, monkeypatch,
                                                                     capsys):
    root = make_repo(tmp_path)
    add_kata(root, "good")
    add_kata(root, "nohints", meta=kata_toml(hints=""))
    monkeypatch.setenv("DOJO_ROOT", str(root))
    assert gate.main([]) == 1
    out = capsys.readouterr().out
    assert "katas/nohints/kata.toml: missing `hints`" in out
    assert "pytest cannot start while katas/nohints/kata.toml is invalid" in out
    assert "good" in out and "✗" in out


def test_an_unknown_kata_name_is_a_usage_error(tmp_path, monkeypatch, capsys):
    root = make_repo(tmp_path)
    add_kata(root, "good")
    monkeypatch.setenv("DOJO_ROOT", str(root))
    assert gate.main(["nope"]) == 2
    assert "No kata, topic or tag is called 'nope'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- pure checks


def test_public_api_lists_functions_classes_and_public_methods():
    api = gate.public_api(textwrap.dedent('''\
        def f(x, *, k: int = 2) -> int: ...
        def _helper(): ...
        class Model(Base):
            def __init__(self, d): ...
            def fit(self, X, y=None): ...
            def _private(self): ...
            @classmethod
            def load(cls, path): ...
        '''))
    assert api == {
        "f": "f(x, *, k: int=2) -> int",
        "Model": "class Model(Base)",
        "Model.__init__": "__init__(self, d)",
        "Model.fit": "fit(self, X, y=None)",
        "Model.load": "@classmethod load(cls, path)",
    }


@pytest.mark.parametrize("source, expected", [
    ("import solutions.demo\ndef test_x(kata): ...", "imports solutions.demo"),
    ("import importlib.util\ndef test_x(kata): ...", "via importlib"),
    ("from starter import f\ndef test_x(kata): ...", "from starter import"),
    ("from dojo.loading import load\ndef test_x(kata): ...", "from dojo.loading import"),
    ("def test_x(kata):\n    exec(open('../../solutions/demo.py').read())",
     "refers to the path '../../solutions/demo.py'"),
    ("def test_x(kata, root):\n    (root / 'solutions').exists()", "refers to the path"),
    ("def test_x():\n    assert True", "no test or fixture requests the `kata` fixture"),
])
def test_hygiene_catches_a_test_that_bypasses_the_kata_fixture(source, expected):
    problems = gate.hygiene_problems(source, "katas/demo/test_demo.py")
    assert any(expected in p for p in problems), problems


def test_hygiene_accepts_oracles_and_dojo_testing():
    source = textwrap.dedent('''\
        """Compares with the reference solutions of scipy."""
        import numpy as np
        from scipy import stats
        from dojo.testing import assert_close

        def test_x(kata):
            assert_close(kata.f(np.ones(2)), stats.norm.cdf(0), what="the solutions agree")
        ''')
    assert gate.hygiene_problems(source, "katas/demo/test_demo.py") == []
