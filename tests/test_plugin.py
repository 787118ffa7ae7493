"""The dojo pytest plugin, end to end, on a miniature kata repository (see conftest.py).

Most runs are in-process (pytester.runpytest_inprocess): fast. xdist, concurrent writers and
anything that imports torch run in subprocesses.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest

TOY_PASS = textwrap.dedent("""\
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
    """)

OTHER_PASS = textwrap.dedent("""\

    [katas.other]
    ease = 2.6
    interval = 6
    repetitions = 2
    due = 2026-11-30

    [[katas.other.passes]]
    at = 2026-11-24T09:00:00Z
    seconds = 600
    failed_runs = 0
    hints = 0
    peeked = false
    grade = 5
    device = "cpu"
    """)

OPEN_TOY = textwrap.dedent("""\
    schema = 1

    [katas.toy]
    attempt_started = 2026-11-21T10:00:00Z
    failed_runs = 0
    hints = 0
    peeked = false
    """)


def dojo_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the dojo section of the terminal summary."""
    lines = result.outlines
    for i, line in enumerate(lines):
        if line.startswith("-") and " dojo " in line:
            rest = lines[i + 1:]
            end = next((j for j, ln in enumerate(rest) if ln.startswith(("=", "_"))),
                       len(rest))
            return rest[:end]
    return []


def dojo_line(result: pytest.RunResult, slug: str) -> str:
    """The dojo summary line of one kata (the last one, after any reset line)."""
    found = [ln for ln in dojo_lines(result) if ln.startswith(f"{slug}: ")]
    assert found, f"no dojo summary line for {slug}:\n{result.stdout.str()}"
    return found[-1]


# --------------------------------------------------------------------- the learner flow
def test_learner_flow_opens_counts_and_closes_the_attempt(kata_repo):
    """Pristine at 10:00 opens the attempt, a wrong one at 10:05 counts a failed run, the
    right one at 10:17:32 closes it with a graded pass and the first SM-2 step."""
    result = kata_repo.run("--kata", "toy")
    result.assert_outcomes(passed=1, failed=2)
    toy = kata_repo.kata_record("toy")
    assert toy["attempt_started"] == kata_repo.when("10:00:00")
    assert toy["failed_runs"] == 0
    assert "passes" not in toy
    assert dojo_line(result, "toy") == (
        "toy: attempt started, the clock runs from now (target 20m); 2 of 3 tests failing")
    assert "other" not in kata_repo.record()["katas"]  # not selected, not recorded

    kata_repo.break_("toy")
    kata_repo.at("10:05:00")
    result = kata_repo.run("--kata", "toy")
    result.assert_outcomes(passed=1, failed=2)
    toy = kata_repo.kata_record("toy")
    assert toy["attempt_started"] == kata_repo.when("10:00:00")
    assert toy["failed_runs"] == 1
    assert dojo_line(result, "toy") == "toy: 2 of 3 tests failing, 5m00s elapsed (target 20m)"

    kata_repo.solve("toy")
    kata_repo.at("10:17:32")
    result = kata_repo.run("--kata", "toy")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    toy = kata_repo.kata_record("toy")
    assert "attempt_started" not in toy
    assert toy["passes"] == [{
        "at": kata_repo.when("10:17:32"), "seconds": 1052, "failed_runs": 1, "hints": 0,
        "peeked": False, "grade": 5, "device": "cpu",
    }]
    assert (toy["ease"], toy["interval"], toy["repetitions"]) == (2.6, 1, 1)
    assert toy["due"] == dt.date(2026, 11, 22)
    assert toy["failed_runs"] == 0  # reset for the next attempt
    assert dojo_line(result, "toy") == (
        "toy: passed in 17m32s (target 20m), grade 5, next due 2026-11-22")


