"""What p means: the probability of keeping a unit (2018 onwards) or of dropping one (the
2016-2017 notebooks). The checks think in keep probabilities and ask the convention which p
to pass and which mistake the other reading is. A submission is graded under one meaning of
p, its layer and its net alike: the course's, or (``--convention auto``) the one its own
starter text shows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from grader import discover

NAMES = ("keep", "drop")
AUTO = "auto"
SETTINGS = (*NAMES, AUTO)  # what a course may say: a meaning, or each submission's own
YEARS = {"drop": "2016-2017", "keep": "2018 onwards"}
# the starter's docstring of dropout_forward, by year
LAYER_SAYS = re.compile(rb"we\s+(drop|keep)\s+each\s+neuron\s+output\s+with\s+probability\s+p",
                        re.IGNORECASE)
NET_CLASS = re.compile(rb"class\s+FullyConnectedNet\b")
INIT = re.compile(rb"def\s+__init__\s*\(")
SIGNATURE_CHARS = 3000  # a constructor's parameters end well before this
NET_KEYWORD = re.compile(rb"\b(dropout_keep_ratio|dropout)\s*=\s*([0-9.]{0,20})")


@dataclass(frozen=True)
class Starter:
    """What a submission's own starter text says p means: "keep", "drop", or None (it says
    nothing, or says both), and where it says so."""

    meaning: str | None = None
    evidence: tuple[str, ...] = ()


def read_starter(layers: Path, net: Path | None) -> Starter:
    """What the starter text in the submission's LAYERS file (the docstring of
    dropout_forward) and NET file (the dropout keyword of FullyConnectedNet's constructor, and
    its default) says p means. Read as text, never run; a file that cannot be read says
    nothing."""
    said: list[tuple[str, str]] = []
    text = _text(layers)
    if found := LAYER_SAYS.search(text):
        verb = found.group(1).decode().lower()
        said.append((verb, f'{layers.name}: "We {verb} each neuron output with probability p"'))
    text = _text(net) if net is not None else b""
    if (cls := NET_CLASS.search(text)) and (init := INIT.search(text, cls.end())):
        signature = text[init.end():init.end() + SIGNATURE_CHARS].split(b")", 1)[0]
        for keyword, default in NET_KEYWORD.findall(signature):
            if keyword == b"dropout_keep_ratio":
                said.append(("keep", f"{net.name}: FullyConnectedNet(dropout_keep_ratio=...)"))
            elif (meaning := _default_says(default)) is not None:
                said.append((meaning, f"{net.name}: FullyConnectedNet(dropout="
                                      f"{default.decode()})"))
    meanings = {meaning for meaning, _ in said}
    return Starter(meanings.pop() if len(meanings) == 1 else None,
                   tuple(where for _, where in said))


def _default_says(default: bytes) -> str | None:
    """What a default of dropout= says: 0 no dropout as a drop probability, 1 as a keep one."""
    try:
        number = float(default)
    except ValueError:
        return None
    return {0.0: "drop", 1.0: "keep"}.get(number)


def _text(path: Path | None) -> bytes:
    try:
        return discover.read_regular(path, discover.MAX_PY_BYTES)
    except (OSError, discover.SubmissionError):
        return b""


@dataclass(frozen=True)
class Convention:
    name: str
    by_starter: bool = False  # --convention auto took it from the submission's starter text
    starter: Starter = field(default_factory=Starter)

    @classmethod
    def choose(cls, setting: str, starter: Starter) -> Convention:
        """The meaning of p a submission is graded with: SETTING ("keep", "drop", or "auto":
        what its STARTER text shows, else the course's "keep")."""
        if setting != AUTO:
            return cls(setting, False, starter)
        return cls(starter.meaning or "keep", starter.meaning is not None, starter)

    @property
    def other_era(self) -> bool:
        """Whether the submission's starter text shows the other meaning of p."""
        return self.starter.meaning not in (None, self.name)

    def said(self) -> str | None:
        """What the student is told of the meaning of p they were graded with: where their
        starter text shows another, or where it chose the meaning; None otherwise."""
        sources = "; ".join(self.starter.evidence)
        if self.by_starter:
            return (f"What p means: the probability of {_verb(self.name)} a unit, as your "
                    f"starter code says ({sources}).")
        if not self.other_era:
            return None
        return (f"What p means: your starter code is the {YEARS[self.starter.meaning]} one, "
                f"where p is the probability of {_verb(self.starter.meaning)} a unit "
                f"({sources}). In this course p is the probability of {_verb(self.name)} "
                "one: your layer and your net were both graded with that meaning.")

    def facts(self) -> dict:
        """The record a result keeps: the meaning, how it was chosen, the starter's."""
        return {"meaning": self.name, "by": "starter" if self.by_starter else "course",
                "starter": self.starter.meaning, "evidence": list(self.starter.evidence),
                "other_era": self.other_era, "said": self.said()}


    def p(self, keep: float) -> float:
        """The dropout_param["p"] that means keeping a unit with probability KEEP."""
        return keep if self.name == "keep" else round(1 - keep, 10)

    @property
    def other_reading(self) -> str:
        """The misconception of a student who reads p the other way."""
        return "p_as_drop" if self.name == "keep" else "p_as_keep"

    @property
    def other_scale(self) -> str:
        """The misconception of a student who keeps the right units but divides them by the
        other probability."""
        return "divides_by_drop" if self.name == "keep" else "divides_by_keep"

    @property
    def other_vanilla(self) -> str:
        """The misconception of a student who reads p the other way and does not rescale."""
        return "vanilla_p_as_drop" if self.name == "keep" else "vanilla_p_as_keep"


# The notebook's keep probabilities: p in 0.25, 0.4, 0.7 since 2018 (0.3, 0.6, 0.75 as drop
# probabilities in 2016-2017), and p = 0.2 (0.8) for the gradient check.
NOTEBOOK_KEEPS = (0.25, 0.4, 0.7)
GRADIENT_KEEP = 0.2


def _verb(meaning: str) -> str:
    return "keeping" if meaning == "keep" else "dropping"


def staff_hint(graded: dict[str, dict]) -> str | None:
    """What the course staff are told of the submissions (GRADED: id -> the facts of
    :meth:`Convention.facts`) whose starter text shows the other meaning of p than the
    course's, which they were graded with: the flag that grades them as they were written.
    None when there are none."""
    other = sorted(sid for sid, facts in graded.items()
                   if facts.get("other_era") is True and facts.get("meaning") in NAMES)
    if not other:
        return None
    meaning = graded[other[0]]["meaning"]
    theirs = "drop" if meaning == "keep" else "keep"
    many = len(other) > 1
    return (f"{len(other)} submission{'s' if many else ''} ({', '.join(other)}) "
            f"follow{'' if many else 's'} the {YEARS[theirs]} starter, where p is the "
            f"probability of {_verb(theirs)} a unit, and {'were' if many else 'was'} graded "
            f"with the course's meaning (p the probability of {_verb(meaning)} one). If the "
            f"course handed out that starter, grade with --convention {theirs}; for a class "
            "of several years, --convention auto.")
