"""The kata quality gate: a maintainer check that makes a broken kata impossible to ship.

For each kata (all, or those named by slug, topic or tag) it confirms:

    toml       kata.toml complete and valid (catalog.validate_meta, a known topic, well-formed
               [[equivalent_mutants]])
    starter    the committed starter.py is exactly the pristine starter of the solution
    API        starter and solution define the same public functions, classes and methods
               with the same signatures (public: not starting with `_`, dunders included)
    tests      every test file requests the `kata` fixture and never reaches a solution or a
               starter by itself (no import of solutions/starter/importlib/runpy/dojo.loading,
               no path to solutions/ or starter.py, no exec or __import__)
    solution   every test passes on the reference solution (skips allowed)
    pristine   every test fails on the pristine starter, except those marked
               `@pytest.mark.no_todo`, which must pass there (see below)
    speed      no test takes more than 5 s on CPU with the solution (setup + call + teardown)

"Exercises a TODO", precisely: a test exercises a TODO when it runs code inside a TODO fence.
The pristine starter replaces every fence with `raise NotImplementedError`, so such a test
cannot pass on it. The gate turns that around: a test that does NOT fail on the pristine
starter exercises no TODO, and must say so with `@pytest.mark.no_todo` (benchmarks of given
helpers, checks of constants the learner is handed). A test so marked must pass on the
pristine starter, or the mark is wrong. A test skipped on both is ignored.

All the pytest work is two subprocess runs over every selected kata at once, one with
`--impl solution` and one with `--impl pristine`, run side by side with `--device cpu`. Each
loads this module as a plugin (`-p dojo.gate`) so that `OutcomeRecorder` writes every test's
outcome, duration and markers to a JSON file. Subprocesses rather than `pytest.main` in this
process: pytest's importlib mode caches test modules in sys.modules, so a second in-process
run would reuse the first's, and a kata that crashes or leaks state must not take the gate
with it.

The checks that read files (kata.toml, starter, API, tests) are plain functions of the
repository root; `run_gate(root)` runs them all and `main()` prints the table.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from dojo import catalog as catalog_mod
from dojo.starters import FenceError, pristine

CHECKS = {  # key -> column header
    "meta": "toml",
    "starter": "starter",
    "api": "API",
    "tests": "tests",
    "solution": "solution",
    "pristine": "pristine",
    "speed": "speed",
}
# The topics of docs/authoring.md.
TOPICS = ("classical-ml", "statistics", "dl-fundamentals", "transformers", "systems",
          "retrieval")
MAX_TEST_SECONDS = 5.0
MARKER = "no_todo"
MARKER_LINE = ("no_todo: the test exercises no TODO, so it passes on the pristine starter "
               "(checked by python -m dojo.gate)")
REPORT_ENV = "DOJO_GATE_REPORT"
# Modules through which a test could reach a file instead of the `kata` fixture.
FORBIDDEN_IMPORTS = ("solutions", "starter", "katas", "importlib", "runpy", "imp",
                     "dojo.loading", "dojo.starters", "dojo.catalog", "dojo.attempts")
PATHLIKE = re.compile(r"(^|[/\\])(solutions([/\\].*)?|starter\.py)$")


# ---------------------------------------------------------------------------- the recorder


class OutcomeRecorder:
    """Pytest plugin: every test's outcome, duration and no_todo mark, written as JSON."""

    def __init__(self, path: str):
        self.path = path
        self.tests: dict[str, dict] = {}
        self.collect_errors: list[dict] = []

    def _entry(self, nodeid: str) -> dict:
        return self.tests.setdefault(nodeid, {"outcome": "not run", "seconds": 0.0,
                                              "no_todo": False, "message": ""})

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append({"nodeid": report.nodeid,
                                        "message": str(report.longrepr)[-800:]})

    def pytest_collection_finish(self, session):
        for item in session.items:
            entry = self._entry(item.nodeid)
            entry["path"] = str(item.path)
            entry["no_todo"] = item.get_closest_marker(MARKER) is not None

    def pytest_runtest_logreport(self, report):
        entry = self._entry(report.nodeid)
        entry["seconds"] += report.duration
        if report.failed:
            entry["outcome"] = "failed"
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr)
            entry["message"] = (message.strip().splitlines() or [""])[0][:160]
        elif entry["outcome"] == "failed":
            return
        elif report.skipped:
            entry["outcome"] = "skipped"
        elif report.when == "call":
            entry["outcome"] = "passed"

    def pytest_sessionfinish(self, session, exitstatus):
        Path(self.path).write_text(json.dumps({
            "exitstatus": int(exitstatus), "tests": self.tests,
            "collect_errors": self.collect_errors}), encoding="utf-8")


