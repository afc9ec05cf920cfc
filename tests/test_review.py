"""The written answers graded by the course staff (issue 19): questions in the rubric, answer
groups, rubric items, grades kept in OUT/reviews and merged into every result, gradebook and
report, sheets for teams that grade in a spreadsheet, and the page's server refusing whoever
lacks its token. The page itself, in a browser: test_review_page.py."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import validate
from written_class import (
    CLASS,
    HOSTILE,
    KOREAN,
    REGULARIZER,
    RIGHT,
    WRONG,
    notebook_2016,
    notebook_2019,
    notebook_2022,
    write_class,
    write_student,
)

from grader import notebooks, questions, review, review_server, sheets
from grader.answers import Class
from grader.cli import main
from grader.rubric import Question, RubricError
from grader.rubric import load as load_rubric

Q1, Q2, Q3 = "inline_question_1", "inline_question_2", "inline_question_3"
ASKED = load_rubric().questions


def _run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> Path:
    """The written class graded once (its code is the reference: 100 / 100 each)."""
    home = tmp_path_factory.mktemp("class")
    write_class(home / "class")
    assert _run(home / "class", "--out", home / "out", "-j", "2").exit_code == 0
    return home


@pytest.fixture
def out(graded_class, tmp_path) -> Path:
    """A copy of the graded class's OUT for one test to change."""
    return Path(shutil.copytree(graded_class / "out", tmp_path / "out"))


def _students(out: Path) -> dict[str, object]:
    return {s.id: s for s in Class(out).students(ASKED)}


def _tests(out: Path, sid: str) -> dict[str, dict]:
    data = validate(out / sid / "results.json")
    return {t["extra_data"]["check"]: t for t in data["tests"]}


def _give(out: Path, question: str, students: list[str], **given) -> None:
    digests = {s.id: s.digest(question) for s in _students(out).values()}
    review.change(out, question, lambda found: review.grade(
        found, students, digests, alone=given.pop("alone", False), **given))


# --- which answer answers which question, in each year's layout ---------------------------

@pytest.mark.parametrize(("layout", "answers", "expected"), [
    (notebook_2019, ["a", "b", "c"], {Q1: "a", Q2: "b", Q3: "c"}),
    (notebook_2022, ["a", "b"], {Q1: "a", Q2: "b"}),
    # 2016's only question is about the experiment: the later Inline Question 2, by `match`
    (notebook_2016, ["a"], {Q2: "a"}),
])
def test_each_layout_answers_the_questions_it_asks(tmp_path, layout, answers, expected):
    home = write_student(tmp_path, "s", layout, answers)
    found = questions.assign(notebooks.of_submission(home).answers, ASKED)
    assert {qid: a.answer for qid, a in found.items()} == expected


def test_an_unnumbered_question_counts_by_its_position():
    asked = [notebooks.Answer("Inline Question Explain.", "x", "n"),
             notebooks.Answer("Inline Question And this?", "y", "n")]
    assert {q: a.answer for q, a in questions.assign(asked, ASKED).items()} == \
        {Q1: "x", Q2: "y"}