def test_slow_pass_gets_a_lower_grade_and_a_second_pass_a_six_day_interval(kata_repo):
    """Grade from time (r = 45/20 = 2.25 -> 3); then a second cycle schedules 6 days out and
    keeps the first pass in the log."""
    kata_repo.run("--kata", "toy")
    kata_repo.solve("toy")
    kata_repo.at("10:45:00")
    result = kata_repo.run("--kata", "toy")
    toy = kata_repo.kata_record("toy")
    assert toy["passes"][0]["grade"] == 3
    assert toy["passes"][0]["seconds"] == 45 * 60
    assert (toy["ease"], toy["interval"], toy["repetitions"]) == (2.36, 1, 1)
    assert "grade 3" in dojo_line(result, "toy")

    # Day 2: a timed redo (reset by hand), solved within the target.
    kata_repo.at("09:00:00", "2026-11-22")
    kata_repo.cli("reset", "toy").check_returncode()
    kata_repo.solve("toy")
    kata_repo.at("09:10:00", "2026-11-22")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    toy = kata_repo.kata_record("toy")
    assert [p["grade"] for p in toy["passes"]] == [3, 5]
    assert toy["passes"][1]["seconds"] == 600
    assert (toy["ease"], toy["interval"], toy["repetitions"]) == (2.46, 6, 2)
    assert toy["due"] == dt.date(2026, 11, 28)


# --------------------------------------------------------------------- subsets
SUBSETS = {
    "-k": ["--kata", "toy", "-k", "test_add_scalars"],
    "node id": ["katas/toy/test_toy.py::test_add_scalars"],
    "every node id": [f"katas/toy/test_toy.py::{name}" for name in
                      ("test_add_exists", "test_add_scalars", "test_add_arrays")],
    "--deselect": ["--kata", "toy", "--deselect", "katas/toy/test_toy.py::test_add_exists"],
}


@pytest.mark.parametrize("args", list(SUBSETS.values()), ids=list(SUBSETS))
def test_passing_subset_leaves_the_attempt_open(kata_repo, args):
    kata_repo.write_record(OPEN_TOY)
    kata_repo.solve("toy")
    kata_repo.at("10:05:00")
    before = kata_repo.progress.read_bytes()
    result = kata_repo.run(*args)
    assert result.ret == 0
    assert kata_repo.progress.read_bytes() == before
    assert "only a part of the kata ran" in dojo_line(result, "toy")

    # The whole kata, afterwards, closes it.
    kata_repo.at("10:06:00")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    toy = kata_repo.kata_record("toy")
    assert "attempt_started" not in toy
    assert toy["passes"][0]["seconds"] == 360


@pytest.mark.parametrize("args", [SUBSETS["-k"], SUBSETS["node id"]], ids=["-k", "node id"])
def test_failing_subset_counts_a_failed_run(kata_repo, args):
    kata_repo.write_record(OPEN_TOY)
    kata_repo.break_("toy")
    kata_repo.run(*args).assert_outcomes(failed=1)
    toy = kata_repo.kata_record("toy")
    assert toy["failed_runs"] == 1
    assert toy["attempt_started"] == kata_repo.when("10:00:00")


def test_a_second_kata_in_the_same_run_is_recorded_on_its_own(kata_repo):
    """-k narrows toy only; other runs whole and opens its own attempt."""
    kata_repo.write_record(OPEN_TOY)
    kata_repo.solve("toy")
    result = kata_repo.run("katas/toy/test_toy.py::test_add_scalars", "katas/other")
    result.assert_outcomes(passed=1, failed=2)
    record = kata_repo.record()["katas"]
    assert "passes" not in record["toy"] and "attempt_started" in record["toy"]
    assert record["toy"]["failed_runs"] == 0
    assert record["other"]["attempt_started"] == kata_repo.when("10:00:00")
    assert dojo_line(result, "other").startswith("other: attempt started")


# --------------------------------------------------------------------- not recording
NOT_RECORDING = {
    "solution": ["--impl", "solution"],
    "pristine": ["--impl", "pristine"],
    "no-record": ["--no-record"],
    "collect-only": ["--collect-only"],
}


