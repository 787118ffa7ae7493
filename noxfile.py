"""nox sessions: practise (kata, redo), prove (tests per device), lint.

All sessions share one virtual environment, `.venv`, that is (re)installed only when
pyproject.toml or the pip constraints change: the second `nox -s kata` installs nothing.
Activate it (`source .venv/bin/activate`) to call `pytest` and `dojo` directly.

CI pins packages through pip's own PIP_CONSTRAINT variable (see .ci/run); learners get a
normal torch install for their platform.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]
nox.needs_version = ">=2024.4.15"

ROOT = Path(__file__).parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".dojo-installed"
DEVICES = ("cpu", "cuda", "mps")


def _fingerprint() -> str:
    """What the environment was installed from: a change to any of these reinstalls."""
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(sys.version.encode())
    for name in filter(None, os.environ.get("PIP_CONSTRAINT", "").split()):
        path = Path(name)
        digest.update(path.read_bytes() if path.exists() else name.encode())
    return digest.hexdigest()


def ensure_env(session: nox.Session) -> None:
    """Create or refresh .venv only when its inputs changed."""
    fingerprint = _fingerprint()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    if not PYTHON.exists():
        session.run(sys.executable, "-m", "venv", str(VENV), external=True)
    session.run(str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]",
                external=True)
    STAMP.write_text(fingerprint)


def pytest(session: nox.Session, *args: str, **kwargs) -> None:
    session.run(str(PYTHON), "-m", "pytest", *args, external=True, **kwargs)


@nox.session
def kata(session: nox.Session) -> None:
    """Practise: `nox -s kata -- quantization` runs every kata matching a slug, topic or tag
    against your starter, timing the attempt. Arguments after the names go to pytest."""
    names = []
    rest = list(session.posargs)
    while rest and not rest[0].startswith("-"):
        names.append(rest.pop(0))
    if not names:
        session.error("Name a kata, topic or tag: nox -s kata -- logistic_regression "
                      "(`nox -s list` shows them all).")
    ensure_env(session)
    pytest(session, *(f"--kata={name}" for name in names), *rest)


@nox.session
def redo(session: nox.Session) -> None:
    """Spaced repetition: re-implement, from a pristine starter, every kata due today."""
    ensure_env(session)
    pytest(session, "--redo-due", *session.posargs)


@nox.session(name="list")
def list_(session: nox.Session) -> None:
    """Every kata with its status and due date (`dojo list`)."""
    ensure_env(session)
    session.run(str(BIN / "dojo"), "list", *session.posargs, external=True)


def _named_explicitly(device: str, session: str = "tests") -> bool:
    """Was this device's session asked for by name (`nox -s "tests(cuda)"`)?"""
    wanted = f"{session}({device})"
    argv = " ".join(sys.argv) + " " + os.environ.get("NOXSESSION", "")
    return wanted in argv


def _present(device: str) -> bool:
    if device == "cpu":
        return True
    check = "torch.cuda.is_available()" if device == "cuda" else "m and m.is_available()"
    probe = ("import torch, sys; m = getattr(torch.backends, 'mps', None); "
             f"sys.exit(0 if ({check}) else 1)")
    return subprocess.run([str(PYTHON), "-c", probe], check=False).returncode == 0


@nox.session
@nox.parametrize("device", [nox.param(d, id=d) for d in DEVICES])
def tests(session: nox.Session, device: str) -> None:
    """Every kata against its reference solution on one device, plus (on cpu) the engine's
    own tests and the starter check. `nox -s tests` runs the devices this machine has;
    `nox -s "tests(cuda)"` insists on CUDA and fails loudly without it."""
    ensure_env(session)
    if device != "cpu" and not _present(device) and not _named_explicitly(device):
        session.skip(f"no {device} on this machine; `nox -s \"tests({device})\"` insists")
    pytest(session, "--impl=solution", f"--device={device}", "--no-record", "-q",
           *session.posargs)
    if device == "cpu":
        # The gate also checks the starters, kata.toml, the API and that pristine fails.
        session.run(str(PYTHON), "-m", "dojo.gate", external=True)
        pytest(session, "tests", "-q", "-p", "xdist", "-n", "2")


@nox.session
@nox.parametrize("device", [nox.param(d, id=d) for d in DEVICES])
def bench(session: nox.Session, device: str) -> None:
    """Every kata benchmark on one device (reference against its naive or built-in
    counterpart, in one run): .benchmarks/<device>.json and a markdown report beside it."""
    ensure_env(session)
    if device != "cpu" and not _present(device) and not _named_explicitly(device, "bench"):
        session.skip(f"no {device} on this machine; `nox -s \"bench({device})\"` insists")
    out = ROOT / ".benchmarks"
    # Real benchmark sizes (a 512-token context, N = 4096 attention) repeat for many rounds:
    # the 20 s per-test guard against endless loops is for practice runs, not for these.
    pytest(session, "--impl=solution", f"--device={device}", "--no-record", "-q",
           "--timeout=900", "--benchmark-enable", "--benchmark-only",
           f"--benchmark-json={out / device}.json", *session.posargs)
    session.run(str(PYTHON), "-m", "dojo.bench", f"{out / device}.json",
                f"--out={out / device}.md", external=True)


@nox.session
def gate(session: nox.Session) -> None:
    """(maintainers) The kata quality gate: `nox -s gate -- attention` (docs/quality-gate.md)."""
    ensure_env(session)
    session.run(str(PYTHON), "-m", "dojo.gate", *session.posargs, external=True)


@nox.session
def mutants(session: nox.Session) -> None:
    """(maintainers) Mutation testing of the kata tests: `nox -s mutants -- quantization`,
    or a sample of every kata: `nox -s mutants -- --sample 20 --seed 7`."""
    ensure_env(session)
    session.run(str(PYTHON), "-m", "dojo.mutation", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the engine, the solutions, the tests and this file."""
    ensure_env(session)
    session.run(str(BIN / "ruff"), "check", ".", external=True)
