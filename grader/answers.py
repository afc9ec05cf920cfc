"""The class's written answers: each student graded into OUT, with the notebook answer to
each question, read from the submission again only when its result changes."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from grader import notebooks, questions, results
from grader.rubric import Question


@dataclass
class Student:
    id: str
    label: str  # shown while names are hidden (blind grading)
    answers: dict[str, notebooks.Answer]  # question id -> answer

    def digest(self, question_id: str) -> str:
        return questions.digest(self.answers.get(question_id))


class Class:
    """The students graded into OUT and their answers (kept between reads, by result)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._read: dict[str, tuple[str, dict[str, notebooks.Answer]]] = {}
        self._lock = threading.Lock()

    def students(self, asked: tuple[Question, ...]) -> list[Student]:
        """Every student with a result in OUT, with their answers to ASKED and a label that is
        not their id: "student N", numbered in an order that is neither the ids' nor the
        folders' (no sequential bias)."""
        found = []
        with self._lock:
            for result in results.iter_results(self.out):
                key = f"{result.content_hash}:{result.path}"
                if self._read.get(result.id, ("",))[0] != key:
                    path = Path(result.path) if result.path else None
                    answers = notebooks.of_submission(path).answers if path else []
                    self._read[result.id] = (key, questions.assign(answers, asked))
                found.append(Student(result.id, "", self._read[result.id][1]))
        order = sorted(found, key=lambda s: hashlib.sha256(s.id.encode()).hexdigest())
        for number, student in enumerate(order, 1):
            student.label = f"student {number}"
        return found
