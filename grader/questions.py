"""The written answers, question by question: which of a notebook's answers answers which of
the rubric's questions, and the answers of a class in groups for the staff to grade together
(identical once case, white space and punctuation are ignored; near-identical side by side)."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from grader.notebooks import Answer
from grader.rubric import Question

UNANSWERED = "unanswered"  # the group key of every blank or placeholder answer (and no answer)
UNREADABLE = "unreadable"  # the group of the students whose notebook could not be read
NEAR = 0.6  # the overlap of word pairs (Jaccard) from which two answers are near-identical
NUMBERED = re.compile(r"question\s*(\d+)", re.IGNORECASE)
# one token per CJK character (no spaces between words), else a word, a space or a mark
TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|\w+|\s+|[^\w\s]")


def words(text: str) -> str:
    """TEXT as its words only: case, white space and punctuation ignored."""
    return " ".join(re.findall(r"\w+", text.lower()))


def digest(answer: Answer | None) -> str:
    """What identifies an answer in a group: its words' hash, or UNANSWERED."""
    if answer is None or not answer.answered or not words(answer.answer):
        return UNANSWERED
    return hashlib.sha256(words(answer.answer).encode()).hexdigest()[:16]


def assign(answers: list[Answer], questions: tuple[Question, ...]) -> dict[str, Answer]:
    """Question id -> the notebook's answer to it: the question whose `match` phrase its text
    holds, else the one numbered as its heading ("Inline Question 2"), else by position."""
    by_number = {q.number: q for q in questions}
    found: dict[str, Answer] = {}
    for position, answer in enumerate(answers, 1):
        text = answer.question.lower()
        numbered = NUMBERED.search(text)
        question = next((q for q in questions if any(m.lower() in text for m in q.match)),
                        by_number.get(int(numbered.group(1)) if numbered else position))
        if question is not None and question.id not in found:
            found[question.id] = answer
    return found


@dataclass
class Group:
    """The students who wrote one answer (by :func:`digest`)."""

    key: str
    text: str  # as the first of them wrote it
    members: list[str] = field(default_factory=list)
    cluster: int = 0  # groups of one cluster are near-identical to each other
    diff: list[tuple[str, bool]] = field(default_factory=list)  # (text, differs from the first)

    @property
    def answered(self) -> bool:
        return self.key not in (UNANSWERED, UNREADABLE)


def group(answers: dict[str, Answer | None],
          unreadable: set[str] | frozenset[str] = frozenset()) -> list[Group]:
    """The students' answers (student id -> answer, None: none found) in groups, near-identical
    groups in one cluster next to each other, the largest clusters first, then the students
    whose notebook could not be read (UNREADABLE), the unanswered last."""
    groups: dict[str, Group] = {}
    for sid in sorted(answers):
        answer = answers[sid]
        key = UNREADABLE if sid in unreadable and answer is None else digest(answer)
        text = answer.answer if answer is not None and key != UNANSWERED else ""
        groups.setdefault(key, Group(key, text)).members.append(sid)
    answered = [g for g in groups.values() if g.answered]
    clusters = _clusters(answered)
    by_cluster: dict[int, list[Group]] = defaultdict(list)
    for g, cluster in zip(answered, clusters, strict=True):
        by_cluster[cluster].append(g)
    ordered = sorted(by_cluster.values(), key=lambda gs: -sum(len(g.members) for g in gs))
    found = []
    for number, members in enumerate(ordered):
        members.sort(key=lambda g: -len(g.members))
        for g in members:
            g.cluster = number
            g.diff = _diff(members[0].text, g.text) if g is not members[0] else [(g.text, False)]
            found.append(g)
    for number, key in enumerate((UNREADABLE, UNANSWERED), len(ordered)):
        if key in groups:
            groups[key].cluster = number
            found.append(groups[key])
    return found


def _shingles(text: str) -> set[str]:
    """TEXT's pairs of neighbouring words (of characters, in Chinese, Japanese and Korean
    script), case and punctuation ignored: what near-identical answers share most of."""
    tokens = [t for t in TOKEN.findall(text.lower()) if t[0].isalnum() or t[0] == "_"]
    return {f"{a} {b}" for a, b in itertools.pairwise(tokens)} or set(tokens)


def _clusters(groups: list[Group]) -> list[int]:
    """A cluster number per group: groups whose answers' word pairs overlap by NEAR or more
    (Jaccard) are joined. Pairs are found by prefix filtering, exact and far from quadratic:
    two sets that similar share one of the rarest pairs of each (its first
    len - ceil(NEAR * len) + 1, the class's rarest first)."""
    parent = list(range(len(groups)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    grams = [_shingles(g.text) for g in groups]
    frequency = Counter(t for found in grams for t in found)
    index: dict[str, list[int]] = defaultdict(list)
    for i, found in enumerate(grams):
        rarest = sorted(found, key=lambda t: (frequency[t], t))
        prefix = rarest[:len(rarest) - math.ceil(NEAR * len(rarest)) + 1]
        candidates = {j for t in prefix for j in index[t]}
        for t in prefix:
            index[t].append(i)
        for j in candidates:
            a, b = grams[i], grams[j]
            if len(a & b) >= NEAR * len(a | b):
                parent[root(i)] = root(j)
    return [root(i) for i in range(len(groups))]


def _diff(first: str, text: str) -> list[tuple[str, bool]]:
    """TEXT in pieces, each marked when it is not in FIRST (what a near-identical answer
    changed)."""
    a, b = TOKEN.findall(first), TOKEN.findall(text)
    pieces: list[tuple[str, bool]] = []
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if j1 < j2:
            pieces.append(("".join(b[j1:j2]), tag != "equal"))
    return pieces


def hints(text: str, key_points: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Each key point and whether TEXT mentions it (case ignored): a hint, never a score."""
    lowered = text.lower()
    return [(point, point.lower() in lowered) for point in key_points]
