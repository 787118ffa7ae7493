"""Turn a reference solution into its pristine starter.

In `solutions/<slug>.py` every part the learner must write is fenced:

    # >>> TODO: scale, round, shift and clamp; return int8
    q = torch.clamp(torch.round(x / scale) + zero_point, -128, 127)
    return q.to(torch.int8)
    # <<<

The starter is the same file with each fenced block replaced by its TODO comment and a
`raise NotImplementedError`, so signatures and docstrings can never drift between the two.
A long TODO continues on the lines right after the fence that start with `# >>>` alone:

    # >>> TODO: project q, k and v, split the heads,
    # >>>       attend, merge the heads and project out

Pure text in, text out: no files, no imports.
"""

from __future__ import annotations

import re

OPEN = re.compile(r"^(?P<indent>[ \t]*)# >>> TODO:(?P<text>.*)$")
CLOSE = re.compile(r"^[ \t]*# <<<\s*$")
MORE = re.compile(r"^(?P<indent>[ \t]*)# >>>(?! TODO:)(?P<text>.*)$")


class FenceError(ValueError):
    """A solution whose TODO fences are malformed."""


def header(slug: str) -> str:
    return (
        f"# Your attempt at the `{slug}` kata: fill in every TODO, then run\n"
        f"#     nox -s kata -- {slug}\n"
        f"# Generated from solutions/{slug}.py; `dojo reset {slug}` archives this file and "
        "starts over.\n"
    )


def pristine(solution: str, slug: str) -> str:
    """The starter generated from a solution's source text.

    Raises FenceError (with the line number) for a fence that is opened twice, closed without
    being opened, or never closed, and for a solution with no fence at all.
    """
    out: list[str] = []
    opened_at: int | None = None
    pending_raise: str | None = None  # emitted after the TODO's continuation comments
    fences = 0
    for number, line in enumerate(solution.splitlines(keepends=True), start=1):
        if pending_raise is not None:
            if (more := MORE.match(line.rstrip("\n"))) is not None:
                out.append(f"{more['indent']}#{more['text']}\n")
                continue
            out.append(pending_raise)
            pending_raise = None
        if (m := OPEN.match(line.rstrip("\n"))) is not None:
            if opened_at is not None:
                raise FenceError(
                    f"solutions/{slug}.py:{number}: a TODO fence opens inside the one opened "
                    f"on line {opened_at}; close it first with `# <<<`"
                )
            opened_at = number
            fences += 1
            indent, text = m["indent"], m["text"].strip()
            out.append(f"{indent}# TODO: {text}\n")
            pending_raise = f"{indent}raise NotImplementedError({('TODO: ' + text)!r})\n"
        elif CLOSE.match(line):
            if opened_at is None:
                raise FenceError(
                    f"solutions/{slug}.py:{number}: `# <<<` closes a fence that was never "
                    "opened with `# >>> TODO: ...`"
                )
            opened_at = None
        elif opened_at is None:
            out.append(line)
    if opened_at is not None:
        raise FenceError(
            f"solutions/{slug}.py:{opened_at}: the TODO fence opened here is never closed "
            "with `# <<<`"
        )
    if fences == 0:
        raise FenceError(
            f"solutions/{slug}.py has no `# >>> TODO: ...` fence: nothing for the learner to write"
        )
    return header(slug) + "".join(out)


def todo_lines(solution: str) -> list[str]:
    """The TODO texts of a solution, in order (for listings and hints)."""
    return [m["text"].strip() for line in solution.splitlines() if (m := OPEN.match(line))]
