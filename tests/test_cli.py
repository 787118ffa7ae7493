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
    assert row(out, "2026-11-22") == ["2026-11-22", "toy"]
    assert row(out, "2026-11-30") == ["2026-11-30", "other"]
    out = dojo("due", "--days", "3")[1]
    assert "2026-11-22" in out and "other" not in out


def test_due_names_the_due_katas(kata_repo, dojo):
    kata_repo.write_record(TOY_PASSED)
    kata_repo.at("09:00:00", "2026-11-23")
    code, out, _ = dojo("due")
    assert code == 0
    assert out.startswith("Due today (2026-11-23): toy. Run: pytest --redo-due")
    kata_repo.at("09:00:00", "2026-12-01")
    assert dojo("due")[1].startswith("Due today (2026-12-01): toy, other.")


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
