"""The `grade` command: what users type, what they see, and the exit status they get."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REFERENCE, SUBMISSIONS, write_submission

from grader.cli import main
from grader.sandbox import containment


def grade(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_a_single_submission_gets_full_feedback(tmp_path):
    result = grade(SUBMISSIONS / "p_as_drop.py", "--out", tmp_path / "out")
    assert result.exit_code == 0
    assert "p_as_drop: 85 / 100" in result.output
    assert "[FAIL] Units are kept with the probability p stands for  0/15  (keep_probability)" in \
        result.output
    assert "Likely cause: treats p as the drop probability" in result.output
    assert (tmp_path / "out" / "p_as_drop" / "results.json").is_file()
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_fail_under_sets_the_exit_status(tmp_path):
    out = tmp_path / "out"
    assert grade(SUBMISSIONS / "p_as_drop.py", "--out", out, "--fail-under", 90).exit_code == 1
    assert grade(SUBMISSIONS / "p_as_drop.py", "--out", out, "--fail-under", 85).exit_code == 0


def test_a_folder_gets_a_table(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(SUBMISSIONS / "starter_style.py", folder)
    shutil.copytree(SUBMISSIONS / "syntax_error", folder / "syntax_error")
    result = grade(folder, "--out", tmp_path / "out", "--jobs", 2)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.split()[:4] == ["starter_style", "100", "/", "100"] for line in lines)
    assert any(line.startswith("syntax_error") and " error " in line for line in lines)


@pytest.mark.parametrize("args, message", [
    (["no/such/path"], "no such file"),
    (["{empty}"], "nothing to grade"),
    (["{sub}", "--out", "{file}"], "is a file, not a folder"),
    (["{sub}", "--rubric", "{bad_id}"], "unknown check id 'keep_prob'"),
    (["{sub}", "--rubric", "{negative}"], "needs points >= 0"),
    (["{sub}", "--rubric", "no/such.toml"], "cannot read the rubric"),
])
def test_usage_errors_exit_with_status_2(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    (tmp_path / "bad_id.toml").write_text("[checks.keep_prob]\npoints = 1\n")
    (tmp_path / "negative.toml").write_text("[checks.keep_probability]\npoints = -1\n")
    names = {"empty": tmp_path / "empty", "sub": SUBMISSIONS / "starter_style.py",
             "file": tmp_path / "file", "bad_id": tmp_path / "bad_id.toml",
             "negative": tmp_path / "negative.toml"}
    result = CliRunner().invoke(main, [a.format(**names) for a in args])
    assert result.exit_code == 2
    assert message in result.output


def test_the_rubric_file_sets_points_titles_and_visibility(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[checks.keep_probability]\npoints = 30\ntitle = "Keep, not drop"\n'
                      'visibility = "after_due_date"\n')
    result = grade(SUBMISSIONS / "p_as_drop.py", "--out", tmp_path / "out", "--rubric", rubric)
    assert "p_as_drop: 85 / 115" in result.output
    assert "[FAIL] Keep, not drop  0/30" in result.output
    import json

    data = json.loads((tmp_path / "out" / "p_as_drop" / "results.json").read_text())
    test = next(t for t in data["tests"] if t["extra_data"]["check"] == "keep_probability")
    assert test["visibility"] == "after_due_date" and test["max_score"] == 30


def test_self_check_grades_the_reference_at_100(tmp_path):
    result = grade("--self-check", "--out", tmp_path / "out")
    assert result.exit_code == 0
    assert "reference: 100 / 100" in result.output


def test_the_timeout_option_reaches_the_sandbox(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "slow", "import time\ntime.sleep(3)\n" + REFERENCE)
    result = grade(folder / "slow.py", "--out", tmp_path / "out", "--timeout", 0.5)
    assert "the import of slow.py did not return within 0.5 s" in result.output
    assert "status timeout" in result.output


def test_grading_twice_and_with_any_jobs_gives_identical_scores(tmp_path):
    first = grade(SUBMISSIONS, "--out", tmp_path / "a", "--jobs", 1)
    second = grade(SUBMISSIONS, "--out", tmp_path / "b", "--jobs", 8)
    assert first.exit_code == second.exit_code == 0
    assert (tmp_path / "a" / "grades.csv").read_bytes() == \
        (tmp_path / "b" / "grades.csv").read_bytes()


def test_regrading_one_student_refreshes_the_shared_gradebook(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    shutil.copy(SUBMISSIONS / "starter_style.py", folder / "alice.py")
    shutil.copy(SUBMISSIONS / "no_rescale.py", folder / "bob.py")
    assert grade(folder, "--out", out).exit_code == 0
    assert "bob,85,100,ok" in (out / "grades.csv").read_text()
    shutil.copy(SUBMISSIONS / "starter_style.py", folder / "bob.py")  # bob fixes his code
    result = grade(folder / "bob.py", "--out", out)
    assert "bob: 100 / 100" in result.output
    rows = (out / "grades.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in rows[1:]] == [["alice", "100", "100"], ["bob", "100", "100"]]


def test_force_regrades_what_is_unchanged(tmp_path):
    out = tmp_path / "out"
    grade(SUBMISSIONS / "no_drop.py", "--out", out)
    again = CliRunner().invoke(main, [str(SUBMISSIONS / "no_drop.py"), "--out", str(out)])
    assert "1 unchanged since the last run" in again.output
    forced = CliRunner().invoke(main, [str(SUBMISSIONS / "no_drop.py"), "--out", str(out),
                                       "--force"])
    assert "since the last run" not in forced.output and "no_drop: 45 / 100" in forced.output


def test_the_drop_convention_of_2016_2017(tmp_path):
    out = tmp_path / "out"
    # p_as_drop.py is a correct 2016-2017 solution: it keeps 1 - p and divides by 1 - p
    drop = grade(SUBMISSIONS / "p_as_drop.py", "--out", out, "--convention", "drop")
    assert "p_as_drop: 100 / 100" in drop.output
    keep = grade(SUBMISSIONS / "p_as_drop.py", "--out", out, "--convention", "keep")
    assert "p_as_drop: 85 / 100" in keep.output
    assert "the 2016-2017 notebooks' convention, not this course's" in keep.output
    # and a 2018-onwards solution, graded under the old convention, is told the converse
    rubric = tmp_path / "drop.toml"
    rubric.write_text('convention = "drop"\n')
    ref = grade("--self-check", "--out", out, "--rubric", rubric)
    assert "reference: 85 / 100" in ref.output
    assert "✗ p = 0.75: kept 75.0% of the units; expected 25%" in ref.output
    assert "Likely cause: treats p as the keep probability" in ref.output


def test_an_unknown_convention_is_a_usage_error(tmp_path):
    rubric = tmp_path / "r.toml"
    rubric.write_text('convention = "sometimes"\n')
    result = CliRunner().invoke(main, [str(SUBMISSIONS / "no_drop.py"), "--rubric", str(rubric)])
    assert result.exit_code == 2 and "convention must be one of keep, drop" in result.output


def test_every_run_says_which_containment_it_had(tmp_path):
    result = grade(SUBMISSIONS / "binomial", "--out", tmp_path / "out", "--sandbox", "none")
    assert result.exit_code == 0
    assert "sandbox: NONE (plain processes): only grade trusted code here" in result.output
    saved = json.loads((tmp_path / "out" / "binomial" / "results.json").read_text())
    assert saved["extra_data"]["sandbox"].startswith("sandbox: NONE (plain processes)")
    assert saved["score"] == 100  # plain processes grade the same


def test_strict_refuses_to_grade_without_full_containment(tmp_path, monkeypatch):
    monkeypatch.setattr(containment, "_strongest", lambda mode: containment.Containment(
        "none", why_not="user namespaces are disabled"))
    result = grade(SUBMISSIONS / "binomial", "--out", tmp_path / "out", "--sandbox", "strict")
    assert result.exit_code == 2
    assert "cannot give full containment; missing: namespaces (user namespaces are disabled)" \
        in result.output
    assert not (tmp_path / "out" / "binomial").exists()  # nothing was graded


def test_a_log_gets_lines_that_say_something_not_a_bars_leftovers(tmp_path):
    # stderr of a CI job is not a terminal: no bare "grading" line, no carriage returns
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("a", "b"):
        shutil.copy(SUBMISSIONS / "starter_style.py", folder / f"{name}.py")
    done = subprocess.run([str(Path(sys.executable).parent / "grade"), str(folder), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    lines = done.stderr.splitlines()
    assert lines[0] == "grading 2 submissions"
    assert lines[1].startswith("sandbox: ")
    assert re.fullmatch(r"graded 2 in \d+\.\d s", lines[2])
    assert "\r" not in done.stderr


def test_grade_dot_at_the_root_of_a_whole_course_repository_grades_its_dropout(tmp_path):
    # as the students' CI template runs it: one submission, full feedback, the file named
    repo = tmp_path / "cs231n-2025"
    for name in ("assignment1", "assignment2", "assignment3"):
        layers = repo / name / "cs231n" / "layers.py"
        layers.parent.mkdir(parents=True)
        layers.write_text(REFERENCE if name == "assignment2" else "def affine_forward():\n  0\n")
    done = subprocess.run([str(Path(sys.executable).parent / "grade"), ".", "--out",
                           str(tmp_path / "out")], cwd=repo, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert ("grading . as one submission: assignment2/cs231n/layers.py is the only file under "
            "it that defines dropout_forward") in done.stderr
    assert "cs231n-2025: 100 / 100 on the public checks  (assignment2/cs231n/layers.py" in (
        done.stdout)
    assert "[PASS] Units are kept with the probability p stands for" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cs231n-2025", "grades.csv"]