def pytest_configure(config):
    """Active only under `-p dojo.gate`: registers the marker and, for the gate's own runs,
    the recorder."""
    config.addinivalue_line("markers", MARKER_LINE)
    if path := os.environ.get(REPORT_ENV):
        config.pluginmanager.register(OutcomeRecorder(path), "dojo-gate-recorder")


# ---------------------------------------------------------------------------- static checks


def kata_slugs(root: Path) -> list[str]:
    """Every folder under katas/ that holds a kata.toml or a test file, valid or not."""
    folders = root / "katas"
    if not folders.is_dir():
        return []
    return sorted(p.name for p in folders.iterdir() if p.is_dir() and (
        (p / "kata.toml").exists() or any(p.glob("test_*.py"))))


def check_meta(root: Path, slug: str) -> list[str]:
    path = root / "katas" / slug / "kata.toml"
    try:
        meta = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"katas/{slug}/kata.toml is missing (docs/authoring.md lists its keys)"]
    except tomllib.TOMLDecodeError as err:
        return [f"katas/{slug}/kata.toml does not parse: {err}"]
    problems = catalog_mod.validate_meta(slug, meta)
    if not problems:
        if meta["topic"] not in TOPICS:
            problems.append(f"katas/{slug}/kata.toml: `topic` {meta['topic']!r} is not one "
                            f"of {', '.join(TOPICS)}")
        if not meta["title"].strip():
            problems.append(f"katas/{slug}/kata.toml: `title` is empty")
        if not meta["tags"]:
            problems.append(f"katas/{slug}/kata.toml: give at least one tag")
    from dojo.mutation import equivalents

    try:
        equivalents(meta, slug)
    except ValueError as err:
        problems.append(str(err))
    return problems


