"""Shared fixtures: the bundled submissions graded once, and a way to build submissions."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from grader import batch, discover, results
from grader.settings import Limits, Settings

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope-results.schema.json").read_text())
REFERENCE = (ROOT / "reference" / "layers.py").read_text()


def grade_folder(folder: Path, out: Path, jobs: int = 2, timeout: float = 5.0,
                 single: bool | None = None, sandbox: str = "auto",
                 starter: Path | None = None) -> dict[str, results.SubmissionResult]:
    """Grade FOLDER with the core API; return the results read back from OUT by id."""
    submissions, _ = discover.find_submissions(folder, single)
    settings = Settings(limits=Limits(timeout=timeout), sandbox=sandbox, starter=starter)
    batch.grade(submissions, out, settings, jobs)
    return {r.id: r for r in results.iter_results(out)}


def validate(path: Path) -> dict:
    data = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    return data


def processes() -> list[tuple[int, bytes, int, str]]:
    """Every process on the machine: pid, command line, parent pid, state letter."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found.append((int(entry), cmdline, int(stat[1]), stat[0]))
    return found


def in_child_tmp() -> list[str]:
    """What a confined child finds in its own empty /tmp: the way to numpy or Python where
    they were installed under /tmp (a fresh clone's virtual environment there, say)."""
    import numpy

    installed = [Path(numpy.__file__).resolve(), Path(sys.base_prefix).resolve()]
    return sorted({p.parts[2] for p in installed if p.parts[1] == "tmp"})


def write_submission(folder: Path, name: str, source: str) -> Path:
    """A one-file submission NAME.py holding SOURCE (dedented)."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(scope="session")
def bundled(tmp_path_factory) -> tuple[Path, dict[str, results.SubmissionResult]]:
    out = tmp_path_factory.mktemp("bundled")
    return out, grade_folder(SUBMISSIONS, out)
