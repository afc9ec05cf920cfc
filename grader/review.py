"""The course staff's grades of the written answers, kept apart from what the grader computes:
one file per question, OUT/reviews/<question id>.json, changed only under a lock and written
atomically (two staff members grading, on one question or two, lose nothing of each other's).
They are merged into every result written into OUT, beside the staff's adjustments, so that
no regrade loses them."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from grader import adjust, results
from grader.discover import REVIEWS_FOLDER
from grader.rubric import Question, Rubric
from grader.rubric import load as load_rubric

REVIEWS = REVIEWS_FOLDER
QUESTIONS = "questions.json"  # the questions of the last run into OUT (its rubric's)
MAX_TEXT = 2_000  # of a comment or an item's title: staff text, bounded all the same
NOT_GRADED = "Not graded yet by the course staff."
CHANGED = ("Your answer changed since it was graded: the course staff will look at it "
           "again.")


@dataclass
class Item:
    """A rubric item: a named credit (points > 0) or deduction (< 0) applied to many answers;
    changing its points changes every answer it is applied to."""

    id: str
    title: str
    points: float


@dataclass
class Grade:
    score: float | None = None  # typed by the staff; None: the question's start (0 or full)
    comment: str = ""
    items: list[str] = field(default_factory=list)
    own: bool = False  # given to this student alone: a later grade of their group skips it
    answer: str = ""  # the digest of the answer it was given to (questions.digest)

    @property
    def graded(self) -> bool:
        return self.score is not None or bool(self.items)

    def changed(self, now: str) -> bool:
        """Whether this grade was given to another answer than NOW (a digest)."""
        return self.graded and bool(self.answer) and self.answer != now


@dataclass
class Review:
    question: str
    items: list[Item] = field(default_factory=list)
    grades: dict[str, Grade] = field(default_factory=dict)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def graded_among(self, students: list) -> int:
        """How many of STUDENTS (with an id) have a grade."""
        return sum(1 for s in students if (g := self.grades.get(s.id)) and g.graded)

    def score(self, grade: Grade, question: Question) -> float:
        """GRADE's points: the typed score (else 0, or the full points under negative scoring)
        plus its items', within 0 and the question's points."""
        start = grade.score if grade.score is not None else (
            question.points if question.scoring == "negative" else 0.0)
        earned = start + sum(i.points for i in self.items if i.id in grade.items)
        return round(min(max(earned, 0.0), question.points), 4)


def path(out: Path, question_id: str) -> Path:
    return out / REVIEWS / f"{question_id}.json"


def load(out: Path, question_id: str) -> Review | None:
    """The staff's grades of one question in OUT, or None when nobody has begun grading it."""
    try:
        data = json.loads(path(out, question_id).read_text(encoding="utf-8"))
        return Review(question_id,
                      [Item(str(i["id"]), str(i["title"]), number(i["points"]))
                       for i in data["items"]],
                      {str(sid): Grade(None if g["score"] is None else number(g["score"]),
                                       str(g["comment"]), [str(i) for i in g["items"]],
                                       bool(g["own"]), str(g["answer"]))
                       for sid, g in data["grades"].items()})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise ReviewError(f"{path(out, question_id)} cannot be read ({err}): it is the "
                          "staff's grades, so the grader stops rather than lose them") from err


def number(value: object) -> float:
    """VALUE as points: a finite number (ValueError for anything else: text, NaN, true)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number of points")
    return float(value)


def typed_score(value: object, question: Question) -> float:
    """A score the staff typed for QUESTION: a number from 0 to its points (ValueError
    saying so for anything else)."""
    try:
        score = number(value)
    except ValueError:
        score = math.nan
    if not 0 <= score <= question.points:
        raise ValueError(f"a score is a number from 0 to {question.points:g}, not {value!r}")
    return score


class ReviewError(Exception):
    """A file of the staff's grades that cannot be read: never silently replaced."""


def started(out: Path, questions: tuple[Question, ...]) -> dict[str, Review]:
    """The reviews of QUESTIONS begun in OUT, by question id (ReviewError: one cannot be
    read)."""
    found = {q.id: load(out, q.id) for q in questions} if (out / REVIEWS).is_dir() else {}
    return {qid: review for qid, review in found.items() if review is not None}


def unasked(out: Path, questions: tuple[Question, ...]) -> list[str]:
    """The questions the staff have grades of in OUT that QUESTIONS no longer ask (a new
    rubric): their grades are kept, and count nowhere until a rubric asks them again."""
    try:
        files = sorted(p.stem for p in (out / REVIEWS).glob("*.json"))
    except OSError:
        return []
    return [qid for qid in files if qid not in {q.id for q in questions}]


def change(out: Path, question_id: str, edit: Callable[[Review], None]) -> Review:
    """Apply EDIT to the question's grades as they are on disk now, under a lock, and write
    them atomically: concurrent staff members' changes all land."""
    (out / REVIEWS).mkdir(parents=True, exist_ok=True)
    with results.locked(out / REVIEWS / f".{question_id}.lock"):
        review = load(out, question_id) or Review(question_id)
        edit(review)
        results.write_atomic(path(out, question_id), json.dumps(
            {"question": question_id, "items": [asdict(i) for i in review.items],
             "grades": {sid: asdict(g) for sid, g in sorted(review.grades.items())}},
            indent=1, ensure_ascii=False), durable=True)
    return review