def check_starter(root: Path, slug: str) -> list[str]:
    solution = root / "solutions" / f"{slug}.py"
    starter = root / "katas" / slug / "starter.py"
    try:
        expected = pristine(solution.read_text(encoding="utf-8"), slug)
    except FileNotFoundError:
        return [f"solutions/{slug}.py is missing"]
    except FenceError as err:
        return [str(err)]
    if not starter.exists():
        return [f"katas/{slug}/starter.py is missing: run `dojo starters --write`"]
    if starter.read_text(encoding="utf-8") != expected:
        return [f"katas/{slug}/starter.py is out of date with solutions/{slug}.py: run "
                "`dojo starters --write` and commit the result"]
    return []


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    decorators = "".join(f"@{ast.unparse(d)} " for d in node.decorator_list)
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{decorators}{node.name}({ast.unparse(node.args)}){returns}"


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def public_api(source: str) -> dict[str, str]:
    """Public top-level functions and classes, and the public methods of those classes, as
    {qualified name: signature}. Pure; raises SyntaxError."""
    api: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
            api[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            bases = ", ".join(ast.unparse(b) for b in (*node.bases, *node.keywords))
            api[node.name] = f"class {node.name}({bases})"
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and \
                        _public(item.name):
                    api[f"{node.name}.{item.name}"] = _signature(item)
    return api


def check_api(root: Path, slug: str) -> list[str]:
    solution = root / "solutions" / f"{slug}.py"
    starter = root / "katas" / slug / "starter.py"
    try:
        solution_text = solution.read_text(encoding="utf-8")
        starter_text = starter.read_text(encoding="utf-8") if starter.exists() \
            else pristine(solution_text, slug)
        theirs, ours = public_api(solution_text), public_api(starter_text)
    except (OSError, FenceError, SyntaxError) as err:
        return [f"cannot compare the APIs: {err}"]
    problems = []
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            problems.append(f"the starter lacks `{name}` (the solution has `{theirs[name]}`); "
                            "is its definition inside a TODO fence?")
        elif name not in theirs:
            problems.append(f"the starter defines `{name}`, which the solution does not")
        elif ours[name] != theirs[name]:
            problems.append(f"`{name}` differs: starter `{ours[name]}`, solution "
                            f"`{theirs[name]}`")
    return problems


def _forbidden(module: str) -> str | None:
    for bad in FORBIDDEN_IMPORTS:
        if module == bad or module.startswith(bad + "."):
            return bad
    return None


def hygiene_problems(source: str, name: str) -> list[str]:
    """Why a kata's test file might bypass the `kata` fixture. Pure; `name` is for messages."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return [f"{name}:{err.lineno}: syntax error: {err.msg}"]
    problems = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if bad := _forbidden(alias.name):
                    problems.append(f"{where}: imports {alias.name}; tests reach the code "
                                    f"only through the `kata` fixture, never via {bad}")
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            bad = _forbidden(node.module or "") if node.level == 0 else None
            if node.level or bad:
                problems.append(f"{where}: `from {module} import ...`; tests reach the code "
                                "only through the `kata` fixture")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("__import__", "exec", "execfile"):
            problems.append(f"{where}: calls {node.func.id}(); use the `kata` fixture")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                PATHLIKE.search(node.value.strip()):
            problems.append(f"{where}: refers to the path {node.value!r}; tests never read "
                            "a solution or a starter, they use the `kata` fixture")
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not any(a.arg == "kata" for f in functions
               for a in (*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs)):
        problems.append(f"{name}: no test or fixture requests the `kata` fixture, so nothing "
                        "here tests the learner's code")
    return problems


def check_tests(root: Path, slug: str) -> list[str]:
    folder = root / "katas" / slug
    files = sorted({*folder.glob("test_*.py"), *folder.glob("*_test.py")})
    if not files:
        return [f"katas/{slug} has no test file (expected katas/{slug}/test_{slug}.py)"]
    problems = []
    for path in [*files, *folder.glob("conftest.py")]:
        found = hygiene_problems(path.read_text(encoding="utf-8"),
                                   path.relative_to(root).as_posix())
        if path.name == "conftest.py":
            found = [p for p in found if "requests the `kata` fixture" not in p]
        problems += found
    return problems


# ---------------------------------------------------------------------------- pytest runs


@dataclasses.dataclass
class SuiteRun:
    """One pytest run over the selected katas: per-test outcomes, or why it could not run."""

    impl: str
    tests: dict[str, dict] = dataclasses.field(default_factory=dict)
    collect_errors: list[dict] = dataclasses.field(default_factory=list)
    error: str | None = None  # pytest did not get to run the tests
    seconds: float = 0.0

    def of(self, root: Path, slug: str) -> dict[str, dict]:
        return {nodeid: t for nodeid, t in self.tests.items()
                if catalog_mod.kata_of_path(root, root / nodeid.split("::")[0]) == slug}

    def collect_errors_of(self, root: Path, slug: str) -> list[dict]:
        return [e for e in self.collect_errors
                if catalog_mod.kata_of_path(root, root / e["nodeid"].split("::")[0]) == slug]


def isolated_env(root: Path, scratch: Path) -> dict[str, str]:
    """The environment of a maintainer's pytest subprocess: this repository, a scratch
    record (the learner's progress.toml is never touched), CPU, and no inherited xdist."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))}
    env.update(DOJO_ROOT=str(root), DOJO_PROGRESS=str(scratch / "progress.toml"),
               DOJO_DEVICE="cpu", PYTHONDONTWRITEBYTECODE="1")
    # The gate and the mutation tool run two pytest processes side by side: with torch's
    # default of one intra-op thread per core they oversubscribe the cores, and the tiny ops
    # of kata tests then spend their time waiting on each other (a 2-core machine ran the
    # transformer katas' gate in 100 s this way, 10 s with one thread each).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_suites(root: Path, slugs: list[str], impls=("solution", "pristine"),
               timeout: float = 600.0) -> dict[str, SuiteRun]:
    """Run the katas' tests once per impl, the runs side by side, and read their outcomes."""
    runs = {impl: SuiteRun(impl) for impl in impls}
    if not slugs:
        return runs
    with tempfile.TemporaryDirectory(prefix="dojo-gate-") as tmp:
        scratch = Path(tmp)
        procs = {}
        for impl in impls:
            env = isolated_env(root, scratch)
            env[REPORT_ENV] = str(scratch / f"{impl}.json")
            cmd = [sys.executable, "-m", "pytest", *(str(root / "katas" / s) for s in slugs),
                   "--impl", impl, "--no-record", "--device", "cpu", "-q", "-p",
                   "no:cacheprovider", "-p", "dojo.gate", "--timeout=60"]
            procs[impl] = (subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True),
                           time.monotonic())
        for impl, (proc, started) in procs.items():
            run = runs[impl]
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
                run.error = f"the --impl {impl} run took over {timeout:.0f}s and was stopped"
            run.seconds = time.monotonic() - started
            report = scratch / f"{impl}.json"
            if run.error is None and not report.exists():
                tail = "\n".join(output.strip().splitlines()[-6:])
                run.error = (f"pytest --impl {impl} could not start (exit {proc.returncode}):"
                             f"\n{tail}")
            elif run.error is None:
                data = json.loads(report.read_text(encoding="utf-8"))
                run.tests, run.collect_errors = data["tests"], data["collect_errors"]
    return runs


