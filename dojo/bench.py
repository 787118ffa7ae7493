"""Benchmark reports: pytest-benchmark's JSON in, a readable markdown table out.

Every kata benchmark is a group of two (or more) implementations timed in one run, so the
report's number is a ratio within a group, which survives a noisy machine far better than
absolute times. The header says what the numbers were measured on (device, torch, threads),
from the machine info the dojo plugin adds to pytest-benchmark's.

    python -m dojo.bench .benchmarks/cpu.json --out .benchmarks/cpu.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _short(name: str) -> str:
    return name.removeprefix("test_bench_").removeprefix("test_")


def render(report: dict) -> str:
    """The markdown report of one pytest-benchmark JSON document."""
    info = report.get("machine_info", {})
    dojo = info.get("dojo", {})
    cpu = info.get("cpu", {}).get("brand_raw") or info.get("processor") or "unknown CPU"
    device = dojo.get("gpu") or ("Apple MPS" if dojo.get("device") == "mps" else cpu)
    lines = [
        "# Kata benchmarks",
        "",
        f"- device: {dojo.get('device', '?')} ({device})",
        f"- torch {dojo.get('torch', '?')}"
        + (f", CUDA {dojo['cuda']}" if dojo.get("cuda") else "")
        + f", {dojo.get('threads', '?')} CPU threads; Python {info.get('python_version', '?')}",
        f"- run at {report.get('datetime', '?')}",
        "",
        "Each group times implementations of the same computation in one run; `x slower` is"
        " the median against the group's fastest.",
        "",
        "| group | implementation | median | mean ± sd | rounds | vs fastest |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in report.get("benchmarks", []):
        groups[bench.get("group") or bench["name"]].append(bench)
    summaries = []
    for group in sorted(groups):
        benches = sorted(groups[group], key=lambda b: b["stats"]["median"])
        fastest = benches[0]["stats"]["median"]
        for b in benches:
            s = b["stats"]
            ratio = s["median"] / fastest
            lines.append(
                f"| {group} | {_short(b['name'])} | {_time(s['median'])} | "
                f"{_time(s['mean'])} ± {_time(s['stddev'])} | {s['rounds']} | "
                f"{'fastest' if b is benches[0] else f'{ratio:.2f}x slower'} |")
        if len(benches) > 1:
            slowest = benches[-1]
            summaries.append(
                f"- {group}: {_short(benches[0]['name'])} is "
                f"{slowest['stats']['median'] / fastest:.2f}x faster than "
                f"{_short(slowest['name'])}")
    if summaries:
        lines += ["", "In one line per group:", "", *summaries]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dojo.bench", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("json", type=Path, help="pytest-benchmark --benchmark-json output")
    parser.add_argument("--out", type=Path, help="write the markdown here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        print(f"dojo.bench: cannot read {args.json}: {err}", file=sys.stderr)
        return 2
    text = render(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