@pytest.mark.parametrize("args", list(NOT_RECORDING.values()), ids=list(NOT_RECORDING))
def test_other_impls_and_no_record_never_write(kata_repo, args):
    # No record yet: a failing run of a new kata would open an attempt. It must not.
    result = kata_repo.run("--kata", "toy", *args)
    assert not kata_repo.progress.exists()
    if "--collect-only" not in args:
        assert dojo_line(result, "toy").endswith("; not recorded)")

    # An open attempt: a pass would close it, a failure would count. Neither may happen.
    kata_repo.write_record(OPEN_TOY)
    before = kata_repo.progress.read_bytes()
    for starter in (kata_repo.solve, kata_repo.break_):
        starter("toy")
        kata_repo.run("--kata", "toy", *args)
        assert kata_repo.progress.read_bytes() == before


def test_impl_option_picks_what_the_tests_import(kata_repo):
    kata_repo.break_("toy")
    kata_repo.run("--kata", "toy", "--impl", "solution", "--no-record").assert_outcomes(
        passed=3)
    kata_repo.solve("toy")
    kata_repo.run("--kata", "toy", "--impl", "pristine", "--no-record").assert_outcomes(
        passed=1, failed=2)
    kata_repo.run("--kata", "toy", "--no-record").assert_outcomes(passed=3)


def test_full_pass_without_an_open_attempt_records_nothing(kata_repo):
    kata_repo.solve("toy")
    result = kata_repo.run("--kata", "toy")
    result.assert_outcomes(passed=3)
    assert "toy" not in kata_repo.record().get("katas", {})
    assert dojo_line(result, "toy").startswith(
        "toy: passed, but no attempt was open, so nothing was recorded (not scheduled)")

    kata_repo.write_record(TOY_PASS)
    before = kata_repo.progress.read_bytes()
    result = kata_repo.run("--kata", "toy")
    assert kata_repo.progress.read_bytes() == before
    assert "next due 2026-11-22" in dojo_line(result, "toy")


def test_failing_run_of_a_practised_edited_kata_opens_nothing(kata_repo):
    """No attempt open, kata already passed, starter edited: a failure is not an attempt."""
    kata_repo.write_record(TOY_PASS)
    kata_repo.break_("toy")
    before = kata_repo.progress.read_bytes()
    result = kata_repo.run("--kata", "toy")
    assert kata_repo.progress.read_bytes() == before
    assert "no attempt is open, so nothing was recorded" in dojo_line(result, "toy")


def test_failing_run_of_a_practised_pristine_kata_opens_an_attempt(kata_repo):
    kata_repo.write_record(TOY_PASS)
    kata_repo.at("08:00:00", "2026-12-01")
    kata_repo.run("--kata", "toy")
    toy = kata_repo.kata_record("toy")
    assert toy["attempt_started"] == kata_repo.when("08:00:00", "2026-12-01")
    assert toy["failed_runs"] == 0
    assert len(toy["passes"]) == 1


# --------------------------------------------------------------------- --redo-due
def test_redo_due_resets_and_runs_only_the_due_kata(kata_repo):
    kata_repo.write_record(TOY_PASS + OTHER_PASS)
    old = kata_repo.solve("toy")
    kata_repo.solve("other")
    kata_repo.at("09:00:00", "2026-11-23")  # toy due 11-22, other due 11-30
    result = kata_repo.run("--redo-due")

    result.assert_outcomes(passed=1, failed=2)  # only toy's three tests, pristine again
    assert "test_other.py" not in result.stdout.str()
    archived = kata_repo.root / "attempts" / "toy" / "2026-11-23T09-00-00.py"
    assert archived.read_text() == old
    assert sorted((kata_repo.root / "attempts").rglob("*.py")) == [archived]
    assert kata_repo.starter("toy").read_text() == kata_repo.pristine("toy")
    assert kata_repo.starter("other").read_text() == kata_repo.solutions["other"]
    record = kata_repo.record()["katas"]
    assert record["toy"]["attempt_started"] == kata_repo.when("09:00:00", "2026-11-23")
    assert len(record["toy"]["passes"]) == 1
    assert "attempt_started" not in record["other"]
    assert record["other"]["due"] == dt.date(2026, 11, 30)
    lines = dojo_lines(result)
    assert lines[0].startswith("toy: reset for a timed redo; your last attempt is in ")
    assert lines[0].endswith("2026-11-23T09-00-00.py")

    # The redo is then timed like any attempt.
    kata_repo.solve("toy")
    kata_repo.at("09:12:00", "2026-11-23")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=3)
    toy = kata_repo.kata_record("toy")
    assert "attempt_started" not in toy
    assert toy["passes"][-1]["seconds"] == 12 * 60
    assert toy["repetitions"] == 2 and toy["interval"] == 6