def _short_id(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1]


def _listing(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(_short_id(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check_solution(run: SuiteRun, root: Path, slug: str) -> list[str]:
    problems = [f"{e['nodeid']} does not collect: "
                f"{(e['message'].strip().splitlines() or [''])[-1]}"
                for e in run.collect_errors_of(root, slug)]
    tests = run.of(root, slug)
    if not tests and not problems:
        return [f"no test of katas/{slug} was collected"]
    failed = [n for n, t in tests.items() if t["outcome"] == "failed"]
    not_run = [n for n, t in tests.items() if t["outcome"] == "not run"]
    for nodeid in failed[:5]:
        problems.append(f"{_short_id(nodeid)} fails on the reference solution: "
                        f"{tests[nodeid]['message']}")
    if len(failed) > 5:
        problems.append(f"... and {len(failed) - 5} more failing tests "
                        f"(pytest katas/{slug} --impl solution)")
    if not_run:
        problems.append(f"{len(not_run)} tests did not run: {_listing(not_run)}")
    return problems


def check_pristine(solution: SuiteRun, starter: SuiteRun, root: Path, slug: str) -> list[str]:
    tests = starter.of(root, slug)
    if not tests:
        return [f"no test of katas/{slug} ran on the pristine starter"]
    on_solution = solution.of(root, slug)
    passing, skipped, wrong_marks = [], [], []
    for nodeid, t in tests.items():
        outcome = t["outcome"]
        if t["no_todo"]:
            if outcome == "failed":
                wrong_marks.append(nodeid)
        elif outcome == "passed":
            passing.append(nodeid)
        elif outcome in ("skipped", "not run") and \
                on_solution.get(nodeid, {}).get("outcome") == "passed":
            skipped.append(nodeid)
    problems = []
    if passing:
        problems.append(f"{len(passing)} tests pass on the pristine starter, so they exercise "
                        f"no TODO: {_listing(passing)}. Make them call the learner's code, "
                        f"or mark them @pytest.mark.{MARKER}")
    if skipped:
        problems.append(f"{len(skipped)} tests are skipped on the pristine starter but pass on "
                        f"the solution: {_listing(skipped)}")
    if wrong_marks:
        problems.append(f"{len(wrong_marks)} tests marked {MARKER} fail on the pristine "
                        f"starter, so they do exercise a TODO: drop the mark from "
                        f"{_listing(wrong_marks)}")
    return problems


def check_speed(run: SuiteRun, root: Path, slug: str, limit: float) -> list[str]:
    slow = sorted(((t["seconds"], n) for n, t in run.of(root, slug).items()
                   if t["seconds"] > limit), reverse=True)
    return [f"{_short_id(n)} takes {s:.1f}s on cpu (limit {limit:g}s): use smaller inputs, "
            "or move speed claims to a benchmark" for s, n in slow]


# ---------------------------------------------------------------------------- the gate


@dataclasses.dataclass
class KataGate:
    """One kata's verdicts: per check, None (not run), [] (passed) or the reasons it failed."""

    slug: str
    results: dict[str, list[str] | None] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(CHECKS))
    not_run_because: str = ""

    @property
    def ok(self) -> bool:
        return all(r == [] for r in self.results.values())


def select_slugs(root: Path, names: list[str] | None) -> list[str]:
    """Slugs of the katas to gate: all, or those whose slug, topic or tag is named. A kata
    whose kata.toml is broken can still be named by its slug."""
    slugs = kata_slugs(root)
    if not names:
        return slugs
    catalog = {}
    for slug in slugs:
        try:
            catalog[slug] = catalog_mod.load_kata(root, slug)
        except catalog_mod.CatalogError:
            pass
    chosen, rest = set(), []
    for name in names:
        slug = name.strip().lower().replace("-", "_")
        if slug in slugs:
            chosen.add(slug)
        else:
            rest.append(name)
    if rest:
        chosen.update(k.slug for k in catalog_mod.select(catalog, rest))
    return sorted(chosen)


def run_gate(root: Path, names: list[str] | None = None,
             max_test_seconds: float = MAX_TEST_SECONDS) -> list[KataGate]:
    """Every check on every selected kata. Raises CatalogError for an unknown name."""
    root = root.resolve()
    slugs = select_slugs(root, names)
    gates = {slug: KataGate(slug) for slug in slugs}
    for slug, gate in gates.items():
        gate.results["meta"] = check_meta(root, slug)
        gate.results["starter"] = check_starter(root, slug)
        gate.results["api"] = check_api(root, slug)
        gate.results["tests"] = check_tests(root, slug)

    # The dojo plugin loads the whole catalog, so one broken kata.toml stops every pytest run.
    broken = [s for s in kata_slugs(root)
              if (gates[s].results["meta"] if s in gates else check_meta(root, s))]
    runnable = [s for s in slugs if (root / "solutions" / f"{s}.py").exists()]
    if broken:
        files = ", ".join(f"katas/{s}/kata.toml" for s in broken)
        why = f"not run: pytest cannot start while {files} is invalid"
        for gate in gates.values():
            gate.not_run_because = why
        return list(gates.values())
    runs = run_suites(root, runnable)
    for slug, gate in gates.items():
        if slug not in runnable:
            gate.not_run_because = f"not run: solutions/{slug}.py is missing"
            continue
        solution, starter = runs["solution"], runs["pristine"]
        if solution.error:
            gate.not_run_because = solution.error
        else:
            gate.results["solution"] = check_solution(solution, root, slug)
            gate.results["speed"] = check_speed(solution, root, slug, max_test_seconds)
        if starter.error:
            gate.not_run_because = starter.error
        elif not solution.error:
            gate.results["pristine"] = check_pristine(solution, starter, root, slug)
    return list(gates.values())


def print_gate(gates: list[KataGate], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # CI logs: wide enough for the table, never wrapped
            console = Console(width=120)
    table = Table(title="Kata quality gate", header_style="bold")
    table.add_column("kata", no_wrap=True)
    for header in CHECKS.values():
        table.add_column(header, justify="center", no_wrap=True, min_width=len(header))
    mark = {None: "[yellow]–[/yellow]", True: "[green]✓[/green]", False: "[red]✗[/red]"}
    for gate in gates:
        table.add_row(gate.slug, *(mark[None if r is None else not r]
                                   for r in gate.results.values()))
    console.print(table)
    for gate in gates:
        if gate.ok:
            continue
        console.print(f"[bold]{gate.slug}[/bold]", highlight=False)
        for key, reasons in gate.results.items():
            for reason in reasons or ():
                console.print(f"  ✗ {CHECKS[key]}: {reason}", markup=False, highlight=False,
                              soft_wrap=True)
        if any(r is None for r in gate.results.values()) and gate.not_run_because:
            console.print(f"  – {gate.not_run_because}", markup=False, highlight=False,
                          soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dojo.gate",
        description="Check every kata (or those named): the solution passes, the pristine "
                    "starter fails, the starter is in sync, kata.toml is valid, the APIs "
                    "match, the tests use the `kata` fixture and run fast.")
    parser.add_argument("kata", nargs="*", help="slugs, topics or tags (default: every kata)")
    parser.add_argument("--max-test-seconds", type=float, default=MAX_TEST_SECONDS,
                        help=f"slowest a test may be on cpu (default {MAX_TEST_SECONDS:g})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the verdicts "
                                                                  "here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        root = catalog_mod.find_root()
        gates = run_gate(root, args.kata, args.max_test_seconds)
    except catalog_mod.CatalogError as err:
        print(f"dojo.gate: {err}", file=sys.stderr)
        return 2
    print_gate(gates)
    failing = [g.slug for g in gates if not g.ok]
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(g) for g in gates], indent=2),
                             encoding="utf-8")
    print(f"{len(gates)} katas checked in {time.monotonic() - started:.0f}s: "
          + (f"{len(failing)} failing ({', '.join(failing)})" if failing else "all pass"))
    return 1 if failing or not gates else 0


if __name__ == "__main__":
    sys.exit(main())
