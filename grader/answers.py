"""The class's written answers: each student graded into OUT, with the notebook answer to
each question, read from the submission again only when its result changes."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from grader import notebooks, questions, results
from grader.rubric import Question


def read(result: results.SubmissionResult) -> notebooks.Reading:
    """What was read of the notebook of the submission RESULT was graded from."""
    return notebooks.of_submission(Path(result.path)) if result.path else notebooks.Reading()


@dataclass
class Student:
    id: str
    label: str  # shown while names are hidden (blind grading)
    answers: dict[str, notebooks.Answer]  # question id -> answer
    problem: str | None = None  # why their notebook could not be read

    def digest(self, question_id: str) -> str:
        return questions.digest(self.answers.get(question_id))


class Class:
    """The students graded into OUT and their answers, kept between reads: a student's
    result is read again only when its file changed, their notebook only when their result
    says the submission changed, and a question's groups made again only when an answer did."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._read: dict[str, tuple] = {}  # id -> (its file, its source, answers, problem)
        self._groups: dict[str, tuple[tuple, list[questions.Group]]] = {}
        self._lock = threading.Lock()

    def students(self, asked: tuple[Question, ...]) -> list[Student]:
        """Every student with a result in OUT, with their answers to ASKED and a label that is
        not their id: "student N", numbered in an order that is neither the ids' nor the
        folders' (no sequential bias)."""
        found = []
        with self._lock:
            for sid in results.result_ids(self.out):
                try:
                    info = os.lstat(self.out / sid / results.RESULTS)
                except OSError:
                    continue
                seen = (info.st_ino, info.st_mtime_ns, info.st_size)
                known = self._read.get(sid)
                if known is None or known[0] != seen:
                    result = results.read(self.out, sid)
                    if result is None:
                        continue
                    source = f"{result.content_hash}:{result.path}"
                    if known is None or known[1] != source:
                        reading = read(result)
                        known = (seen, source, questions.assign(reading.answers, asked),
                                 reading.problem)
                    self._read[sid] = known = (seen, source, *known[2:])
                found.append(Student(sid, "", known[2], known[3]))
        order = sorted(found, key=lambda s: hashlib.sha256(s.id.encode()).hexdigest())
        for number, student in enumerate(order, 1):
            student.label = f"student {number}"
        return found

    def groups(self, students: list[Student], question_id: str) -> list[questions.Group]:
        """The answer groups of one question (:func:`grader.questions.group`), shared between
        calls: read them, never change them."""
        key = tuple((s.id, s.digest(question_id), bool(s.problem)) for s in students)
        with self._lock:
            cached = self._groups.get(question_id)
            if cached is None or cached[0] != key:
                made = questions.group({s.id: s.answers.get(question_id) for s in students},
                                       {s.id for s in students if s.problem})
                self._groups[question_id] = cached = (key, made)
        return cached[1]
