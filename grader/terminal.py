"""What the grader prints: a table for a batch, full feedback for a single submission."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import click

from grader import results
from grader.results import Row, SubmissionResult


@dataclass
class Progress:
    """What a run shows of its progress on STREAM (see :func:`progress`)."""

    stream: TextIO
    bar: Any  # click's progress bar; None: not a terminal
    done: int = 0

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)

    def say(self, line: str) -> None:
        """A line of its own (on a terminal, above the bar, which redraws below it)."""
        click.echo(("\r" if self.bar is not None else "") + line, file=self.stream)


@contextlib.contextmanager
def progress(total: int, stream: TextIO) -> Iterator[Progress]:
    """Grading TOTAL submissions: click's bar on a terminal; in a log (a CI job, a file), one
    line when grading starts and one when it ends, and no bar's leftovers."""
    if stream.isatty():
        with click.progressbar(length=total, label="grading", file=stream,
                               show_pos=True) as bar:
            yield Progress(stream, bar)
        return
    shown, started = Progress(stream, None), time.monotonic()
    shown.say(f"grading {total} submission{'' if total == 1 else 's'}")
    yield shown
    shown.say(f"graded {shown.done} in {time.monotonic() - started:.1f} s")


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
    lines += [*results.notices(result), ""]
    for check in result.checks:
        mark = "PASS" if check.passed else "FAIL"
        lines.append(f"[{mark}] {check.title}  {_num(check.score)}/{_num(check.max_score)}  "
                     f"({check.id})")
        if not check.passed:
            lines.extend(f"    {line}" for line in check.feedback.splitlines())
    course, own = results.printed(result)
    if course:
        lines += ["", course]
    if own:
        lines += ["", "Your code printed:", *(f"    {line}" for line in own)]
    return "\n".join(lines)


def _score(result: SubmissionResult | Row) -> str:
    return f"{_num(result.score)} / {_num(result.max_score)}"


def _num(value: float) -> str:
    return f"{round(value, 2):g}"