def test_a_rubrics_questions_are_checked(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text("[questions.q1]\npoints = 'five'\n")
    with pytest.raises(RubricError, match="q1"):
        load_rubric(bad)
    good = tmp_path / "g.toml"
    good.write_text('[questions.why]\npoints = 2\nkey_points = ["mean"]\nscoring = "negative"\n')
    (question,) = load_rubric(good).questions  # a rubric's questions replace the default's
    assert (question.id, question.points, question.number, question.scoring) == \
        ("why", 2.0, 1, "negative")


# --- groups ---------------------------------------------------------------------------------

def test_answers_group_by_their_words_and_near_identical_ones_sit_together(out):
    groups = questions.group({s.id: s.answers.get(Q1) for s in _students(out).values()})
    members = [g.members for g in groups]
    # case, white space and punctuation ignored: ada, ben and chen wrote one answer
    assert members[0] == ["ada", "ben", "chen"] and groups[0].text == RIGHT
    # dana changed two words: her own group, in the same cluster, right after it, the
    # changed words marked
    assert members[1] == ["dana"] and groups[1].cluster == groups[0].cluster
    assert [text for text, differs in groups[1].diff if differs] == ["every", "training"]
    assert ["gus", "hana"] in members and ["eli", "fay"] in members  # Korean; the blog's
    assert {g.cluster for g in groups if g.members in (["gus", "hana"], ["eli", "fay"])} \
        .isdisjoint({groups[0].cluster})
    # a blank answer, and a student whose notebook has no such question (jo, 2016): last
    assert groups[-1].key == questions.UNANSWERED and groups[-1].members == ["jo", "kim"]
    on_q2 = questions.group({s.id: s.answers.get(Q2) for s in _students(out).values()})
    assert on_q2[-1].members == ["dana", "kim"]  # "[FILL THIS IN]" is no answer
    assert ["ada", "ben", "chen", "eli", "gus", "ivan", "jo"] in [g.members for g in on_q2]


def test_blind_labels_are_not_in_the_order_of_the_ids(out):
    labels = [s.label for s in sorted(_students(out).values(), key=lambda s: s.id)]
    assert sorted(labels) == sorted(f"student {n}" for n in range(1, len(CLASS) + 1))
    assert labels != [f"student {n}" for n in range(1, len(CLASS) + 1)]


# --- scores -----------------------------------------------------------------------------------

def test_rubric_items_score_every_answer_they_are_applied_to_and_follow_their_points(out):
    question = next(q for q in ASKED if q.id == Q1)

    def add_items(found):
        review.set_item(found, None, "Names the expected value", 3)
        review.set_item(found, None, "Says multiply by p", -1)

    found = review.change(out, Q1, add_items)
    credit, deduction = (i.id for i in found.items)
    _give(out, Q1, ["ada", "ben", "chen"], add=(credit,))
    _give(out, Q1, ["eli", "fay"], score=2.0, add=(deduction,))
    found = review.load(out, Q1)
    assert [found.score(found.grades[s], question) for s in ("ada", "eli")] == [3, 1]
    # the credit is worth more afterwards: everyone who has it gets more
    found = review.change(out, Q1, lambda r: review.set_item(r, credit, "Names it", 4.5))
    assert found.score(found.grades["ben"], question) == 4.5
    # never above the question's points, nor below 0
    found = review.change(out, Q1, lambda r: review.set_item(r, credit, "Names it", 9))
    assert found.score(found.grades["ada"], question) == 5
    found = review.change(out, Q1, lambda r: review.set_item(r, deduction, "x", -9))
    assert found.score(found.grades["eli"], question) == 0
    # deleted: taken away from every answer it was on
    found = review.change(out, Q1, lambda r: review.delete_item(r, deduction))
    assert found.grades["fay"].items == [] and found.score(found.grades["fay"], question) == 2
    negative = Question("q", 5.0, "q", 1, scoring="negative")
    assert found.score(review.Grade(), negative) == 5  # deductions take from the points


def test_a_group_grade_leaves_a_students_own_grade_alone(out):
    _give(out, Q1, ["ada", "ben", "chen"], score=4.0, comment="Right.")
    _give(out, Q1, ["ben"], score=5.0, comment="Best of the three.", alone=True)
    _give(out, Q1, ["ada", "ben", "chen"], score=3.0)
    grades = review.load(out, Q1).grades
    assert [grades[s].score for s in ("ada", "ben", "chen")] == [3.0, 5.0, 3.0]
    assert grades["ben"].own and grades["ben"].comment == "Best of the three."
    assert grades["ada"].comment == "Right."  # the comment was not given again: it stays


# --- one gradebook ------------------------------------------------------------------------------

def test_staff_grades_reach_results_gradebook_summary_and_report_and_survive_regrades(
        graded_class, out):
    # a question not begun adds nothing: the code's 100 stays the whole score
    assert set(_tests(out, "ada")) == {c.id for c in load_rubric().graded(has_fc_net=False)}
    _give(out, Q1, ["ada", "ben", "chen"], score=5.0, comment="Exactly: the expected value.")
    _give(out, Q1, ["eli", "fay"], score=1.0, comment="Dividing by p keeps the mean.")
    summary = _run("summary", out)
    assert "inline_question_1: 5 of 11 graded" in summary.output
    for _ in range(2):  # as graded, then after `grade --force` regrades every submission
        ada, eli, dana = (_tests(out, s) for s in ("ada", "eli", "dana"))
        assert (ada[Q1]["score"], ada[Q1]["max_score"], ada[Q1]["name"]) == \
            (5, 5, "Inline Question 1: what happens without the division by p")
        assert ada[Q1]["output"] == "Exactly: the expected value."
        assert ada[Q1]["visibility"] == "visible"
        assert eli[Q1]["score"] == 1 and dana[Q1]["score"] == 0
        assert dana[Q1]["output"] == review.NOT_GRADED
        assert Q2 not in ada  # nobody has begun question 2
        assert json.loads((out / "ada" / "results.json").read_text())["score"] == 105
        rows = {r["id"]: r for r in csv.DictReader((out / "grades.csv").open())}
        assert (rows["ada"][Q1], rows["ada"]["score"], rows["ada"]["max_score"]) == \
            ("5", "105", "105")
        assert rows["dana"][Q1] == ""  # not graded yet: empty, not a 0
        forced = _run(graded_class / "class", "--out", out, "--force", "-j", "2")
        assert forced.exit_code == 0 and "105 / 105" in forced.output
    assert _run("report", out).exit_code == 0
    html = (out / "report.html").read_text()
    assert "Inline Question 1: what happens without the division by p" in html
    assert "5 of 11 graded" in html


def test_a_changed_answer_keeps_its_score_and_is_flagged_until_looked_at(graded_class, out,
                                                                        tmp_path):
    _give(out, Q1, ["eli", "fay"], score=1.0)
    folder = Path(shutil.copytree(graded_class / "class", tmp_path / "class"))
    # results in OUT say where each was graded from: the copy is graded into it now
    write_student(folder, "eli", notebook_2019, [RIGHT, REGULARIZER, ""])  # resubmitted
    assert _run(folder, "--out", out, "-j", "2").exit_code == 0
    eli = _tests(out, "eli")[Q1]
    assert eli["score"] == 1 and eli["extra_data"]["staff"]["changed"]
    assert review.CHANGED in eli["output"]
    assert not _tests(out, "fay")[Q1]["extra_data"]["staff"]["changed"]
    row = next(r for r in csv.DictReader((out / "grades.csv").open()) if r["id"] == "eli")
    assert row["flags"] == f"{Q1}: answer changed since it was graded"
    # on the page, eli's answer is now in the right answers' group, flagged there
    app = review_server.ReviewApp(out, load_rubric(), ASKED)
    first = app.state(Q1)["groups"][0]
    assert [(m["id"], m["changed"]) for m in first["members"]] == \
        [("ada", False), ("ben", False), ("chen", False), ("eli", True)]
    # a sheet exported and imported untouched looks at nothing: the flag stays
    sheet = tmp_path / "q1.csv"
    _run("sheet", "export", out, Q1, sheet)
    assert next(r for r in csv.DictReader(sheet.open()) if "eli" in r["ids"])["changed"] == "eli"
    assert _run("sheet", "import", out, Q1, sheet).exit_code == 0
    assert _tests(out, "eli")[Q1]["extra_data"]["staff"]["changed"]
    # someone looks: keeps the grade for the new answer; the score stays, the flag goes
    app.change(Q1, {"op": "grade", "students": ["eli"], "alone": True})
    eli = _tests(out, "eli")[Q1]
    assert eli["score"] == 1 and not eli["extra_data"]["staff"]["changed"]
    # a notebook taken away is a changed answer too (none now)
    (folder / "fay" / "Dropout.ipynb").unlink()
    assert _run(folder, "--out", out, "-j", "2").exit_code == 0
    fay = _tests(out, "fay")[Q1]
    assert fay["score"] == 1 and fay["extra_data"]["staff"]["changed"]


def test_a_grade_changes_only_what_was_given(out):
    """A TA saving a comment on a page loaded before another TA's score keeps that score."""
    _give(out, Q1, ["eli", "fay"], score=2.0, comment="first")
    _give(out, Q1, ["eli", "fay"], comment="second")  # no score sent: the score stays
    _give(out, Q1, ["eli"], score=1.0)  # no comment sent: the comment stays
    grades = review.load(out, Q1).grades
    assert (grades["eli"].score, grades["eli"].comment) == (1.0, "second")
    assert (grades["fay"].score, grades["fay"].comment) == (2.0, "second")


@pytest.mark.parametrize("broken", ["{ half a file", '{"items": [], "grades": []}',
                                    '{"items": [], "grades": {"ada": {"score": NaN, '
                                    '"comment": "", "items": [], "own": false, "answer": ""}}}'])
def test_an_unreadable_file_of_grades_stops_the_grader_instead_of_losing_them(
        graded_class, out, broken):
    _give(out, Q1, ["ben"], score=5.0)
    assert _run("summary", out).exit_code == 0
    review.path(out, Q1).write_text(broken)
    for command in (["summary", str(out)],
                    [str(graded_class / "class"), "--out", str(out), "--force", "-j", "2"]):
        said = CliRunner().invoke(main, command)
        assert said.exit_code == 2 and "cannot be read" in said.output, said.output
    assert review.path(out, Q1).read_text() == broken
    # nothing was graded: no result lost its points to the grader failing on the file
    assert json.loads((out / "ben" / "results.json").read_text())["score"] == 105


def test_the_roster_stays_in_the_gradebook_when_staff_grades_rewrite_it(graded_class,
                                                                        tmp_path):
    out, roster = tmp_path / "out", tmp_path / "roster.csv"
    roster.write_text("id,name\nada,Ada Lovelace\nzed,Zed Absent\n")
    _run(graded_class / "class", "--out", out, "--roster", roster, "-j", "2")
    _give(out, Q1, ["ada"], score=5.0)
    assert _run("summary", out).exit_code == 0
    rows = {r["id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert (rows["ada"]["name"], rows["ada"][Q1], rows["zed"]["status"]) == \
        ("Ada Lovelace", "5", "missing")


def test_grades_of_a_question_the_rubric_no_longer_asks_are_kept_and_said(graded_class, out,
                                                                           tmp_path):
    _give(out, Q3, ["ada"], score=5.0)
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[questions.why_divide]\npoints = 4\nnumber = 1\n')
    said = CliRunner().invoke(main, [str(graded_class / "class"), "--out", str(out),
                                     "--rubric", str(rubric), "-j", "2"])
    assert said.exit_code == 0
    assert f"the staff's grades of {Q3} are kept in" in said.output
    assert review.load(out, Q3).grades["ada"].score == 5
    assert Q3 not in _tests(out, "ada")


def test_a_zipped_submission_has_its_answers_and_an_unreadable_notebook_its_own_group(
        graded_class, out, tmp_path):
    import zipfile

    folder = Path(shutil.copytree(graded_class / "class", tmp_path / "class"))
    home = write_student(tmp_path / "zips", "zoe", notebook_2019, [RIGHT, REGULARIZER])
    with zipfile.ZipFile(folder / "zoe.zip", "w") as archive:
        for file in home.rglob("*"):
            archive.write(file, file.relative_to(home.parent))
    big = write_student(folder, "max", notebook_2019, [RIGHT])
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "x"}] * 6_000
    (big / "Dropout.ipynb").write_text(json.dumps({"nbformat": 4, "cells": cells}))
    (folder / "yan.zip").write_bytes(b"PK\x03\x04 not a zip after all")
    assert _run(folder, "--out", out, "-j", "2").exit_code == 0
    groups = review_server.ReviewApp(out, load_rubric(), ASKED).state(Q1)["groups"]
    assert [m["id"] for m in groups[0]["members"]] == ["ada", "ben", "chen", "zoe"]
    assert (groups[-2]["key"], [m["id"] for m in groups[-2]["members"]]) == \
        (questions.UNREADABLE, ["max", "yan"])
    assert groups[-1]["key"] == questions.UNANSWERED
    sheet = tmp_path / "q1.csv"  # the sheet keeps them apart too
    _run("sheet", "export", out, Q1, sheet)
    assert next(r for r in csv.DictReader(sheet.open()) if r["group"] == "unreadable")["ids"] \
        == "max yan"
    # when max's notebook is mended, the page that is open sees it
    app = review_server.ReviewApp(out, load_rubric(), ASKED)
    app.state(Q1)
    write_student(folder, "max", notebook_2019, [""])
    assert _run(folder, "--out", out, "-j", "2").exit_code == 0
    keys = {g["key"]: [m["id"] for m in g["members"]] for g in app.state(Q1)["groups"]}
    assert keys[questions.UNREADABLE] == ["yan"] and "max" in keys[questions.UNANSWERED]


def test_a_group_grade_skips_whoever_answered_otherwise_since_the_page_showed_them(
        graded_class, out, tmp_path):
    app = review_server.ReviewApp(out, load_rubric(), ASKED)
    shown = app.state(Q1)["groups"]
    wrong = next(g for g in shown if g["text"] == WRONG)  # eli and fay
    folder = Path(shutil.copytree(graded_class / "class", tmp_path / "class"))
    write_student(folder, "eli", notebook_2019, [RIGHT])  # eli answers otherwise meanwhile
    assert _run(folder, "--out", out, "-j", "2").exit_code == 0
    said = app.change(Q1, {"op": "grade", "students": [m["id"] for m in wrong["members"]],
                           "group": wrong["key"], "score": 0})
    assert "not for 1 of the group" in said["warning"]
    assert set(review.load(out, Q1).grades) == {"fay"}


def test_a_question_added_later_flags_no_answer_as_changed(out):
    """Results graded before a question was asked recorded no answer to it: unknown, not
    changed."""
    rubric = load_rubric()
    extra = Question("why_p", 2.0, "Why p?", 1)
    review.record_questions(out, type(rubric)(rubric.checks, questions=(*ASKED, extra)))
    app = review_server.ReviewApp(out, rubric, review.questions(out))
    app.change("why_p", {"op": "grade", "students": ["ada"], "alone": True, "score": 2})
    test = _tests(out, "ada")["why_p"]
    assert test["score"] == 2 and not test["extra_data"]["staff"]["changed"]
    assert review.CHANGED not in test["output"]


def test_the_kept_roster_reads_a_spreadsheets_gradebook_and_only_its_names(tmp_path):
    from grader import results

    (tmp_path / "grades.csv").write_bytes(
        "\ufeffid,name,score,max_score,status\r\nada,Ada,1,1,ok\r\nkim,,1,1,ok\r\n"
        "zed,Zed,0,1,missing\r\nyo,,0,1,missing\r\n".encode())
    assert results.kept_roster(tmp_path) == {"ada": "Ada", "zed": "Zed", "yo": ""}
    (tmp_path / "grades.csv").write_text("score,name\n1,x\n")
    assert results.kept_roster(tmp_path) is None


def test_a_submission_the_grader_failed_on_keeps_its_answers(out):
    from grader import results

    report = {"grader": {"id": "ada", "path": "/the/submission", "failed": "boom"}}
    assert results.from_report(report, load_rubric()).path == "/the/submission"


def _staff_member(out: str, question: str, students: list[str], rounds: int) -> None:
    for n in range(rounds):
        for sid in students:
            review.change(Path(out), question, lambda found, sid=sid, n=n: review.grade(
                found, [sid], {}, alone=True, score=float(n % 5), comment=f"{sid} {n}"))


def test_staff_grading_at_once_lose_nothing_of_each_others(out):
    """Four graders, two on question 1 (other students) and two on question 2, in processes of
    their own: every last change of each is in the files."""
    context = multiprocessing.get_context("spawn")
    jobs = [(Q1, ["ada", "ben", "chen"]), (Q1, ["dana", "eli", "fay"]),
            (Q2, ["ada", "ben", "chen"]), (Q2, ["gus", "hana", "ivan"])]
    workers = [context.Process(target=_staff_member, args=(str(out), q, ids, 12))
               for q, ids in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    for question, ids in jobs:
        grades = review.load(out, question).grades
        assert all(grades[sid].comment == f"{sid} 11" for sid in ids)


# --- sheets -----------------------------------------------------------------------------------

def test_a_questions_groups_go_to_a_sheet_and_come_back_graded(out, tmp_path):
    write = tmp_path / "q1.csv"
    assert _run("sheet", "export", out, Q1, write).exit_code == 0
    rows = list(csv.DictReader(write.open(encoding="utf-8")))
    assert [r["ids"] for r in rows][:2] == ["ada ben chen", "dana"]
    assert next(r for r in rows if r["ids"] == "gus hana")["answer"] == KOREAN
    assert next(r for r in rows if r["ids"] == "ivan")["answer"] == HOSTILE
    for row in rows:  # the team fills in the sheet; a comment starting "=" is theirs
        row["score"], row["comment"] = {"ada ben chen": ("5", "=Right"),
                                        "eli fay": ("1", "")}.get(row["ids"], ("", ""))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=sheets.COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write.write_text(buffer.getvalue(), encoding="utf-8")
    said = _run("sheet", "import", out, Q1, write)
    assert said.output.strip() == "graded 5 students in 2 groups"
    assert _tests(out, "ben")[Q1]["score"] == 5 and _tests(out, "fay")[Q1]["score"] == 1
    assert review.load(out, Q1).grades["ada"].comment == "=Right"
    assert _run("sheet", "export", out, Q1, write).exit_code == 0  # quoted again on the way out
    assert next(csv.DictReader(write.open()))["comment"] == "'=Right"
    write.write_text("group,students,ids,answer,score,comment\nx,1,a,b,11,\n")
    refused = CliRunner().invoke(main, ["sheet", "import", str(out), Q1, str(write)])
    assert refused.exit_code != 0 and "row 2" in refused.output


def test_a_sheet_keeps_an_answer_that_looks_like_a_formula_inert(out, graded_class, tmp_path):
    folder = Path(shutil.copytree(graded_class / "class", tmp_path / "class"))
    write_student(folder, "mo", notebook_2019, ['=HYPERLINK("http://x.example","click")'])
    assert _run(folder, "--out", out, "-j", "2").exit_code == 0
    write = tmp_path / "q1.csv"
    _run("sheet", "export", out, Q1, write)
    row = next(r for r in csv.DictReader(write.open()) if r["ids"] == "mo")
    assert row["answer"].startswith("'=HYPERLINK")


# --- the page's server ------------------------------------------------------------------------

@pytest.fixture
def page(out):
    app = review_server.ReviewApp(out, load_rubric(), ASKED)
    server = review_server.serve(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _status(url: str, headers: dict | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_page_answers_only_to_its_token_at_its_own_address(page):
    app, server, base = page
    port = server.server_address[1]
    assert server.server_address[0] == "127.0.0.1"
    good = {"X-Review-Token": app.token}
    assert _status(f"{base}/?token={app.token}") == 200
    assert _status(f"{base}/") == 403
    assert _status(f"{base}/?token={app.token[:-1]}x") == 403
    assert _status(f"{base}/api/questions", good) == 200
    assert _status(f"{base}/api/questions") == 403
    assert _status(f"{base}/api/questions?token={app.token}") == 403  # data: the header only
    assert _status(f"{base}/api/questions", {"X-Review-Token": "guess"}) == 403
    # another site's name for 127.0.0.1 (DNS rebinding) is refused, with the token too
    assert _status(f"{base}/api/questions", {**good, "Host": f"evil.example:{port}"}) == 403
    post = json.dumps({"op": "grade", "students": ["ada"], "alone": True, "score": 5}).encode()
    assert _status(f"{base}/api/questions/{Q1}", {"Content-Type": "application/json"},
                   post) == 403
    # a form another page could post without asking (no JSON): refused
    assert _status(f"{base}/api/questions/{Q1}", {**good, "Content-Type": "text/plain"},
                   post) == 415
    assert review.load(app.out, Q1) is None  # nothing of the refused requests landed
    assert _status(f"{base}/api/questions/{Q1}", {**good, "Content-Type": "application/json"},
                   post) == 200
    assert review.load(app.out, Q1).grades["ada"].score == 5


def test_the_page_checks_every_change_it_is_sent(page):
    app, _, base = page
    headers = {"X-Review-Token": app.token, "Content-Type": "application/json"}
    for bad in ({"op": "grade", "students": ["nobody"], "score": 1},
                {"op": "grade", "students": ["ada"], "score": "5"},
                {"op": "grade", "students": ["ada"], "score": float("nan")},
                {"op": "item", "title": "", "points": 1},
                {"op": "format the disk"}):
        assert _status(f"{base}/api/questions/{Q1}", headers,
                       json.dumps(bad).encode()) == 400, bad
    for score in (6, -1):  # the question is worth 5
        assert _status(f"{base}/api/questions/{Q1}", headers, json.dumps(
            {"op": "grade", "students": ["ada"], "score": score}).encode()) == 400
    assert _status(f"{base}/api/questions/{Q1}", headers, b"[" * 100_000) in (400, 413)
    assert _status(f"{base}/api/questions/{Q1}", {**headers, "Content-Length": "abc"},
                   b"{}") == 413
    assert review.load(app.out, Q1) is None or not review.load(app.out, Q1).grades


def test_the_first_grade_of_a_question_reaches_every_result_and_the_gradebook(page):
    app, _, _ = page
    app.change(Q1, {"op": "grade", "students": ["ada"], "alone": True, "score": 5})
    assert _tests(app.out, "dana")[Q1]["output"] == review.NOT_GRADED  # not only ada's
    deadline = time.monotonic() + 30  # the gradebook follows in the background
    while time.monotonic() < deadline:
        rows = {r["id"]: r for r in csv.DictReader((app.out / "grades.csv").open())}
        if rows["ada"].get(Q1) == "5":
            break
        time.sleep(0.2)
    assert rows["ada"].get(Q1) == "5" and rows["dana"][Q1] == ""
    report = (app.out / "ada" / "pytest-report.json").stat().st_mtime_ns
    app.change(Q1, {"op": "grade", "students": ["ada"], "alone": True, "score": 4})
    # the grader's report of the code is never written by the staff's changes
    assert (app.out / "ada" / "pytest-report.json").stat().st_mtime_ns == report


def test_a_broken_file_of_one_question_leaves_the_others_gradable(page):
    app, _, base = page
    review.path(app.out, Q2).parent.mkdir(exist_ok=True)
    review.path(app.out, Q2).write_text("{ broken")
    headers = {"X-Review-Token": app.token, "Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}/api/questions", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        shown = {q["id"]: q for q in json.loads(response.read())["questions"]}
    assert "cannot be read" in shown[Q2]["error"] and "error" not in shown[Q1]
    body = json.dumps({"op": "grade", "students": ["ada"], "alone": True, "score": 5}).encode()
    request = urllib.request.Request(f"{base}/api/questions/{Q1}", body, headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        said = json.loads(response.read())
    assert said["warning"].startswith("saved, but the results are not updated")
    assert review.load(app.out, Q1).grades["ada"].score == 5
    assert _status(f"{base}/api/questions/{Q2}", headers) == 409


def test_a_page_started_under_nohup_outlives_its_terminal(out):
    server = subprocess.Popen(
        [sys.executable, "-m", "grader", "review", str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    server.stdout.readline()
    server.stdout.readline()
    server.send_signal(signal.SIGHUP)
    with pytest.raises(subprocess.TimeoutExpired):
        server.wait(2)
    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0


def test_the_page_stops_on_a_kill_as_on_ctrl_c_and_merges_the_grades(out):
    server = subprocess.Popen([sys.executable, "-m", "grader", "review", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    server.stdout.readline()
    assert server.stdout.readline().strip().startswith("http://127.0.0.1:")
    _give(out, Q1, ["ada"], score=3.0)  # graded meanwhile, from another staff member's tool
    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0
    rows = {r["id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["ada"][Q1] == "3"


def test_names_the_grader_keeps_for_itself_are_no_students_id_nor_questions(tmp_path):
    from grader import discover

    (tmp_path / "reviews").mkdir()
    assert list(discover.assign_ids([tmp_path / "reviews"])) == ["reviews~dir"]
    for bad in ("../x", "a.b", "forward_shape"):
        rubric = tmp_path / "r.toml"
        rubric.write_text(f'[questions."{bad}"]\npoints = 1\n')
        with pytest.raises(RubricError):
            load_rubric(rubric)


def test_the_page_serves_student_text_as_data_and_its_own_script_alone(page):
    app, _, base = page
    with urllib.request.urlopen(f"{base}/?token={app.token}", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
        html = response.read().decode()
    assert "script-src 'nonce-" in policy and "unsafe-inline" not in policy
    assert HOSTILE not in html and "<script nonce=" in html
    request = urllib.request.Request(f"{base}/api/questions/{Q1}",
                                     headers={"X-Review-Token": app.token})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        texts = [g["text"] for g in json.loads(response.read())["groups"]]
    assert HOSTILE in texts and WRONG in texts
