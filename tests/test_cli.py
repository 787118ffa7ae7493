"""The `dojo` command on a miniature kata repository (see conftest.py).

Commands run in-process through dojo.cli.main (DOJO_ROOT and DOJO_PROGRESS point at the
miniature repository); what must hold of a fresh interpreter (no torch) runs in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dojo import cli

TOY_PASSED = textwrap.dedent("""\
    schema = 1

    [katas.toy]
    ease = 2.6
    interval = 1
    repetitions = 1
    due = 2026-11-22

    [[katas.toy.passes]]
    at = 2026-11-21T10:17:32Z
    seconds = 1052
    failed_runs = 0
    hints = 0
    peeked = false
    grade = 5
    device = "cpu"

    [katas.other]
    ease = 2.5
    interval = 6
    repetitions = 2
    due = 2026-11-30
    """)


@pytest.fixture
def dojo(kata_repo, capsys):
    """Run `dojo ARGS...` in-process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def row(out: str, slug: str) -> list[str]:
    """The cells of one kata's row in a rich table."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == slug:
            return cells
    raise AssertionError(f"no row for {slug}:\n{out}")


# --------------------------------------------------------------------- list, due
def test_list_shows_every_kata_with_status_times_and_due_date(kata_repo, dojo):
    code, out, _ = dojo("list")
    assert code == 0
    assert row(out, "toy") == ["toy", "classical-ml", "1", "new", "-", "-", "20m", "-"]
    assert row(out, "other") == ["other", "statistics", "1", "new", "-", "-", "20m", "-"]

    kata_repo.write_record(TOY_PASSED)
    code, out, _ = dojo("list")
    assert row(out, "toy") == ["toy", "classical-ml", "1", "scheduled", "18m", "18m", "20m",
                               "2026-11-22"]

    kata_repo.at("09:00:00", "2026-11-22")
    assert row(dojo("list")[1], "toy")[3] == "due"
    kata_repo.cli("start", "other").check_returncode()
    assert row(dojo("list")[1], "other")[3] == "in progress"


def test_list_filters_by_topic_and_status(kata_repo, dojo):
    kata_repo.write_record(TOY_PASSED)
    out = dojo("list", "statistics")[1]
    assert "other" in out and "toy" not in out
    out = dojo("list", "--status", "scheduled")[1]
    assert "toy" in out and "other" not in out


def test_list_and_due_never_import_torch(kata_repo):
    kata_repo.write_record(TOY_PASSED)
    probe = ("import sys\n"
             "from dojo import cli\n"
             "assert cli.main(['list']) == 0\n"
             "assert cli.main(['due']) == 0\n"
             "print('HEAVY', sorted(m for m in ('torch', 'pytest') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=kata_repo.root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "toy" in proc.stdout  # it did list the miniature repository
    assert "HEAVY []" in proc.stdout


def test_console_script_is_installed(kata_repo):
    script = Path(sys.executable).with_name("dojo")
    proc = subprocess.run([str(script), "due"], cwd=kata_repo.root, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Nothing is due today (2026-11-21).")


def test_due_with_nothing_due_shows_what_comes_next(kata_repo, dojo):
    code, out, _ = dojo("due")
    assert code == 0
    assert out.startswith("Nothing is due today (2026-11-21).")
    assert "toy" not in out

    kata_repo.write_record(TOY_PASSED)
    code, out, _ = dojo("due")
    assert out.startswith("Nothing is due today (2026-11-21).")
    assert row(out, "2026-11-22") == ["2026-11-22", "Sun", "toy"]
    assert row(out, "2026-11-23") == ["2026-11-23", "Mon", "-"]
    assert row(out, "2026-11-30") == ["2026-11-30", "Mon", "other"]
    assert "2026-12-05" in out and "2026-12-06" not in out  # 14 days, one row each
    assert "2 redos ahead" in out
    out = dojo("due", "--days", "3")[1]
    assert "2026-11-22" in out and "other" not in out


def test_due_names_the_due_katas(kata_repo, dojo):
    kata_repo.write_record(TOY_PASSED)
    kata_repo.at("09:00:00", "2026-11-23")
    code, out, _ = dojo("due")
    assert code == 0
    assert out.startswith("Due today (2026-11-23): toy (1d late). Run: pytest --redo-due")
    kata_repo.at("09:00:00", "2026-12-01")
    assert dojo("due")[1].startswith(
        "Due today (2026-12-01): other (1d late), toy (9d late).")


# --------------------------------------------------------------------- start
def test_start_opens_an_attempt_the_plugin_then_closes(kata_repo, dojo):
    code, out, _ = dojo("start", "toy")
    assert code == 0
    assert out.startswith("Started toy (Toy); target 20 minutes.")
    assert "edit: katas/toy/starter.py" in out
    toy = kata_repo.kata_record("toy")
    assert toy["attempt_started"] == kata_repo.when("10:00:00")
    assert toy["failed_runs"] == 0

    kata_repo.at("10:01:00")
    code, out, _ = dojo("start", "Toy")
    assert code == 0
    assert "already open" in out
    assert kata_repo.kata_record("toy")["attempt_started"] == kata_repo.when("10:00:00")

    kata_repo.solve("toy")
    kata_repo.at("10:15:00")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    toy = kata_repo.kata_record("toy")
    assert "attempt_started" not in toy
    assert toy["passes"][0]["seconds"] == 900
    assert toy["due"] == dt.date(2026, 11, 22)


@pytest.mark.parametrize("command", ["start", "reset"])
def test_unknown_kata_exits_2_with_suggestions(kata_repo, dojo, command):
    code, out, err = dojo(command, "toyy")
    assert code == 2
    assert "No kata, topic or tag is called 'toyy'" in err
    assert "Did you mean: toy?" in err
    assert not kata_repo.progress.exists()


def test_reset_without_a_kata_is_a_usage_error(kata_repo, dojo):
    code, _, err = dojo("reset")
    assert code == 2
    assert "name a kata to reset, or pass --all" in err


# --------------------------------------------------------------------- reset
def test_reset_archives_an_edited_starter_and_restores_the_pristine_one(kata_repo, dojo):
    kata_repo.write_record(TOY_PASSED)
    work = kata_repo.break_("toy")
    kata_repo.at("09:30:00", "2026-11-23")
    code, out, _ = dojo("reset", "toy")
    assert code == 0
    archived = kata_repo.root / "attempts" / "toy" / "2026-11-23T09-30-00.py"
    assert archived.read_text() == work
    assert "archived in attempts/toy/2026-11-23T09-30-00.py" in out
    assert kata_repo.starter("toy").read_text() == kata_repo.pristine("toy")
    toy = kata_repo.kata_record("toy")
    assert toy["attempt_started"] == kata_repo.when("09:30:00", "2026-11-23")
    assert len(toy["passes"]) == 1  # history kept

    # A second edit reset within the same second gets its own file.
    second = kata_repo.write_starter("toy", work + "# second try\n")
    dojo("reset", "toy")
    assert (archived.parent / "2026-11-23T09-30-00-2.py").read_text() == second
    assert archived.read_text() == work


def test_reset_does_not_archive_an_untouched_starter(kata_repo, dojo):
    code, out, _ = dojo("reset", "toy")
    assert code == 0
    assert "archived" not in out
    assert not (kata_repo.root / "attempts").exists()
    assert kata_repo.kata_record("toy")["attempt_started"] == kata_repo.when("10:00:00")


def test_reset_all(kata_repo, dojo):
    work = kata_repo.solve("other")
    code, _, _ = dojo("reset", "--all")
    assert code == 0
    assert [p.name for p in (kata_repo.root / "attempts").rglob("*.py")] == [
        "2026-11-21T10-00-00.py"]
    assert (kata_repo.root / "attempts" / "other" / "2026-11-21T10-00-00.py").read_text() == work
    for slug in ("toy", "other"):
        assert kata_repo.starter(slug).read_text() == kata_repo.pristine(slug)
        assert "attempt_started" in kata_repo.kata_record(slug)


def test_reset_keeps_the_archive_beside_dojo_progress(kata_repo, dojo, monkeypatch, tmp_path):
    elsewhere = tmp_path / "record" / "progress.toml"
    monkeypatch.setenv("DOJO_PROGRESS", str(elsewhere))
    work = kata_repo.break_("toy")
    dojo("reset", "toy")
    assert (elsewhere.parent / "attempts" / "toy" / "2026-11-21T10-00-00.py").read_text() == work
    assert not kata_repo.progress.exists()
    assert "attempt_started" in kata_repo.tomllib_load(elsewhere)["katas"]["toy"]


# --------------------------------------------------------------------- starters
def test_starters_check_in_sync_and_stale(kata_repo, dojo):
    code, out, _ = dojo("starters", "--check")
    assert code == 0
    assert "2 starters are in sync" in out

    solution = kata_repo.root / "solutions" / "toy.py"
    solution.write_text(solution.read_text().replace("elementwise sum", "sum, elementwise"))
    code, _, err = dojo("starters", "--check")
    assert code == 1
    assert "Out of date with their solutions: toy" in err
    assert "other" not in err.split("Out of date with their solutions:")[1].splitlines()[0]
    assert dojo("starters", "--check", "other")[0] == 0

    kata_repo.starter("other").unlink()
    code, _, err = dojo("starters")  # --check is the default
    assert code == 1
    assert "Out of date with their solutions: other, toy" in err


def test_starters_write_regenerates_and_archives_edited_starters(kata_repo, dojo):
    solution = kata_repo.root / "solutions" / "toy.py"
    solution.write_text(solution.read_text().replace("elementwise sum", "sum, elementwise"))
    work = kata_repo.break_("toy")
    before_other = kata_repo.starter("other").read_text()
    code, out, _ = dojo("starters", "--write")
    assert code == 0
    new = kata_repo.starter("toy").read_text()
    assert "# TODO: return the sum, elementwise" in new
    assert new == kata_repo.pristine_of(solution.read_text(), "toy")
    archived = list((kata_repo.root / "attempts" / "toy").glob("*.py"))
    assert [p.read_text() for p in archived] == [work]
    assert out.startswith("toy: wrote katas/toy/starter.py (the old file is kept in ")
    assert kata_repo.starter("other").read_text() == before_other
    assert "other" not in out
    assert dojo("starters", "--check")[0] == 0
    assert not kata_repo.progress.exists()  # maintainers' command: no attempt opened


def test_starters_write_creates_a_missing_starter(kata_repo, dojo):
    kata_repo.starter("toy").unlink()
    code, out, _ = dojo("starters", "--write")
    assert code == 0
    assert out == "toy: wrote katas/toy/starter.py\n"
    assert kata_repo.starter("toy").read_text() == kata_repo.pristine("toy")
    assert not (kata_repo.root / "attempts").exists()


def test_starters_check_reports_a_broken_fence(kata_repo, dojo):
    solution = kata_repo.root / "solutions" / "toy.py"
    solution.write_text(solution.read_text().replace("    # <<<\n", ""))
    code, _, err = dojo("starters", "--check")
    assert code == 1
    assert "solutions/toy.py:8: the TODO fence opened here is never closed" in err


def test_starters_write_with_a_broken_fence_fails(kata_repo, dojo):
    solution = kata_repo.root / "solutions" / "toy.py"
    solution.write_text(solution.read_text().replace("    # <<<\n", ""))
    code, _, err = dojo("starters", "--write")
    assert "never closed" in err
    assert code != 0


# --------------------------------------------------------------------- a bad record
def test_malformed_record_is_reported_and_left_alone(kata_repo, dojo):
    kata_repo.progress.write_text('schema = 1\n\n[katas.toy]\ninterval = "six"\n')
    before = kata_repo.progress.read_bytes()
    code, _, err = dojo("list")
    assert code == 1
    assert f"{kata_repo.progress}:4: katas.toy.interval = 'six'" in err
    for args in (("start", "toy"), ("reset", "toy"), ("due",)):
        work = kata_repo.break_("toy")
        assert dojo(*args)[0] == 1, args
        assert kata_repo.progress.read_bytes() == before
    assert kata_repo.starter("toy").read_text() == work


def test_bad_dojo_today_exits_1(kata_repo, dojo, monkeypatch):
    monkeypatch.setenv("DOJO_TODAY", "21/11/2026")
    code, _, err = dojo("due")
    assert code == 1
    assert "DOJO_TODAY='21/11/2026' is not a date" in err


# --------------------------------------------------------------------- conventions
COMMANDS = ["list", "due", "start", "reset", "hint", "solution", "diff", "stats", "plot",
            "watch", "new", "grade", "starters"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(kata_repo, dojo, command):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0


@pytest.mark.parametrize("args", [["hint"], ["grade", "toy", "9"], ["due", "--days", "0"],
                                  ["list", "--status", "late"], ["frobnicate"]])
def test_usage_errors_exit_2(kata_repo, dojo, args):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2


@pytest.mark.parametrize("command", ["hint", "solution", "diff", "watch", "grade"])
def test_unknown_kata_gets_suggestions_everywhere(kata_repo, dojo, command):
    args = [command, "othr"] + (["3"] if command == "grade" else [])
    code, _, err = dojo(*args)
    assert code == 2
    assert "Did you mean: other?" in err


# --------------------------------------------------------------------- list filters
def test_list_filters_by_topic_tag_and_several_statuses(kata_repo, dojo):
    kata_repo.add_kata("third", topic="statistics", tags=["scipy"])
    kata_repo.write_record(TOY_PASSED)
    dojo("start", "third")
    out = dojo("list", "--topic", "statistics")[1]
    assert "other" in out and "third" in out and "toy" not in out
    assert "2 of 3 katas" in out
    out = dojo("list", "--tag", "averages", "--tag", "scipy")[1]
    assert "other" in out and "third" in out and "toy" not in out
    out = dojo("list", "--status", "scheduled", "--status", "in progress")[1]
    assert "toy" in out and "third" in out and "other" not in out  # other: never passed
    code, _, err = dojo("list", "--topic", "statistcs")
    assert code == 2 and "Did you mean: statistics?" in err


# --------------------------------------------------------------------- hint
def test_hint_without_an_open_attempt_explains_and_changes_nothing(kata_repo, dojo):
    code, out, err = dojo("hint", "toy")
    assert code == 1
    assert "No attempt at toy is open" in err and "dojo start toy" in err
    assert not kata_repo.progress.exists()
    kata_repo.write_record(TOY_PASSED)
    before = kata_repo.progress.read_bytes()
    code, _, err = dojo("hint", "toy")
    assert code == 1 and "dojo diff toy" in err
    assert kata_repo.progress.read_bytes() == before


def test_hints_one_at_a_time_then_all_used_and_the_grade_pays(kata_repo, dojo):
    dojo("start", "toy")
    code, out, _ = dojo("hint", "toy")
    assert code == 0
    assert out.startswith("Hint 1 of 2 for toy")
    assert "Read the docstring." in out and "numpy has a function" not in out
    assert kata_repo.kata_record("toy")["hints"] == 1
    out = dojo("hint", "toy")[1]
    assert "Hint 2 of 2" in out and "numpy has a function for it." in out
    assert "That was the last hint." in out
    code, out, _ = dojo("hint", "toy")
    assert code == 0
    assert out.startswith("All 2 hints of toy are used")
    assert "1. Read the docstring." in out and "2. numpy has a function for it." in out
    assert kata_repo.kata_record("toy")["hints"] == 2  # no further cost
    kata_repo.solve("toy")
    kata_repo.at("10:10:00")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    assert kata_repo.kata_record("toy")["passes"][0]["grade"] == 3  # 5 minus two hints


# --------------------------------------------------------------------- solution
class _Terminal:
    """stdin as a terminal that answers `answer`."""

    def __init__(self, answer: str):
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer


def test_solution_without_an_open_attempt_explains(kata_repo, dojo):
    code, out, err = dojo("solution", "toy", "--yes")
    assert code == 1
    assert "No attempt at toy is open" in err and "np.add" not in out
    assert not kata_repo.progress.exists()


def test_solution_refuses_a_non_interactive_stdin_without_yes(kata_repo, dojo, monkeypatch):
    dojo("start", "toy")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("y\n"))
    code, out, err = dojo("solution", "toy")
    assert code == 1
    assert "pass --yes" in err and "np.add" not in out
    assert kata_repo.kata_record("toy")["peeked"] is False


def test_solution_asks_and_no_shows_nothing(kata_repo, dojo, monkeypatch):
    dojo("start", "toy")
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    code, out, _ = dojo("solution", "toy")
    assert code == 0
    assert "caps this attempt's grade at 2 (2 hints left: `dojo hint toy`). Show it? [y/N]" in out
    assert "Not shown; nothing was recorded." in out and "np.add" not in out
    assert kata_repo.kata_record("toy")["peeked"] is False


def test_solution_yes_records_a_peek_that_caps_the_grade(kata_repo, dojo, monkeypatch):
    dojo("start", "toy")
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    code, out, err = dojo("solution", "toy")
    assert code == 0
    assert "return np.add(a, b)" in out
    assert "# >>>" not in out and "# <<<" not in out  # fences stripped
    assert "recorded as peeked" in err
    assert kata_repo.kata_record("toy")["peeked"] is True
    assert "return np.add(a, b)" in dojo("solution", "toy")[1]  # asks no more once peeked
    kata_repo.solve("toy")
    kata_repo.at("10:05:00")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    assert kata_repo.kata_record("toy")["passes"][0]["grade"] == 2


# --------------------------------------------------------------------- diff
def test_diff_before_a_pass_or_during_an_attempt_explains(kata_repo, dojo):
    code, out, err = dojo("diff", "toy")
    assert code == 1
    assert "You have not passed toy yet" in err and out == ""
    dojo("start", "toy")
    code, _, err = dojo("diff", "toy")
    assert code == 1
    assert "An attempt at toy is open" in err and "--previous" in err


def test_diff_after_a_pass_shows_the_attempt_against_the_reference(kata_repo, dojo):
    dojo("start", "toy")
    kata_repo.write_starter("toy", "import numpy as np\n\n\ndef add(a, b):\n"
                                   "    return np.asarray(a) + b\n")
    kata_repo.at("10:10:00")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    code, out, _ = dojo("diff", "toy")
    assert code == 0
    assert "--- katas/toy/starter.py" in out and "+++ solutions/toy.py" in out
    assert "-    return np.asarray(a) + b" in out
    assert "+    return np.add(a, b)" in out
    assert "# >>>" not in out


def test_diff_previous_compares_with_the_last_archived_attempt(kata_repo, dojo):
    code, _, err = dojo("diff", "toy", "--previous")
    assert code == 1 and "No previous attempt at toy is archived" in err
    kata_repo.write_starter("toy", "def add(a, b):\n    return a + b  # day 1\n")
    dojo("reset", "toy")
    kata_repo.write_starter("toy", "def add(a, b):\n    return a + b  # day 2, older\n")
    kata_repo.at("10:00:05")
    dojo("reset", "toy")  # archives day 2's file: the latest archive
    kata_repo.write_starter("toy", "def add(a, b):\n    return sum((a, b))\n")
    code, out, _ = dojo("diff", "toy", "--previous")
    assert code == 0
    assert "--- attempts/toy/2026-11-21T10-00-05.py" in out
    assert "-    return a + b  # day 2, older" in out
    assert "+    return sum((a, b))" in out


def test_archives_sort_by_time_then_counter(kata_repo, tmp_path):
    folder = tmp_path / "attempts" / "toy"
    folder.mkdir(parents=True)
    for name in ("2026-11-21T10-00-00-2.py", "2026-11-21T10-00-00.py",
                 "2026-11-20T23-00-00.py", "2026-11-21T10-00-00-10.py"):
        (folder / name).write_text("")
    assert [p.name for p in cli.archived_attempts(tmp_path / "progress.toml", "toy")] == [
        "2026-11-20T23-00-00.py", "2026-11-21T10-00-00.py", "2026-11-21T10-00-00-2.py",
        "2026-11-21T10-00-00-10.py"]


# --------------------------------------------------------------------- stats, plot
HISTORY = textwrap.dedent("""\
    schema = 1

    [katas.toy]
    due = 2026-11-22

    [[katas.toy.passes]]
    at = 2026-11-18T10:00:00Z
    seconds = 1200
    failed_runs = 0
    hints = 0
    peeked = false
    grade = 5
    device = "cpu"

    [[katas.toy.passes]]
    at = 2026-11-19T10:00:00Z
    seconds = 1500
    failed_runs = 0
    hints = 0
    peeked = false
    grade = 4
    device = "cpu"

    [[katas.toy.passes]]
    at = 2026-11-21T10:00:00Z
    seconds = 3600
    failed_runs = 0
    hints = 0
    peeked = false
    grade = 2
    device = "cpu"

    [katas.other]
    due = 2026-11-26

    [[katas.other.passes]]
    at = 2026-11-20T10:00:00Z
    seconds = 600
    failed_runs = 0
    hints = 0
    peeked = false
    grade = 5
    device = "cpu"
    """)


def test_stats_golden(kata_repo, dojo):
    kata_repo.write_record(HISTORY)
    code, out, _ = dojo("stats")
    assert code == 0
    assert row(out, "katas passed")[1] == "2 of 2"
    assert row(out, "passes")[1] == "4 (2 of them reviews: redos from memory)"
    assert row(out, "streak")[1] == "4 days (days in a row with a pass)"
    assert row(out, "retention")[1] == "50% (1 of 2 reviews graded 3 or more)"
    assert row(out, "classical-ml") == ["classical-ml", "3", "1.75x"]
    assert row(out, "statistics") == ["statistics", "1", "0.50x"]


def test_stats_on_an_empty_record(kata_repo, dojo):
    code, out, _ = dojo("stats")
    assert code == 0
    assert row(out, "retention")[1] == "-"
    assert not kata_repo.progress.exists()


def test_plot_writes_a_png(kata_repo, dojo, tmp_path):
    pytest.importorskip("matplotlib")
    kata_repo.write_record(HISTORY)
    out_file = tmp_path / "p.png"
    code, out, _ = dojo("plot", "--out", str(out_file))
    assert code == 0 and out.startswith(f"Wrote {out_file}")
    assert out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(kata_repo, dojo, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = dojo("plot")
    assert code == 1
    assert "pip install -e '.[plot]'" in err
    assert not (kata_repo.root / "progress.png").exists()


def test_stats_and_plot_imports_stay_light(kata_repo):
    kata_repo.write_record(HISTORY)
    probe = ("import sys\n"
             "from dojo import cli\n"
             "assert cli.main(['stats']) == 0\n"
             "assert cli.main(['list', '--tag', 'numpy']) == 0\n"
             "print('HEAVY', sorted(m for m in ('torch', 'pytest', 'matplotlib', 'fsrs')"
             " if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=kata_repo.root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


# --------------------------------------------------------------------- grade
def test_grade_overrides_the_last_pass_and_replays_the_schedule(kata_repo, dojo):
    kata_repo.write_record(HISTORY)
    code, out, _ = dojo("grade", "toy", "5")
    assert code == 0
    assert out == ("toy: the pass of 2026-11-21 is now graded 5 (was 2); next due 2026-12-08 "
                   "(was 2026-11-22), every 17 days.\n")
    toy = kata_repo.kata_record("toy")
    assert toy["passes"][-1]["grade"] == 5 and toy["passes"][-1]["measured_grade"] == 2
    assert (toy["ease"], toy["interval"], toy["repetitions"]) == (2.7, 17, 3)
    assert toy["due"] == dt.date(2026, 12, 8)


def test_grade_without_a_pass_is_refused(kata_repo, dojo):
    code, _, err = dojo("grade", "toy", "4")
    assert code == 2 and "no pass to regrade" in err
    assert not kata_repo.progress.exists()


def test_grade_with_fsrs_uses_it(kata_repo, dojo):
    pytest.importorskip("fsrs")
    kata_repo.write_record(HISTORY.replace("schema = 1\n", 'schema = 1\nscheduler = "fsrs"\n'))
    code, out, _ = dojo("grade", "toy", "2")
    assert code == 0
    toy = kata_repo.kata_record("toy")
    assert (toy["interval"], toy["due"]) == (19, dt.date(2026, 12, 10))
    assert "fsrs_stability" in toy
    assert dojo("due")[0] == 0


# --------------------------------------------------------------------- new
def test_new_scaffolds_a_kata_and_refuses_a_taken_or_bad_slug(kata_repo, dojo):
    code, out, _ = dojo("new", "softmax", "--topic", "dl-fundamentals", "--target", "15")
    assert code == 0
    assert "katas/softmax/kata.toml" in out and "python -m dojo.gate softmax" in out
    assert (kata_repo.root / "katas" / "softmax" / "starter.py").exists()
    assert row(dojo("list")[1], "softmax")[:4] == ["softmax", "dl-fundamentals", "2", "new"]
    assert dojo("starters", "--check", "softmax")[0] == 0
    code, _, err = dojo("new", "toy")
    assert code == 2 and "already exists" in err
    code, _, err = dojo("new", "Soft-Max")
    assert code == 2 and "not a valid kata slug" in err


# --------------------------------------------------------------------- watch
def test_watch_digest_keeps_the_first_failure_and_the_summary():
    from dojo import watch

    output = textwrap.dedent("""\
        F
        =================================== FAILURES ===================================
        _________________________________ test_add _________________________________
        katas/toy/test_toy.py:5: in test_add
            assert kata.add(2, 3) == 5
        E   assert -1 == 5
        ------------------------------------- dojo -------------------------------------
        toy: 1 of 3 tests failing (2 not run) (starter; not recorded)
        =========================== short test summary info ============================
        FAILED katas/toy/test_toy.py::test_add - assert -1 == 5
        !!!!!!!!!!!!!!!!!!!!!!!!!! stopping after 1 failures !!!!!!!!!!!!!!!!!!!!!!!!!!!
        1 failed in 0.05s
        """)
    assert watch.digest(output).splitlines() == [
        "_________________________________ test_add _________________________________",
        "katas/toy/test_toy.py:5: in test_add",
        "    assert kata.add(2, 3) == 5",
        "E   assert -1 == 5",
        "",
        "toy: 1 of 3 tests failing (2 not run) (starter; not recorded)",
        "1 failed in 0.05s",
    ]


def test_watch_warms_the_imports_of_the_tests_and_the_solution():
    from dojo import watch

    assert watch.modules_to_warm("import numpy as np\nfrom scipy import stats\n",
                                 "import torch.nn.functional as F\nfrom . import x\n") == [
        "dojo.plugin", "numpy", "pytest", "scipy", "torch.nn.functional"]


def test_warm_runner_fails_fast_then_records_the_pass(kata_repo, dojo):
    from dojo import watch

    dojo("start", "toy")
    kata_repo.break_("toy")
    runner = watch.WarmRunner(kata_repo.root, "toy", ["numpy"])
    try:
        run = runner.run()
        assert not run.passed
        assert "1 failed" in run.output
        assert kata_repo.kata_record("toy")["failed_runs"] == 0  # saves are not counted
        kata_repo.solve("toy")
        assert runner.run().passed
        assert "passes" not in kata_repo.kata_record("toy")
        kata_repo.at("10:12:00")
        runner.close()  # the warm interpreter took its environment (DOJO_NOW) at its start
        recorded = runner.run(record=True)
        assert recorded.passed, recorded.output
    finally:
        runner.close()
    assert kata_repo.kata_record("toy")["passes"][0]["seconds"] == 720
