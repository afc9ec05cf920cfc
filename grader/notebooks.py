"""The written answers: the assignment notebook's questions ("Inline Question" cells since
2018; in 2016-2017 a cell headed "# Question", answered in one headed "# Answer") and the
student's answer to each. The notebook is read as JSON (nothing in it runs), within bounds:
its size, how many objects and strings it holds (which bound the memory and time to parse
it), how many cells, and how much of each answer is kept."""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader import discover
from grader.inert import visible

# "Inline Question 1:" anywhere; or a cell that starts with a "Question" heading or label
QUESTION = re.compile(r"inline\s+question|\A\s*(?:(?:#+|\*\*|__)\s*)?question\b",
                      re.IGNORECASE)
# "**Answer:**", "**Your Answer:**", "## Answer:", "# Answer",
# "$\color{blue}{\textit Your Answer:}$" and the like
ANSWER_LABEL = re.compile(r"^\s*[#*_${\s]*(?:\\color\{\w+\}\{\\textit\s*)?(?:your\s+)?answer"
                          r"\s*:?\s*[*_$}]*[ \t]*", re.IGNORECASE)
ANSWER_START = re.compile(r"(?im)^[^\n]*\banswer[ \t]*:|^[ \t]*#+[ \t]*(?:your\s+)?answer\b")
# the html tags some years' notebooks and students format answers with, left out; any other
# tag is the student's text, and shown as text (linear: the scan stops at the next "<")
FORMATTING = re.compile(r"</?(?:b|i|u|s|em|strong|font|span|br|p|div|sup|sub|center|small|big"
                        r"|code|mark|strike|h[1-6]|hr)\b[^<>]*>", re.IGNORECASE)
UNANSWERED = ("fill this in", "fill in", "[fill this in]", "todo")
MAX_NOTEBOOK_BYTES = 16 << 20  # a real Dropout notebook with its plots is a few MB
MAX_CANDIDATES = 20  # notebooks searched for an Inline Question when none is Dropout.ipynb
# values ({, [, ", the commas and colons between them, counted before parsing): each costs
# memory to parse, and a real notebook, whose plots are long strings, holds some thousands
MAX_TOKENS = 1_000_000
MAX_CELLS = 5_000  # a real Dropout notebook has about a hundred
MAX_CELL_CHARS = 100_000  # read of each cell's source: far more than any question and answer
MAX_ANSWER_CHARS = 5_000  # kept of each answer (and question); the rest is marked as cut


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


@dataclass(frozen=True)
class Reading:
    """What was read of a notebook: its answers, or why it could not be read."""

    answers: list[Answer] = field(default_factory=list)
    problem: str | None = None


def read(notebook: Path, base: Path | None = None) -> Reading:
    """Each Inline Question of NOTEBOOK with the answer written below it (in the same cell
    after an "Answer:" label, or in the next markdown cell), each cut to MAX_ANSWER_CHARS; or,
    for a notebook past the bounds or not readable, why (the notebook named as below BASE)."""
    shown = discover.printable(str(notebook.relative_to(base)) if base else notebook.name)
    try:
        data = discover.read_regular(notebook, MAX_NOTEBOOK_BYTES)
    except discover.SubmissionError:
        return Reading(problem=_too_large(shown))
    except OSError as err:
        return Reading(problem=f"{shown} could not be read ({err.strerror or err})")
    return parse(data, shown)


def _too_large(shown: str) -> str:
    return (f"{shown} is too large to read (the grader reads notebooks of at most "
            f"{MAX_NOTEBOOK_BYTES >> 20} MB)")


def parse(data: bytes, shown: str) -> Reading:
    """The answers in a notebook's bytes DATA (SHOWN: its name, for a problem), within the
    bounds."""
    tokens = sum(data.count(mark) for mark in (b"{", b"[", b'"', b",", b":"))
    if tokens > MAX_TOKENS:
        return Reading(problem=f"{shown} is too large to read ({tokens:,} values; the "
                               f"grader reads notebooks of at most {MAX_TOKENS:,})")
    try:
        cells = _cells(json.loads(data.decode("utf-8", "replace")))
    except (ValueError, RecursionError, TypeError, AttributeError):
        return Reading(problem=f"{shown} is not a notebook the grader can read (not JSON, or "
                               "not a notebook's layout)")
    if len(cells) > MAX_CELLS:
        return Reading(problem=f"{shown} is too large to read ({len(cells):,} cells; the "
                               f"grader reads notebooks of at most {MAX_CELLS:,})")
    return Reading(_answers([c for c in cells if c[0] == "markdown"], shown))


