"""Nothing is lost: a grading run killed half-way resumes without regrading what it finished,
and ends with the gradebook of an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SUBMISSIONS, processes

GRADE = [sys.executable, "-c", "from grader.cli import main; main()"]


def _slow_copies(folder: Path) -> list[str]:
    """The bundled one-file submissions, each made to take a while to import."""
    folder.mkdir()
    ids = []
    for path in sorted(SUBMISSIONS.glob("*.py")):
        (folder / path.name).write_text("import time\ntime.sleep(0.4)\n" + path.read_text())
        ids.append(path.stem)
    return ids


def _finished(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}


def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    ids = _slow_copies(folder)
    run = subprocess.Popen([*GRADE, folder, "--out", out, "--jobs", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_finished(out)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    before = _finished(out)
    assert 4 <= len(before) < len(ids)
    assert not (out / "grades.csv").exists()

    rerun = subprocess.run([*GRADE, folder, "--out", out, "--jobs", "2"],
                           capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} unchanged since the last run" in rerun.stderr
    after = _finished(out)
    assert sorted(after) == sorted(ids)
    assert {k: after[k] for k in before} == before  # finished ones were not regraded

    clean = tmp_path / "clean"
    whole = subprocess.run([*GRADE, folder, "--out", clean], capture_output=True, text=True,
                           timeout=300, check=False)
    assert whole.returncode == 0
    assert (out / "grades.csv").read_bytes() == (clean / "grades.csv").read_bytes()


def test_workers_die_with_a_killed_grader(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    _slow_copies(folder)
    run = subprocess.Popen([*GRADE, folder, "--out", out, "--jobs", "2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _finished(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [pid for pid, _, parent, _ in processes() if parent == run.pid]
    assert workers
    run.send_signal(signal.SIGKILL)
    run.wait()
    time.sleep(1.0)
    alive = {pid for pid, _, _, state in processes() if state != "Z"}
    assert [pid for pid in workers if pid in alive] == []
    settled = _finished(out)
    time.sleep(1.0)
    assert _finished(out) == settled  # nobody is still writing results
