"""Every kata is honest: its pristine starter fails, so a learner cannot pass by doing nothing.

(The reference solutions passing is what `nox -s tests` checks on every device.)
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from dojo import catalog

ROOT = Path(__file__).resolve().parent.parent


def test_pristine_starter_fails_every_kata(tmp_path):
    env = {**os.environ, "DOJO_PROGRESS": str(tmp_path / "progress.toml"), "DOJO_DEVICE": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--impl=pristine", "--no-record", "-q", "-p", "no:xdist",
         "-p", "no:randomly", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
         str(ROOT / "katas")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    failing = dict(re.findall(r"^(\w+): (\d+) of \d+ tests failing", proc.stdout, re.M))
    for slug in catalog.load_catalog(ROOT):
        assert int(failing.get(slug, 0)) > 0, (
            f"the pristine starter of {slug} passes every test: its tests exercise no TODO\n"
            + proc.stdout[-3000:]
        )
    assert not (tmp_path / "progress.toml").exists(), "a pristine run must record nothing"
