"""Starter generation: golden output, fence errors, and the committed starters."""

from pathlib import Path

import pytest

from dojo import catalog, gate
from dojo.starters import FenceError, header, pristine, todo_lines

SOLUTION = '''\
"""Statement."""
import numpy as np


def mse(y, yhat):
    """Mean squared error."""
    # >>> TODO: average the squared residuals
    r = y - yhat
    return float(np.mean(r * r))
    # <<<


class Model:
    def fit(self, X):
        X = np.asarray(X)
        # >>> TODO: store the column means
        self.mean_ = X.mean(axis=0)
        # <<<
        return self
'''

PRISTINE = '''\
"""Statement."""
import numpy as np


def mse(y, yhat):
    """Mean squared error."""
    # TODO: average the squared residuals
    raise NotImplementedError('TODO: average the squared residuals')


class Model:
    def fit(self, X):
        X = np.asarray(X)
        # TODO: store the column means
        raise NotImplementedError('TODO: store the column means')
        return self
'''


def test_pristine_replaces_each_fence_at_its_indentation():
    assert pristine(SOLUTION, "demo") == header("demo") + PRISTINE


def test_pristine_compiles_and_keeps_signatures():
    namespace = {}
    exec(compile(pristine(SOLUTION, "demo"), "<demo>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="average the squared residuals"):
        namespace["mse"](1, 2)
    assert namespace["mse"].__doc__ == "Mean squared error."


def test_todo_lines():
    assert todo_lines(SOLUTION) == ["average the squared residuals", "store the column means"]


@pytest.mark.parametrize("text, where", [
    ("# >>> TODO: a\nx = 1\n", "line 1"),
    ("x = 1\n# <<<\n", ":2"),
    ("# >>> TODO: a\n# >>> TODO: b\n# <<<\n", ":2"),
    ("x = 1\n", "no `# >>> TODO"),
])
def test_malformed_fences_are_rejected_with_their_line(text, where):
    with pytest.raises(FenceError) as err:
        pristine(text, "demo")
    assert where in str(err.value) or where.replace("line ", ":") in str(err.value)


ROOT = Path(__file__).resolve().parent.parent
KATAS = sorted(catalog.load_catalog(ROOT))


@pytest.mark.parametrize("slug", KATAS)
def test_committed_starter_is_in_sync_with_its_solution(slug):
    # The gate's own check, so that a plain `pytest tests` catches a stale starter too.
    assert gate.check_starter(ROOT, slug) == []


def test_a_todo_continues_on_lines_that_start_with_the_fence_marker():
    solution = (
        "def f(x):\n"
        "    # >>> TODO: first line\n"
        "    # >>>     second line\n"
        "    # a comment of the solution: not kept\n"
        "    y = x + 1\n"
        "    return y\n"
        "    # <<<\n"
    )
    assert pristine(solution, "demo") == header("demo") + (
        "def f(x):\n"
        "    # TODO: first line\n"
        "    #     second line\n"
        "    raise NotImplementedError('TODO: first line')\n"
    )

