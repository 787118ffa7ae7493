"""`dojo new`: the scaffold of a new kata is complete, honest by the gate's static checks, and
never overwrites anything."""

from __future__ import annotations

import pytest

from dojo import gate, scaffold
from dojo.starters import pristine


def test_files_golden_layout():
    files = scaffold.files("kl_divergence", topic="statistics", target_minutes=15)
    assert sorted(files) == ["katas/kl_divergence/kata.toml", "katas/kl_divergence/starter.py",
                             "katas/kl_divergence/test_kl_divergence.py",
                             "solutions/kl_divergence.py"]
    solution = files["solutions/kl_divergence.py"]
    assert "def kl_divergence(x):" in solution and "# >>> TODO:" in solution
    assert files["katas/kl_divergence/starter.py"] == pristine(solution, "kl_divergence")
    toml = files["katas/kl_divergence/kata.toml"]
    assert 'title = "Kl divergence"' in toml and 'topic = "statistics"' in toml
    assert "target_minutes = 15" in toml


@pytest.mark.parametrize("slug", ["Softmax", "1d_conv", "soft-max", "a", "with__double",
                                  "trailing_", "class", "x" * 41])
def test_invalid_slugs_are_refused(slug):
    with pytest.raises(scaffold.ScaffoldError):
        scaffold.files(slug)


def test_bad_options_are_refused():
    with pytest.raises(scaffold.ScaffoldError, match="topic 'vision' is not one of"):
        scaffold.files("softmax", topic="vision")
    with pytest.raises(scaffold.ScaffoldError, match="difficulty"):
        scaffold.files("softmax", difficulty=6)


def test_the_gate_topics_match():
    assert scaffold.TOPICS == gate.TOPICS


def test_written_scaffold_passes_the_gates_static_checks(tmp_path):
    (tmp_path / "katas").mkdir()
    written = scaffold.write(tmp_path, "softmax", topic="dl-fundamentals")
    assert len(written) == 4
    for check in (gate.check_meta, gate.check_starter, gate.check_api, gate.check_tests):
        assert check(tmp_path, "softmax") == [], check.__name__
    with pytest.raises(scaffold.ScaffoldError, match="already exists"):
        scaffold.write(tmp_path, "softmax")


def test_an_existing_solution_alone_blocks_the_slug(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "softmax.py").write_text("# mine\n")
    with pytest.raises(scaffold.ScaffoldError, match="solutions/softmax.py"):
        scaffold.write(tmp_path, "softmax")
    assert (tmp_path / "solutions" / "softmax.py").read_text() == "# mine\n"
    assert not (tmp_path / "katas").exists()
