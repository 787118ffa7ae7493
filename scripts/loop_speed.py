"""Measure the practice loop against its floor, the process start plus `import torch, pytest`.

    .venv/bin/python scripts/loop_speed.py [--runs 7] [--katas bm25 attention ...]

Prints a markdown table: median, min and max wall time of each command over --runs runs,
and its ratio to the floor. Nothing is recorded: every run uses a scratch progress file and
--no-record. Run it on an idle machine; docs/speed.md holds the numbers of record.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def wall(cmd: list[str], env: dict, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--katas", nargs="*", help="default: every kata")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from dojo.catalog import load_catalog

    katas = args.katas or sorted(load_catalog(ROOT))
    scratch = tempfile.mkdtemp()
    env = {**os.environ, "DOJO_PROGRESS": f"{scratch}/progress.toml", "DOJO_DEVICE": "cpu"}
    pytest = [PY, "-m", "pytest", "--impl=solution", "--no-record", "-q", "-p",
              "no:cacheprovider"]
    nox = [str(Path(PY).parent / "nox"), "-s", "kata", "--"]
    rows: list[tuple[str, list[float]]] = [
        ("floor: python -c 'import torch, pytest'",
         wall([PY, "-c", "import torch, pytest"], env, args.runs)),
    ]
    for slug in katas:
        rows.append((f"pytest --kata {slug}", wall([*pytest, f"--kata={slug}"], env, args.runs)))
    kata_rows = rows[1:]
    median_kata = sorted(kata_rows, key=lambda r: statistics.median(r[1]))[len(kata_rows) // 2]
    slug = median_kata[0].split()[-1]
    rows.append((f"pytest --kata {slug} -p anyio (before: anyio's plugin autoloaded)",
                 wall([*pytest, f"--kata={slug}", "-p", "anyio"], env, args.runs)))
    wall([*nox, slug, "--impl=solution", "--no-record"], env, 1)  # first run may install
    rows.append((f"nox -s kata -- {slug} (second and later runs)",
                 wall([*nox, slug, "--impl=solution", "--no-record", "-q"], env, args.runs)))
    rows.append(("every kata: pytest --impl solution", wall(pytest, env, 3)))
    rows.append(("every kata: pytest --impl solution -n 2",
                 wall([*pytest, "-p", "xdist", "-n", "2"], env, 3)))
    for command in ("list", "due"):
        rows.append((f"dojo {command}", wall([str(Path(PY).parent / "dojo"), command], env,
                                             args.runs)))
    floor = statistics.median(rows[0][1])
    print(f"median kata: {slug}; floor {floor:.2f} s; {os.cpu_count()} cores\n")
    print("| command | median | min | max | / floor |")
    print("|---|---|---|---|---|")
    for name, times in rows:
        med = statistics.median(times)
        print(f"| `{name}` | {med:.2f} s | {min(times):.2f} s | {max(times):.2f} s | "
              f"{med / floor:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
