"""Mutation testing of the kata tests: mutate the reference solution inside its TODO fences
and count the mutants that the kata's tests kill.

Two halves, in the manner of the rest of dojo:

- `mutants(source)` is pure: solution text in, a list of `Mutant` out. It parses the source
  with `ast`, visits only the nodes that lie inside a `# >>> TODO:` ... `# <<<` fence (the
  learner's part, which is what the tests must pin), and splices `ast.unparse` of the one
  changed node back into the original text, so the rest of the file (comments included) is
  untouched. Every mutant compiles; duplicates (two operators giving the same text) are kept
  once.
- `run()` and `main()` write each mutant to a temporary file and run the kata's tests on it
  (`pytest katas/<slug> --impl <mutant.py> -x`), two at a time, and report kill rates.

Operators (the classic bugs of the authoring guide):

    arith     + <-> -, * <-> /, // -> /, ** -> *, @ -> *, augmented assignments alike, -x -> x
    compare   < <-> <=, > <-> >=, == <-> !=, is <-> is not, in <-> not in
    const     0 -> 1, 0.5 -> 1.0, n -> n + 1 and n - 1 (negative literals included)
    drop      a term of a sum or a product dropped: a + b -> a | b, a - b -> a | -b,
              a * b -> a | b, a / b -> a, a ** b -> a
    reduce    a reduction or an average removed: x.mean(...) -> x, np.sum(x) -> x, sum(x) -> x
    axis      axis= / dim= swapped: 0 <-> 1, -1 <-> -2, n -> n - 1
    transpose a transpose removed: x.T, x.mT, x.transpose(a, b), x.permute(...),
              np.transpose(x), torch.swapaxes(x, ...) -> x
    return    `return None` as the first statement of a fence, or `return <first argument>`

Equivalent mutants (a change no test can see) are declared in the kata's kata.toml, keyed by
the original source line and the change as printed, so that they survive line shifts:

    [[equivalent_mutants]]
    line_text = "return float(t), float(df), _p_value(t, df, alternative)"
    change = "float(t) -> t"
    reason = "t is already a numpy float64, a float subclass"

A mutant is killed when its run exits 1 (a test failed) or runs out of time; exit codes 2-5
are errors of the tool (usage, collection, internal), reported apart and never counted.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from dojo import catalog as catalog_mod
from dojo.gate import isolated_env
from dojo.starters import CLOSE, OPEN

# ---------------------------------------------------------------------------- the mutator

ARITH_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Pow: ast.Mult, ast.MatMult: ast.Mult,
}
COMPARE_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}
REDUCTIONS = frozenset({
    "mean", "sum", "nanmean", "nansum", "average", "prod", "std", "var", "amax", "amin",
    "max", "min", "logsumexp", "median",
})
TRANSPOSE_ATTRS = frozenset({"T", "mT", "H", "mH"})
TRANSPOSE_CALLS = frozenset({"transpose", "permute", "swapaxes", "swapdims", "t"})
# Names that denote a module (np.mean(x), torch.transpose(x, 0, 1)): the call's first argument
# is the operand. Anything else is a method (x.mean()): the receiver is the operand.
MODULES = frozenset({"np", "numpy", "torch", "math", "F", "jnp", "scipy", "special", "stats"})
AXIS_KEYWORDS = frozenset({"axis", "dim"})
# Expression types that never need parentheses when put in place of an operand.
ATOMS = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.List, ast.Tuple, ast.Dict,
         ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
DESCRIPTION_WIDTH = 70


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change to a solution.

    id: 8 hex digits from (line_text, description, occurrence), so stable across edits
        elsewhere in the file; line: 1-based line of the change in the original source;
    line_text: that line, stripped; description: `before -> after`, as printed;
    operator: arith, compare, const, drop, reduce, axis, transpose or return.
    """

    id: str
    line: int
    line_text: str
    description: str
    operator: str
    mutated_source: str = dataclasses.field(repr=False)

    def __str__(self) -> str:
        return f"line {self.line}: {self.description}"


def fenced_lines(source: str) -> list[tuple[int, int]]:
    """The (first, last) line numbers, 1-based and inclusive, of each fence's interior."""
    spans, start = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        if OPEN.match(line):
            start = number + 1
        elif CLOSE.match(line) and start is not None:
            if number - 1 >= start:
                spans.append((start, number - 1))
            start = None
    return spans


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_WIDTH else text[: DESCRIPTION_WIDTH - 1] + "…"