def _cells(notebook: dict) -> list[tuple[str, str]]:
    """(cell type, source) of each cell: nbformat 4's cells, or nbformat 3's worksheets'."""
    found = notebook.get("cells")
    if found is None:
        found = [c for sheet in notebook.get("worksheets") or [] for c in sheet.get("cells") or []]
    cells = []
    for cell in found[:MAX_CELLS + 1]:
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(line) for line in source)
        cells.append((str(cell.get("cell_type")), str(source)[:MAX_CELL_CHARS]))
    return cells


def of_submission(path: Path) -> Reading:
    """What was read of the notebook of the submission at PATH: its answers, or why they could
    not be read (past the bounds, unreadable); nothing when it has no notebook."""
    if path.suffix.lower() == ".zip" and not path.is_symlink() and path.is_file():
        return _of_zip(path)
    found = find(path)
    return read(found[0], path) if found else Reading()


def _of_zip(path: Path) -> Reading:
    """What was read of the notebook inside the zip at PATH (as :func:`find` chooses one), read
    from the archive within the same bounds, nothing unpacked."""
    shown = discover.printable(path.name)
    unreadable = Reading(problem=f"{shown}: its notebook could not be read (a zip the grader "
                                 "cannot open, or an entry it cannot read)")
    try:
        if path.stat().st_size > discover.MAX_ZIP_BYTES:
            return Reading(problem=f"{shown} is too large to read")
        with zipfile.ZipFile(open(discover.open_regular(path), "rb")) as archive:
            entries = archive.infolist()
            if len(entries) > discover.MAX_ZIP_ENTRIES:
                return Reading(problem=f"{shown} holds more than "
                                       f"{discover.MAX_ZIP_ENTRIES:,} entries")
            # as discover.walk would see it unpacked: no hidden or skipped folder
            notebooks = sorted((e for e in entries if not e.is_dir()
                                and e.filename.lower().endswith(".ipynb")
                                and not any(part.startswith(".") or part in discover.SKIP_DIRS
                                            or part == "__MACOSX"
                                            for part in e.filename.split("/"))),
                               key=lambda e: (e.filename.count("/"), e.filename))
            named = [e for e in notebooks if e.filename.lower().rsplit("/", 1)[-1]
                     == "dropout.ipynb"]
            for entry in (named or notebooks)[:MAX_CANDIDATES]:
                shown = discover.printable(entry.filename)
                if entry.file_size > MAX_NOTEBOOK_BYTES:
                    return Reading(problem=_too_large(shown))
                with archive.open(entry) as member:
                    data = member.read(MAX_NOTEBOOK_BYTES + 1)
                if len(data) > MAX_NOTEBOOK_BYTES:  # its header lied
                    return Reading(problem=_too_large(shown))
                if named or QUESTION.search(data.decode("utf-8", "replace")):
                    return parse(data, shown)
    except (OSError, zipfile.BadZipFile, discover.SubmissionError, RuntimeError, ValueError,
            NotImplementedError, EOFError):
        return unreadable
    return Reading()


def _answers(cells: list[tuple[str, str]], shown: str) -> list[Answer]:
    answers = []
    for i, (_, source) in enumerate(cells):
        if not QUESTION.search(source):
            continue
        label = ANSWER_START.search(source)
        if label:  # question and answer in one cell
            question, answer = source[:label.start()], source[label.start():]
        elif i + 1 < len(cells) and not QUESTION.search(cells[i + 1][1]):
            question, answer = source, cells[i + 1][1]
        else:
            question, answer = source, ""
        answer = ANSWER_LABEL.sub("", answer.strip(), count=1)
        answers.append(Answer(_clean(question), _clean(answer), shown))
    return answers


def _clean(text: str) -> str:
    """Markdown's marks and HTML tags left out, white space squeezed, control characters
    shown as escapes, and at most MAX_ANSWER_CHARS kept (marked where cut)."""
    text = FORMATTING.sub("", text)
    text = re.sub(r"[*#]+", "", text)
    text = visible(re.sub(r"[ \t]+", " ", text).strip())
    if len(text) > MAX_ANSWER_CHARS:
        text = text[:MAX_ANSWER_CHARS] + f" [... cut: only its first {MAX_ANSWER_CHARS:,} " \
            "characters are kept]"
    return text
