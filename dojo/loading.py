"""Load the module under test for a kata: the learner's starter, the reference solution, or
the pristine starter generated in memory from the solution."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from dojo.catalog import Kata
from dojo.starters import pristine

IMPLS = ("starter", "solution", "pristine")


class KataImportError(Exception):
    """The file under test could not be imported; the message says which file and why."""


def module_name(kata: Kata, impl: str) -> str:
    return f"dojo_kata_{kata.slug}_{impl}"


def load(kata: Kata, impl: str) -> types.ModuleType:
    """Import the chosen implementation of a kata as a fresh module.

    `impl` is starter, solution, pristine, or the path of any other file to test in the
    kata's place (an archived attempt, a mutant of the solution).

    The module is registered in sys.modules under a stable name, so that pickling and
    subprocesses (multiprocessing, torch.distributed) can find it again.
    """
    name = module_name(kata, impl if impl in IMPLS else "file")
    module = _import(kata, impl, name)
    # What was loaded, so that another process can load the same thing again
    # (dojo.distributed's spawned ranks); the pristine starter has no file to point at.
    module.__dojo_kata__ = (str(kata.root), kata.slug, impl)
    return module


def _import(kata: Kata, impl: str, name: str) -> types.ModuleType:
    if impl == "pristine":
        source = pristine(kata.solution_path.read_text(encoding="utf-8"), kata.slug)
        filename = f"<pristine starter of {kata.slug}>"
        module = types.ModuleType(name)
        module.__file__ = filename
        sys.modules[name] = module
        try:
            exec(compile(source, filename, "exec"), module.__dict__)
        except Exception as err:
            del sys.modules[name]
            raise KataImportError(
                f"the pristine starter of {kata.slug} does not import: {err!r}") from err
        return module
    path = {"starter": kata.starter_path, "solution": kata.solution_path}.get(impl)
    path = Path(impl) if path is None else path
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise KataImportError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError:
        del sys.modules[name]
        raise KataImportError(
            f"{path} is missing; `dojo reset {kata.slug}` writes a fresh starter"
        ) from None
    except SyntaxError as err:
        del sys.modules[name]
        raise KataImportError(
            f"{path}:{err.lineno}: syntax error: {err.msg}. Fix it and run again."
        ) from None
    except Exception as err:
        del sys.modules[name]
        raise KataImportError(
            f"importing {path} raised {type(err).__name__}: {err}. Code at module level runs "
            "on import; keep work inside the functions."
        ) from err
    return module
