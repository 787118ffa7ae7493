"""Mutation testing: golden output of the pure mutator, and one end-to-end run on a
miniature kata repository."""

from __future__ import annotations

import difflib
import json
import textwrap

import pytest

from dojo import mutation
from dojo.mutation import Mutant, equivalents, fenced_lines, mutants, sample

SOURCE = '''\
import numpy as np

LIMIT = 10


def mse(y, yhat):
    """Mean squared error."""
    n = len(y) - 1  # outside the fences: never mutated
    # >>> TODO: average the squared residuals
    r = y - yhat
    return np.mean(r * r, axis=0)
    # <<<


def flip(X, k=-1):
    # >>> TODO: transpose X, or sum it along the last dim
    if X.ndim <= 2:
        return X.T / 0.5
    return -X.sum(dim=-1)
    # <<<
'''

GOLDEN = [  # (id, operator, line, description)
    ("193b0e96", "return", 10, "return None inserted"),
    ("35d87dc6", "return", 10, "return y inserted"),
    ("e0204993", "arith", 10, "y - yhat -> y + yhat"),
    ("d4d5f58c", "drop", 10, "y - yhat -> y"),
    ("62aecc28", "drop", 10, "y - yhat -> -yhat"),
    ("4f9b6195", "axis", 11, "np.mean(r * r, axis=0) -> np.mean(r * r, axis=1)"),
    ("ef4983b2", "reduce", 11, "np.mean(r * r, axis=0) -> r * r"),
    ("864eafa4", "arith", 11, "r * r -> r / r"),
    ("bcabb4d7", "drop", 11, "r * r -> r"),
    ("f7ec33f5", "return", 17, "return None inserted"),
    ("9fa7f521", "return", 17, "return X inserted"),
    ("9255a170", "compare", 17, "X.ndim <= 2 -> X.ndim < 2"),
    ("b56fddbf", "const", 17, "2 -> 3"),
    ("3bbbc0c5", "const", 17, "2 -> 1"),
    ("4503ebd9", "transpose", 18, "X.T -> X"),
    ("4d580624", "arith", 18, "X.T / 0.5 -> X.T * 0.5"),
    ("4256d8c9", "drop", 18, "X.T / 0.5 -> X.T"),
    ("407f736d", "const", 18, "0.5 -> 1.0"),
    ("dae3034f", "arith", 19, "-X.sum(dim=-1) -> X.sum(dim=-1)"),
    ("aa4ac666", "axis", 19, "X.sum(dim=-1) -> X.sum(dim=-2)"),
    ("ec57515f", "reduce", 19, "X.sum(dim=-1) -> X"),
    ("c82e2b1f", "const", 19, "-1 -> 0"),
]


def test_golden_mutants_of_a_small_solution():
    found = [(m.id, m.operator, m.line, m.description) for m in mutants(SOURCE)]
    assert found == GOLDEN


def test_every_mutant_compiles_and_differs_from_the_rest():
    found = mutants(SOURCE)
    for m in found:
        compile(m.mutated_source, m.id, "exec")
    assert len({m.mutated_source for m in found}) == len(found)
    assert SOURCE not in {m.mutated_source for m in found}


def test_only_lines_inside_the_fences_change():
    inside = {n for a, b in fenced_lines(SOURCE) for n in range(a, b + 1)}
    assert inside == {10, 11, 17, 18, 19}
    original = SOURCE.splitlines()
    for m in mutants(SOURCE):
        matcher = difflib.SequenceMatcher(a=original, b=m.mutated_source.splitlines())
        for tag, a0, a1, _b0, _b1 in matcher.get_opcodes():
            if tag == "equal":
                continue
            # A replaced or deleted line lies in a fence; an inserted one goes right before
            # the fence's first code line.
            touched = set(range(a0 + 1, a1 + 1)) or {a0 + 1}
            assert touched <= inside, (m, tag, a0, a1)


def test_the_mutants_change_what_they_say():
    by_id = {m.id: m for m in mutants(SOURCE)}
    assert "return np.mean(r * r, axis=1)" in by_id["4f9b6195"].mutated_source
    assert "        return X / 0.5\n" in by_id["4503ebd9"].mutated_source
    early = by_id["193b0e96"].mutated_source.splitlines()
    assert early[9:11] == ["    return None", "    r = y - yhat"]
    # Precedence survives the splice: the dropped term leaves `-(...)`, not a new binding.
    assert "w - lr * (dw + l2 * w) -> -(lr * (dw + l2 * w))" in [
        m.description for m in mutants("def f(w, lr, dw, l2):\n    # >>> TODO: step\n"
                                       "    return w - lr * (dw + l2 * w)\n    # <<<\n")]


def test_ids_and_descriptions_survive_a_line_shift():
    shifted = mutants("# a new comment line\n\n" + SOURCE)
    assert [(m.id, m.description) for m in shifted] == [(i, d) for i, _o, _l, d in GOLDEN]
    assert [m.line for m in shifted] == [line + 2 for _i, _o, line, _d in GOLDEN]


def test_the_same_change_twice_on_one_line_is_numbered():
    found = mutants("def f(e):\n    # >>> TODO: x\n    return (1 + e) / (1 + e)\n    # <<<\n")
    described = [m.description for m in found if m.description.startswith("1 + e -> 1 - e")]
    assert described == ["1 + e -> 1 - e", "1 + e -> 1 - e (#2)"]
    assert len({m.id for m in found}) == len(found)