def _is_number(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool))


def _signed_number(node: ast.AST) -> int | float | None:
    """The value of a numeric literal, -1 (UnaryOp(USub, 1)) included; else None."""
    if _is_number(node):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _is_number(node.operand):
        return -node.operand.value
    return None


def _number_node(value: int | float) -> ast.expr:
    if value < 0:
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(-value))
    return ast.Constant(value)


def _nudges(value: int | float) -> list[int | float]:
    if value == 0:
        return [type(value)(1)]
    if value == 0.5:
        return [1.0]
    return [value + 1, value - 1]


def _axis_swap(value: int) -> int:
    return {0: 1, 1: 0, -1: -2, -2: -1}.get(value, value - 1 if value > 0 else value + 1)


def _operand_of_call(call: ast.Call) -> ast.expr | None:
    """x for x.f(...), the first argument for np.f(x, ...) and f(x)."""
    func = call.func
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id in MODULES:
            return call.args[0] if call.args else None
        return func.value
    return call.args[0] if call.args else None


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _candidates(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(operator, replacement node) for every mutation of this one node."""
    if isinstance(node, ast.BinOp):
        if (swap := ARITH_SWAPS.get(type(node.op))) is not None:
            yield "arith", ast.BinOp(left=node.left, op=swap(), right=node.right)
        if isinstance(node.op, ast.Add | ast.Mult):
            yield "drop", node.left
            yield "drop", node.right
        elif isinstance(node.op, ast.Sub):
            yield "drop", node.left
            yield "drop", ast.UnaryOp(op=ast.USub(), operand=node.right)
        elif isinstance(node.op, ast.Div | ast.FloorDiv | ast.Pow):
            yield "drop", node.left
    elif isinstance(node, ast.AugAssign) and (swap := ARITH_SWAPS.get(type(node.op))):
        yield "arith", ast.AugAssign(target=node.target, op=swap(), value=node.value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        if (value := _signed_number(node)) is not None:
            for nudged in _nudges(value):
                yield "const", _number_node(nudged)
        else:
            yield "arith", node.operand
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        if (swap := COMPARE_SWAPS.get(type(node.ops[0]))) is not None:
            yield "compare", ast.Compare(left=node.left, ops=[swap()],
                                         comparators=node.comparators)
    elif _is_number(node):
        for nudged in _nudges(node.value):
            yield "const", ast.Constant(nudged)
    elif isinstance(node, ast.Attribute) and node.attr in TRANSPOSE_ATTRS:
        yield "transpose", node.value
    elif isinstance(node, ast.Call):
        name = _call_name(node)
        operand = _operand_of_call(node)
        for i, kw in enumerate(node.keywords):
            if kw.arg in AXIS_KEYWORDS and isinstance(value := _signed_number(kw.value), int):
                keywords = list(node.keywords)
                keywords[i] = ast.keyword(arg=kw.arg, value=_number_node(_axis_swap(value)))
                yield "axis", ast.Call(func=node.func, args=node.args, keywords=keywords)
        if name in REDUCTIONS and operand is not None:
            # max/min with several positional arguments are comparisons, not reductions.
            if not (isinstance(node.func, ast.Name) and len(node.args) > 1):
                yield "reduce", operand
        if name in TRANSPOSE_CALLS and operand is not None:
            yield "transpose", operand


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _needs_parens(replacement: ast.AST, parent: ast.AST | None) -> bool:
    """Would the replacement, put in the node's place, bind differently without parentheses?"""
    operand_of = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Attribute,
                  ast.Subscript, ast.Await, ast.Starred)
    if isinstance(parent, ast.Call):
        return False  # arguments: commas bind loosest (func position is an Attribute/Name)
    if not isinstance(parent, operand_of):
        return False
    if isinstance(replacement, ATOMS):
        return False
    if isinstance(replacement, ast.Constant):
        return isinstance(parent, ast.Attribute) or (
            isinstance(replacement.value, int | float) and replacement.value < 0)
    return True


