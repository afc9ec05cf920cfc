"""The class at a glance, computed from the results files under an output folder: scores,
pass rates, misconceptions, problems, identical files. Rendering lives elsewhere
(:mod:`grader.html_report`, :func:`text_summary`); this module needs nothing beyond the core."""

from __future__ import annotations

import csv
import hashlib
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader import discover, misconceptions, questions, results, review
from grader.convention import staff_hint
from grader.results import STATUS_ORDER, SubmissionResult

HISTOGRAM_BINS = 10


@dataclass
class Student:
    id: str
    name: str
    result: SubmissionResult | None  # None: on the roster, nothing submitted
    answers: list = field(default_factory=list)  # notebooks.Answer

    @property
    def status(self) -> str:
        return self.result.status if self.result else "missing"

    @property
    def percent(self) -> float:
        r = self.result
        return 100 * r.score / r.max_score if r and r.max_score else 0.0


@dataclass
class QuestionReport:
    """An Inline Question the staff have begun grading: how far, and how it went."""

    id: str
    title: str
    points: float
    of: int  # students graded into OUT
    scores: dict[float, int] = field(default_factory=dict)  # score -> students given it
    changed: list[str] = field(default_factory=list)  # answers changed since graded
    groups: list[tuple[int, str, str]] = field(default_factory=list)  # size, answer, scores

    @property
    def graded(self) -> int:
        return sum(self.scores.values())

    @property
    def mean(self) -> float:
        return sum(s * n for s, n in self.scores.items()) / self.graded if self.graded else 0.0

    @property
    def said(self) -> str:
        return (f"{self.graded} of {self.of} graded, mean {self.mean:.2g} / {self.points:g}"
                + (f", {len(self.changed)} answers changed since they were graded "
                   f"({', '.join(self.changed)})" if self.changed else ""))


