"""The instructor's report: report.html agrees with grades.csv and the results, references
nothing over the network, and shows the written answers of several course years."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import markupsafe
import nbformat
import pytest
from click.testing import CliRunner
from conftest import REFERENCE, SUBMISSIONS, grade_folder, write_submission
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import html_report, misconceptions, notebooks, report
from grader.cli import main
from grader.sandbox import containment

IQ1 = ("What happens if we do not divide the values being passed through inverse dropout by "
       "p in the dropout layer? Why does that happen?")
IQ2 = ("Compare the validation and training accuracies with and without dropout -- what do "
       "your results suggest about dropout as a regularizer?")


class Sections(HTMLParser):
    """Per student section: its id and each check's points; misconception rows' counts."""

    def __init__(self):
        super().__init__()
        self.points: dict[str, dict[str, float]] = {}
        self.misconceptions: list[str] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self._student = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "section" and "data-id" in attrs:
            self._student = attrs["data-id"]
            self.points[self._student] = {}
        if tag == "tr" and "data-points" in attrs and self._student:
            self.points[self._student][attrs["data-check"]] = float(attrs["data-points"])
        if tag == "tr" and "data-misconception" in attrs:
            self.misconceptions.append(attrs["data-misconception"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    folder, out = root / "subs", root / "grading"
    shutil.copytree(SUBMISSIONS, folder)
    shutil.copy(folder / "starter_style.py", folder / "copycat.py")  # an identical pair
    roster = root / "roster.csv"
    roster.write_text("id,name,email\nstarter_style,Ada Lovelace,ada@x\nghost,Gone Student,g@x\n")
    result = CliRunner().invoke(main, [str(folder), "--out", str(out), "--roster", str(roster)])
    assert result.exit_code == 0, result.output
    return out


def _gradebook(out: Path) -> dict[str, dict]:
    return {row["id"]: row for row in csv.DictReader((out / "grades.csv").open())}


def test_every_submission_and_check_agrees_with_the_gradebook(graded):
    parser = Sections()
    parser.feed((graded / "report.html").read_text())
    book = _gradebook(graded)
    graded_ids = {i for i, row in book.items() if row["status"] != "missing"}
    assert set(parser.points) == set(book)
    for sid in graded_ids:
        for check, points in parser.points[sid].items():
            assert points == pytest.approx(float(book[sid][check]), abs=1e-3), (sid, check)
    assert parser.points["ghost"] == {}


def test_misconception_counts_agree_with_the_results(graded):
    html = (graded / "report.html").read_text()
    counts: dict[str, int] = {}
    for path in graded.glob("*/results.json"):
        found = {m for t in json.loads(path.read_text())["tests"]
                 for m in t["extra_data"]["misconceptions"]}
        for key in found:
            counts[key] = counts.get(key, 0) + 1
    parser = Sections()
    parser.feed(html)
    assert sorted(parser.misconceptions) == sorted(counts)
    for key, count in counts.items():
        row = html.split(f'data-misconception="{key}"', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{count}</td>' in row, key


def test_the_report_references_nothing_over_the_network(graded):
    html = (graded / "report.html").read_text()
    parser = Sections()
    parser.feed(html)
    assert not {"script", "link", "img", "iframe"} & parser.tags
    assert all(url.startswith("#") for url in parser.urls)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)  # url(#id) is local
    assert "<svg" in html  # the charts are inline


def test_identical_files_and_the_roster(graded):
    html = (graded / "report.html").read_text()
    identical = html.split('id="identical"', 1)[1].split("<h2", 1)[0]
    assert "copycat" in identical and "starter_style" in identical
    book = _gradebook(graded)
    assert book["ghost"]["status"] == "missing" and book["ghost"]["score"] == "0"
    assert book["starter_style"]["name"] == "Ada Lovelace"
    assert "Ada Lovelace" in html and "Gone Student" in html


def test_written_answers_are_extracted_and_unanswered_ones_flagged(graded):
    rows = list(csv.DictReader((graded / "written_answers.csv").open()))
    by_id = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    assert [r["answered"] for r in by_id["full_layers"]] == ["True", "True"]
    assert by_id["full_layers"][0]["question"].startswith("Inline Question 1:")
    assert [r["answered"] for r in by_id["starter_todo"]] == ["False", "False"]
    assert "unanswered" in (graded / "report.html").read_text()


def _notebook(path: Path, cells) -> Path:
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


@pytest.mark.parametrize("year, cells, expected", [
    # 2016-2017: a "# Question" cell (no "Inline"), answered in a "# Answer" cell of its own
    ("2016", [new_markdown_cell("# Question\nExplain what you see in this experiment. What "
                                "does it suggest about dropout?"),
              new_markdown_cell("# Answer\nWith dropout the validation accuracy holds up: "
                                "it regularizes."),
              new_code_cell("solver.train()"),
              new_markdown_cell("## Question:\nWhy divide by p?"),
              new_markdown_cell("# Answer\n")],
     [("Question Explain what you see in this experiment. What does it suggest about dropout?",
       "With dropout the validation accuracy holds up: it regularizes.", True),
      ("Question: Why divide by p?", "", False)]),
    # an answer that holds only its label, or only white space, is unanswered
    ("label only", [new_markdown_cell(f"## Inline Question 1:\n{IQ1}"),
                    new_markdown_cell("## Answer:"),
                    new_markdown_cell(f"## Inline Question 2:\n{IQ2}"),
                    new_markdown_cell("**Your Answer:**"),
                    new_markdown_cell("## Inline Question 3:\nHow should p change?"),
                    new_markdown_cell("$\\color{blue}{\\textit Your Answer:}$"),
                    new_markdown_cell("**Inline Question 4:** Why?\n\n**Your Answer:**   \n"),
                    new_markdown_cell("**Inline Question 5:** And?"),
                    new_markdown_cell("   \n\n ")],
     [(f"Inline Question 1: {IQ1}", "", False), (f"Inline Question 2: {IQ2}", "", False),
      ("Inline Question 3: How should p change?", "", False),
      ("Inline Question 4: Why?", "", False), ("Inline Question 5: And?", "", False)]),
    ("2017", [new_markdown_cell("### Inline Question\nExplain how dropout works."),
              new_markdown_cell("**Answer:** It drops units at random during training.")],
     [("Inline Question Explain how dropout works.",
       "It drops units at random during training.", True)]),
    ("2019", [new_markdown_cell(f"## Inline Question 1:\n{IQ1}\n\n**Answer:** It shrinks."),
              new_code_cell("x = 1"),
              new_markdown_cell(f"## Inline Question 2:\n{IQ2}\n\n**Answer:** [FILL THIS IN]"),
              new_markdown_cell("## Inline Question 3:\nHow should p change?\n\n"
                                "**Answer:** Keep more units.")],
     [(f"Inline Question 1: {IQ1}", "It shrinks.", True),
      (f"Inline Question 2: {IQ2}", "[FILL THIS IN]", False),
      ("Inline Question 3: How should p change?", "Keep more units.", True)]),
    ("2025", [new_markdown_cell(f"**Inline Question 1:**\n\n{IQ1}"),
              new_markdown_cell("$\\color{blue}{\\textit Your Answer:}$ 학습 때 평균이 p배로 "
                                "줄어들어 테스트 때와 분포가 달라진다."),
              new_markdown_cell(f"**Inline Question 2:**\n\n{IQ2}"),
              new_markdown_cell("$\\color{blue}{\\textit Your Answer:}$ *fill this in*")],
     [(f"Inline Question 1: {IQ1}", "학습 때 평균이 p배로 줄어들어 테스트 때와 분포가 달라진다.",
       True),
      (f"Inline Question 2: {IQ2}", "fill this in", False)]),
])
def test_notebooks_of_several_course_years(tmp_path, year, cells, expected):
    _notebook(tmp_path / "Dropout.ipynb", cells)
    assert notebooks.find(tmp_path) == [tmp_path / "Dropout.ipynb"]
    answers = notebooks.read(tmp_path / "Dropout.ipynb").answers
    got = [(" ".join(a.question.split()), a.answer, a.answered) for a in answers]
    assert got == expected


def test_a_notebook_with_another_name_is_found_by_its_questions(tmp_path):
    _notebook(tmp_path / "notes.ipynb", [new_markdown_cell("no questions here")])
    (tmp_path / "hw").mkdir()
    _notebook(tmp_path / "hw" / "assignment2.ipynb",
              [new_markdown_cell("## Inline Question 1:\nWhy?"), new_markdown_cell("Because.")])
    assert notebooks.find(tmp_path) == [tmp_path / "hw" / "assignment2.ipynb"]


def test_grade_report_and_summary_from_existing_results(graded):
    (graded / "report.html").unlink()
    assert CliRunner().invoke(main, ["report", str(graded)]).exit_code == 0
    assert (graded / "report.html").is_file()
    summary = CliRunner().invoke(main, ["summary", str(graded)]).output
    count = len(tomllib.loads((SUBMISSIONS / "EXPECTED.toml").read_text())) + 1  # + copycat
    # the run's roster is kept without --roster: its ghost, who submitted nothing, is missing
    assert summary.startswith(f"graded {count}, missing 1, mean")
    assert "Gone Student" in (graded / "report.html").read_text()
    # which containment the class was graded in, as the run said it: all in one
    line = containment.choose().describe()
    assert f"\n{line} ({count})\n" in summary
    assert f"{line} ({count} graded)" in (graded / "report.html").read_text()
    # wrong_comparison keeps 1 - p but does not rescale like a p-as-drop reading would; the
    # 2016-2017 package graded with this course's meaning reads p as the drop probability
    assert ("     3  treats p as the drop probability: fcnet_2016, fcnet_swapped_layer, "
            "p_as_drop\n") in summary
    assert ("     2  compares the wrong way round: drop_divides_by_p, wrong_comparison\n"
            in summary)
    # the FullyConnectedNet's checks beside the others, rated over the packages that hold one
    nets = len(list(SUBMISSIONS.glob("*/cs231n/classifiers/fc_net.py")))
    assert re.search(rf"\n  net_test_time +\d+\.\d% +#* \(of {nets}\)\n", summary)
    # every mistake of the net's bundled packages, named in the misconceptions table
    for key, sub_id in (("net_dropout_at_test", "fcnet_dropout_at_test"),
                        ("net_dropout_unused", "fcnet_ignores_dropout"),
                        ("net_seed_not_passed", "fcnet_seed_not_passed"),
                        ("net_backward_dropout", "fcnet_backward_skips_dropout"),
                        ("net_keep_as_drop", "fcnet_keep_read_as_drop")):
        assert f"     1  {misconceptions.CATALOGUE[key].title}: {sub_id}\n" in summary
        title = str(markupsafe.escape(misconceptions.CATALOGUE[key].title))  # as jinja2 writes
        assert title in (graded / "report.html").read_text()


def test_without_the_report_extra_grading_still_works(tmp_path, monkeypatch):
    monkeypatch.setattr(html_report, "available", lambda: False)
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "a", REFERENCE)
    write_submission(folder, "b", REFERENCE)
    result = CliRunner().invoke(main, [str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "pip install 'dropout-grader[report]'" in result.output
    assert (tmp_path / "out" / "grades.csv").is_file()
    assert not (tmp_path / "out" / "report.html").exists()


def test_the_report_reads_a_graded_file_only_where_it_is_a_regular_file(tmp_path):
    # a FIFO would block the report, /dev/zero exhaust memory, a link credit another's file
    from grader.report import identical_files
    from grader.results import SubmissionResult

    for name in ("fifo", "zero", "alice", "bob"):
        (tmp_path / name).mkdir()
    os.mkfifo(tmp_path / "fifo" / "layers.py")
    (tmp_path / "zero" / "layers.py").symlink_to("/dev/zero")
    (tmp_path / "alice" / "layers.py").write_text("def dropout_forward(): 0\n")
    (tmp_path / "bob" / "layers.py").symlink_to(tmp_path / "alice" / "layers.py")
    graded = [SubmissionResult(name, "ok", [], "layers.py", path=str(tmp_path / name))
              for name in ("fifo", "zero", "alice", "bob")]
    assert identical_files(graded) == []


def test_html_tags_are_stripped_from_answers_and_a_run_of_brackets_is_text():
    from grader.notebooks import _clean

    assert _clean("a <b>bold</b> claim, p <<< 1") == "a bold claim, p <<< 1"


def test_three_students_with_the_same_answer_are_a_copying_signal(tmp_path):
    # the same non-trivial answer, up to case, spaces and punctuation, from three students; two
    # alike are not a signal, nor are three short answers alike
    folder = tmp_path / "class"
    long = "Dividing by p keeps the expected value of each unit the same at test time."
    answers = {"ann": long, "bob": long.upper().replace(" ", "  "), "cy": long.rstrip("."),
               "dee": "Something else entirely, written by this student alone, in full.",
               "eve": "To keep the mean.", "fay": "to keep the mean", "gus": "To keep the mean!"}
    for sid, answer in answers.items():
        shutil.copytree(SUBMISSIONS / "boolean_mask", folder / sid)
        _notebook(folder / sid / "Dropout.ipynb",
                  [new_markdown_cell("## Inline Question 1:\nWhy divide by p?"),
                   new_markdown_cell(f"**Answer:** {answer}")])
    out = tmp_path / "out"
    grade_folder(folder, out)
    built = report.build(out, None, html_report.written_answers)
    assert [(ids, answer) for _, answer, ids in built.shared] == [(["ann", "bob", "cy"], long)]
    assert "3 students (ann, bob, cy): Inline Question 1: Why divide by p?" in \
        report.text_summary(built)
    html_report.write(out)
    shared = (out / "report.html").read_text().split('id="shared"', 1)[1].split("<h2", 1)[0]
    assert "ann" in shared and "eve" not in shared