def _splice(lines: list[bytes], node: ast.AST, text: str) -> str:
    """The source with node's span replaced by text (ast columns are UTF-8 byte offsets)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    head = lines[first][: node.col_offset]
    tail = lines[last][node.end_col_offset:]
    new = [*lines[:first], head + text.encode() + tail, *lines[last + 1:]]
    return b"".join(new).decode()


def _inside(node: ast.AST, spans: list[tuple[int, int]]) -> bool:
    start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    return start is not None and any(a <= start and end <= b for a, b in spans)


def _compiles(source: str) -> bool:
    try:
        compile(source, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _early_returns(source: str, tree: ast.Module,
                   spans: list[tuple[int, int]]) -> Iterator[tuple[int, str, str]]:
    """(line, statement, description) for `return None` / `return <first arg>` at each fence."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    lines = source.splitlines()
    for start, end in spans:
        first = next((n for n in range(start, end + 1)
                      if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith("#")),
                     None)
        if first is None:
            continue
        owners = [f for f in functions if f.lineno < first <= f.end_lineno]
        if not owners:
            continue
        owner = max(owners, key=lambda f: f.lineno)  # the innermost function
        yield first, "return None", "return None inserted"
        params = [a.arg for a in (*owner.args.posonlyargs, *owner.args.args)]
        if params and params[0] in ("self", "cls"):
            params = params[1:]
        if params:
            yield first, f"return {params[0]}", f"return {params[0]} inserted"


def mutants(source: str) -> list[Mutant]:
    """Every mutant of the code inside the TODO fences of a solution, in source order.

    Pure: no files, no imports of the solution. Each mutant's source compiles, and no two
    mutants have the same source.
    """
    tree = ast.parse(source)
    spans = fenced_lines(source)
    lines = source.encode().splitlines(keepends=True)
    text_lines = source.splitlines()
    parents = _parents(tree)
    in_fstring = {id(n) for js in ast.walk(tree) if isinstance(js, ast.JoinedStr)
                  for n in ast.walk(js)}
    raw: list[tuple[int, int, str, str, str]] = []  # (line, col, operator, description, source)
    for node in ast.walk(tree):
        if id(node) in in_fstring or not _inside(node, spans):
            continue
        # A negative literal is mutated as one number, not as a sign and a constant.
        if _is_number(node) and _signed_number(parents.get(node)) is not None:
            continue
        for operator, replacement in _candidates(node):
            replacement = ast.fix_missing_locations(copy.deepcopy(replacement))
            text = ast.unparse(replacement)
            if _needs_parens(replacement, parents.get(node)):
                text = f"({text})"
            mutated = _splice(lines, node, text)
            before = ast.unparse(node)
            description = f"{_short(before)} -> {_short(ast.unparse(replacement))}"
            raw.append((node.lineno, node.col_offset, operator, description, mutated))
    order = {"axis": 0, "transpose": 1, "reduce": 2, "compare": 3, "arith": 4, "drop": 5,
             "const": 6}
    raw.sort(key=lambda r: (r[0], r[1], order[r[2]]))
    for line, statement, description in _early_returns(source, tree, spans):
        code = text_lines[line - 1]
        indent = code[: len(code) - len(code.lstrip())]
        mutated_lines = source.splitlines(keepends=True)
        mutated_lines.insert(line - 1, f"{indent}{statement}\n")
        raw.append((line, -1, "return", description, "".join(mutated_lines)))
    raw.sort(key=lambda r: (r[0], r[1]))  # stable: keeps the operator order within a node

    out: list[Mutant] = []
    seen_sources = {source}
    seen_keys: dict[tuple[str, str], int] = {}
    for line, _col, operator, description, mutated in raw:
        if mutated in seen_sources or not _compiles(mutated):
            continue
        seen_sources.add(mutated)
        line_text = text_lines[line - 1].strip()
        occurrence = seen_keys.get((line_text, description), 0)
        seen_keys[(line_text, description)] = occurrence + 1
        if occurrence:  # the same change at another place on the same line
            description = f"{description} (#{occurrence + 1})"
        digest = hashlib.sha1(f"{line_text}\0{description}\0{occurrence}".encode()).hexdigest()
        out.append(Mutant(digest[:8], line, line_text, description, operator, mutated))
    return out


# ---------------------------------------------------------------------------- equivalents


@dataclasses.dataclass(frozen=True)
class Equivalent:
    line_text: str
    change: str
    reason: str

    def matches(self, mutant: Mutant) -> bool:
        return (" ".join(self.line_text.split()) == " ".join(mutant.line_text.split())
                and self.change.strip() == mutant.description)


