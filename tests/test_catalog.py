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