@dataclass
class ClassReport:
    students: list[Student]
    checks: list[tuple[str, str]]  # (id, title) in rubric order
    pass_rates: dict[str, float]  # over the submissions graded on the check
    misconceptions: dict[str, list[str]]  # key -> ids
    problems: list[tuple[str, str, str]]  # (id, status, message)
    identical: list[list[str]]
    graded_on: dict[str, int] = field(default_factory=dict)  # check id -> submissions
    p_hint: str | None = None  # submissions whose starter gives p the other meaning
    shared: list[tuple[str, str, list[str]]] = field(default_factory=list)  # same answers
    questions: list[QuestionReport] = field(default_factory=list)  # graded by the staff

    def scope(self, check_id: str) -> str:
        """' (of N)' for a check only some submissions were graded on (the FullyConnectedNet's,
        where not all hold fc_net.py); '' for the others."""
        n = self.graded_on.get(check_id, 0)
        return f" (of {n})" if n < len(self.graded) else ""

    @property
    def graded(self) -> list[Student]:
        return [s for s in self.students if s.result is not None]

    @property
    def sandboxes(self) -> dict[str, int]:
        """How many graded submissions had each containment (the line a run prints)."""
        return dict(Counter(s.result.sandbox or "sandbox: not recorded" for s in self.graded))

    @property
    def missing(self) -> list[Student]:
        return [s for s in self.students if s.result is None]

    @property
    def percents(self) -> list[float]:
        return [s.percent for s in self.students]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.percents) if self.students else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.percents) if self.students else 0.0

    def histogram(self) -> list[int]:
        """Students per 10-point band of the percent score (100 counts in the last band)."""
        counts = [0] * HISTOGRAM_BINS
        for p in self.percents:
            counts[min(int(p // (100 / HISTOGRAM_BINS)), HISTOGRAM_BINS - 1)] += 1
        return counts


def read_roster(path: Path) -> dict[str, str]:
    """id -> display name (name, else email, else id) from a CSV whose first column is id."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "id" not in rows[0]:
        raise ValueError(f"{path}: the roster needs an 'id' column")
    return {r["id"]: (r.get("name") or r.get("email") or r["id"]).strip() for r in rows}


def build(out: Path, roster: dict[str, str] | None = None,
          answers: Callable[[SubmissionResult], list] | None = None) -> ClassReport:
    """The class report of everything graded into OUT (plus rostered students with nothing);
    ANSWERS gives a graded submission's written answers."""
    graded = {r.id: r for r in results.iter_results(out)}
    names = roster or {}
    ids = sorted(set(graded) | set(names))
    students = [Student(i, names.get(i, i), graded.get(i),
                        answers(graded[i]) if answers and i in graded else [])
                for i in ids]
    checks: list[tuple[str, str]] = []
    passed: dict[str, int] = defaultdict(int)
    graded_on: dict[str, int] = defaultdict(int)  # a check's rate is over those it graded
    found: dict[str, list[str]] = defaultdict(list)
    problems = []
    for student in students:
        result = student.result
        if result is None:
            problems.append((student.id, "missing", "no submission"))
            continue
        for check in result.checks:
            if (check.id, check.title) not in checks:
                checks.append((check.id, check.title))
            passed[check.id] += check.passed
            graded_on[check.id] += 1
        for key in sorted({m for c in result.checks for m in c.misconceptions}):
            found[key].append(student.id)
        if result.status in STATUS_ORDER:  # every status but ok is a problem
            message = _problem_message(result)
            if result.staff_hint:  # the staff's own way out, told to them only
                message += f" Course staff: {result.staff_hint}."
            problems.append((student.id, result.status, message))
        if result.notebook:  # its written answers could not be read
            problems.append((student.id, "notebook", result.notebook))
    return ClassReport(
        students, checks, {cid: passed[cid] / graded_on[cid] for cid, _ in checks},
        {k: found[k] for k in misconceptions.CATALOGUE if k in found}, problems,
        identical_files(graded.values()), dict(graded_on),
        staff_hint({sid: result.p for sid, result in graded.items()}),
        shared_answers(students), staff_graded(out, students, answers is not None))


def staff_graded(out: Path, students: list[Student], grouped: bool) -> list[QuestionReport]:
    """Each question the staff have begun grading in OUT: the scores given, the answers
    changed since, and (GROUPED: the students' answers were read) its answer groups."""
    found = []
    graded = [s for s in students if s.result is not None]
    asked = review.questions(out)
    for question in asked:
        checks = {s.id: c for s in graded for c in s.result.checks if c.id == question.id}
        if not checks:
            continue  # not begun
        shown = QuestionReport(question.id, question.title, question.points, len(graded))
        for sid, check in sorted(checks.items()):
            if check.staff and check.staff.get("graded"):
                shown.scores[check.score] = shown.scores.get(check.score, 0) + 1
            if check.staff and check.staff.get("changed"):
                shown.changed.append(sid)
        shown.scores = dict(sorted(shown.scores.items()))
        if grouped:
            answers = {s.id: questions.assign(s.answers, asked).get(question.id)
                       for s in graded}
            unreadable = {s.id for s in graded if s.result.notebook}
            for group in questions.group(answers, unreadable):
                given = sorted({f"{checks[sid].score:g}" for sid in group.members
                                if sid in checks and (checks[sid].staff or {}).get("graded")})
                shown.groups.append((len(group.members), group.text or "(no answer)",
                                     ", ".join(given) or "not graded"))
        found.append(shown)
    return found


def _problem_message(result: SubmissionResult) -> str:
    if result.problem:
        return result.problem
    first = next((c.feedback for c in result.checks if not c.passed), "")
    return first.splitlines()[0].removeprefix("✗ ").split(": ", 1)[-1] if first else ""


def normalized(source: bytes) -> bytes:
    """The file without comments, blank lines and white space: what 'identical' compares.
    (Bytes are read, never parsed: a '#' inside a string counts as a comment here.)"""
    kept = []
    for line in source.splitlines():
        line = re.sub(rb"#.*", b"", line)
        line = re.sub(rb"\s+", b"", line)
        if line:
            kept.append(line)
    return b"\n".join(kept)


def identical_files(graded) -> list[list[str]]:
    """Groups of submissions whose graded files are the same once comments and white space
    are ignored (whole files: most correct answers share the few lines of dropout)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for result in graded:
        path = _graded_file(result)
        if path is None:
            continue
        try:  # a student's file: regular, no link followed, bounded
            data = discover.read_regular(path, discover.MAX_PY_BYTES)
        except (OSError, discover.SubmissionError):
            continue
        digest = hashlib.sha256(normalized(data)).hexdigest()
        groups[digest].append(result.id)
    return sorted(sorted(ids) for ids in groups.values() if len(ids) > 1)


SHARED_LEAST = 3  # students who wrote one answer before it is a signal, not a coincidence
SHARED_WORDS = 8  # an answer shorter than this is too short to tell copying from agreement


def shared_answers(students: list[Student]) -> list[tuple[str, str, list[str]]]:
    """Groups of SHARED_LEAST or more students who wrote the same non-trivial answer (at
    least SHARED_WORDS words, once case, white space and punctuation are ignored) to the same
    question: (question, the answer as the first of them wrote it, their ids)."""
    groups: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for student in students:
        for answer in student.answers:
            said = questions.words(answer.answer)
            if answer.answered and len(said.split()) >= SHARED_WORDS:
                groups[questions.words(answer.question)[:200], said].append(
                    (answer.question, answer.answer, student.id))
    return [(found[0][0], found[0][1], sorted({sid for _, _, sid in found}))
            for found in groups.values() if len({sid for _, _, sid in found}) >= SHARED_LEAST]


def _graded_file(result: SubmissionResult) -> Path | None:
    path = Path(result.path) if result.path else None
    if path is None or not result.file or path.suffix == ".zip":
        return None
    return path if path.is_file() else path / result.file


def text_summary(report: ClassReport) -> str:
    """`grade summary`: the class at a glance and the misconception counts, for a terminal."""
    lines = [f"graded {len(report.graded)}, missing {len(report.missing)}, "
             f"mean {report.mean:.1f}%, median {report.median:.1f}%",
             *(f"{line} ({count})" for line, count in report.sandboxes.items()), "",
             "pass rate per check"]
    width = max((len(cid) for cid, _ in report.checks), default=10)
    for cid, _ in report.checks:
        rate = report.pass_rates[cid]
        lines.append(f"  {cid:<{width}}  {rate:6.1%}  {'#' * round(rate * 30)}"
                     f"{report.scope(cid)}")
    lines += ["", "misconceptions found"]
    if not report.misconceptions:
        lines.append("  none")
    for key, ids in report.misconceptions.items():
        lines.append(f"  {len(ids):>4}  {misconceptions.CATALOGUE[key].title}: "
                     f"{', '.join(ids)}")
    if report.shared:
        lines += ["", "the same written answer"]
        lines += [f"  {len(ids)} students ({', '.join(ids)}): {' '.join(question.split())[:60]}"
                  for question, _, ids in report.shared]
    if report.questions:
        lines += ["", "written answers graded by the course staff"]
        lines += [f"  {q.id}: {q.said}" for q in report.questions]
    if report.p_hint:
        lines += ["", "what p means", f"  {report.p_hint}"]
    if report.problems:
        lines += ["", "problems"]
        lines += [f"  {sid}: {status}: {message}" for sid, status, message in report.problems]
    return "\n".join(lines)