def equivalents(meta: dict, slug: str) -> list[Equivalent]:
    """The `[[equivalent_mutants]]` of a kata.toml. Raises ValueError for a malformed entry."""
    entries = meta.get("equivalent_mutants", [])
    if not isinstance(entries, list):
        raise ValueError(f"katas/{slug}/kata.toml: `equivalent_mutants` must be an array of "
                         "tables ([[equivalent_mutants]])")
    out = []
    for i, entry in enumerate(entries, start=1):
        missing = [k for k in ("line_text", "change", "reason")
                   if not isinstance(entry, dict) or not isinstance(entry.get(k), str)
                   or not entry[k].strip()]
        if missing:
            raise ValueError(f"katas/{slug}/kata.toml: equivalent_mutants entry {i} needs "
                             f"non-empty strings {', '.join(missing)}")
        out.append(Equivalent(entry["line_text"], entry["change"], entry["reason"]))
    return out


def sample(found: list[Mutant], n: int | None, seed: int, slug: str) -> list[Mutant]:
    """A fixed random sample of n mutants (all when n is None or too large), in source order."""
    if n is None or n >= len(found):
        return list(found)
    chosen = set(random.Random(f"{seed}:{slug}").sample(range(len(found)), n))
    return [m for i, m in enumerate(found) if i in chosen]


# ---------------------------------------------------------------------------- running

KILLED, SURVIVED, ERROR = "killed", "survived", "error"


@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, error
    detail: str = ""  # "timeout", "exit 4: <tail>", ...
    equivalent: Equivalent | None = None
    seconds: float = 0.0


@dataclasses.dataclass
class KataReport:
    slug: str
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    total: int = 0  # mutants generated before sampling
    problem: str | None = None  # the kata could not be measured at all
    stale_equivalents: list[Equivalent] = dataclasses.field(default_factory=list)

    def _count(self, status: str, equivalent: bool = False) -> int:
        return sum(1 for o in self.outcomes
                   if o.status == status and (o.equivalent is not None) == equivalent)

    @property
    def killed(self) -> int:
        return self._count(KILLED)

    @property
    def survived(self) -> int:
        return self._count(SURVIVED)

    @property
    def equivalent(self) -> int:
        return sum(1 for o in self.outcomes if o.equivalent is not None)

    @property
    def errors(self) -> int:
        return self._count(ERROR)

    @property
    def rate(self) -> float | None:
        counted = self.killed + self.survived
        return self.killed / counted if counted else None

    def survivors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == SURVIVED and o.equivalent is None]

    def passes(self, threshold: float) -> bool:
        return self.problem is None and self.errors == 0 and (
            self.rate is None or self.rate >= threshold)

    def to_json(self) -> dict:
        def entry(o: Outcome) -> dict:
            d = {"id": o.mutant.id, "line": o.mutant.line, "line_text": o.mutant.line_text,
                 "change": o.mutant.description, "operator": o.mutant.operator,
                 "status": o.status, "seconds": round(o.seconds, 2)}
            if o.detail:
                d["detail"] = o.detail
            if o.equivalent is not None:
                d["equivalent"] = o.equivalent.reason
            return d

        return {"kata": self.slug, "generated": self.total, "mutants": len(self.outcomes),
                "killed": self.killed, "survived": self.survived,
                "equivalent": self.equivalent, "errors": self.errors, "kill_rate": self.rate,
                "problem": self.problem,
                "stale_equivalents": [dataclasses.asdict(e) for e in self.stale_equivalents],
                "outcomes": [entry(o) for o in self.outcomes]}


def _pytest(root: Path, slug: str, impl: Path, env: dict, test_timeout: float,
            hard_timeout: float) -> tuple[int | None, str, float]:
    """(exit code or None on timeout, output tail, seconds) of the kata's tests on impl."""
    cmd = [sys.executable, "-m", "pytest", str(root / "katas" / slug), "--impl", str(impl),
           "--no-record", "--device", "cpu", "-x", "-q", "-p", "no:cacheprovider",
           f"--timeout={test_timeout:g}"]
    started = time.monotonic()
    # Its own session, so that a hard timeout kills everything the mutant started (the ranks
    # of a distributed kata included), not only the pytest process.
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=hard_timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", time.monotonic() - started
    return proc.returncode, out[-1500:], time.monotonic() - started


def _classify(code: int | None, tail: str) -> tuple[str, str]:
    if code is None:
        return KILLED, "timeout"
    if code == 0:
        return SURVIVED, ""
    if code == 1:
        return KILLED, ""
    if code < 0:  # killed by a signal: the mutant crashed the interpreter
        return KILLED, f"crashed (signal {-code})"
    last = tail.strip().splitlines()[-1] if tail.strip() else ""
    return ERROR, f"pytest exit {code}: {last}"