def grade(review: Review, students: list[str], digests: dict[str, str], *, alone: bool,
          score: float | object | None = ..., comment: str | None = None,
          add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> list[str]:
    """Grade STUDENTS' answers in REVIEW (score None: none typed; ... : unchanged), each now
    given to the answer DIGESTS holds. ALONE: these students one by one, their own grade from
    now on; else as a group, whose members with their own grade are left alone. Returns the
    students graded."""
    done = []
    for sid in students:
        given = review.grades.get(sid) or Grade()
        if given.own and not alone:
            continue
        if score is not ...:
            given.score = score
        if comment is not None:
            given.comment = comment[:MAX_TEXT]
        known = [i for i in add if review.item(i) is not None]
        given.items = [i for i in given.items if i not in remove] + \
            [i for i in known if i not in given.items and i not in remove]
        given.own = given.own or alone
        given.answer = digests.get(sid, given.answer)
        review.grades[sid] = given
        done.append(sid)
    return done


def ungrade(review: Review, students: list[str]) -> list[str]:
    """Forget STUDENTS' grades (and that they were their own): their group's grade is theirs
    again when it is next given."""
    return [sid for sid in students if review.grades.pop(sid, None) is not None]


def set_item(review: Review, item_id: str | None, title: str, points: float) -> list[str]:
    """Add a rubric item (ITEM_ID None) or change one; returns the students it changes."""
    if item_id is None:
        review.items.append(Item(secrets.token_hex(4), title[:MAX_TEXT], points))
        return []
    item = review.item(item_id)
    if item is None:
        raise ReviewError(f"no rubric item {item_id!r}")
    item.title, item.points = title[:MAX_TEXT], points
    return [sid for sid, g in review.grades.items() if item_id in g.items]


def delete_item(review: Review, item_id: str) -> list[str]:
    """Take a rubric item away, from every answer it was applied to (returned)."""
    review.items = [i for i in review.items if i.id != item_id]
    changed = [sid for sid, g in review.grades.items() if item_id in g.items]
    for sid in changed:
        review.grades[sid].items.remove(item_id)
    return changed


def questions(out: Path) -> tuple[Question, ...]:
    """The questions OUT was last graded with (its rubric's), else the default rubric's."""
    try:
        data = json.loads((out / QUESTIONS).read_text(encoding="utf-8"))
        return tuple(Question(**{**q, "key_points": tuple(q["key_points"]),
                                 "match": tuple(q["match"])}) for q in data["questions"])
    except (OSError, ValueError, KeyError, TypeError):
        return load_rubric().questions


def record_questions(out: Path, rubric: Rubric) -> None:
    """Write the rubric's questions into OUT, for the review page and later merges."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"questions": [asdict(q) for q in rubric.questions]}, indent=1)
    try:
        if (out / QUESTIONS).read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    results.write_atomic(out / QUESTIONS, text)


def merge(result: results.SubmissionResult, asked: tuple[Question, ...],
          reviews: dict[str, Review]) -> results.SubmissionResult:
    """RESULT with one check per question whose grading has begun: the staff's score and
    comment (and the rubric items applied), or 0 and "not graded yet"; flagged when the answer
    changed since it was graded."""
    added = []
    for question in asked:
        review = reviews.get(question.id)
        if review is None:
            continue
        grade = review.grades.get(result.id)
        if grade is None or not grade.graded:
            added.append(results.CheckResult(
                question.id, question.title, 0.0, question.points, NOT_GRADED,
                question.visibility, staff={"graded": False, "changed": False}))
            continue
        # where the grader recorded no answer to this question (graded before it was asked,
        # or not from a folder or zip), nothing is known to have changed
        changed = grade.changed(result.answers.get(question.id, grade.answer))
        lines = [f"{i.points:+g}: {i.title}" for i in review.items if i.id in grade.items]
        lines += [grade.comment] if grade.comment else []
        lines += [CHANGED] if changed else []
        added.append(results.CheckResult(
            question.id, question.title, review.score(grade, question), question.points,
            "\n".join(lines), question.visibility,
            staff={"graded": True, "changed": changed}))
    ids = {c.id for c in added}
    kept = [c for c in result.checks if c.id not in ids]
    return replace(result, checks=[*kept, *added]) if added else result


def finish(out: Path, report: dict, rubric: Rubric) -> results.SubmissionResult:
    """The result of a pytest REPORT with everything the staff gave in OUT: the written
    answers' grades, then the adjustments."""
    result = results.from_report(report, rubric)
    asked = questions(out)
    result = merge(result, asked, started(out, asked))
    return adjust.apply(result, adjust.load(out).get(result.id, []))


def sync(out: Path, ids: list[str] | None = None, rubric: Rubric | None = None) -> int:
    """Rewrite the results in OUT (of IDS; every one when None) that the staff's grades or
    adjustments change; return how many were rewritten. Nothing is read when the staff have
    given nothing."""
    if not (out / REVIEWS).is_dir() and not (out / adjust.ADJUSTMENTS).is_file():
        return 0
    rubric = rubric or load_rubric()
    written = 0
    with results.locked(out / f".{REVIEWS}.lock"):
        for sid in ids if ids is not None else results.result_ids(out):
            report = results.read_report(out, sid)
            if report is None:
                continue
            result = finish(out, report, rubric)
            before = results.read(out, sid)
            if before is None or results.to_gradescope(before) != results.to_gradescope(result):
                # the report is left as it is: a worker may be writing a newer one
                results.save(out, None, result)
                written += 1
    return written


def regrade(out: Path, sub_id: str, rubric: Rubric) -> results.SubmissionResult | None:
    """SUB_ID's result made again in OUT with everything the staff gave; None when OUT holds
    no report of it."""
    sync(out, [sub_id], rubric)
    return results.read(out, sub_id)
