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
    not_judged: str | None = None  # why it was taken out of the score

    def fail(self, observed: str, expected: str | None = None,
             misconception: str | None = None) -> None:
        text = observed if expected is None else f"{observed}; expected {expected}"
        self.failure = text if self.failure is None else f"{self.failure}\n{text}"
        self.misconception = self.misconception or misconception

    def skip(self, why: str) -> None:
        """Take this case out of the score, saying WHY it could not be judged."""
        self.applies, self.not_judged = False, why

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

    def feedback(self, hidden: bool = False, told: dict[str, str] | None = None,
                 here: str = "") -> str:
        """One line per case; failed ones say what was observed, what was expected, and (once
        per misconception) why. TOLD (what earlier checks of the submission said, by text, and
        where) makes a failure told in full there one line here, and its advice not again;
        this check's own words are added to it, as said HERE."""
        told = {} if told is None else told
        lines, previous, explained = [], None, set()
        for c in self.cases:
            if not c.applies:  # a hidden check's reason could tell its inputs
                lines.append(f"– {c.name}: not judged" + ("" if hidden else
                                                         f": {c.not_judged}"))
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
            if rest and c.failure in told:  # a traceback already shown: once is enough
                lines.append(f"✗ {c.name}: {first} (as in \"{told[c.failure]}\" above)")
            else:
                told.setdefault(c.failure, here)
                lines.append(f"✗ {c.name}: {first}")
                lines.extend(f"    {line}" for line in rest)
            key = f"advice: {c.misconception}"
            if c.misconception and c.misconception not in explained:
                explained.add(c.misconception)
                if key in told:  # explained in an earlier check: named, and pointed at
                    title = misconceptions.CATALOGUE[c.misconception].title
                    lines.append(f"    Likely cause: {title} (see \"{told[key]}\" above).")
                else:
                    told[key] = here
                    lines.append(f"    {misconceptions.advice(c.misconception)}")
        if not hidden:
            lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)