def test_fences_at_module_level_get_no_early_return():
    source = "# >>> TODO: a constant\nK = 3\n# <<<\n"
    assert [m.description for m in mutants(source)] == ["3 -> 4", "3 -> 2"]


def test_sample_is_fixed_by_seed_and_kept_in_source_order():
    found = mutants(SOURCE)
    first = sample(found, 5, seed=1, slug="demo")
    assert first == sample(found, 5, seed=1, slug="demo")
    assert len(first) == 5 and first == [m for m in found if m in first]
    assert sample(found, None, seed=1, slug="demo") == found
    assert sample(found, 100, seed=1, slug="demo") == found


def test_equivalent_marks_match_on_line_text_and_change():
    marks = equivalents({"equivalent_mutants": [
        {"line_text": "r = y -  yhat", "change": "y - yhat -> y", "reason": "demo"}]}, "demo")
    matched = [m.id for m in mutants(SOURCE) if any(e.matches(m) for e in marks)]
    assert matched == ["d4d5f58c"]
    with pytest.raises(ValueError, match="reason"):
        equivalents({"equivalent_mutants": [{"line_text": "x", "change": "y"}]}, "demo")


@pytest.mark.parametrize("code, status", [
    (0, "survived"), (1, "killed"), (None, "killed"), (-11, "killed"), (2, "error"),
    (3, "error"), (4, "error"), (5, "error"),
])
def test_exit_codes(code, status):
    assert mutation._classify(code, "tail")[0] == status


# ---------------------------------------------------------------------------- end to end

SOLUTION = '''\
"""The mean of a vector."""

import numpy as np


def mean(x):
    """(n,) -> float."""
    # >>> TODO: sum and divide by the length
    x = np.asarray(x, dtype=np.float64)
    return float(x.sum() / len(x))
    # <<<
'''

# Only a one-element input: `* len(x)` and a dropped `/ len(x)` survive (a dropped `.sum()`
# dies in float(), which refuses a 1-d array).
WEAK_TESTS = '''\
def test_mean_of_one_value(kata):
    assert kata.mean([3.0]) == 3.0
'''

KATA_TOML = '''\
title = "Mean"
topic = "statistics"
tags = ["numpy"]
difficulty = 1
target_minutes = 5
devices = ["cpu"]
hints = ["Sum, then divide."]

[[equivalent_mutants]]
line_text = "return float(x.sum() / len(x))"
change = "x.sum() / len(x) -> x.sum()"
reason = "for a test that only ever averages one value"

[[equivalent_mutants]]
line_text = "return x.mean()"
change = "x.mean() -> x"
reason = "a line that no longer exists"
'''


@pytest.fixture
def mini_repo(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = ["--import-mode=importlib"]\n')
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["dojo.plugin"]\n')
    folder = tmp_path / "katas" / "mean"
    folder.mkdir(parents=True)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "mean.py").write_text(SOLUTION)
    (folder / "kata.toml").write_text(KATA_TOML)
    (folder / "test_mean.py").write_text(WEAK_TESTS)
    monkeypatch.setenv("DOJO_ROOT", str(tmp_path))
    return tmp_path


def test_main_counts_kills_lists_survivors_and_fails_below_the_threshold(mini_repo, tmp_path,
                                                                        capsys):
    out = tmp_path / "mutation.json"
    assert mutation.main(["mean", "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "Mutation testing" in printed and "75%" in printed
    assert "line 10: x.sum() / len(x) -> x.sum() * len(x)" in printed
    assert "stale equivalent mark" in printed
    [kata] = json.loads(out.read_text())["katas"]
    assert (kata["mutants"], kata["killed"], kata["survived"], kata["equivalent"],
            kata["errors"]) == (5, 3, 1, 1, 0)
    assert kata["kill_rate"] == 0.75
    [survivor] = [o for o in kata["outcomes"]
                  if o["status"] == "survived" and "equivalent" not in o]
    assert (survivor["line"], survivor["change"]) == (10, "x.sum() / len(x) -> x.sum() * len(x)")
    [equivalent] = [o for o in kata["outcomes"] if "equivalent" in o]
    assert equivalent["status"] == "survived"
    assert [e["line_text"] for e in kata["stale_equivalents"]] == ["return x.mean()"]


def test_a_failing_solution_is_not_measured(mini_repo):
    (mini_repo / "katas" / "mean" / "test_mean.py").write_text(textwrap.dedent('''\
        def test_wrong_expectation(kata):
            assert kata.mean([3.0]) == 4.0
        '''))
    [report] = mutation.run(mini_repo, ["mean"])
    assert report.problem is not None and "reference solution fails" in report.problem
    assert report.outcomes == [] and not report.passes(0.85)


def test_mutant_str_is_the_readable_diff_line():
    m = Mutant("abcd1234", 42, "return np.mean(r)", "np.mean(r) -> r", "reduce", "")
    assert str(m) == "line 42: np.mean(r) -> r"


def test_the_report_prints_survivor_ids_and_source_text_verbatim():
    # "[d4df1fb9]" and "x[b]" look like rich markup tags; they must reach the maintainer as is.
    from rich.console import Console

    m = Mutant(id="d4df1fb9", line=7, line_text="return x[b] * 2", description="2 -> 3",
               operator="const", mutated_source="")
    report = mutation.KataReport("demo", outcomes=[mutation.Outcome(m, mutation.SURVIVED)],
                                 total=1)
    console = Console(record=True, width=200)
    mutation.print_reports([report], 0.85, console=console)
    text = console.export_text()
    assert "survived [d4df1fb9] line 7: 2 -> 3   (return x[b] * 2)" in text
