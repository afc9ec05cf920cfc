"""The course staff's adjustments: points given or taken on a check or on the total, each
with a reason the student reads. They live in OUT/adjustments.json, apart from what the
grader computes, and are applied to every result written into OUT, so that a regrade
(``--force``, a new rubric, a new grader version) never loses one."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from grader.results import CheckResult, SubmissionResult, locked, write_atomic

ADJUSTMENTS = "adjustments.json"
TOTAL = "adjustment"  # the check id of an adjustment of the total, not of one check
TOTAL_TITLE = "Adjusted by the course staff"


@dataclass(frozen=True)
class Adjustment:
    id: str  # the submission's
    check: str  # a check id, or TOTAL
    points: float  # added to the check's score (taken, when negative)
    reason: str


def load(out: Path) -> dict[str, list[Adjustment]]:
    """The adjustments in OUT, by submission id (none when the file is missing or unreadable:
    it is the staff's own file, never a student's)."""
    try:
        data = json.loads((out / ADJUSTMENTS).read_text(encoding="utf-8"))
        found = [Adjustment(str(a["id"]), str(a["check"]), float(a["points"]), str(a["reason"]))
                 for a in data["adjustments"]]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    by_id: dict[str, list[Adjustment]] = {}
    for adjustment in found:
        by_id.setdefault(adjustment.id, []).append(adjustment)
    return by_id


def add(out: Path, adjustment: Adjustment) -> None:
    """Record ADJUSTMENT in OUT, beside the others: read, added to and written atomically under
    a lock, so that two staff members adjusting at once lose nothing of each other's."""
    out.mkdir(parents=True, exist_ok=True)
    with locked(out / f".{ADJUSTMENTS}.lock"):
        found = [a for ids in load(out).values() for a in ids]
        write_atomic(out / ADJUSTMENTS, json.dumps(
            {"adjustments": [asdict(a) for a in [*found, adjustment]]}, indent=2),
            durable=True)


def apply(result: SubmissionResult, adjustments: list[Adjustment]) -> SubmissionResult:
    """RESULT with ADJUSTMENTS applied: a check's score moved by the points (within 0 and its
    maximum) and its feedback given the reason; an adjustment of the total as a check of its
    own, worth nothing, that gives or takes the points."""
    checks = list(result.checks)
    for adjustment in adjustments:
        said = f"Adjusted by the course staff: {adjustment.points:+g} ({adjustment.reason})"
        if adjustment.check == TOTAL:
            checks.append(CheckResult(TOTAL, TOTAL_TITLE, adjustment.points, 0.0, said))
            continue
        for i, check in enumerate(checks):
            if check.id == adjustment.check:
                score = min(max(check.score + adjustment.points, 0.0), check.max_score)
                checks[i] = replace(check, score=round(score, 4),
                                    feedback=f"{check.feedback}\n{said}".strip())
    return replace(result, checks=checks,
                   adjustments=[asdict(a) for a in adjustments]) if adjustments else result