def test_redo_due_does_not_archive_a_pristine_starter(kata_repo):
    kata_repo.write_record(TOY_PASS)
    kata_repo.at("09:00:00", "2026-11-23")
    result = kata_repo.run("--redo-due")
    result.assert_outcomes(passed=1, failed=2)
    assert not (kata_repo.root / "attempts").exists()
    assert "toy" in kata_repo.record()["katas"]
    assert kata_repo.kata_record("toy")["attempt_started"] == kata_repo.when(
        "09:00:00", "2026-11-23")
    assert dojo_lines(result)[0] == "toy: reset for a timed redo"


def test_redo_due_keeps_an_open_attempt_and_its_file(kata_repo):
    """A due kata whose redo is already under way is neither archived nor reset."""
    kata_repo.write_record(TOY_PASS.replace(
        "due = 2026-11-22\n", "due = 2026-11-22\nattempt_started = 2026-11-23T08:00:00Z\n"))
    work = kata_repo.break_("toy")
    kata_repo.at("09:00:00", "2026-11-23")
    kata_repo.run("--redo-due").assert_outcomes(passed=1, failed=2)
    assert kata_repo.starter("toy").read_text() == work
    assert not (kata_repo.root / "attempts").exists()
    toy = kata_repo.kata_record("toy")
    assert toy["attempt_started"] == kata_repo.when("08:00:00", "2026-11-23")
    assert toy["failed_runs"] == 1


@pytest.mark.parametrize("record, expected", [
    (TOY_PASS + OTHER_PASS,
     "Nothing is due today (2026-11-21). Next: toy on 2026-11-22 (tomorrow)."),
    (None, "Nothing is due: no kata has been passed yet."),
], ids=["scheduled", "no record"])
def test_redo_due_with_nothing_due_exits_0_and_says_when_next(kata_repo, record, expected):
    if record:
        kata_repo.write_record(record)
    kata_repo.solve("toy")
    result = kata_repo.run("--redo-due")
    assert not (kata_repo.root / "attempts").exists()
    assert kata_repo.starter("toy").read_text() == kata_repo.solutions["toy"]
    assert any(line.startswith(expected) for line in dojo_lines(result)), result.stdout.str()
    assert result.ret == 0


def test_redo_due_of_a_named_kata_that_is_not_due_exits_0(kata_repo):
    kata_repo.write_record(TOY_PASS + OTHER_PASS)
    kata_repo.at("09:00:00", "2026-11-23")  # toy is due, other is not
    result = kata_repo.run("--redo-due", "--kata", "other")
    assert not (kata_repo.root / "attempts").exists()
    assert "attempt_started" not in kata_repo.kata_record("toy")
    assert any(line.startswith("None of other is due today (2026-11-23); due now: toy")
               for line in dojo_lines(result)), result.stdout.str()
    assert result.ret == 0