def run(root: Path, slugs: list[str], *, jobs: int = 2, sample_size: int | None = None,
        seed: int = 0, test_timeout: float = 20.0,
        progress=None) -> list[KataReport]:
    """Mutate each kata's solution and run its tests on every mutant, `jobs` at a time.

    A kata whose unmutated solution fails its own tests is reported with a problem and no
    mutants run (every mutant would look killed). `progress(done, total)` is called as
    mutants finish.
    """
    reports = {slug: KataReport(slug) for slug in slugs}
    plans: dict[str, list[Mutant]] = {}
    for slug in slugs:
        report = reports[slug]
        solution = root / "solutions" / f"{slug}.py"
        try:
            meta = tomllib.loads((root / "katas" / slug / "kata.toml").read_text("utf-8"))
            marks = equivalents(meta, slug)
            found = mutants(solution.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError, tomllib.TOMLDecodeError) as err:
            report.problem = str(err)
            continue
        report.total = len(found)
        chosen = sample(found, sample_size, seed, slug)
        report.stale_equivalents = [e for e in marks if not any(e.matches(m) for m in found)]
        report.outcomes = [Outcome(m, SURVIVED, equivalent=next(
            (e for e in marks if e.matches(m)), None)) for m in chosen]
        plans[slug] = chosen

    with tempfile.TemporaryDirectory(prefix="dojo-mutants-") as tmp:
        scratch = Path(tmp)
        env = isolated_env(root, scratch)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            # The unmutated solution first: it must pass, and its time bounds a mutant's.
            baselines = {}
            for slug in plans:
                copy_ = scratch / slug / "baseline.py"
                copy_.parent.mkdir(parents=True)
                copy_.write_text((root / "solutions" / f"{slug}.py").read_text("utf-8"),
                                 encoding="utf-8")
                baselines[slug] = pool.submit(_pytest, root, slug, copy_, env, test_timeout,
                                              600.0)
            limits = {}
            for slug, future in baselines.items():
                code, tail, seconds = future.result()
                if code != 0:
                    failed = [ln for ln in tail.splitlines() if ln.startswith(("FAILED",
                                                                              "ERROR"))]
                    reports[slug].problem = (
                        f"the reference solution fails its own tests (pytest exit {code}"
                        f"{': ' + failed[0] if failed else ''}); fix it first "
                        f"(python -m dojo.gate {slug})")
                    reports[slug].outcomes = []
                    plans[slug] = []
                limits[slug] = max(60.0, 4 * seconds)

            index = {(slug, m.id): o for slug in plans for o in reports[slug].outcomes
                     for m in [o.mutant]}
            futures = {}
            for slug, chosen in plans.items():
                for m in chosen:
                    path = scratch / slug / f"mutant_{m.id}.py"
                    path.write_text(m.mutated_source, encoding="utf-8")
                    futures[pool.submit(_pytest, root, slug, path, env, test_timeout,
                                        limits[slug])] = (slug, m.id)
            total, done = len(futures), 0
            for future in as_completed(futures):
                code, tail, seconds = future.result()
                outcome = index[futures[future]]
                outcome.status, outcome.detail = _classify(code, tail)
                outcome.seconds = seconds
                done += 1
                if progress is not None:
                    progress(done, total)
    return [reports[s] for s in slugs]


# ---------------------------------------------------------------------------- output


