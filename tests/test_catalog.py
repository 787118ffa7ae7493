"""Selecting katas by slug, topic or tag."""

from pathlib import Path

from dojo import catalog

ROOT = Path(".")


def test_a_slug_selects_its_kata_alone_even_when_it_is_also_a_tag():
    tagged = {
        "sampling": catalog.Kata("sampling", "S", "statistics", ("numpy",), 1, 10, ("cpu",),
                                 ("h",), ROOT),
        "kmeans": catalog.Kata("kmeans", "K", "classical-ml", ("sampling",), 1, 10, ("cpu",),
                               ("h",), ROOT),
    }
    assert [k.slug for k in catalog.select(tagged, ["sampling"])] == ["sampling"]
    assert [k.slug for k in catalog.select(tagged, ["classical-ml"])] == ["kmeans"]
    assert [k.slug for k in catalog.select(tagged, ["numpy"])] == ["sampling"]


def test_the_readme_lists_every_kata_of_the_catalog():
    # The README is a newcomer's map of the katas; scripts/katas_table.py renders it from the
    # catalog, and this keeps the two from drifting apart.
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(repo / "scripts" / "katas_table.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