def test_redo_due_with_nothing_due_touches_nothing(kata_repo):
    """The part of the nothing-due behaviour that works today: no test runs, no file moves."""
    kata_repo.write_record(TOY_PASS + OTHER_PASS)
    kata_repo.solve("toy")
    before = kata_repo.progress.read_bytes()
    result = kata_repo.run("--redo-due")
    result.assert_outcomes()
    assert kata_repo.progress.read_bytes() == before
    assert not (kata_repo.root / "attempts").exists()
    assert kata_repo.starter("toy").read_text() == kata_repo.solutions["toy"]


def test_redo_due_run_itself_is_not_a_failed_run(kata_repo):
    kata_repo.write_record(TOY_PASS)
    kata_repo.solve("toy")
    kata_repo.at("09:00:00", "2026-11-23")
    kata_repo.run("--redo-due")
    assert kata_repo.kata_record("toy")["failed_runs"] == 0


# --------------------------------------------------------------------- xdist
def test_xdist_records_once_through_the_controller(kata_repo):
    """Were a worker to write as well, the failing run would count twice and the pass would be
    logged twice (or the controller would find the attempt already closed)."""
    xdist = ("-p", "xdist", "-n", "2", "--kata", "toy")
    kata_repo.run("--kata", "toy").assert_outcomes(passed=1, failed=2)  # opens at 10:00

    kata_repo.break_("toy")
    kata_repo.at("10:05:00")
    kata_repo.run_subprocess(*xdist).assert_outcomes(passed=1, failed=2)
    toy = kata_repo.kata_record("toy")
    assert toy["failed_runs"] == 1
    assert toy["attempt_started"] == kata_repo.when("10:00:00")

    kata_repo.solve("toy")
    kata_repo.at("10:17:32")
    result = kata_repo.run_subprocess(*xdist)
    result.assert_outcomes(passed=3)
    toy = kata_repo.kata_record("toy")
    assert "attempt_started" not in toy
    assert len(toy["passes"]) == 1
    assert toy["passes"][0]["seconds"] == 1052
    assert toy["passes"][0]["failed_runs"] == 1
    assert dojo_line(result, "toy") == (
        "toy: passed in 17m32s (target 20m), grade 5, next due 2026-11-22")


def test_xdist_passing_subset_leaves_the_attempt_open(kata_repo):
    """Under xdist only the workers collect, so what -k deselected must reach the
    controller from them."""
    kata_repo.write_record(OPEN_TOY)
    kata_repo.solve("toy")
    before = kata_repo.progress.read_bytes()
    result = kata_repo.run_subprocess("-p", "xdist", "-n", "2", "--kata", "toy",
                                      "-k", "test_add_scalars or test_add_arrays")
    result.assert_outcomes(passed=2)
    assert "only a part of the kata ran" in dojo_line(result, "toy")
    assert kata_repo.progress.read_bytes() == before


def test_xdist_redo_due_workers_import_the_reset_starter(kata_repo):
    kata_repo.write_record(TOY_PASS + OTHER_PASS)
    old = kata_repo.solve("toy")
    kata_repo.at("09:00:00", "2026-11-23")
    result = kata_repo.run_subprocess("-p", "xdist", "-n", "2", "--redo-due")
    result.assert_outcomes(passed=1, failed=2)
    assert (kata_repo.root / "attempts" / "toy" / "2026-11-23T09-00-00.py").read_text() == old
    assert kata_repo.kata_record("toy")["attempt_started"] == kata_repo.when(
        "09:00:00", "2026-11-23")


