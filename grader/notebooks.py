"""The written answers: the assignment notebook's questions ("Inline Question" cells since
2018; in 2016-2017 a cell headed "# Question", answered in one headed "# Answer") and the
student's answer to each, read with nbformat (a JSON reader: nothing in the notebook runs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader import discover

# "Inline Question 1:" anywhere; or a cell that starts with a "Question" heading or label
QUESTION = re.compile(r"inline\s+question|\A\s*(?:#+|\*\*|__)?\s*question\b", re.IGNORECASE)
# "**Answer:**", "**Your Answer:**", "## Answer:", "# Answer",
# "$\color{blue}{\textit Your Answer:}$" and the like
ANSWER_LABEL = re.compile(r"^\s*[#*_${\s]*(?:\\color\{\w+\}\{\\textit\s*)?(?:your\s+)?answer"
                          r"\s*:?\s*[*_$}]*[ \t]*", re.IGNORECASE)
ANSWER_START = re.compile(r"(?im)^[^\n]*\banswer\s*:|^\s*#+\s*(?:your\s+)?answer\b")
UNANSWERED = ("fill this in", "fill in", "[fill this in]", "todo")
MAX_NOTEBOOK_BYTES = 16 << 20  # a real Dropout notebook with its plots is a few MB
MAX_CANDIDATES = 20  # notebooks searched for an Inline Question when none is Dropout.ipynb


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    notebook: str

    @property
    def answered(self) -> bool:
        text = self.answer.strip().lower()
        return bool(text) and not any(mark in text for mark in UNANSWERED)


def find(path: Path) -> list[Path]:
    """The submission's assignment notebook: Dropout.ipynb, else any notebook that holds an
    Inline Question (nearest the root first). Only regular files are considered (a link to
    another student's notebook, a FIFO or a device is not), in folders the grader would walk
    (:func:`grader.discover.walk`)."""
    if path.is_symlink() or not path.is_dir():
        return []
    try:
        notebooks = [p for p in discover.walk(path) if p.suffix == ".ipynb"]
    except discover.SubmissionError:
        return []
    notebooks.sort(key=lambda p: (len(p.parts), str(p)))
    named = [p for p in notebooks if p.name.lower() == "dropout.ipynb"]
    if named:
        return named[:1]
    for candidate in notebooks[:MAX_CANDIDATES]:
        text = _read(candidate)
        if text is not None and QUESTION.search(text):
            return [candidate]
    return []


def _read(notebook: Path) -> str | None:
    """NOTEBOOK's text: a regular file, no link followed, at most MAX_NOTEBOOK_BYTES; else
    None."""
    try:
        return discover.read_regular(notebook, MAX_NOTEBOOK_BYTES).decode("utf-8", "replace")
    except (OSError, discover.SubmissionError):
        return None


def extract(notebook: Path, base: Path | None = None) -> list[Answer]:
    """Each Inline Question with the answer written below it (in the same cell after an
    "Answer:" label, or in the next markdown cell)."""
    import nbformat

    text = _read(notebook)
    if text is None:
        return []
    shown = discover.printable(str(notebook.relative_to(base)) if base else notebook.name)
    try:
        cells = [c for c in nbformat.reads(text, as_version=4).cells
                 if c.cell_type == "markdown"]
        return _answers(cells, shown)
    except Exception:  # an unreadable notebook (not JSON, too deep, odd cells) has no answers
        return []


def _answers(cells: list, shown: str) -> list[Answer]:
    answers = []
    for i, cell in enumerate(cells):
        source = cell.source
        if not QUESTION.search(source):
            continue
        label = ANSWER_START.search(source)
        if label:  # question and answer in one cell
            question, answer = source[:label.start()], source[label.start():]
        elif i + 1 < len(cells) and not QUESTION.search(cells[i + 1].source):
            question, answer = source, cells[i + 1].source
        else:
            question, answer = source, ""
        answer = ANSWER_LABEL.sub("", answer.strip(), count=1)
        answers.append(Answer(_clean(question), _clean(answer), shown))
    return answers


def _clean(text: str) -> str:
    text = re.sub(r"<[^<>]*>", "", text)  # html tags some years use (linear: no "<<<<" trap)
    text = re.sub(r"[*#]+", "", text)
    return re.sub(r"[ \t]+", " ", text).strip()
