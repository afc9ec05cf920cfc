"""A check's verdict: independent sub-cases, partial credit, and the feedback that teaches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from grader import misconceptions
from grader.results import STATUS_ORDER
from grader.student import StudentError


@dataclass
class Case:
    """One sub-case of a check. It passes unless :meth:`fail` is called or the student's code
    fails inside it; :meth:`skip` takes it out of the score."""

    name: str
    weight: float = 1.0
    failure: str | None = None
    misconception: str | None = None
    status: str | None = None
    applies: bool = True

    def fail(self, observed: str, expected: str | None = None,
             misconception: str | None = None) -> None:
        text = observed if expected is None else f"{observed}; expected {expected}"
        self.failure = text if self.failure is None else f"{self.failure}\n{text}"
        self.misconception = self.misconception or misconception

    def skip(self) -> None:
        self.applies = False

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass
class Verdict:
    """The cases of one check, in the order they ran."""

    cases: list[Case] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said whatever the cases' outcome

    def not_exercised(self, why: str) -> None:
        """Earn nothing, saying WHY in one line: the property this check names was never
        exercised, so passing it would mean nothing."""
        with self.case("dropout in train mode") as case:
            case.fail(why)

    def note(self, text: str) -> None:
        """A line of feedback beside the cases (why some were not judged, say)."""
        self.notes.append(text)

    @contextmanager
    def case(self, name: str, weight: float = 1.0) -> Iterator[Case]:
        """A sub-case; a StudentError inside it fails this case only."""
        case = Case(name, weight)
        self.cases.append(case)
        try:
            yield case
        except StudentError as err:
            case.fail(err.message, misconception=err.misconception)
            case.status = err.status

    @property
    def fraction(self) -> float:
        applicable = [c for c in self.cases if c.applies]
        total = sum(c.weight for c in applicable)
        if not total:
            return 1.0
        return sum(c.weight for c in applicable if c.passed) / total

    @property
    def failed(self) -> bool:
        return any(c.applies and not c.passed for c in self.cases)

    @property
    def misconceptions(self) -> list[str]:
        return sorted({c.misconception for c in self.cases
                       if c.applies and c.misconception and not c.passed})

    @property
    def status(self) -> str | None:
        found = {c.status for c in self.cases if c.status}
        return next((s for s in STATUS_ORDER if s in found), None)

    def feedback(self, hidden: bool = False) -> str:
        """One line per case; failed ones say what was observed, what was expected, and (once
        per misconception) why."""
        lines, previous, explained = [], None, set()
        for c in self.cases:
            if not c.applies:
                continue
            if c.passed:
                lines.append(f"✓ {c.name}")
                continue
            if hidden:  # a hidden check never tells its inputs or expected values
                lines.append(f"✗ {c.name}")
                continue
            if c.failure == previous:
                lines.append(f"✗ {c.name}: the same as above")
                continue
            previous = c.failure
            first, *rest = c.failure.splitlines()
            lines.append(f"✗ {c.name}: {first}")
            lines.extend(f"    {line}" for line in rest)
            if c.misconception and c.misconception not in explained:
                explained.add(c.misconception)
                lines.append(f"    {misconceptions.advice(c.misconception)}")
        if not hidden:
            lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)