# --------------------------------------------------------------------- concurrency
def test_concurrent_runs_all_record(kata_repo):
    """Four pytest processes at once, one kata each, one progress.toml: no lost update."""
    slugs = ["alpha", "beta", "gamma", "delta"]
    for slug in slugs:
        kata_repo.add_kata(slug)
    # gamma and delta have open attempts and are solved (they close); alpha and beta are
    # new and pristine (they open).
    kata_repo.write_record("# hand-written note\n" + TOY_PASS + textwrap.dedent("""\

        [katas.gamma]
        attempt_started = 2026-11-21T09:50:00Z
        failed_runs = 2

        [katas.delta]
        attempt_started = 2026-11-21T09:55:00Z
        """))
    kata_repo.solve("gamma")
    kata_repo.solve("delta")
    procs = [kata_repo.popen("--kata", slug) for slug in slugs]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [1, 1, 0, 0], "\n".join(outputs)

    text = kata_repo.progress.read_text()
    assert text.startswith("# hand-written note\n")
    record = kata_repo.record()["katas"]
    for slug in ("alpha", "beta"):
        assert record[slug]["attempt_started"] == kata_repo.when("10:00:00"), slug
    assert record["gamma"]["passes"][0]["seconds"] == 600
    assert record["gamma"]["passes"][0]["failed_runs"] == 2
    assert record["delta"]["passes"][0]["seconds"] == 300
    assert len(record["toy"]["passes"]) == 1
    assert not list(kata_repo.root.glob(".progress-*"))


# --------------------------------------------------------------------- a bad record
BAD_RECORDS = {
    "not TOML": ("schema = 1\n\n[katas.toy]\nease = 2.5\ninterval = 6 days\n", 5),
    "wrong type": ('schema = 1\n# mine\n[katas.toy]\nease = 2.6\ninterval = "six"\n', 5),
    "bad pass": (TOY_PASS.replace("grade = 5", 'grade = "five"'), 15),
}