def print_reports(reports: list[KataReport], threshold: float, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape as esc
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)
    table = Table(title=f"Mutation testing (threshold {threshold:.0%})", header_style="bold")
    for column in ("kata", "mutants", "killed", "survived", "equivalent", "errors",
                   "kill rate"):
        table.add_column(column, justify="left" if column == "kata" else "right",
                         no_wrap=True)
    for r in reports:
        if r.problem is not None:
            rate = "[red]not run[/red]"
        elif r.rate is None:
            rate = "-"
        else:
            colour = "green" if r.passes(threshold) else "red"
            rate = f"[{colour}]{r.rate:.0%}[/{colour}]"
        mutants_ = f"{len(r.outcomes)}" + (f" of {r.total}" if len(r.outcomes) < r.total
                                           and r.problem is None else "")
        table.add_row(r.slug, mutants_, str(r.killed), str(r.survived), str(r.equivalent),
                      str(r.errors), rate)
    console.print(table)
    for r in reports:
        lines = []
        if r.problem is not None:
            lines.append(f"  [red]not measured[/red]: {r.problem}")
        # Ids, source text and tool output go through escape(): "[d4df1fb9]" or "x[b]" would
        # otherwise be read as rich markup and vanish from the report.
        for o in r.survivors():
            lines.append(f"  survived {esc(f'[{o.mutant.id}]')} line {o.mutant.line}: "
                         f"{esc(o.mutant.description)}   ({esc(o.mutant.line_text)})")
        for o in r.outcomes:
            if o.status == ERROR:
                lines.append(f"  [red]tool error[/red] {esc(f'[{o.mutant.id}]')} line "
                             f"{o.mutant.line}: {esc(o.mutant.description)}: {esc(o.detail)}")
            elif o.equivalent is not None and o.status == KILLED:
                lines.append(f"  marked equivalent but killed {esc(f'[{o.mutant.id}]')} line "
                             f"{o.mutant.line}: {esc(o.mutant.description)}: drop the mark")
        for e in r.stale_equivalents:
            lines.append(f"  stale equivalent mark (matches no mutant): {esc(repr(e.change))} "
                         f"on {esc(repr(e.line_text))}")
        if lines:
            console.print(f"[bold]{r.slug}[/bold]", markup=True, highlight=False)
            for line in lines:
                console.print(line, markup=True, highlight=False, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dojo.mutation",
        description="Mutate each kata's reference solution inside its TODO fences and check "
                    "that the kata's tests kill the mutants.")
    parser.add_argument("kata", nargs="*", help="slugs, topics or tags (default: every kata)")
    parser.add_argument("--threshold", type=float, default=0.85,
                        help="minimum kill rate of non-equivalent mutants (default 0.85)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="run a fixed random sample of N mutants per kata")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds per test before a mutant counts as hung, i.e. killed "
                             "(default 20)")
    parser.add_argument("--list", action="store_true",
                        help="print the mutants without running them")
    return parser


def _select(root: Path, names: list[str]) -> list[str]:
    catalog = catalog_mod.load_catalog(root)
    katas = catalog_mod.select(catalog, names) if names else list(catalog.values())
    return [k.slug for k in katas]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.threshold <= 1.0:
        print("dojo.mutation: --threshold is a fraction between 0 and 1, e.g. 0.85",
              file=sys.stderr)
        return 2
    try:
        root = catalog_mod.find_root()
        slugs = _select(root, args.kata)
    except catalog_mod.CatalogError as err:
        print(f"dojo.mutation: {err}", file=sys.stderr)
        return 2
    if args.list:
        for slug in slugs:
            source = (root / "solutions" / f"{slug}.py").read_text(encoding="utf-8")
            chosen = sample(mutants(source), args.sample, args.seed, slug)
            print(f"{slug}: {len(chosen)} mutants")
            for m in chosen:
                print(f"  [{m.id}] {m.operator:9} line {m.line}: {m.description}")
        return 0

    from rich.console import Console
    from rich.progress import Progress

    console = Console()
    if not console.is_terminal:  # CI logs: wide enough for the table, never wrapped
        console = Console(width=120)
    started = time.monotonic()
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("mutants", total=None)
        reports = run(root, slugs, jobs=args.jobs, sample_size=args.sample, seed=args.seed,
                      test_timeout=args.timeout,
                      progress=lambda done, total: bar.update(task, completed=done,
                                                              total=total))
    print_reports(reports, args.threshold, console)
    seconds = time.monotonic() - started
    failing = [r.slug for r in reports if not r.passes(args.threshold)]
    if args.json:
        args.json.write_text(json.dumps(
            {"threshold": args.threshold, "seconds": round(seconds, 1),
             "sample": args.sample, "seed": args.seed,
             "katas": [r.to_json() for r in reports]}, indent=2), encoding="utf-8")
    console.print(f"{len(reports)} katas in {seconds:.0f}s: "
                  + (f"below the threshold or not measured: {', '.join(failing)}" if failing
                     else f"every kata kills at least {args.threshold:.0%} of its mutants"),
                  highlight=False)
    if failing and any(r.problem or (r.rate is not None and r.rate < args.threshold)
                       for r in reports):
        return 1
    return 2 if failing else 0  # only tool errors (pytest exit 2-5): nothing was measured

if __name__ == "__main__":
    sys.exit(main())
