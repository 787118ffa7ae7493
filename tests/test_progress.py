"""The progress store: validation with lines, round trips, atomic and concurrent writes."""

import datetime as dt
import multiprocessing
import tomllib

import pytest

from dojo.progress import ProgressError, ProgressStore, empty_document, parse, validate

GOOD = """\
# my notes: I am doing the stats katas first
schema = 1
my_own_key = "kept"

[katas.t_tests]
ease = 2.6  # felt easy
interval = 1
repetitions = 1
due = 2026-11-22
failed_runs = 0
hints = 0
peeked = false
mood = "good"

[[katas.t_tests.passes]]
at = 2026-11-21T10:17:32+00:00
seconds = 1052
failed_runs = 2
hints = 0
peeked = false
grade = 5
device = "cpu"
"""


def test_a_good_file_validates(tmp_path):
    doc = parse(GOOD, tmp_path / "progress.toml")
    assert doc["katas"]["t_tests"]["due"] == dt.date(2026, 11, 22)


def test_the_empty_record_is_schema_1_with_a_comment():
    text = empty_document().as_string()
    assert text.startswith("#")
    assert tomllib.loads(text) == {"schema": 1}


@pytest.mark.parametrize("old, new, line, fix", [
    ("interval = 1", 'interval = "six"', 7, "whole number of days"),
    ("due = 2026-11-22", 'due = "2026-11-22"', 9, "no quotes"),
    ("grade = 5", "grade = 9", 21, "0..5"),
    ("ease = 2.6  # felt easy", "ease = 1.0", 6, "at least 1.3"),
    ("schema = 1", "schema = 2", 2, "schema"),
    ('device = "cpu"', "", 15, "lacks `device`"),
])
def test_invalid_values_name_the_line_and_the_fix(tmp_path, old, new, line, fix):
    path = tmp_path / "progress.toml"
    with pytest.raises(ProgressError) as err:
        parse(GOOD.replace(old, new), path)
    assert f"{path}:{line}:" in str(err.value)
    assert fix in str(err.value)


def test_broken_toml_names_the_line(tmp_path):
    path = tmp_path / "progress.toml"
    with pytest.raises(ProgressError) as err:
        parse(GOOD.replace("interval = 1", "interval = = 1"), path)
    assert f"{path}:7:" in str(err.value)


def test_a_malformed_file_is_never_written(tmp_path):
    path = tmp_path / "progress.toml"
    bad = GOOD.replace("interval = 1", "interval = [")
    path.write_text(bad)
    store = ProgressStore(path)
    with pytest.raises(ProgressError):
        with store.transaction() as doc:
            doc["katas"]["t_tests"]["hints"] = 1
    assert path.read_text() == bad


def test_comments_and_unknown_keys_survive_a_write(tmp_path):
    path = tmp_path / "progress.toml"
    path.write_text(GOOD)
    with ProgressStore(path).transaction() as doc:
        doc["katas"]["t_tests"]["hints"] = 2
    text = path.read_text()
    assert text == GOOD.replace("hints = 0\npeeked = false\nmood",
                                "hints = 2\npeeked = false\nmood")
    assert "# my notes" in text and "# felt easy" in text and 'mood = "good"' in text


def test_a_failing_transaction_writes_nothing(tmp_path):
    path = tmp_path / "progress.toml"
    path.write_text(GOOD)
    with pytest.raises(RuntimeError):
        with ProgressStore(path).transaction() as doc:
            doc["katas"]["t_tests"]["hints"] = 3
            raise RuntimeError("boom")
    assert path.read_text() == GOOD


def test_a_missing_file_is_created_on_first_write(tmp_path):
    path = tmp_path / "sub" / "progress.toml"
    with ProgressStore(path).transaction() as doc:
        doc["katas"]["new"] = {"failed_runs": 1}
    assert tomllib.loads(path.read_text())["katas"]["new"] == {"failed_runs": 1}
    assert not list(path.parent.glob(".progress-*")), "temp files must not be left behind"


def test_validate_accepts_an_empty_document():
    assert validate({"schema": 1}) == []


def _bump(path, slug, times):
    store = ProgressStore(path)
    for _ in range(times):
        with store.transaction() as doc:
            table = doc["katas"].setdefault(slug, {"failed_runs": 0})
            table["failed_runs"] = table["failed_runs"] + 1


def test_concurrent_writers_lose_no_update(tmp_path):
    path = tmp_path / "progress.toml"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump, args=(path, slug, 15)) for slug in "abcd"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert all(w.exitcode == 0 for w in workers)
    data = tomllib.loads(path.read_text())
    assert {s: t["failed_runs"] for s, t in data["katas"].items()} == dict.fromkeys("abcd", 15)