@pytest.mark.parametrize("text, line", list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_malformed_record_is_never_overwritten(kata_repo, text, line):
    kata_repo.progress.write_text(text)
    before = kata_repo.progress.read_bytes()
    result = kata_repo.run("--kata", "toy")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "progress NOT recorded" in out
    assert f"{kata_repo.progress}:{line}:" in out
    assert kata_repo.progress.read_bytes() == before

    work = kata_repo.solve("toy")
    kata_repo.at("09:00:00", "2026-12-24")
    result = kata_repo.run("--redo-due")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{kata_repo.progress}:{line}:" in result.stderr.str()
    assert kata_repo.progress.read_bytes() == before
    assert kata_repo.starter("toy").read_text() == work


def test_comments_and_unknown_keys_survive_a_write(kata_repo):
    kata_repo.write_record("""\
        # My kata log. Do not delete.
        schema = 1
        owner = "ada"  # not a dojo key

        [katas.toy]
        # started this one on the train
        nickname = "adder"
        ease = 2.5

        [katas.retired]  # a kata that no longer exists
        ease = 1.9
        """)
    kata_repo.run("--kata", "toy")
    kata_repo.solve("toy")
    kata_repo.at("10:10:00")
    kata_repo.run("--kata", "toy")

    text = kata_repo.progress.read_text()
    for kept in ("# My kata log. Do not delete.", 'owner = "ada"  # not a dojo key',
                 "# started this one on the train", "[katas.retired]  # a kata that no "
                 "longer exists"):
        assert kept in text
    record = kata_repo.record()
    assert record["owner"] == "ada"
    assert record["katas"]["toy"]["nickname"] == "adder"
    assert record["katas"]["retired"] == {"ease": 1.9}
    assert record["katas"]["toy"]["passes"][0]["seconds"] == 600
    assert record["katas"]["toy"]["ease"] == 2.6


# --------------------------------------------------------------------- options
@pytest.mark.parametrize("name, katas", [
    ("toy", {"toy"}), ("statistics", {"other"}), ("arithmetic", {"toy"}),
    ("numpy", {"toy", "other"}), ("Classical_ML", {"toy"}),
])
def test_kata_option_selects_by_slug_topic_or_tag(kata_repo, name, katas):
    result = kata_repo.run("--kata", name, "--impl", "solution")
    ran = {line.split(":")[0] for line in dojo_lines(result)}
    assert ran == katas
    assert result.ret == 0


def test_unknown_kata_is_a_usage_error_with_suggestions(kata_repo):
    result = kata_repo.run("--kata", "toyy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "No kata, topic or tag is called 'toyy'" in err
    assert "Did you mean: toy?" in err
    assert not kata_repo.progress.exists()

    result = kata_repo.run("--kata", "statistcs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Did you mean: statistics" in result.stderr.str()


def test_unknown_device_is_a_usage_error(kata_repo, monkeypatch):
    monkeypatch.setenv("DOJO_DEVICE", "tpu")
    result = kata_repo.run("--kata", "toy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Unknown device 'tpu'" in result.stderr.str()


def test_bad_dojo_now_is_a_usage_error(kata_repo, monkeypatch):
    monkeypatch.setenv("DOJO_NOW", "yesterday")
    result = kata_repo.run("--kata", "toy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "DOJO_NOW='yesterday'" in result.stderr.str()


@pytest.mark.skipif(Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None,
                    reason="this machine may have CUDA")
def test_device_cuda_without_cuda_is_a_usage_error(kata_repo):
    result = kata_repo.run_subprocess("--kata", "toy", "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--device cuda was asked for, but CUDA is not available" in result.stderr.str()
    assert not kata_repo.progress.exists()


def test_device_cpu_runs_a_cpu_kata(kata_repo):
    kata_repo.solve("toy")
    kata_repo.write_record(OPEN_TOY)
    kata_repo.run("--kata", "toy", "--device", "cpu").assert_outcomes(passed=3)
    assert kata_repo.kata_record("toy")["passes"][0]["device"] == "cpu"


# --------------------------------------------------------------------- a broken starter
def test_syntax_error_in_the_starter_fails_every_test_naming_file_and_line(kata_repo):
    kata_repo.write_starter("toy", "import numpy as np\n\ndef add(a, b)\n    return a + b\n")
    result = kata_repo.run("--kata", "toy")
    result.assert_outcomes(errors=3)
    out = result.stdout.str()
    assert out.count(f"{kata_repo.starter('toy')}:3: syntax error") >= 3
    assert dojo_line(result, "toy").startswith("toy: attempt started")


def test_missing_starter_says_how_to_get_one_back(kata_repo):
    kata_repo.starter("toy").unlink()
    result = kata_repo.run("--kata", "toy", "--no-record")
    result.assert_outcomes(errors=3)
    assert "`dojo reset toy` writes a fresh starter" in result.stdout.str()


def test_an_endless_loop_times_out_and_the_rest_of_the_kata_fails_fast(kata_repo):
    kata_repo.write_starter("toy", "def add(a, b):\n    while True:\n        pass\n")
    result = kata_repo.run_subprocess("--kata", "toy", "--timeout", "1")
    # the third test only checks that add exists; the one after the timeout errors at setup
    result.assert_outcomes(failed=1, errors=1, passed=1)
    # (Without the fast fail, the second test would time out as well: failed=2, errors=0.)
    out = result.stdout.str()
    assert "Timeout (>1.0s) from pytest-timeout" in out, out
    assert "not run: test_add_scalars timed out, so the rest of toy fails fast" in out, out
    assert kata_repo.kata_record("toy")["attempt_started"]  # the run still opened the attempt


@pytest.mark.parametrize("device, method", [("auto", "thread"), ("cpu", None)])
def test_gpu_runs_time_out_with_a_watchdog_thread(kata_repo, monkeypatch, device, method):
    """A signal cannot interrupt a hung CUDA kernel: on a GPU, pytest-timeout uses a thread."""
    toml = kata_repo.root / "katas" / "toy" / "kata.toml"
    toml.write_text(toml.read_text().replace('devices = ["cpu"]', 'devices = ["cpu", "cuda"]'))
    monkeypatch.setattr("dojo.devices.available",
                        lambda: {"cpu": True, "cuda": True, "mps": False})
    items, _ = kata_repo.pytester.inline_genitems("--kata", "toy", f"--device={device}",
                                                  "-p", "no:cacheprovider")
    assert items
    for item in items:
        marker = item.get_closest_marker("timeout")
        assert (marker.kwargs.get("method") if marker else None) == method, item.nodeid
