"""What continuous integration reads: a GitHub Actions job summary and error annotations, and
JUnit XML for other CI systems."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from grader.results import SubmissionResult

# Which function each check is about, to point an annotation at its definition.
BACKWARD_CHECKS = ("backward_gradient", "backward_test_mode")


def summary_markdown(result: SubmissionResult) -> str:
    """The job summary: score, a table of checks, and each failed check's feedback."""
    lines = [f"## Dropout: {result.score:g} / {result.max_score:g} on the {result.scope}", "",
             f"Graded file: `{result.file or 'none found'}` (status {result.status})", "",
             "| check | points | |", "|---|---|---|"]
    for check in result.checks:
        mark = "✅" if check.passed else "❌"
        lines.append(f"| {check.title} | {check.score:g} / {check.max_score:g} | {mark} |")
    for check in result.failed:
        # a fence longer than any run of backticks in the feedback: nothing closes it early
        fence = "`" * max(3, 1 + max(map(len, re.findall("`+", check.feedback)), default=0))
        lines += ["", f"<details><summary>{check.title}</summary>", "", fence,
                  check.feedback, fence, "</details>"]
    return "\n".join(lines) + "\n"


def annotations(result: SubmissionResult, submission_path: Path) -> list[str]:
    """``::error`` workflow commands at the definition of the function each failed check is
    about (file paths relative to the current directory, as GitHub wants them)."""
    if result.file is None:
        return [f"::error::{_escape(result.problem or 'no file defining dropout_forward')}"]
    file = submission_path / result.file if submission_path.is_dir() else submission_path
    try:
        shown = file.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = file
    commands = []
    for check in result.failed:
        function = "dropout_backward" if check.id in BACKWARD_CHECKS else "dropout_forward"
        where = f"file={_escape(str(shown), True)},line={_def_line(file, function)}"
        title = _escape(f"{check.title} ({check.score:g}/{check.max_score:g})", True)
        commands.append(f"::error {where},title={title}::{_escape(check.feedback)}")
    return commands


def write_github(results: list[tuple[SubmissionResult, Path]]) -> list[str]:
    """Append the summaries to $GITHUB_STEP_SUMMARY; return the annotation commands."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write("".join(summary_markdown(r) for r, _ in results))
    return [line for r, path in results for line in annotations(r, path)]


def junit_xml(results: list[SubmissionResult]) -> str:
    """One <testsuite> per submission, one <testcase> per check."""
    suites = ET.Element("testsuites")
    for result in results:
        suite = ET.SubElement(suites, "testsuite", name=result.id, tests=str(len(result.checks)),
                              failures=str(len(result.failed)))
        for check in result.checks:
            case = ET.SubElement(suite, "testcase", classname=result.id, name=check.id)
            if not check.passed:
                failure = ET.SubElement(case, "failure", message=(
                    f"{check.title}: {check.score:g}/{check.max_score:g}"))
                failure.text = check.feedback
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _def_line(file: Path, function: str) -> int:
    """The line of ``def FUNCTION`` in FILE (1 if absent): bytes are read, never parsed."""
    try:
        lines = file.read_bytes().splitlines()
    except OSError:
        return 1
    target = f"def {function}".encode()
    return next((i for i, line in enumerate(lines, 1) if line.lstrip().startswith(target)), 1)


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text
