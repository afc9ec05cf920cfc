"""One question's answer groups as a spreadsheet, for teams that grade there: exported with
one row per group (student text inert), imported back by each row's group key."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from grader import review
from grader.answers import Class
from grader.inert import cell, uncell
from grader.rubric import Question

COLUMNS = ("group", "students", "ids", "answer", "score", "comment", "changed")
NEEDED = ("group", "score", "comment")  # what an import reads


class SheetError(Exception):
    """A sheet that cannot be imported (its header, a score), said with its row."""


def export(out: Path, question: Question, asked: tuple[Question, ...]) -> str:
    """QUESTION's answer groups in OUT as CSV: the group key, its size, its students, the
    answer, the grade its members share (empty where they differ or have none), and those
    whose answer changed since it was graded."""
    everyone = Class(out)
    students = everyone.students(asked)
    digests = {s.id: s.digest(question.id) for s in students}
    found = review.load(out, question.id) or review.Review(question.id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for group in everyone.groups(students, question.id):
        grades = {_shared(found.grades.get(sid)) for sid in group.members}
        score, comment = grades.pop() if len(grades) == 1 else (None, "")
        changed = [sid for sid in group.members
                   if (g := found.grades.get(sid)) and g.changed(digests[sid])]
        writer.writerow([group.key, len(group.members), cell(" ".join(group.members)),
                         cell(group.text), "" if score is None else f"{score:g}",
                         cell(comment), cell(" ".join(changed))])
    return buffer.getvalue()


def _shared(grade: review.Grade | None) -> tuple[float | None, str]:
    return (None, "") if grade is None else (grade.score, grade.comment)


@dataclass
class Imported:
    groups: int
    students: int
    unknown: int  # rows whose group is no longer in the class's answers


def import_(out: Path, question: Question, asked: tuple[Question, ...], text: str) -> Imported:
    """Grade QUESTION's groups from a filled sheet (TEXT, as :func:`export` wrote it): each
    row's score and comment (when it has one) go to its group's members, but those with their
    own grade and those it would not change (an answer changed since it was graded stays
    flagged until someone grades it). A row with no score is left alone. Every row is
    checked before any grade is given."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not set(NEEDED) <= set(rows[0]):
        raise SheetError(f"the sheet needs the columns {', '.join(NEEDED)}")
    everyone = Class(out)
    students = everyone.students(asked)
    members = {g.key: g.members for g in everyone.groups(students, question.id)}
    digests = {s.id: s.digest(question.id) for s in students}
    wanted = []
    for number, row in enumerate(rows, 2):
        if not (row["score"] or "").strip():
            continue
        try:
            score = review.typed_score(float(row["score"]), question)
        except ValueError:
            raise SheetError(f"row {number}: score {row['score']!r} is not a number from 0 "
                             f"to {question.points:g}") from None
        wanted.append((row["group"], score, uncell(row["comment"] or "")))
    graded: list[str] = []

    def edit(found: review.Review) -> None:
        for key, score, comment in wanted:
            changes = [sid for sid in members.get(key, []) if (g := found.grades.get(sid))
                       is None or g.score != score or (comment and g.comment != comment)]
            graded.extend(review.grade(found, changes, digests, alone=False, score=score,
                                       comment=comment or None))

    review.change(out, question.id, edit)
    return Imported(sum(key in members for key, _, _ in wanted), len(graded),
                    sum(key not in members for key, _, _ in wanted))
