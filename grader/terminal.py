"""What the grader prints: a table for a batch, full feedback for a single submission."""

from __future__ import annotations

from grader.results import Row, SubmissionResult


def table(graded: list[Row]) -> str:
    """One row per submission: id, score, status, failed checks."""
    if not graded:
        return "nothing graded"
    width = max(len("submission"), *(len(r.id) for r in graded))
    lines = [f"{'submission':<{width}}  {'score':>13}  {'status':<7}  failed checks",
             f"{'-' * width}  {'-' * 13}  {'-' * 7}  {'-' * 13}"]
    for r in graded:
        failed = "all" if len(r.failed) == r.checks else ", ".join(r.failed) or "-"
        lines.append(f"{r.id:<{width}}  {_score(r):>13}  {r.status:<7}  {failed}")
    scores = [r.score / r.max_score * 100 for r in graded if r.max_score]
    if scores:
        lines.append(f"\n{len(graded)} graded, mean {sum(scores) / len(scores):.1f}%")
    return "\n".join(lines)


def feedback(result: SubmissionResult) -> str:
    """Everything a student needs: each check's points and what to fix."""
    lines = [f"{result.id}: {_score(result)} on the {result.scope}  "
             f"({result.file or 'no file found'}, status {result.status})"]
    if result.problem:
        lines.append(result.problem)
    lines.append("")
    for check in result.checks:
        mark = "PASS" if check.passed else "FAIL"
        lines.append(f"[{mark}] {check.title}  {_num(check.score)}/{_num(check.max_score)}  "
                     f"({check.id})")
        if not check.passed:
            lines.extend(f"    {line}" for line in check.feedback.splitlines())
    if result.output.strip():
        lines += ["", "Your code printed:", *(f"    {line}" for line in
                                               result.output.rstrip().splitlines())]
    return "\n".join(lines)


def _score(result: SubmissionResult | Row) -> str:
    return f"{_num(result.score)} / {_num(result.max_score)}"


def _num(value: float) -> str:
    return f"{round(value, 2):g}"
